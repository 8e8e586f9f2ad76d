"""Every rounding, scale check and minor-unit conversion of the project lives here, and the one reader of amounts
typed by people, in the space's locale (`BILLING_LOCALE`)."""

import re
from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    SPACE_CHARS,
    NumberFormatError,
    format_currency,
    get_currency_precision,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from django.utils.translation import gettext as _
from djmoney.money import Money
from moneyed import Currency, get_currency
from moneyed import Money as AnyMoney

from billing.errors import CurrencyMismatch, InvalidAmount

MAX_INTEGER_DIGITS = 12
# The longest text read as an amount: 12 digits, their group separators and a few decimals fit with room to spare.
MAX_TYPED_LENGTH = 40
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


def money_check_currency(value: Money, currency: str, *, what: str | None = None) -> None:
    """`what`: the amount's name at the start of the refusal ("This amount" by default)."""
    if value.currency.code != currency:
        raise CurrencyMismatch(
            _("%(what)s is in %(currency)s, but it must be in %(expected)s.")
            % {"what": what or _("This amount"), "currency": value.currency.code, "expected": currency}
        )


def money_check_scale(value: Money) -> None:
    places = currency_decimal_places(value.currency)
    amount = value.amount
    if not amount.is_finite():
        raise InvalidAmount(_("The amount must be a number."))
    if amount != amount.quantize(minor_unit(value.currency), rounding=ROUND_HALF_UP):
        if places == 0:
            raise InvalidAmount(
                _("%(currency)s has no minor unit: enter a whole amount, not %(amount)s.")
                % {"currency": value.currency.code, "amount": amount}
            )
        raise InvalidAmount(
            _("%(currency)s amounts have %(places)s decimals at most: %(amount)s cannot be paid exactly.")
            % {"currency": value.currency.code, "places": places, "amount": amount}
        )


def money_check_entered(value: Money, *, currency: str | None = None, allow_zero: bool = False) -> Money:
    """Validate an amount typed by a person and return it at the currency's scale.

    Positive (or zero when allowed), at most 12 integer digits, expressible in the minor unit, in the expected
    currency.
    """
    if not isinstance(value, AnyMoney):
        raise InvalidAmount(_("The amount must be a sum of money."))
    if currency is not None:
        money_check_currency(value, currency)
    amount = value.amount
    if not amount.is_finite():
        raise InvalidAmount(_("The amount must be a number."))
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount(
            (
                _("The amount must be greater than zero, not %(amount)s.")
                if not allow_zero
                else _("The amount cannot be negative (%(amount)s).")
            )
            % {"amount": amount}
        )
    if amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise InvalidAmount(
            _("The amount %(amount)s is too large: at most %(digits)s digits before the point.")
            % {"amount": amount, "digits": MAX_INTEGER_DIGITS}
        )
    money_check_scale(value)
    return Money(amount.quantize(minor_unit(value.currency)), value.currency.code)


@lru_cache(maxsize=16)
def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ImproperlyConfigured(
            f"BILLING_LOCALE “{name}” is not a locale: use a CLDR locale identifier such as en, fr, de or fr_CH."
        ) from None


def money_locale() -> Locale:
    """The space's locale (`BILLING_LOCALE`): how people type amounts and how amounts are shown to them."""
    return _locale(settings.BILLING_LOCALE)


def display_locale() -> Locale:
    """The locale amounts and dates are shown in: the active language's (a member's or a staff user's, see
    members/languages.py), or the space's (`BILLING_LOCALE`) for the default language and for the space's own
    language, whose territory it keeps (fr_CH). Amounts are still read in the space's locale (`amount_read`)."""
    space = money_locale()
    language = (translation.get_language() or "").split("-")[0]
    if not language or language in {space.language, settings.LANGUAGE_CODE.split("-")[0]}:
        return space
    return _locale(language)


def money_format(value: Money) -> str:
    """An amount with its currency as people read it in the locale it is shown in: €1,234.50 (en), 1 234,50 € (fr),
    1.234,50 € (de). `str(money)` gives the same (see `BillingConfig.ready`)."""
    return format_currency(value.amount, currency_code(value.currency), locale=display_locale())


def amount_as_typed(value: Money) -> str:
    """An amount as a person would type it in the space's locale, without its currency or group separators, so
    that a form pre-filled with it reads it back unchanged: 1234.50 (en), 1234,50 (fr, de), 1000 (JPY)."""
    locale = money_locale()
    return locale.decimal_formats[None].apply(
        value.amount, locale, currency=currency_code(value.currency), currency_digits=True, group_separator=False
    )


def amount_example(currency: str | Currency) -> str:
    """How to type an amount of the currency in the space's locale: “1,234.56 or 12.50” (en, EUR),
    “1.234,56 or 12,50” (de), “1,234 or 12” (en, JPY)."""
    locale, code = money_locale(), currency_code(currency)
    pattern = locale.decimal_formats[None]
    large, small = (Decimal(text).quantize(minor_unit(code), rounding=ROUND_DOWN) for text in ("1234.5678", "12.5"))
    return _("%(large)s or %(small)s") % {
        "large": pattern.apply(large, locale, currency=code, currency_digits=True),
        "small": pattern.apply(small, locale, currency=code, currency_digits=True),
    }


