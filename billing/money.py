"""Every rounding, scale check and minor-unit conversion of the project lives here."""

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from djmoney.money import Money
from moneyed import Currency, get_currency
from moneyed import Money as AnyMoney

from billing.errors import CurrencyMismatch, InvalidAmount

MAX_INTEGER_DIGITS = 12
# Storage: 12 integer digits and 3 decimals, enough for every ISO currency's minor unit.
MAX_DIGITS = 15
DECIMAL_PLACES = 3


def currency_code(currency: str | Currency) -> str:
    return currency.code if isinstance(currency, Currency) else str(currency).upper()


def currency_decimal_places(currency: str | Currency) -> int:
    """Number of decimals of the currency's minor unit: 2 for EUR, 0 for JPY, 3 for BHD."""
    return get_currency_precision(currency_code(currency))


def minor_unit(currency: str | Currency) -> Decimal:
    return Decimal(1).scaleb(-currency_decimal_places(currency))


def zero(currency: str | Currency) -> Money:
    return Money(Decimal(0).quantize(minor_unit(currency)), currency_code(currency))


def money(amount: Decimal | int | str, currency: str | Currency) -> Money:
    """A Money at the currency's scale. The amount must already be expressible in the minor unit."""
    money_value = Money(Decimal(amount), currency_code(currency))
    money_check_scale(money_value)
    return Money(money_value.amount.quantize(minor_unit(currency)), currency_code(currency))


def money_round(amount: Decimal, currency: str | Currency) -> Money:
    """Round half-up to the currency's minor unit (line amounts and taxes)."""
    return Money(Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP), currency_code(currency))


def money_to_minor_units(value: Money) -> int:
    """What the gateway expects: cents for EUR, yen for JPY (never multiplied by 100)."""
    money_check_scale(value)
    return int(value.amount.scaleb(currency_decimal_places(value.currency)))


def money_from_minor_units(units: int, currency: str | Currency) -> Money:
    return Money(Decimal(int(units)).scaleb(-currency_decimal_places(currency)), currency_code(currency))


def money_sum(values: Iterable[Money], currency: str | Currency) -> Money:
    total = zero(currency)
    for value in values:
        money_check_currency(value, currency_code(currency))
        total += value
    return total


def money_check_currency(value: Money, currency: str, *, what: str = "This amount") -> None:
    if value.currency.code != currency:
        raise CurrencyMismatch(f"{what} is in {value.currency.code}, but it must be in {currency}.")


def money_check_scale(value: Money) -> None:
    places = currency_decimal_places(value.currency)
    amount = value.amount
    if not amount.is_finite():
        raise InvalidAmount("The amount must be a number.")
    if amount != amount.quantize(minor_unit(value.currency), rounding=ROUND_HALF_UP):
        if places == 0:
            raise InvalidAmount(f"{value.currency.code} has no minor unit: enter a whole amount, not {amount}.")
        raise InvalidAmount(
            f"{value.currency.code} amounts have {places} decimals at most: {amount} cannot be paid exactly."
        )


def money_check_entered(value: Money, *, currency: str | None = None, allow_zero: bool = False) -> Money:
    """Validate an amount typed by a person and return it at the currency's scale.

    Positive (or zero when allowed), at most 12 integer digits, expressible in the minor unit, in the expected
    currency.
    """
    if not isinstance(value, AnyMoney):
        raise InvalidAmount("The amount must be a sum of money.")
    if currency is not None:
        money_check_currency(value, currency)
    amount = value.amount
    if not amount.is_finite():
        raise InvalidAmount("The amount must be a number.")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount(
            f"The amount must be greater than zero, not {amount}."
            if not allow_zero
            else f"The amount cannot be negative ({amount})."
        )
    if amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise InvalidAmount(f"The amount {amount} is too large: at most {MAX_INTEGER_DIGITS} digits before the point.")
    money_check_scale(value)
    return Money(amount.quantize(minor_unit(value.currency)), value.currency.code)


def money_parse(text: str | Decimal | int, currency: str, *, allow_zero: bool = False) -> Money:
    """Parse a person's input ("12.50") into a validated Money of the given currency (zero only when allowed,
    as for a line's unit amount)."""
    try:
        amount = Decimal(str(text).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise InvalidAmount(f"“{text}” is not an amount of money.") from None
    if not amount.is_finite():
        raise InvalidAmount(f"“{text}” is not an amount of money.")
    return money_check_entered(Money(amount, currency), allow_zero=allow_zero)


def currency_check(code: str) -> str:
    code = (code or "").strip().upper()
    try:
        get_currency(code)
        get_currency_precision(code)
    except Exception:
        raise CurrencyMismatch(f"“{code}” is not a currency code.") from None
    return code


def money_from_db(amount: Decimal | None, currency: str | Currency) -> Money:
    """A stored or aggregated amount (None for an empty sum) as Money at the currency's scale."""
    if amount is None:
        return zero(currency)
    return Money(Decimal(amount).quantize(minor_unit(currency)), currency_code(currency))
