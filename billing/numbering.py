"""Gapless numbers per series and year (INV-2026-00001), taken under a row lock inside the caller's transaction."""

from django.db import IntegrityError, transaction

from billing.models import NumberSequence

INVOICE = "INV"
CREDIT_NOTE = "CN"
PAYMENT = "PAY"
ALLOCATION = "ALC"


def number_next(*, series: str, year: int) -> str:
    """Return the next number of the series. Must run inside the transaction that stores the numbered row,
    so a rollback gives the number back and no gap is left."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("number_next() must run inside a transaction.")
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
    return f"{series}-{year}-{sequence.last_value:05d}"
