"""The end of a failed card payment's automatic retries when its invoice no longer needs them.

Spec 6: a fully paid, void or uncollectible invoice cancels the schedule. Every way an invoice gets there goes
through one of three places, and each calls `invoice_retries_cancel` in its own transaction: the invoice's status
moving to paid in `payments.amounts.invoice_refresh_amounts` (an external payment, an applied payment or money
balance, a credit note, another card payment succeeding), `invoice_void` and `invoice_mark_uncollectible`.

The payment stays failed (its history is true) with no next retry; a member of staff can still retry it by hand
where the invoice takes payments (an uncollectible invoice does), or cancel it.
"""

from django.db.models import QuerySet

from billing.activity import Actor, activity_record
from billing.models import Invoice, InvoiceStatus
from payments.lock_objects import payments_lock
from payments.models import Payment, PaymentMethodKind, PaymentStatus, PaymentTarget


def payments_retry_scheduled(invoice) -> QuerySet:
    """The failed card payments for the invoice (or for `OuterRef("invoice_id")` in a subquery) whose next automatic
    retry is scheduled."""
    return Payment.objects.filter(
        targets__invoice=invoice,
        method=PaymentMethodKind.CARD,
        status=PaymentStatus.FAILED,
        next_retry_at__isnull=False,
    )


def invoice_retries_cancel(*, invoice: Invoice, actor: Actor) -> list[Payment]:
    """Clear the next automatic retry of the failed card payments for the invoice, which has just become paid,
    void or uncollectible, and record why. A payment for several invoices keeps its schedule while one of the
    others is still open (its retry charges what remains there). The caller holds the member's and the invoice's
    locks, so no payment of the member changes meanwhile; the payments are locked by id, after them. Returns the
    payments whose retries were canceled."""
    scheduled = list(payments_retry_scheduled(invoice).values_list("pk", flat=True))
    canceled = []
    for payment in payments_lock(scheduled) if scheduled else []:
        other_open_invoices = PaymentTarget.objects.filter(payment=payment, invoice__status=InvoiceStatus.OPEN).exclude(
            invoice=invoice
        )
        if other_open_invoices.exists():
            continue
        retry_was_at = payment.next_retry_at
        payment.next_retry_at = None
        payment.save(update_fields=["next_retry_at"])
        status = invoice.get_status_display().lower()
        activity_record(
            actor=actor,
            verb="payment.retries_canceled",
            member=invoice.member,
            invoice=invoice,
            target=payment,
            amount=payment.amount,
            message=f"{invoice} is {status}: the automatic retries of {payment} are canceled.",
            data={"reason": f"invoice_{invoice.status}", "next_retry_was_at": retry_was_at.isoformat()},
        )
        canceled.append(payment)
    return canceled
