from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.activity import Actor, activities_save, activity_build
from billing.intents import intent_claim
from billing.rules import transition_check
from payments.allocations import allocation_release
from payments.amounts import PAYMENT_AMOUNT_FIELDS, invoice_amounts_move, payment_amounts_move
from payments.lock_objects import payment_lock_with_invoices
from payments.models import Allocation, Payment
from payments.rules import PAYMENT_VOID_REFUSALS


def payment_void(*, payment: Payment, actor: Actor, reason: str = "") -> Payment:
    """Void an external payment whose money never really arrived (a bounced check, a mistaken entry).

    Every allocation is removed, so the invoices it paid reopen. Final. Card payments are refunded instead.
    """
    actor.require_permission("payments.void_payment", _("void payments"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member, invoices, payment = payment_lock_with_invoices(payment.pk, member_id=payment.member_id)
        activities = []
        payment_void_locked(
            payment=payment, member=member, invoices=invoices, actor=actor, reason=reason, activities=activities
        )
        activities_save(activities)
    return payment


def payment_void_locked(
    *, payment: Payment, member, invoices: dict, actor: Actor, reason: str, activities: list
) -> None:
    """The void itself, for a caller holding the locks of `payment_lock_with_invoices` in its own transaction (undoing
    a recorded bank transaction); the activity records join `activities`."""
    transition_check(payment.void, PAYMENT_VOID_REFUSALS)
    reason = (reason or "").strip() or "Voided by staff"
    released = {}
    for allocation in (
        Allocation.objects.select_for_update().filter(payment=payment, status=Allocation.Status.ACTIVE).order_by("pk")
    ):
        invoice = invoices[allocation.invoice_id]
        invoice.member = member
        allocation.invoice, allocation.payment = invoice, payment
        amount = allocation_release(
            allocation=allocation, actor=actor, reason=f"{payment} voided: {reason}", activities=activities
        )
        released[invoice.pk] = released[invoice.pk] + amount if invoice.pk in released else amount
    status_before = payment.status
    payment.void()
    payment.voided_at = timezone.now()
    payment.void_reason = reason
    payment_amounts_move(payment, allocated=-payment.amount_allocated, save=False)
    payment.save(update_fields=[*PAYMENT_AMOUNT_FIELDS, "status", "voided_at", "void_reason"])
    for invoice_id, amount in sorted(released.items()):
        invoice_amounts_move(invoices[invoice_id], actor=actor, paid=-amount, activities=activities)
    activities.append(
        activity_build(
            actor=actor,
            verb="payment.voided",
            member=member,
            target=payment,
            amount=payment.amount,
            status_before=status_before,
            status_after=payment.status,
            message=reason,
            data={"invoices_reopened": [str(invoice) for invoice in invoices.values()]},
        )
    )
