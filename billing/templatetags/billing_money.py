"""Amounts without their currency (report columns next to a Currency column), in the space's locale."""

from decimal import Decimal

from django import template
from djmoney.money import Money

from billing.money import amount_as_typed

register = template.Library()


@register.filter
def amount_number(value: Decimal | None, currency: str) -> str:
    """1234.50 (en), 1234,50 (fr, de): the amount at the currency's scale, as people type it in the space."""
    if value is None or value == "":
        return ""
    return amount_as_typed(Money(value, currency))
