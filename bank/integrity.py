"""Spec 10.9: every recorded bank transaction has exactly one payment that is not void, of its amount; a transaction
that is not recorded has none. One set-based pass (grouped counts joined by key)."""

from collections.abc import Iterator

from django.db.models import Count, F, Q

from bank.models import BankTransaction, BankTransactionStatus
from payments.models import PaymentStatus

CHUNK_SIZE = 2000


def bank_transaction_violations() -> Iterator[str]:
    live = ~Q(recordings__payment__status=PaymentStatus.VOID)
    rows = (
        BankTransaction.objects.annotate(
            live_payments=Count("recordings", filter=live),
            live_of_its_amount=Count(
                "recordings",
                filter=live
                & Q(recordings__payment__amount=F("amount"))
                & Q(recordings__payment__currency=F("currency")),
            ),
        )
        .filter(
            Q(status=BankTransactionStatus.RECORDED) & ~Q(live_payments=1, live_of_its_amount=1)
            | ~Q(status=BankTransactionStatus.RECORDED) & Q(live_payments__gt=0)
        )
        .order_by()
        .values_list("bank_reference", "status", "live_payments", "live_of_its_amount")
    )
    for reference, status, live_payments, of_its_amount in rows.iterator(chunk_size=CHUNK_SIZE):
        if status == BankTransactionStatus.RECORDED:
            yield (
                f"Bank transaction {reference}: recorded with {live_payments} payments that are not void "
                f"({of_its_amount} of its amount); it must have exactly one, of its amount."
            )
        else:
            yield f"Bank transaction {reference}: {status}, but {live_payments} payments made from it are not void."
