"""How the admin lists' search reads what is typed: words, accents, amounts and card last 4."""

from decimal import Decimal

import pytest

from billing.admin.search import is_last_four, search_words, text_unaccented, word_amounts


@pytest.mark.parametrize(
    ("typed", "unaccented"),
    [
        ("Léa", "lea"),
        ("ÉLODIE", "elodie"),
        ("Müller", "muller"),
        ("Straße", "strasse"),
        ("Bjørn Ødegård", "bjorn odegard"),
        ("Łukasz", "lukasz"),
        ("Œuvre", "oeuvre"),
        ("ﬁn", "fin"),
        ("INV-2026-00015", "inv-2026-00015"),
        ("", ""),
    ],
)
def test_text_unaccented(typed, unaccented):
    assert text_unaccented(typed) == unaccented


def test_text_unaccented_keeps_null():
    assert text_unaccented(None) is None


def test_search_words_split_like_djangos_search():
    assert search_words('lea  "Martin Roux" 40,00') == ["lea", "Martin Roux", "40,00"]
    assert search_words("   ") == []


@pytest.mark.parametrize(
    ("typed", "amounts"),
    [
        ("40", {Decimal("40.00")}),
        ("40.00", {Decimal("40.00")}),
        ("40,00", {Decimal("40.00")}),
        ("40.5", {Decimal("40.50")}),
        ("1,206.00", {Decimal("1206.00")}),
        ("1206", {Decimal("1206.00")}),
        ("0.50", {Decimal("0.50")}),
        ("0", set()),
        ("00015", set()),
        ("-40", set()),
        ("4e1", set()),
        ("lea", set()),
        ("INV-2026-00015", set()),
        ("x" * 3000, set()),
        ("１２", set()),
    ],
)
def test_word_amounts(typed, amounts):
    assert word_amounts(typed) == amounts


def test_last_four():
    assert is_last_four("4242")
    assert not is_last_four("424")
    assert not is_last_four("42424")
    assert not is_last_four("４２４２")
