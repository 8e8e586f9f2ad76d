"""Row locks of the payments app, taken after the member and invoice locks of `billing.lock_objects`."""

from collections.abc import Iterable

from billing.lock_objects import invoices_lock, member_lock
from billing.models import Invoice
from billing.rows import row_lock
from members.models import Member
from payments.models import Allocation, Payment, PaymentAttempt, PaymentTarget


def payment_lock(payment_id: int) -> Payment:
    return row_lock(Payment, payment_id)


def attempt_lock_with_payment(attempt_id: int, *, related: tuple[str, ...] = ()) -> PaymentAttempt:
    """Lock the attempt's payment, then the attempt (the lock order), in one query; `related`: more rows to read
    with them, not locked (`payment__member`, `payment_method`). PostgreSQL locks the rows of a joined row in the
    order of `FOR UPDATE OF`."""
    return (
        PaymentAttempt.objects.select_related("payment", *related)
        .select_for_update(of=("payment", "self"))
        .get(pk=attempt_id)
    )


def payments_lock(payment_ids: Iterable[int]) -> list[Payment]:
    return list(Payment.objects.select_for_update().filter(pk__in=set(payment_ids)).order_by("pk"))


def allocations_lock(allocation_ids: Iterable[int]) -> list[Allocation]:
    return list(Allocation.objects.select_for_update().filter(pk__in=set(allocation_ids)).order_by("pk"))


def payment_lock_with_invoices(payment_id: int, *, member_id: int) -> tuple[Member, dict[int, Invoice], Payment]:
    """Lock the member, the invoices of the payment (those it is allocated to, and those a card payment is meant
    to pay) by id, then the payment.

    With the member locked, no allocation or target of this payment can appear or go away until the transaction
    ends, so the invoices read before locking them are the right ones.
    """
    member = member_lock(member_id)
    allocated = Allocation.objects.filter(payment_id=payment_id, status=Allocation.Status.ACTIVE).values_list(
        "invoice_id", flat=True
    )
    targeted = PaymentTarget.objects.filter(payment_id=payment_id).values_list("invoice_id", flat=True)
    invoices = {invoice.pk: invoice for invoice in invoices_lock([*allocated, *targeted])}
    return member, invoices, payment_lock(payment_id)
