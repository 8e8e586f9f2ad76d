"""Amounts and invoices for the Hypothesis state machines (`foundation/`, `corrections/`), in minor units."""

from decimal import Decimal

from djmoney.money import Money
from hypothesis import strategies as st

from billing.money import currency_decimal_places, money_from_minor_units, money_round
from members.models import Member
from tests.factories import draft_invoice


def to_units(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(currency_decimal_places(currency)))


def money(units: int, currency: str) -> Money:
    return money_from_minor_units(units, currency)


def invalid_amounts(currency: str, *, other_currency_is_invalid: bool = True) -> st.SearchStrategy[Money]:
    """Amounts every service refuses before it looks at the books (another currency, unless the service takes the
    currency from the amount)."""
    wrong_scale = Money(Decimal("10.005"), "EUR") if currency == "EUR" else Money(Decimal("10.5"), "JPY")
    choices = [Money(0, currency), Money(-5, currency), wrong_scale, Money(Decimal("1E13"), currency)]
    if other_currency_is_invalid:
        choices.append(Money(10, "JPY" if currency == "EUR" else "EUR"))
    return st.sampled_from(choices)


def draw_amount(
    data,
    *,
    currency: str,
    fit: Decimal,
    kinds: tuple[str, ...],
    label: str,
    exact: dict[str, Decimal] | None = None,
    currency_is_fixed: bool = True,
) -> tuple[Money | None, bool]:
    """(amount, valid) of one of `kinds`. `fit` is the most the rules accept, "default" gives None (the service
    chooses), "invalid" an amount refused whatever the books, and `exact` names other amounts worth hitting exactly
    ({"remaining": ...})."""
    exact = exact or {}
    kind = data.draw(st.sampled_from(kinds), label=f"{label} kind")
    fit_units = to_units(fit, currency)
    if kind == "default":
        return None, True
    if kind == "invalid":
        return data.draw(invalid_amounts(currency, other_currency_is_invalid=currency_is_fixed), label=label), False
    if kind in exact and exact[kind] > 0:
        units = to_units(exact[kind], currency)
    elif kind == "fit" and fit_units > 0:
        units = fit_units
    elif kind == "part" and fit_units > 1:
        units = data.draw(st.integers(1, fit_units - 1), label=f"{label} units")
    elif kind == "over":
        units = max(fit_units, 0) + data.draw(st.integers(1, 20_000), label=f"{label} units over")
    else:
        units = data.draw(st.integers(1, 50_000), label=f"{label} units")
    return money(units, currency), True


def draft_invoice_of_units(member_pk: int, currency: str, line_units: list[int], tax_rate: str) -> tuple[int, Decimal]:
    """A draft invoice with a line per amount (in minor units) at the tax rate: its pk and total, the total checked
    against the spec's rounding of each line's tax."""
    amounts = [money(units, currency).amount for units in line_units]
    invoice = draft_invoice(
        member=Member.objects.get(pk=member_pk),
        amounts=[str(amount) for amount in amounts],
        currency=currency,
        tax_rate=tax_rate,
    )
    total = sum(
        (amount + money_round(amount * Decimal(tax_rate) / 100, currency).amount for amount in amounts), Decimal(0)
    )
    assert invoice.total.amount == total
    return invoice.pk, total
