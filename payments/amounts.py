"""Recompute the cached amounts of invoices and payments from their rows.

Only services call these, inside their transaction, after locking the rows. The status of an invoice follows
its amounts here and nowhere else: open -> paid when nothing remains (which ends the automatic retries of its
failed card payments), paid -> open when something does again.
"""

from django.db.models import Sum
from django.utils import timezone
from django_fsm import can_proceed
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.models import Invoice, InvoiceStatus
from billing.money import money_from_db
from billing.selectors import invoice_balance_applied
from billing.selectors import invoice_credited as issued_credit_notes_total
from payments.models import Allocation, Payment, PaymentStatus, Refund, RefundStatus
from payments.retry_schedule import invoice_retries_cancel
from payments.selectors import invoices_reserved


class AmountsOutOfBalance(RuntimeError):
    """A service let an amount go out of bounds. A bug, never a user error: the transaction is rolled back."""


def invoice_paid(invoice: Invoice) -> Money:
    total = Allocation.objects.filter(invoice=invoice, status=Allocation.Status.ACTIVE).aggregate(s=Sum("amount"))
    return money_from_db(total["s"], invoice.currency)


def invoice_credited(invoice: Invoice) -> Money:
    """Its issued credit notes; a void one no longer counts."""
    return issued_credit_notes_total(invoice=invoice)


def invoice_reserved(invoice: Invoice) -> Money:
    """Card payments for the invoice still in flight at the gateway."""
    return invoices_reserved([invoice])[invoice.pk]


def invoice_refresh_amounts(invoice: Invoice, *, actor: Actor) -> Invoice:
    """Recompute the invoice's amounts and move its status to match; writes an Activity on a status change."""
    invoice.amount_paid = invoice_paid(invoice)
    invoice.amount_credited = invoice_credited(invoice)
    invoice.amount_balance_applied = invoice_balance_applied(invoice=invoice)
    remaining = invoice.total - invoice.amount_credited - invoice.amount_balance_applied - invoice.amount_paid
    if remaining.amount < 0:
        raise AmountsOutOfBalance(f"{invoice} would have {remaining} remaining.")
    invoice.amount_remaining = remaining
    status_before = invoice.status
    if can_proceed(invoice.mark_paid):
        invoice.mark_paid()
        invoice.paid_at = timezone.now()
    elif can_proceed(invoice.reopen):
        invoice.reopen()
        invoice.paid_at = None
    invoice.save()
    if invoice.status != status_before:
        activity_record(
            actor=actor,
            verb="invoice.paid" if invoice.status == InvoiceStatus.PAID else "invoice.reopened",
            member=invoice.member,
            invoice=invoice,
            target=invoice,
            amount=remaining,
            status_before=status_before,
            status_after=invoice.status,
        )
        if invoice.status == InvoiceStatus.PAID:
            invoice_retries_cancel(invoice=invoice, actor=actor)
    return invoice


def payment_refresh_amounts(payment: Payment) -> Payment:
    allocated = Allocation.objects.filter(payment=payment, status=Allocation.Status.ACTIVE).aggregate(s=Sum("amount"))[
        "s"
    ]
    payment.amount_allocated = money_from_db(allocated, payment.currency)
    refunds = {
        row["status"]: row["total"]
        for row in Refund.objects.filter(payment=payment).values("status").annotate(total=Sum("amount")).order_by()
    }
    payment.amount_refunded = money_from_db(refunds.get(RefundStatus.SUCCEEDED), payment.currency)
    payment.amount_refund_pending = money_from_db(refunds.get(RefundStatus.PENDING), payment.currency)
    if payment.status == PaymentStatus.SUCCEEDED:
        unallocated = (
            payment.amount - payment.amount_allocated - payment.amount_refunded - payment.amount_refund_pending
        )
        if unallocated.amount < 0:
            raise AmountsOutOfBalance(f"{payment} would have {unallocated} unallocated.")
        payment.amount_unallocated = unallocated
    else:
        if payment.amount_allocated.amount or payment.amount_refunded.amount or payment.amount_refund_pending.amount:
            raise AmountsOutOfBalance(f"{payment} is {payment.status} but has allocations or refunds.")
        payment.amount_unallocated = money_from_db(None, payment.currency)
    payment.save()
    return payment
