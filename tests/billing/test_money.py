from decimal import Decimal

import pytest
from djmoney.money import Money

from billing.errors import CurrencyMismatch, InvalidAmount
from billing.money import (
    currency_check,
    currency_decimal_places,
    money,
    money_check_entered,
    money_check_scale,
    money_from_db,
    money_from_minor_units,
    money_parse,
    money_round,
    money_sum,
    money_to_minor_units,
    zero,
)


def test_decimal_places_follow_the_currency_minor_unit():
    assert currency_decimal_places("EUR") == 2
    assert currency_decimal_places("JPY") == 0
    assert currency_decimal_places("KRW") == 0
    assert currency_decimal_places("BHD") == 3


def test_to_minor_units_multiplies_by_the_currency_scale():
    assert money_to_minor_units(Money("10.50", "EUR")) == 1050
    assert money_to_minor_units(Money("0.01", "EUR")) == 1
    assert money_to_minor_units(Money("1.234", "BHD")) == 1234


def test_zero_decimal_currency_is_never_multiplied_by_100():
    assert money_to_minor_units(Money("1500", "JPY")) == 1500
    assert money_to_minor_units(Money("1500", "KRW")) == 1500


def test_from_minor_units_divides_by_the_currency_scale():
    assert money_from_minor_units(1050, "EUR") == Money("10.50", "EUR")
    assert money_from_minor_units(1500, "JPY") == Money("1500", "JPY")
    assert money_from_minor_units(1234, "BHD") == Money("1.234", "BHD")
    assert money_from_minor_units(1050, "EUR").currency.code == "EUR"


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("10.50", "EUR"), ("0.01", "EUR"), ("1500", "JPY"), ("1.234", "BHD"), ("999999999999.99", "EUR")],
)
def test_minor_units_round_trip(amount, currency):
    value = Money(amount, currency)

    assert money_from_minor_units(money_to_minor_units(value), currency) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Money("10.005", "EUR"), "EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly"),
        (Money("10.5", "JPY"), "JPY has no minor unit: enter a whole amount, not 10.5"),
        (Money("1.0005", "BHD"), "BHD amounts have 3 decimals at most"),
    ],
)
def test_to_minor_units_refuses_an_amount_finer_than_the_minor_unit(value, message):
    with pytest.raises(InvalidAmount, match=message):
        money_to_minor_units(value)


def test_trailing_zeros_are_not_a_scale_error():
    money_check_scale(Money("10.000", "EUR"))
    money_check_scale(Money("1500.00", "JPY"))

    assert money_to_minor_units(Money("10.000", "EUR")) == 1000


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "EUR", "2.35"),
        ("2.355", "EUR", "2.36"),
        ("2.344", "EUR", "2.34"),
        ("4.985", "EUR", "4.99"),  # half-even would give 4.98
        ("0.005", "EUR", "0.01"),
        ("-2.345", "EUR", "-2.35"),
        ("2.5", "JPY", "3"),
        ("499.5", "JPY", "500"),
        ("1.0005", "BHD", "1.001"),
        ("1.0004", "BHD", "1.000"),
    ],
)
def test_money_round_is_half_up_to_the_minor_unit(amount, currency, expected):
    rounded = money_round(Decimal(amount), currency)

    assert rounded == Money(expected, currency)
    assert rounded.amount.as_tuple().exponent == -currency_decimal_places(currency)


def test_money_gives_the_currency_scale_and_refuses_a_finer_amount():
    assert money("10", "EUR").amount.as_tuple().exponent == -2
    assert money("10", "EUR") == Money("10.00", "EUR")
    with pytest.raises(InvalidAmount, match="2 decimals at most"):
        money("10.005", "EUR")


def test_zero_is_at_the_currency_scale():
    assert zero("EUR") == Money("0.00", "EUR")
    assert str(zero("EUR").amount) == "0.00"
    assert str(zero("JPY").amount) == "0"
    assert str(zero("BHD").amount) == "0.000"


def test_money_sum_adds_in_one_currency_and_refuses_a_mix():
    assert money_sum([], "EUR") == Money("0.00", "EUR")
    assert money_sum([Money("10.10", "EUR"), Money("0.20", "EUR")], "EUR") == Money("10.30", "EUR")
    with pytest.raises(CurrencyMismatch, match="This amount is in USD, but it must be in EUR"):
        money_sum([Money("10.10", "EUR"), Money("1.00", "USD")], "EUR")


