"""Numbers of the four series (INV-2026-00001), taken inside the transaction that stores the numbered row.

Invoices (INV) and credit notes (CN) are legal documents: their numbers come from gapless per-year counters
(`NumberSequence` rows) taken under a row lock held until the transaction ends, so a rollback gives the number
back and no gap is left.

Payment receipts (PAY) and allocations (ALC) only need numbers that are unique and increasing; a rolled-back
transaction may leave a gap. They take no lock that another member's transaction could wait for: on PostgreSQL
each series is a database sequence (`nextval` is not transactional and holds no lock after the call), created by
the migration `payments/0007_number_sequences`; the number is `PAY-<year>-<value>`, the value counting on across
years. SQLite lets one transaction write at a time, so nothing can deadlock there and the counter rows serve.

Lock order, for every service: the member, then invoices by id, then payments by id, and the counters last:
INV before CN. PAY and ALC take none. (Before, issuing an invoice with the member's credit took ALC then PAY
while an external payment for another member took PAY then ALC, and the two deadlocked.)
"""

from django.db import IntegrityError, connection, transaction

from billing.models import NumberSequence

INVOICE = "INV"
CREDIT_NOTE = "CN"
PAYMENT = "PAY"
ALLOCATION = "ALC"

GAPLESS_SERIES = (INVOICE, CREDIT_NOTE)
# The PostgreSQL sequence of each series that needs no lock (created by payments/migrations/0007_number_sequences).
DATABASE_SEQUENCES = {PAYMENT: "billing_number_pay_seq", ALLOCATION: "billing_number_alc_seq"}


def number_next(*, series: str, year: int) -> str:
    """Return the next number of the series. Must run inside the transaction that stores the numbered row: for
    INV and CN a rollback gives the number back; for PAY and ALC it may leave a gap."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("number_next() must run inside a transaction.")
    if series in DATABASE_SEQUENCES and connection.vendor == "postgresql":
        value = _database_sequence_next(DATABASE_SEQUENCES[series])
    else:
        value = _counter_next(series=series, year=year)
    return f"{series}-{year}-{value:05d}"


def numbers_next(*, counts: dict[str, int], year: int) -> dict[str, list[str]]:
    """`count` next numbers of each series, increasing; PAY and ALC on PostgreSQL in one round trip (a service that
    writes a payment and its allocations). Same rules as `number_next`."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("numbers_next() must run inside a transaction.")
    counts = {series: count for series, count in counts.items() if count > 0}
    if not counts:
        return {}
    if connection.vendor != "postgresql" or not set(counts) <= set(DATABASE_SEQUENCES):
        return {
            series: [number_next(series=series, year=year) for _index in range(count)]
            for series, count in counts.items()
        }
    if set(counts.values()) == {1}:  # a payment and its allocation: one row of one nextval() each
        nextvals = ", ".join(f"nextval('{DATABASE_SEQUENCES[series]}')" for series in counts)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {nextvals}")
            row = cursor.fetchone()
        return {series: [f"{series}-{year}-{value:05d}"] for series, value in zip(counts, row, strict=True)}
    selects = " UNION ALL ".join(
        f"SELECT %s, nextval('{DATABASE_SEQUENCES[series]}') FROM generate_series(1, %s)" for series in counts
    )
    values: dict[str, list[int]] = {series: [] for series in counts}
    with connection.cursor() as cursor:
        cursor.execute(selects, [value for series, count in counts.items() for value in (series, count)])
        for series, value in cursor.fetchall():
            values[series].append(value)
    return {series: [f"{series}-{year}-{value:05d}" for value in sorted(found)] for series, found in values.items()}


def _database_sequence_next(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [name])
        return cursor.fetchone()[0]


def _counter_next(*, series: str, year: int) -> int:
    """The gapless counter: locked until the caller's transaction ends."""
    sequence = NumberSequence.objects.select_for_update().filter(series=series, year=year).first()
    if sequence is None:
        try:
            with transaction.atomic():
                NumberSequence.objects.create(series=series, year=year, last_value=0)
        except IntegrityError:
            pass  # Another transaction created it first; lock theirs below.
        sequence = NumberSequence.objects.select_for_update().get(series=series, year=year)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return sequence.last_value
