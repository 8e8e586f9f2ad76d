"""Refunds: money returned from one payment.

The refund takes the payment's unallocated money first. When it must take allocated money, the administrator
chooses what happens to those invoices: reopen their balance (allocations shrink, newest first), or reduce each
with a credit note settled by this refund (the invoice stays paid). Card payments are refunded to the card by a
task after commit (pending until the gateway answers; a failed refund gives the money back to the payment);
external payments' refunds are recorded at once.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.credit_notes import CreditNoteSplit, credit_note_create_locked
from billing.errors import BillingError, InvalidState
from billing.intents import intent_claim
from billing.lock_objects import member_lock
from billing.models import CreditNote, CreditNoteReason, Invoice
from billing.money import money_check_entered, money_from_db, money_to_minor_units, zero
from payments.allocations import allocations_newest_first, allocations_take_newest_first
from payments.amounts import invoice_refresh_amounts, payment_refresh_amounts
from payments.gateways import gateway_get
from payments.gateways.base import Gateway, RefundOutcome, RefundResult
from payments.lock_objects import payment_lock, payment_lock_with_invoices
from payments.models import (
    Allocation,
    AttemptStatus,
    Payment,
    PaymentMethodKind,
    Refund,
    RefundAllocation,
    RefundStatus,
    payment_is_received,
)
from payments.outbox import outbox_add, outbox_mail_add

SYSTEM = Actor.system("refunds")

CREDIT_NOTE_REASON_FOR = {
    Refund.Reason.DUPLICATE: CreditNoteReason.DUPLICATE,
    Refund.Reason.FRAUDULENT: CreditNoteReason.FRAUDULENT,
}


@dataclass(frozen=True)
class RefundPlan:
    """What a refund of `amount` would take: unallocated money first, then allocations newest first."""

    amount: Money
    refundable: Money
    from_unallocated: Money
    from_invoices: list[tuple[Allocation, Money]]

    @property
    def takes_allocated_money(self) -> bool:
        return bool(self.from_invoices)


def payment_refundable(payment: Payment) -> Money:
    """What is left to refund: the amount less what is refunded or being refunded."""
    return payment.amount_refundable


def refund_plan(*, payment: Payment, amount: Money) -> RefundPlan:
    """The preview of a refund, from the payment's current rows (re-checked under the locks when refunding)."""
    from_unallocated = min(amount, payment.amount_unallocated)
    allocations = payment.allocations.filter(status=Allocation.Status.ACTIVE).select_related("invoice")
    from_invoices, _left = allocations_newest_first(allocations, amount - from_unallocated)
    return RefundPlan(amount, payment_refundable(payment), from_unallocated, from_invoices)


def refund_create_locked(
    *,
    payment: Payment,
    amount: Money,
    reason: str,
    actor: Actor,
    note: str = "",
    invoice_handling: str = "",
    credit_note: CreditNote | None = None,
    out_of_band: bool = False,
) -> Refund:
    """Refund `amount` of the payment's unallocated money. The caller holds the payment's lock."""
    if amount > payment.amount_unallocated:
        raise AssertionError(f"{amount} is more than the unallocated {payment.amount_unallocated} of {payment}.")
    if out_of_band:
        kind = Refund.Kind.OUT_OF_BAND
    elif payment.method == PaymentMethodKind.CARD:
        kind = Refund.Kind.GATEWAY
    else:
        kind = Refund.Kind.RECORDED
    at_gateway = kind == Refund.Kind.GATEWAY
    refund = Refund.objects.create(
        payment=payment,
        amount=amount,
        kind=kind,
        reason=reason,
        note=note,
        invoice_handling=invoice_handling,
        credit_note=credit_note,
        status=RefundStatus.PENDING if at_gateway else RefundStatus.SUCCEEDED,
        gateway=_charge_gateway(payment) if at_gateway else "",
        actor_label=actor.label,
        created_by=actor.user,
        finished_at=None if at_gateway else timezone.now(),
    )
    payment_refresh_amounts(payment)
    activity_record(
        actor=actor,
        verb="refund.requested" if at_gateway else "refund.recorded",
        member=payment.member,
        target=payment,
        amount=amount,
        message=note,
        data={"refund": str(refund.uid), "kind": kind, "reason": reason, "payment": payment.number},
    )
    if at_gateway:
        outbox_add(task="payments.tasks.refund_execute_task", refund_id=refund.pk)
    elif kind == Refund.Kind.RECORDED:
        outbox_mail_add(notification="refund_issued", refund_id=refund.pk)
    return refund