def test_money_from_db_reads_none_as_zero_and_quantizes():
    assert money_from_db(None, "EUR") == Money("0.00", "EUR")
    assert str(money_from_db(Decimal("12.300"), "EUR").amount) == "12.30"
    assert str(money_from_db(Decimal("1500.000"), "JPY").amount) == "1500"


def test_check_entered_accepts_and_normalizes_a_valid_amount():
    assert money_check_entered(Money("12.5", "EUR")) == Money("12.50", "EUR")
    assert str(money_check_entered(Money("12.5", "EUR")).amount) == "12.50"
    assert money_check_entered(Money("999999999999.99", "EUR")) == Money("999999999999.99", "EUR")
    assert money_check_entered(Money("1500", "JPY"), currency="JPY") == Money("1500", "JPY")
    assert money_check_entered(Money("0", "EUR"), allow_zero=True) == Money("0.00", "EUR")


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (Money("0", "EUR"), {}, "greater than zero, not 0"),
        (Money("-5.00", "EUR"), {}, "greater than zero, not -5.00"),
        (Money("-5.00", "EUR"), {"allow_zero": True}, r"cannot be negative \(-5.00\)"),
        (Money("10.005", "EUR"), {}, "EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly"),
        (Money("10.5", "JPY"), {}, "JPY has no minor unit: enter a whole amount, not 10.5"),
        (Money("1234567890123", "EUR"), {}, "too large: at most 12 digits before the point"),
        (Money("1000000000000.00", "EUR"), {}, "too large"),
        (Money("10.00", "USD"), {"currency": "EUR"}, "This amount is in USD, but it must be in EUR"),
        (Decimal("10.00"), {}, "The amount must be a sum of money"),
        ("10.00", {}, "The amount must be a sum of money"),
        (10, {}, "The amount must be a sum of money"),
        (None, {}, "The amount must be a sum of money"),
    ],
)
def test_check_entered_refuses_bad_amounts(value, kwargs, message):
    with pytest.raises((InvalidAmount, CurrencyMismatch), match=message):
        money_check_entered(value, **kwargs)


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("12.50", "EUR", Money("12.50", "EUR")),
        (" 12.5 ", "EUR", Money("12.50", "EUR")),
        ("1,234.56", "EUR", Money("1234.56", "EUR")),
        ("1500", "JPY", Money("1500", "JPY")),
        ("1.234", "BHD", Money("1.234", "BHD")),
        (Decimal("7.10"), "EUR", Money("7.10", "EUR")),
        (3, "EUR", Money("3.00", "EUR")),
    ],
)
def test_money_parse_reads_a_person_s_input(text, currency, expected):
    assert money_parse(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("abc", "EUR", "“abc” is not an amount of money"),
        ("", "EUR", "Enter an amount: type it like 1,234.56 or 12.50."),
        ("12,50.x", "EUR", "is not an amount of money"),
        ("NaN", "EUR", "“NaN” is not an amount of money"),
        ("Infinity", "EUR", "“Infinity” is not an amount of money"),
        ("0", "EUR", "greater than zero"),
        ("-1", "EUR", "has a sign"),
        ("10.005", "EUR", "has 3 decimals, but EUR amounts have 2 at most"),
        ("10.5", "JPY", "JPY has no minor unit"),
        ("1234567890123", "EUR", "too large"),
    ],
)
def test_money_parse_refuses_what_is_not_a_valid_amount(text, currency, message):
    with pytest.raises(InvalidAmount, match=message):
        money_parse(text, currency)


def test_money_parse_accepts_zero_only_when_allowed():
    assert money_parse("0", "EUR", allow_zero=True) == Money("0.00", "EUR")


def test_currency_check_normalizes_and_refuses_unknown_codes():
    assert currency_check(" eur ") == "EUR"
    assert currency_check("JPY") == "JPY"
    with pytest.raises(CurrencyMismatch, match="“ZZZ” is not a currency code"):
        currency_check("ZZZ")
    with pytest.raises(CurrencyMismatch, match="“” is not a currency code"):
        currency_check("")
