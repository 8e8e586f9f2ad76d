"""Amounts in templates, in the space's locale: with their currency, or bare (next to a Currency column)."""

from decimal import Decimal

from django import template
from djmoney.money import Money

from billing.money import amount_as_typed, money_format

register = template.Library()


@register.filter
def amount_number(value: Decimal | None, currency: str) -> str:
    """1234.50 (en), 1234,50 (fr, de): the amount at the currency's scale, as people type it in the space."""
    if value is None or value == "":
        return ""
    return amount_as_typed(Money(value, currency))


@register.filter
def amount_money(value: Decimal | None, currency: str) -> str:
    """€1,234.50 (en), 1 234,50 € (fr), 1.234,50 € (de): the amount with its currency, as people read it."""
    if value is None or value == "":
        return ""
    return money_format(Money(value, currency))
