"""Amounts in templates: with their currency in the language shown (`display_locale`), or bare as people type them
in the space (next to a Currency column); dates in the language shown."""

import datetime
from decimal import Decimal

from babel.dates import format_date
from django import template
from django.utils import timezone
from djmoney.money import Money

from billing.money import amount_as_typed, display_locale, money_format

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


@register.filter
def local_date(value: datetime.date | datetime.datetime | None) -> str:
    """Dec 5, 2026 (en), 5 déc. 2026 (fr), 05.12.2026 (de): a date in the language it is shown in (a moment's
    date in the space's time zone)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return format_date(value, "medium", locale=display_locale())
