"""The one reader of typed amounts (`amount_read`, behind `money_parse`) and how amounts are shown, in the space's
locale (`BILLING_LOCALE`): en, fr and de, for EUR, JPY (no minor unit) and BHD (3 decimals)."""

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, Template
from django.test import override_settings
from djmoney.money import Money
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import InvalidAmount
from billing.money import amount_as_typed, amount_example, amount_read, money_format, money_locale, money_parse

NNBSP, NBSP = "\u202f", "\xa0"

EXAMPLES = {
    ("en", "EUR"): "1,234.56 or 12.50",
    ("en", "JPY"): "1,234 or 12",
    ("en", "BHD"): "1,234.567 or 12.500",
    ("fr", "EUR"): f"1{NNBSP}234,56 or 12,50",
    ("fr", "JPY"): f"1{NNBSP}234 or 12",
    ("fr", "BHD"): f"1{NNBSP}234,567 or 12,500",
    ("de", "EUR"): "1.234,56 or 12,50",
    ("de", "JPY"): "1.234 or 12",
    ("de", "BHD"): "1.234,567 or 12,500",
}

ACCEPTED = [
    # en: a decimal point, commas between thousands.
    ("en", "12.50", "EUR", "12.50"),
    ("en", "12.5", "EUR", "12.50"),
    ("en", " 12.50 ", "EUR", "12.50"),
    ("en", "1000", "EUR", "1000.00"),
    ("en", "1,000.50", "EUR", "1000.50"),
    ("en", "1,234,567.89", "EUR", "1234567.89"),
    ("en", "12.500", "EUR", "12.50"),
    ("en", "999,999,999,999.99", "EUR", "999999999999.99"),
    ("en", "1500", "JPY", "1500"),
    ("en", "1,500", "JPY", "1500"),
    ("en", "1.234", "BHD", "1.234"),
    ("en", "1,000.125", "BHD", "1000.125"),
    # fr: a decimal comma, spaces between thousands (ordinary, no-break or narrow no-break).
    ("fr", "12,50", "EUR", "12.50"),
    ("fr", "12,5", "EUR", "12.50"),
    ("fr", "1000,50", "EUR", "1000.50"),
    ("fr", "1 000,50", "EUR", "1000.50"),
    ("fr", f"1{NBSP}000,50", "EUR", "1000.50"),
    ("fr", f"1{NNBSP}000,50", "EUR", "1000.50"),
    ("fr", "1 234 567,89", "EUR", "1234567.89"),
    ("fr", "20,00", "EUR", "20.00"),
    ("fr", "1 500", "JPY", "1500"),
    ("fr", "1,234", "BHD", "1.234"),
    ("fr", "1 000,125", "BHD", "1000.125"),
    # de: a decimal comma, points between thousands.
    ("de", "12,50", "EUR", "12.50"),
    ("de", "1000,5", "EUR", "1000.50"),
    ("de", "1.000,50", "EUR", "1000.50"),
    ("de", "1.000,00", "EUR", "1000.00"),
    ("de", "1.000", "EUR", "1000.00"),
    ("de", "1.000.000,00", "EUR", "1000000.00"),
    ("de", "1.500", "JPY", "1500"),
    ("de", "1,234", "BHD", "1.234"),
]


@pytest.mark.parametrize(("locale", "text", "currency", "expected"), ACCEPTED)
def test_an_amount_typed_in_the_space_s_locale_is_read_exactly(locale, text, currency, expected):
    with override_settings(BILLING_LOCALE=locale):
        value = money_parse(text, currency)

    assert value == Money(expected, currency)
    assert value.amount.as_tuple() == Decimal(expected).as_tuple()  # at the currency's scale


def sign(text):
    return f"“{text}” has a sign (amounts are typed without + or -)"


def separators(text):
    return f"“{text}” has its separators in the wrong places"


def ambiguous(text):
    return f"“{text}” is ambiguous"


def not_an_amount(text):
    return f"“{text}” is not an amount of money"


def other_digits(text):
    return f"“{text}” has digits other than 0 to 9"