def _charge_gateway(payment: Payment) -> str:
    attempt = payment.attempts.filter(status=AttemptStatus.SUCCEEDED).first()
    return attempt.gateway if attempt else ""


def payment_refund(
    *,
    payment: Payment,
    amount: Money,
    reason: str,
    actor: Actor,
    note: str = "",
    invoice_handling: str = "",
) -> Refund:
    """Refund part or all of a succeeded payment."""
    actor.require_permission("payments.refund_payment", _("refund payments"))
    if reason not in Refund.Reason.values or reason == Refund.Reason.CREDIT_NOTE:
        raise BillingError(_("Choose a reason for the refund."))
    if invoice_handling not in Refund.InvoiceHandling.values:
        raise BillingError(_("Choose what happens to the invoices this payment paid."))
    amount = money_check_entered(amount, currency=payment.currency)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member, invoices, payment = payment_lock_with_invoices(payment.pk, member_id=payment.member_id)
        if not payment_is_received(payment):
            raise InvalidState(
                _("%(payment)s is %(status)s; only received money is refunded.")
                % {"payment": payment, "status": payment.get_status_display().lower()}
            )
        refundable = payment_refundable(payment)
        if amount > refundable:
            raise BillingError(
                _(
                    "%(amount)s is more than what is left to refund on %(payment)s (%(refundable)s, counting refunds in progress)."
                )
                % {"amount": amount, "payment": payment, "refundable": refundable}
            )
        plan = refund_plan(payment=payment, amount=amount)
        if plan.takes_allocated_money and not invoice_handling:
            described = ", ".join(
                _("%(amount)s from %(invoice)s") % {"amount": take, "invoice": allocation.invoice}
                for allocation, take in plan.from_invoices
            )
            raise BillingError(
                _(
                    "This refund takes %(described)s: choose whether to reopen the invoice balance or to reduce the "
                    "invoice with a credit note."
                )
                % {"described": described}
            )
        takes = allocations_take_newest_first(
            allocations=[allocation for allocation, _take in plan.from_invoices],
            amount=amount - plan.from_unallocated,
            actor=actor,
            reason=f"Refund of {payment}",
        )
        for allocation, _take in takes:
            allocation.invoice = invoices[allocation.invoice_id]
        payment_refresh_amounts(payment)
        refund = refund_create_locked(
            payment=payment,
            amount=amount,
            reason=reason,
            actor=actor,
            note=note,
            invoice_handling=invoice_handling if takes else "",
        )
        for allocation, take in takes:
            credit_note = None
            if invoice_handling == Refund.InvoiceHandling.CREDIT_NOTE:
                credit_note = _credit_note_settled_by_refund(
                    invoice=allocation.invoice, amount=take, refund=refund, reason=reason, actor=actor
                )
            RefundAllocation.objects.create(allocation=allocation, refund=refund, credit_note=credit_note, amount=take)
        for invoice in invoices.values():
            invoice_refresh_amounts(invoice, actor=actor)
        activity_record(
            actor=actor,
            verb="payment.refunded",
            member=member,
            target=payment,
            amount=amount,
            message=note,
            data={
                "refund": str(refund.uid),
                "from_unallocated": str(plan.from_unallocated.amount),
                "invoices": {
                    str(allocation.invoice): str(money_from_db(take.amount, take.currency).amount)
                    for allocation, take in takes
                },
                "invoice_handling": invoice_handling,
            },
        )
    return refund


def _credit_note_settled_by_refund(
    *, invoice: Invoice, amount: Money, refund: Refund, reason: str, actor: Actor
) -> CreditNote:
    """A credit note for the money a refund took off a paid invoice, so that the invoice stays paid."""
    nothing = zero(invoice.currency)
    credit_note = credit_note_create_locked(
        invoice=invoice,
        amount=amount,
        reason=CREDIT_NOTE_REASON_FOR.get(reason, CreditNoteReason.OTHER),
        memo=f"Settled by a refund of {refund.payment}.",
        pre_payment_amount=nothing,
        split=CreditNoteSplit(refund=amount, credit=nothing, out_of_band=nothing),
        actor=actor,
    )
    activity_record(
        actor=actor,
        verb="credit_note.issued",
        member=invoice.member,
        invoice=invoice,
        target=credit_note,
        amount=amount,
        data={"credit_note": credit_note.number, "refund": str(refund.uid)},
    )
    return credit_note


