"""Template filters of the member portal."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def plain_number(value) -> str:
    """A quantity or a rate without trailing zeros and never in exponent notation: 10.000 -> 10, 1.500 -> 1.5."""
    if value is None or value == "":
        return ""
    return format(Decimal(value).normalize(), "f")