REFUSED = [
    # en
    ("en", "12,50", "EUR", ambiguous("12,50")),
    ("en", "20,00", "EUR", ambiguous("20,00")),
    ("en", "1.000,00", "EUR", separators("1.000,00")),
    ("en", "1,00.50", "EUR", separators("1,00.50")),
    ("en", "1 000.50", "EUR", separators("1 000.50")),
    ("en", "12.", "EUR", separators("12.")),
    ("en", "1e3", "EUR", not_an_amount("1e3")),
    ("en", "1E3", "EUR", not_an_amount("1E3")),
    ("en", "1_000", "EUR", not_an_amount("1_000")),
    ("en", "+5", "EUR", sign("+5")),
    ("en", "-5", "EUR", sign("-5")),
    ("en", "\u22125", "EUR", sign("\u22125")),
    ("en", "١٢٫٥٠", "EUR", other_digits("١٢٫٥٠")),
    ("en", "１２.５０", "EUR", other_digits("１２.５０")),
    ("en", "NaN", "EUR", not_an_amount("NaN")),
    ("en", "Infinity", "EUR", not_an_amount("Infinity")),
    ("en", "inf", "EUR", not_an_amount("inf")),
    ("en", "€12.50", "EUR", not_an_amount("€12.50")),
    ("en", "12.505", "EUR", "“12.505” has 3 decimals, but EUR amounts have 2 at most"),
    ("en", "1234567890123", "EUR", "“1234567890123” is too large (at most 12 digits before the decimals)"),
    # Past the decimal context's 28 digits of precision: refused for its size, not a crash in quantize.
    ("en", "9" * 40, "EUR", f"“{'9' * 40}” is too large (at most 12 digits before the decimals)"),
    ("de", "9" * 30 + ",5", "EUR", f"“{'9' * 30},5” is too large (at most 12 digits before the decimals)"),
    (
        "en",
        "1,234,567,890,123.00",
        "EUR",
        "“1,234,567,890,123.00” is too large (at most 12 digits before the decimals)",
    ),
    ("en", "12.5", "JPY", "“12.5” has decimals, but JPY has no minor unit"),
    ("en", "1.2345", "BHD", "“1.2345” has 4 decimals, but BHD amounts have 3 at most"),
    # fr
    ("fr", "12.50", "EUR", separators("12.50")),
    ("fr", "1.000,50", "EUR", separators("1.000,50")),
    ("fr", "1,000.50", "EUR", separators("1,000.50")),
    ("fr", "1  000,50", "EUR", separators("1  000,50")),
    ("fr", "1 00,50", "EUR", separators("1 00,50")),
    ("fr", "1 00", "EUR", ambiguous("1 00")),
    ("fr", "12,5,0", "EUR", separators("12,5,0")),
    ("fr", "1e3", "EUR", not_an_amount("1e3")),
    ("fr", "1_000", "EUR", not_an_amount("1_000")),
    ("fr", "-5", "EUR", sign("-5")),
    ("fr", "１２,５０", "EUR", other_digits("１２,５０")),
    ("fr", "12,505", "EUR", "“12,505” has 3 decimals, but EUR amounts have 2 at most"),
    ("fr", "12,5", "JPY", "“12,5” has decimals, but JPY has no minor unit"),
    ("fr", "1,2345", "BHD", "“1,2345” has 4 decimals, but BHD amounts have 3 at most"),
    # de
    ("de", "12.50", "EUR", ambiguous("12.50")),
    ("de", "1.5", "EUR", ambiguous("1.5")),
    ("de", "1,000.50", "EUR", separators("1,000.50")),
    ("de", "1 000,50", "EUR", separators("1 000,50")),
    ("de", "1.00,50", "EUR", separators("1.00,50")),
    ("de", "1e3", "EUR", not_an_amount("1e3")),
    ("de", "1_000", "EUR", not_an_amount("1_000")),
    ("de", "+5", "EUR", sign("+5")),
    ("de", "٥", "EUR", other_digits("٥")),
    ("de", "NaN", "EUR", not_an_amount("NaN")),
    ("de", "12,505", "EUR", "“12,505” has 3 decimals, but EUR amounts have 2 at most"),
    (
        "de",
        "1.000.000.000.000,00",
        "EUR",
        "“1.000.000.000.000,00” is too large (at most 12 digits before the decimals)",
    ),
    ("de", "12,5", "JPY", "“12,5” has decimals, but JPY has no minor unit"),
    ("de", "1,2345", "BHD", "“1,2345” has 4 decimals, but BHD amounts have 3 at most"),
]


