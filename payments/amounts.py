"""The cached amounts of invoices and payments: recomputed from their rows, or moved by what a service changed.

Only services call these, inside their transaction, after locking the rows. A locked row's cached amounts are
those of its rows (every service keeps them so, and the integrity check compares them), so a service that knows
what it added or took away moves them by that (`invoice_amounts_move`, `payment_amounts_move`: one UPDATE of the
changed columns, no aggregate); the `*_refresh_amounts` functions recompute them from the rows. The status of an
invoice follows its amounts here and nowhere else: open -> paid when nothing remains (which ends the automatic
retries of its failed card payments), paid -> open when something does again.
"""

from django.db.models import Sum
from django.utils import timezone
from django_fsm import can_proceed
from djmoney.money import Money

from billing.activity import Actor, activities_save, activity_build
from billing.models import Invoice, InvoiceStatus
from billing.money import money_from_db
from billing.rows import row_update
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
    status_before = _invoice_status_follow(invoice)
    invoice.save()
    _invoice_status_record(invoice, status_before=status_before, actor=actor, activities=None)
    return invoice


INVOICE_AMOUNT_FIELDS = ["amount_paid", "amount_credited", "amount_balance_applied", "amount_remaining"]


def invoice_amounts_move(
    invoice: Invoice,
    *,
    actor: Actor,
    paid: Money | None = None,
    balance_applied: Money | None = None,
    activities: list | None = None,
    fields: tuple[str, ...] = (),
    retries_scheduled: bool = True,
) -> Invoice:
    """Move the locked invoice's cached amounts by what the caller added (positive) or took away (negative), and
    its status to match, in one UPDATE of the changed columns (with `fields`, the other columns the caller changed
    on it). The status change's activity joins `activities` (saved by the caller), or is written at once without
    them. `retries_scheduled=False`: the caller read, under the member's lock, that no failed card payment for the
    invoice has an automatic retry scheduled, so none is looked for when the invoice becomes paid."""
    if paid is not None:
        invoice.amount_paid += paid
    if balance_applied is not None:
        invoice.amount_balance_applied += balance_applied
    for name in INVOICE_AMOUNT_FIELDS[:3]:
        if getattr(invoice, name).amount < 0:
            raise AmountsOutOfBalance(f"{invoice} would have {getattr(invoice, name)} as {name}.")
    status_before = _invoice_status_follow(invoice)
    if invoice.status == status_before and not fields:
        # The amounts alone: an UPDATE of their columns (the status, and so the state machine's record of it, stay).
        row_update(invoice, INVOICE_AMOUNT_FIELDS)
        return invoice
    invoice.save(update_fields=[*INVOICE_AMOUNT_FIELDS, "status", "paid_at", *fields])
    _invoice_status_record(
        invoice, status_before=status_before, actor=actor, activities=activities, retries_scheduled=retries_scheduled
    )
    return invoice


def _invoice_status_follow(invoice: Invoice) -> str:
    """Set what remains from the amounts and move the status to match; return the status before."""
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
    return status_before


def _invoice_status_record(
    invoice: Invoice, *, status_before: str, actor: Actor, activities: list | None, retries_scheduled: bool = True
) -> None:
    if invoice.status == status_before:
        return
    activity = activity_build(
        actor=actor,
        verb="invoice.paid" if invoice.status == InvoiceStatus.PAID else "invoice.reopened",
        member=invoice.member,
        invoice=invoice,
        target=invoice,
        amount=invoice.amount_remaining,
        status_before=status_before,
        status_after=invoice.status,
    )
    if activities is None:
        activity.save(force_insert=True)
    else:
        activities.append(activity)
    if invoice.status == InvoiceStatus.PAID:
        if activities is not None:
            activities_save(activities)  # in order, before the records of the retries it ends
        if retries_scheduled:
            invoice_retries_cancel(invoice=invoice, actor=actor)


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


PAYMENT_AMOUNT_FIELDS = ["amount_allocated", "amount_unallocated"]


def payment_amounts_move(payment: Payment, *, allocated: Money, save: bool = True) -> Payment:
    """Move the locked payment's allocated amount by what the caller allocated (positive) or took back (negative),
    and its unallocated amount the other way; one UPDATE of the two columns (none with `save=False`: the caller
    inserts the payment after). A payment that is not succeeded holds nothing."""
    payment.amount_allocated += allocated
    if payment.status == PaymentStatus.SUCCEEDED:
        payment.amount_unallocated -= allocated
    elif payment.amount_allocated.amount or payment.amount_refunded.amount or payment.amount_refund_pending.amount:
        raise AmountsOutOfBalance(f"{payment} is {payment.status} but has allocations or refunds.")
    else:
        payment.amount_unallocated = money_from_db(None, payment.currency)
    if payment.amount_allocated.amount < 0 or payment.amount_unallocated.amount < 0:
        raise AmountsOutOfBalance(
            f"{payment} would have {payment.amount_allocated} allocated, {payment.amount_unallocated} unallocated."
        )
    if save:
        payment.save(update_fields=PAYMENT_AMOUNT_FIELDS)
    return payment