def refund_execute(*, refund_id: int, gateway: Gateway | None = None) -> Refund:
    """Send a pending card refund to the gateway (with the refund's own idempotency key, so sending it again never
    refunds twice) and record the answer."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    attempt = refund.payment.attempts.filter(status=AttemptStatus.SUCCEEDED).first()
    if attempt is None:
        return refund_record_outcome(
            refund_id=refund.pk,
            result=RefundResult(RefundOutcome.FAILED, message="The card charge of this payment is unknown."),
        )
    Refund.objects.filter(pk=refund.pk, sent_at__isnull=True).update(sent_at=timezone.now())
    result = (gateway or gateway_get()).refund_create(
        gateway_payment_id=attempt.gateway_payment_id,
        amount_minor=money_to_minor_units(refund.amount),
        idempotency_key=refund.idempotency_key,
    )
    return refund_record_outcome(refund_id=refund.pk, result=result)


def refund_record_outcome(*, refund_id: int, result: RefundResult, actor: Actor = SYSTEM) -> Refund:
    """Record the gateway's answer, moving a refund forward out of pending. The one move back: a refund the gateway
    reports failed after we recorded it succeeded becomes failed, and its money goes back on the payment."""
    peek = Refund.objects.select_related("payment").get(pk=refund_id)
    with transaction.atomic(durable=True):
        member = member_lock(peek.payment.member_id)
        payment = payment_lock(peek.payment_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        refund.last_checked_at = timezone.now()
        if result.gateway_refund_id and not refund.gateway_refund_id:
            refund.gateway_refund_id = result.gateway_refund_id
        if refund.status == RefundStatus.SUCCEEDED and result.outcome == RefundOutcome.FAILED:
            _refund_fail_after_success(refund=refund, payment=payment, member=member, result=result, actor=actor)
            return refund
        if refund.status != RefundStatus.PENDING or result.outcome == RefundOutcome.PENDING:
            refund.save(update_fields=["gateway_refund_id", "last_checked_at"])
            return refund
        refund.finished_at = timezone.now()
        refund.needs_review = False
        if result.outcome == RefundOutcome.SUCCEEDED:
            refund.succeed()
        else:
            refund.fail()
            refund.failure_message = result.message or "The gateway refused the refund."
            _refund_failure_settle_credit_notes(refund)
        refund.save()
        payment_refresh_amounts(payment)
        activity_record(
            actor=actor,
            verb="refund.succeeded" if refund.status == RefundStatus.SUCCEEDED else "refund.failed",
            member=member,
            target=payment,
            amount=refund.amount,
            message=refund.failure_message,
            data={"refund": str(refund.uid), "gateway_refund_id": refund.gateway_refund_id},
        )
        if refund.status == RefundStatus.SUCCEEDED:
            outbox_mail_add(notification="refund_issued", refund_id=refund.pk)
    return refund


def _refund_fail_after_success(*, refund: Refund, payment: Payment, member, result: RefundResult, actor: Actor):
    """The money never reached the card: it goes back on the payment, unallocated (the member's credit), the
    credit notes the refund settled are settled by that credit instead, and the administrators are mailed."""
    refund.fail_after_success()
    refund.failure_message = result.message or "The gateway reports that this refund failed after it succeeded."
    refund.finished_at = timezone.now()
    _refund_failure_settle_credit_notes(refund)
    refund.save()
    payment_refresh_amounts(payment)
    activity_record(
        actor=actor,
        verb="refund.failed_after_success",
        member=member,
        target=payment,
        amount=refund.amount,
        status_before=RefundStatus.SUCCEEDED,
        status_after=RefundStatus.FAILED,
        message=f"{refund.failure_message} {refund.amount} is back on {payment}, unallocated (the member's credit).",
        data={"refund": str(refund.uid), "gateway_refund_id": refund.gateway_refund_id},
    )
    outbox_mail_add(notification="refund_failed_admin", refund_id=refund.pk)


def _refund_failure_settle_credit_notes(refund: Refund) -> None:
    """The money of a failed refund stays on the payment as the member's credit, so the credit notes it was to
    settle are settled by that credit instead."""
    settled = [(take.credit_note, take.amount) for take in refund.takes.exclude(credit_note=None)]
    if refund.credit_note_id:
        settled.append((refund.credit_note, refund.amount))
    for credit_note, amount in settled:
        credit_note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
        credit_note.refund_amount -= amount
        credit_note.credit_amount += amount
        credit_note.save(
            update_fields=["refund_amount", "refund_amount_currency", "credit_amount", "credit_amount_currency"]
        )
