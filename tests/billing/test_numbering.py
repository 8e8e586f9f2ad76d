import re
import threading

import pytest
from django.db import connection, transaction

from billing.models import NumberSequence
from billing.numbering import ALLOCATION, CREDIT_NOTE, INVOICE, PAYMENT, number_next


class Rollback(Exception):
    pass


def _next(series: str, year: int) -> str:
    with transaction.atomic():
        return number_next(series=series, year=year)


def test_invoice_and_credit_note_numbers_are_sequential_per_series_and_year(db):
    assert _next(INVOICE, 2026) == "INV-2026-00001"
    assert _next(INVOICE, 2026) == "INV-2026-00002"
    assert _next(CREDIT_NOTE, 2026) == "CN-2026-00001"
    assert _next(INVOICE, 2027) == "INV-2027-00001"
    assert _next(INVOICE, 2026) == "INV-2026-00003"
    assert _next(CREDIT_NOTE, 2026) == "CN-2026-00002"

    assert NumberSequence.objects.get(series=INVOICE, year=2026).last_value == 3
    assert NumberSequence.objects.get(series=INVOICE, year=2027).last_value == 1
    assert NumberSequence.objects.get(series=CREDIT_NOTE, year=2026).last_value == 2


def _value(number: str, *, series: str, year: int) -> int:
    match = re.fullmatch(rf"{series}-{year}-(\d{{5,}})", number)
    assert match, number
    return int(match.group(1))


@pytest.mark.parametrize("series", [PAYMENT, ALLOCATION])
def test_payment_and_allocation_numbers_are_unique_and_increasing(db, series):
    numbers = [_next(series, 2026) for _ in range(30)]

    values = [_value(number, series=series, year=2026) for number in numbers]
    assert values == sorted(set(values))  # strictly increasing, so unique
    assert values[0] >= 1


def test_payment_and_allocation_numbers_do_not_move_the_gapless_counters(db):
    _next(INVOICE, 2026)
    payment_number = _next(PAYMENT, 2026)
    allocation_number = _next(ALLOCATION, 2026)

    assert payment_number.startswith("PAY-2026-")
    assert allocation_number.startswith("ALC-2026-")
    assert _next(INVOICE, 2026) == "INV-2026-00002"
    assert _next(CREDIT_NOTE, 2026) == "CN-2026-00001"


def test_a_rolled_back_transaction_gives_its_number_back(db):
    _next(INVOICE, 2026)

    with pytest.raises(Rollback), transaction.atomic():
        assert number_next(series=INVOICE, year=2026) == "INV-2026-00002"
        raise Rollback

    assert _next(INVOICE, 2026) == "INV-2026-00002"


def test_a_rolled_back_first_number_leaves_no_sequence_behind(db):
    with pytest.raises(Rollback), transaction.atomic():
        number_next(series=CREDIT_NOTE, year=2026)
        raise Rollback

    assert not NumberSequence.objects.filter(series=CREDIT_NOTE).exists()
    assert _next(CREDIT_NOTE, 2026) == "CN-2026-00001"


def test_numbers_grow_past_five_digits(db):
    NumberSequence.objects.create(series=INVOICE, year=2026, last_value=99999)

    assert _next(INVOICE, 2026) == "INV-2026-100000"


@pytest.mark.parametrize("series", [INVOICE, PAYMENT])
def test_a_number_outside_a_transaction_is_refused(transactional_db, series):
    with pytest.raises(RuntimeError, match="inside a transaction"):
        number_next(series=series, year=2026)

    assert not NumberSequence.objects.exists()


# PostgreSQL: PAY and ALC come from sequences that take no lock.


@pytest.mark.parametrize("series", [PAYMENT, ALLOCATION])
@pytest.mark.usefixtures("transactional_db")
@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="database sequences are PostgreSQL's")
def test_a_rolled_back_payment_number_leaves_a_gap_and_no_counter(series):
    first = _next(series, 2026)
    with pytest.raises(Rollback), transaction.atomic():
        taken_back = number_next(series=series, year=2026)
        raise Rollback

    after = _next(series, 2026)
    assert _value(first, series=series, year=2026) < _value(taken_back, series=series, year=2026)
    assert _value(taken_back, series=series, year=2026) < _value(after, series=series, year=2026)
    assert not NumberSequence.objects.filter(series=series).exists()


@pytest.mark.parametrize("series", [PAYMENT, ALLOCATION])
@pytest.mark.usefixtures("transactional_db")
@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="database sequences are PostgreSQL's")
def test_a_payment_number_waits_for_no_other_transaction(series):
    """While one transaction holds a PAY (or ALC) number uncommitted, another takes the next at once: no lock is
    shared (the other side would wait for the lock, and fail on the lock timeout)."""
    holding = threading.Event()
    release = threading.Event()
    held: list[str] = []

    def hold_a_number() -> None:
        try:
            with transaction.atomic():
                held.append(number_next(series=series, year=2026))
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold_a_number)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            second = number_next(series=series, year=2026)
    finally:
        release.set()
        thread.join(timeout=30)

    assert _value(second, series=series, year=2026) > _value(held[0], series=series, year=2026)