@pytest.mark.parametrize(("locale", "text", "currency", "problem"), REFUSED)
def test_a_malformed_or_ambiguous_amount_is_refused_with_how_to_type_it(locale, text, currency, problem):
    with override_settings(BILLING_LOCALE=locale), pytest.raises(InvalidAmount) as refused:
        money_parse(text, currency)

    assert refused.value.message == f"{problem}: type the amount like {EXAMPLES[locale, currency]}."


@pytest.mark.parametrize("locale", ["en", "fr", "de"])
@pytest.mark.parametrize("text", ["", "   ", NBSP])
def test_an_empty_amount_is_refused_with_how_to_type_it(locale, text):
    with override_settings(BILLING_LOCALE=locale), pytest.raises(InvalidAmount) as refused:
        money_parse(text, "EUR")

    assert refused.value.message == f"Enter an amount: type it like {EXAMPLES[locale, 'EUR']}."


@pytest.mark.parametrize("locale", ["en", "fr", "de"])
def test_text_longer_than_any_amount_is_refused_without_repeating_it(locale):
    with override_settings(BILLING_LOCALE=locale), pytest.raises(InvalidAmount) as refused:
        money_parse("1" * 41, "EUR")

    assert refused.value.message == f"This is too long for an amount: type it like {EXAMPLES[locale, 'EUR']}."
    assert money_parse("0" * 36 + "1.00", "EUR") == Money("1.00", "EUR")  # 40 characters


@pytest.mark.parametrize(("locale", "text"), [("en", "0"), ("en", "0.00"), ("fr", "0,00"), ("de", "0,00")])
def test_zero_only_where_allowed(locale, text):
    with override_settings(BILLING_LOCALE=locale):
        assert money_parse(text, "EUR", allow_zero=True) == Money("0.00", "EUR")
        with pytest.raises(InvalidAmount) as refused:
            money_parse(text, "EUR")

    assert refused.value.message == f"The amount must be greater than zero, not {text}."


@pytest.mark.parametrize("locale", ["en", "fr", "de"])
def test_amounts_given_by_code_are_checked_as_before_in_every_locale(locale):
    with override_settings(BILLING_LOCALE=locale):
        assert money_parse(Decimal("12.5"), "EUR") == Money("12.50", "EUR")
        assert money_parse(3, "JPY") == Money("3", "JPY")
        assert money_parse(Money("1.234", "BHD"), "BHD") == Money("1.234", "BHD")
        with pytest.raises(InvalidAmount, match="EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly"):
            money_parse(Decimal("10.005"), "EUR")
        with pytest.raises(InvalidAmount, match=r"greater than zero, not -5"):
            money_parse(Decimal("-5"), "EUR")


@pytest.mark.parametrize(("locale", "currency"), list(EXAMPLES))
def test_the_example_is_in_the_locale_and_the_currency_s_scale(locale, currency):
    with override_settings(BILLING_LOCALE=locale):
        assert amount_example(currency) == EXAMPLES[locale, currency]


# Shown amounts


SHOWN = [
    ("en", Money("12.50", "EUR"), "€12.50"),
    ("en", Money("1234.5", "EUR"), "€1,234.50"),
    ("en", Money("12.5", "USD"), "$12.50"),
    ("en", Money("5", "GBP"), "£5.00"),
    ("en", Money("5", "CHF"), "CHF5.00"),
    ("en", Money("1000", "JPY"), "¥1,000"),
    ("en", Money("1.234", "BHD"), "BHD1.234"),
    ("fr", Money("12.50", "EUR"), f"12,50{NBSP}€"),
    ("fr", Money("1234.5", "EUR"), f"1{NNBSP}234,50{NBSP}€"),
    ("fr", Money("1000", "JPY"), f"1{NNBSP}000{NBSP}JPY"),
    ("fr", Money("1.234", "BHD"), f"1,234{NBSP}BHD"),
    ("de", Money("12.50", "EUR"), f"12,50{NBSP}€"),
    ("de", Money("1234.5", "EUR"), f"1.234,50{NBSP}€"),
    ("de", Money("1000", "JPY"), f"1.000{NBSP}¥"),
    ("de", Money("1.234", "BHD"), f"1,234{NBSP}BHD"),
]