def _amount_shape(decimal_symbol: str, group_symbols: set[str]) -> re.Pattern:
    """ASCII digits, optionally in groups, optionally followed by the decimal symbol and digits."""
    group = "[" + "".join(re.escape(symbol) for symbol in sorted(group_symbols)) + "]"
    return re.compile(rf"[0-9]+(?:{group}[0-9]+)*(?:{re.escape(decimal_symbol)}[0-9]+)?")


def _amount_problem(typed: str) -> str:
    """Why text that is not shaped like an amount was refused, as specifically as can be told."""
    if any(character.isdigit() and not character.isascii() for character in typed):
        return _("has digits other than 0 to 9")
    if any(character in "+-\u2212" for character in typed):
        return _("has a sign (amounts are typed without + or -)")
    if re.search("[0-9]", typed) and set(typed) <= set("0123456789.,'\u2019") | SPACE_CHARS:
        return _("has its separators in the wrong places")
    return _("is not an amount of money")


def amount_read(text: str, currency: str | Currency, *, allow_zero: bool = False) -> Money:
    """Read an amount as a person typed it, in the space's locale, or refuse it with an example of the expected
    form.

    Babel's strict parsing checks the group separators (`1.000,50` in de, `1 000,50` in fr with an ordinary, a
    no-break or a narrow no-break space, `1,000.50` in en); before it, anything but ASCII digits and the locale's
    separators is refused (exponents, underscores, signs, other digits, NaN, letters), since Python's Decimal
    would read them. `12,50` in en is refused as ambiguous. Decimals past the currency's minor unit are refused
    unless they are zeros (`12.500` is 12.50 EUR, `12.505` is refused). Only the outer whitespace is ignored;
    nothing is deleted to make the text parse. Zero only when allowed (a line's unit amount).
    """
    code = currency_code(currency)
    typed = str(text).strip()
    locale = money_locale()
    example = amount_example(code)
    if not typed:
        raise InvalidAmount(_("Enter an amount: type it like %(example)s.") % {"example": example})
    if len(typed) > MAX_TYPED_LENGTH:
        raise InvalidAmount(_("This is too long for an amount: type it like %(example)s.") % {"example": example})

    def refused(problem: str) -> InvalidAmount:
        """`problem`: what is wrong with the text, as the end of a sentence that starts with it ("is ambiguous")."""
        return InvalidAmount(
            _("“%(typed)s” %(problem)s: type the amount like %(example)s.")
            % {"typed": typed, "problem": problem, "example": example}
        )

    decimal_symbol, group_symbol = get_decimal_symbol(locale), get_group_symbol(locale)
    # Where the group separator is a kind of space, people type any of the three (the keyboard gives an
    # ordinary space); each stands for the locale's own, which Babel's strict check expects.
    spaces = SPACE_CHARS if group_symbol in SPACE_CHARS else set()
    if not _amount_shape(decimal_symbol, {group_symbol, *spaces}).fullmatch(typed):
        raise refused(_amount_problem(typed))
    spelled = "".join(group_symbol if character in spaces else character for character in typed)
    try:
        amount = parse_decimal(spelled, locale, strict=True)
    except NumberFormatError:
        # Misplaced group separators alone (`12,50` in en, `12.50` in de) may be another locale's decimals.
        ambiguous = decimal_symbol not in spelled
        raise refused(_("is ambiguous") if ambiguous else _("has its separators in the wrong places")) from None
    # The size first: quantizing a number past the decimal context's precision raises.
    if amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise refused(
            _("is too large (at most %(digits)s digits before the decimals)") % {"digits": MAX_INTEGER_DIGITS}
        )
    places, decimals = currency_decimal_places(code), -amount.as_tuple().exponent
    if amount != amount.quantize(minor_unit(code), rounding=ROUND_DOWN):
        if places == 0:
            raise refused(_("has decimals, but %(currency)s has no minor unit") % {"currency": code})
        raise refused(
            _("has %(decimals)s decimals, but %(currency)s amounts have %(places)s at most")
            % {"decimals": decimals, "currency": code, "places": places}
        )
    if amount == 0 and not allow_zero:
        raise InvalidAmount(_("The amount must be greater than zero, not %(amount)s.") % {"amount": typed})
    return Money(amount.quantize(minor_unit(code)), code)


def money_parse(text: str | Decimal | int | AnyMoney, currency: str, *, allow_zero: bool = False) -> Money:
    """An amount of `currency`, validated (zero only when allowed, as for a line's unit amount): text typed by a
    person is read with `amount_read` in the space's locale; a Decimal, int or Money given by code is checked
    with `money_check_entered`."""
    if isinstance(text, str):
        return amount_read(text, currency, allow_zero=allow_zero)
    if isinstance(text, AnyMoney):
        return money_check_entered(text, currency=currency_code(currency), allow_zero=allow_zero)
    return money_check_entered(Money(Decimal(text), currency), allow_zero=allow_zero)


def currency_check(code: str) -> str:
    code = (code or "").strip().upper()
    try:
        get_currency(code)
        get_currency_precision(code)
    except Exception:
        raise CurrencyMismatch(_("“%(code)s” is not a currency code.") % {"code": code}) from None
    return code


def money_from_db(amount: Decimal | None, currency: str | Currency) -> Money:
    """A stored or aggregated amount (None for an empty sum) as Money at the currency's scale."""
    if amount is None:
        return zero(currency)
    return Money(Decimal(amount).quantize(minor_unit(currency)), currency_code(currency))
