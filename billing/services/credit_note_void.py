"""Void a credit note (spec 5.11): issued -> void, as Stripe's, while nothing it settled has left the system.

Voiding undoes what issuing did to the invoice: the pre-payment part is owed again, the member credit it released
goes back to the invoice (the allocations it shrank grow back, out of their payments' unallocated money) and the
money balance it returned is applied to the invoice again. The credit note is kept, marked void, for audit. Final.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.errors import InvalidState
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import (
    CreditNote,
    CreditNoteStatus,
    credit_note_credit_parts,
    credit_note_credit_unused,
    credit_note_credit_used,
    credit_note_sent_nothing_back,
)
from billing.money import money_from_db, money_sum, zero
from billing.rules import Refusal, state_is_not, transition_refusal
from billing.selectors import member_money_balance
from billing.services.invoice_money_balance import balance_apply_locked
from payments.allocations import allocation_create
from payments.amounts import invoice_refresh_amounts, payment_refresh_amounts
from payments.lock_objects import payments_lock
from payments.models import Allocation, Payment, PaymentStatus, Refund, RefundAllocation


@dataclass(frozen=True)
class CreditNoteVoidPlan:
    """What voiding the credit note would do to its invoice, read from the current rows."""

    credit_note: CreditNote
    owed_again: Money
    from_payments: dict[Payment, Money]
    from_balance: Money

    @property
    def back_to_invoice(self) -> Money:
        return money_sum(self.from_payments.values(), self.credit_note.currency) + self.from_balance


def _sent_back_message(credit_note: CreditNote) -> str:
    refunds = list(
        Refund.objects.filter(Q(credit_note=credit_note) | Q(takes__credit_note=credit_note))
        .distinct()
        .select_related("payment")
        .order_by("pk")
    )
    if credit_note.out_of_band_amount.amount > 0 and credit_note.refund_amount.amount == 0:
        return _(
            "%(credit_note)s: %(amount)s was returned to the member outside the system; it cannot be voided. "
            "Issue an invoice for the amount instead."
        ) % {"credit_note": credit_note, "amount": credit_note.out_of_band_amount}
    if refunds:
        return _(
            "%(credit_note)s: %(amount)s was refunded to the member from %(payments)s; it cannot be voided. "
            "Issue an invoice for the amount instead."
        ) % {
            "credit_note": credit_note,
            "amount": money_sum((refund.amount for refund in refunds), credit_note.currency),
            "payments": ", ".join(sorted({str(refund.payment) for refund in refunds})),
        }
    return _(
        "%(credit_note)s: %(amount)s was sent back to the member; it cannot be voided. Issue an invoice for the "
        "amount instead."
    ) % {"credit_note": credit_note, "amount": credit_note.refund_amount + credit_note.out_of_band_amount}


def _credit_used_message(credit_note: CreditNote) -> str:
    payment, amount = credit_note_credit_used(credit_note)
    if payment is not None:
        left = payment.amount_unallocated if payment.status == PaymentStatus.SUCCEEDED else zero(payment.currency)
        return _(
            "%(credit_note)s left %(amount)s on %(payment)s as the member's credit, and only %(left)s of it is "
            "still unallocated (it was applied elsewhere or refunded); it cannot be voided. Issue an invoice for "
            "the amount instead."
        ) % {"credit_note": credit_note, "amount": amount, "payment": payment, "left": left}
    balance = member_money_balance(member=credit_note.invoice.member, currency=credit_note.currency)
    return _(
        "%(credit_note)s returned %(amount)s to the member's money balance, which now holds %(balance)s; it "
        "cannot be voided. Issue an invoice for the amount instead."
    ) % {"credit_note": credit_note, "amount": amount, "balance": balance}


# Why `CreditNote.void` is refused.
CREDIT_NOTE_VOID_REFUSALS = (
    Refusal(
        state_is_not(CreditNoteStatus.VOID),
        lambda credit_note: _("%(credit_note)s is already void.") % {"credit_note": credit_note},
    ),
    Refusal(credit_note_sent_nothing_back, _sent_back_message),
    Refusal(credit_note_credit_unused, _credit_used_message),
)


def credit_note_void_refusal(credit_note: CreditNote) -> str | None:
    """Why the credit note cannot be voided, in words an administrator can act on; None when it can."""
    error = transition_refusal(credit_note.void, CREDIT_NOTE_VOID_REFUSALS)
    return error.message if error is not None else None


def credit_note_void_plan(credit_note: CreditNote) -> CreditNoteVoidPlan:
    from_payments, from_balance = credit_note_credit_parts(credit_note=credit_note)
    return CreditNoteVoidPlan(
        credit_note=credit_note,
        owed_again=credit_note.pre_payment_amount,
        from_payments=from_payments,
        from_balance=from_balance,
    )


def _allocation_grow(*, allocation: Allocation, amount: Money, actor: Actor, reason: str) -> None:
    allocation.amount += amount
    allocation.save(update_fields=["amount", "amount_currency"])
    activity_record(
        actor=actor,
        verb="payment.reallocated",
        member=allocation.invoice.member,
        invoice=allocation.invoice,
        target=allocation.payment,
        amount=amount,
        message=reason,
        data={"allocation": allocation.number, "payment": allocation.payment.number},
    )


def _credit_back_to_invoice(*, credit_note, invoice, payment: Payment, amount: Money, actor: Actor) -> None:
    """Apply `amount` of the payment's unallocated money to the invoice again: the allocations the credit note
    shrank grow back (newest first, each up to what the credit note took off it); what was since removed from the
    invoice another way is allocated anew."""
    reason = f"{credit_note} voided"
    left = amount
    takes = (
        RefundAllocation.objects.filter(credit_note=credit_note, refund__isnull=True, allocation__payment=payment)
        .values("allocation_id")
        .annotate(total=Sum("amount"))
        .order_by("-allocation_id")
    )
    for row in takes:
        if left.amount <= 0:
            break
        allocation = Allocation.objects.select_for_update().get(pk=row["allocation_id"])
        if allocation.status != Allocation.Status.ACTIVE:
            continue
        allocation.invoice = invoice
        allocation.payment = payment
        grow = min(left, money_from_db(row["total"], invoice.currency), allocation.original_amount - allocation.amount)
        if grow.amount > 0:
            _allocation_grow(allocation=allocation, amount=grow, actor=actor, reason=reason)
            left -= grow
    if left.amount > 0:
        allocation_create(payment=payment, invoice=invoice, amount=left, actor=actor)


def credit_note_void(*, credit_note: CreditNote, actor: Actor, reason: str = "") -> CreditNote:
    """Void an issued credit note whose refund part is nothing and whose member credit is still unused, restoring
    its invoice's amounts. Final."""
    actor.require_permission("billing.void_credit_note", _("void credit notes"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        invoice = credit_note.invoice
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        payment_ids = RefundAllocation.objects.filter(credit_note=credit_note).values_list(
            "allocation__payment_id", flat=True
        )
        payments = {payment.pk: payment for payment in payments_lock(payment_ids)}
        credit_note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
        credit_note.invoice = invoice
        refusal = credit_note_void_refusal(credit_note)
        if refusal is not None:
            raise InvalidState(refusal)
        plan = credit_note_void_plan(credit_note)
        reason = (reason or "").strip() or "Voided by staff"
        invoice_status_before = invoice.status
        credit_note.void()
        credit_note.voided_at = timezone.now()
        credit_note.void_reason = reason
        credit_note.voided_by = actor.user if actor.user is not None and actor.user.pk else None
        credit_note.save()
        for payment, amount in plan.from_payments.items():
            payment = payments[payment.pk]
            _credit_back_to_invoice(
                credit_note=credit_note, invoice=invoice, payment=payment, amount=amount, actor=actor
            )
            payment_refresh_amounts(payment)
        if plan.from_balance.amount > 0:
            balance_apply_locked(
                member=member,
                invoice=invoice,
                amount=plan.from_balance,
                actor=actor,
                note=f"{credit_note} voided",
                data={"credit_note": credit_note.number},
            )
        invoice_refresh_amounts(invoice, actor=actor)
        activity_record(
            actor=actor,
            verb="credit_note.voided",
            member=member,
            invoice=invoice,
            target=credit_note,
            amount=credit_note.amount,
            status_before=CreditNoteStatus.ISSUED,
            status_after=credit_note.status,
            message=reason,
            data={
                "credit_note": credit_note.number,
                "invoice_status_before": invoice_status_before,
                "invoice_status_after": invoice.status,
                "owed_again": str(plan.owed_again.amount),
                "back_from_payments": {str(p): str(a.amount) for p, a in plan.from_payments.items()},
                "back_from_balance": str(plan.from_balance.amount),
            },
        )
    return credit_note