@pytest.mark.parametrize(("locale", "value", "shown"), SHOWN)
def test_amounts_are_shown_in_the_space_s_locale(locale, value, shown):
    with override_settings(BILLING_LOCALE=locale):
        assert str(value) == shown
        assert f"{value}" == shown
        assert money_format(value) == shown
        assert Template("{{ value }}").render(Context({"value": value})) == shown.replace(" ", NBSP)


def test_showing_an_amount_activates_no_translation():
    from django.utils import translation

    with override_settings(BILLING_LOCALE="fr"):
        str(Money("12.50", "EUR"))
        assert translation.get_language() == settings.LANGUAGE_CODE


TYPED = [
    ("en", Money("1234.5", "EUR"), "1234.50"),
    ("en", Money("0", "EUR"), "0.00"),
    ("en", Money("1000", "JPY"), "1000"),
    ("en", Money("1.234", "BHD"), "1.234"),
    ("fr", Money("1234.5", "EUR"), "1234,50"),
    ("fr", Money("1000", "JPY"), "1000"),
    ("fr", Money("1.234", "BHD"), "1,234"),
    ("de", Money("1234.5", "EUR"), "1234,50"),
    ("de", Money("1000", "JPY"), "1000"),
    ("de", Money("1.234", "BHD"), "1,234"),
]


@pytest.mark.parametrize(("locale", "value", "typed"), TYPED)
def test_a_pre_filled_amount_is_in_the_locale_and_reads_back_unchanged(locale, value, typed):
    with override_settings(BILLING_LOCALE=locale):
        assert amount_as_typed(value) == typed
        assert amount_read(typed, value.currency.code, allow_zero=True) == value


@given(
    locale=st.sampled_from(["en", "fr", "de"]),
    currency=st.sampled_from(["EUR", "JPY", "BHD"]),
    minor_units=st.integers(min_value=1, max_value=10**14 - 1),
)
def test_every_amount_shown_or_pre_filled_reads_back_as_itself(locale, currency, minor_units):
    """What the pages show (with group separators) and pre-fill (without) is what the reader reads, to the minor
    unit, in every locale."""
    from billing.money import currency_decimal_places, money_from_minor_units

    value = money_from_minor_units(minor_units, currency)
    if value.amount.adjusted() >= 12:
        return
    with override_settings(BILLING_LOCALE=locale):
        locale_object = money_locale()
        grouped = locale_object.decimal_formats[None].apply(value.amount, locale_object, currency=currency)
        assert amount_read(amount_as_typed(value), currency) == value
        assert amount_read(grouped, currency) == value
        assert currency_decimal_places(currency) == -amount_read(grouped, currency).amount.as_tuple().exponent


# The setting


@pytest.mark.parametrize("name", ["xx", "english", "fr_XX_YY"])
def test_an_unknown_locale_is_a_configuration_error(name):
    with override_settings(BILLING_LOCALE=name), pytest.raises(ImproperlyConfigured, match="is not a locale"):
        money_parse("12.50", "EUR")


@pytest.mark.parametrize("name", ["fr_CH", "de-AT", "en_GB"])
def test_a_locale_with_a_territory_is_accepted(name):
    with override_settings(BILLING_LOCALE=name):
        assert money_locale().language == name[:2]


def test_the_site_does_not_start_with_an_unknown_locale():
    environment = {**os.environ, "BILLING_LOCALE": "xx"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**environment, "DJANGO_SETTINGS_MODULE": "coworking_billing.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )

    assert result.returncode != 0
    assert "RuntimeError: BILLING_LOCALE “xx” is not a locale" in result.stderr
