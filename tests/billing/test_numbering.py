import pytest
from django.db import transaction

from billing.models import NumberSequence
from billing.numbering import ALLOCATION, CREDIT_NOTE, INVOICE, PAYMENT, number_next


class Rollback(Exception):
    pass


def _next(series: str, year: int) -> str:
    with transaction.atomic():
        return number_next(series=series, year=year)


def test_numbers_are_sequential_per_series_and_year(db):
    assert _next(INVOICE, 2026) == "INV-2026-00001"
    assert _next(INVOICE, 2026) == "INV-2026-00002"
    assert _next(PAYMENT, 2026) == "PAY-2026-00001"
    assert _next(CREDIT_NOTE, 2026) == "CN-2026-00001"
    assert _next(ALLOCATION, 2026) == "ALC-2026-00001"
    assert _next(INVOICE, 2027) == "INV-2027-00001"
    assert _next(INVOICE, 2026) == "INV-2026-00003"

    assert NumberSequence.objects.get(series=INVOICE, year=2026).last_value == 3
    assert NumberSequence.objects.get(series=INVOICE, year=2027).last_value == 1


def test_a_rolled_back_transaction_gives_its_number_back(db):
    _next(INVOICE, 2026)

    with pytest.raises(Rollback), transaction.atomic():
        assert number_next(series=INVOICE, year=2026) == "INV-2026-00002"
        raise Rollback

    assert _next(INVOICE, 2026) == "INV-2026-00002"


def test_a_rolled_back_first_number_leaves_no_sequence_behind(db):
    with pytest.raises(Rollback), transaction.atomic():
        number_next(series=PAYMENT, year=2026)
        raise Rollback

    assert not NumberSequence.objects.filter(series=PAYMENT).exists()
    assert _next(PAYMENT, 2026) == "PAY-2026-00001"


def test_numbers_grow_past_five_digits(db):
    NumberSequence.objects.create(series=INVOICE, year=2026, last_value=99999)

    assert _next(INVOICE, 2026) == "INV-2026-100000"


def test_a_number_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(RuntimeError, match="inside a transaction"):
        number_next(series=INVOICE, year=2026)

    assert not NumberSequence.objects.exists()
