"""Credit notes: the only way to reduce an issued invoice.

The preview follows Stripe's rules: `pre_payment_amount = min(amount, amount_remaining)` reduces what is still
owed; the rest (`post_payment_amount`) was already paid and must be settled exactly by refund + credit +
out-of-band. That part is taken from the invoice's allocations, newest first, then from money balance applied to
it. Refunds are made from the payments it comes from, newest first; member credit stays unallocated on those
payments (or returns to the money balance); out-of-band money is recorded as refunded outside the system.

Issuing takes three steps, each readable alone: `credit_note_request_validate` checks what was asked, before the
locks; `credit_note_rules_check` and `credit_note_plan` check the rules on the invoice's rows and say what will happen
(a `CreditNotePlan`); `_credit_note_apply` writes it. The preview (`credit_note_preview`) runs the same rules and plan
on the current rows, so the page and the service cannot disagree.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.credit_notes import CreditNoteSplit, credit_note_create_locked
from billing.errors import BillingError, InvalidState
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    CreditNoteStatus,
    Invoice,
    InvoiceLine,
    invoice_can_be_credited,
    invoice_creditable,
)
from billing.money import money_check_entered, money_from_db, money_sum, zero
from billing.services.invoice_money_balance import balance_return_locked
from members.models import Member
from payments.allocations import allocations_newest_first, allocations_take_newest_first
from payments.amounts import invoice_refresh_amounts, payment_refresh_amounts
from payments.lock_objects import payments_lock
from payments.models import Allocation, Payment, Refund, RefundAllocation
from payments.services.refund import refund_create_locked


@dataclass(frozen=True)
class CreditNoteRequest:
    """What was asked for, checked before the locks: the reason, the amount or the amounts per line (invoice line
    id -> amount), the memo and the split of the part already paid."""

    reason: str
    amount: Money | None
    line_amounts: dict[int, Money] | None
    memo: str
    split: CreditNoteSplit


@dataclass(frozen=True)
class CreditNotePlan:
    """What a credit note of `amount` does to its invoice: `pre_payment_amount` comes off what remains; the rest,
    already paid, comes from the invoice's allocations, newest first (`from_payments`: allocation and what is taken
    from it), then from the money balance applied to it (`from_balance`), and is settled by `split` (None in a
    preview, where the split is not chosen yet)."""

    amount: Money
    creditable: Money
    pre_payment_amount: Money
    post_payment_amount: Money
    remaining_after: Money
    from_payments: list[tuple[Allocation, Money]] = field(default_factory=list)
    from_balance: Money | None = None
    split: CreditNoteSplit | None = None

    @property
    def refundable(self) -> Money:
        """At most this much of the post-payment part can be refunded or returned out of band."""
        return money_sum((take for _allocation, take in self.from_payments), self.amount.currency)


def credit_note_line_creditable(invoice: Invoice) -> dict[int, Money]:
    """Per invoice line, what is left to credit: amount + tax less what credit notes already took."""
    credited = {
        row["invoice_line_id"]: row["total"]
        for row in CreditNoteLine.objects.filter(
            invoice_line__invoice=invoice, credit_note__status=CreditNoteStatus.ISSUED
        )
        .values("invoice_line_id")
        .annotate(total=Sum("amount"))
        .order_by()
    }
    return {
        line.pk: line.amount + line.tax - money_from_db(credited.get(line.pk), invoice.currency)
        for line in invoice.lines.all()
    }


# 1. Validate ----------------------------------------------------------------------------------------------------


def credit_note_request_validate(
    *,
    invoice: Invoice,
    actor: Actor,
    reason: str,
    amount: Money | None,
    line_amounts: dict[int, Money] | None,
    memo: str,
    refund_amount: Money | None,
    credit_amount: Money | None,
    out_of_band_amount: Money | None,
) -> CreditNoteRequest:
    """Check what was asked, before any lock: the user's permissions, the reason, an amount or amounts per line,
    and the amounts of the split (a part not given is zero)."""
    actor.require_permission("billing.issue_credit_note", _("issue credit notes"))
    if reason not in CreditNoteReason.values:
        raise BillingError(_("Choose a reason for the credit note."))
    if (amount is None) == (not line_amounts):
        raise BillingError(_("Enter the amount of the credit note, or an amount per line."))
    currency = invoice.currency
    if amount is not None:
        amount = money_check_entered(amount, currency=currency)
    refund, credit, out_of_band = (
        zero(currency) if value is None else money_check_entered(value, currency=currency, allow_zero=True)
        for value in (refund_amount, credit_amount, out_of_band_amount)
    )
    split = CreditNoteSplit(refund=refund, credit=credit, out_of_band=out_of_band)
    if split.refund.amount or split.out_of_band.amount:
        # Its refund and out-of-band parts send money back, as a refund of the payments does.
        actor.require_permission("payments.refund_payment", _("send money back with a credit note"))
    return CreditNoteRequest(reason=reason, amount=amount, line_amounts=line_amounts, memo=memo, split=split)


def credit_note_rules_check(*, invoice: Invoice, amount: Money | None, line_amounts: dict[int, Money] | None) -> Money:
    """The rules on the invoice's rows (locked, in the service): an issued invoice that is not void, each line
    within what is left to credit on it, and the whole within what the invoice's credit notes may still add up to.
    Returns the amount of the credit note: `amount`, or the sum of `line_amounts` when given."""
    if not invoice_can_be_credited(invoice):
        raise InvalidState(
            _("%(invoice)s is %(status)s; credit notes reduce issued invoices only.")
            % {"invoice": invoice, "status": invoice.get_status_display().lower()}
        )
    if line_amounts:
        amount = _line_amounts_check(invoice, line_amounts)
    creditable = invoice_creditable(invoice)
    if amount > creditable:
        raise BillingError(
            _("%(amount)s is more than what is left to credit on %(invoice)s (%(creditable)s of %(total)s).")
            % {"amount": amount, "invoice": invoice, "creditable": creditable, "total": invoice.total}
        )
    return amount


def _line_amounts_check(invoice: Invoice, line_amounts: dict[int, Money]) -> Money:
    creditable = credit_note_line_creditable(invoice)
    for line_id, line_amount in line_amounts.items():
        if line_id not in creditable:
            raise BillingError(_("A line of another invoice was given."))
        line_amount = money_check_entered(line_amount, currency=invoice.currency)
        if line_amount > creditable[line_id]:
            line = InvoiceLine.objects.get(pk=line_id)
            raise BillingError(
                _("“%(line)s” has %(creditable)s left to credit, not %(amount)s.")
                % {"line": line.description, "creditable": creditable[line_id], "amount": line_amount}
            )
    return money_sum(line_amounts.values(), invoice.currency)


# 2. Plan --------------------------------------------------------------------------------------------------------


def credit_note_plan(*, invoice: Invoice, amount: Money, split: CreditNoteSplit | None = None) -> CreditNotePlan:
    """What a credit note of `amount` (within the rules) does to the invoice, read from its rows. With `split`, the
    split must settle the part already paid exactly, and send back no more than the invoice's payments paid."""
    pre = min(amount, invoice.amount_remaining)
    post = amount - pre
    allocations = invoice.allocations.filter(status=Allocation.Status.ACTIVE).select_related("payment")
    from_payments, left = allocations_newest_first(allocations, post)
    plan = CreditNotePlan(
        amount=amount,
        creditable=invoice_creditable(invoice),
        pre_payment_amount=pre,
        post_payment_amount=post,
        remaining_after=invoice.amount_remaining - pre,
        from_payments=from_payments,
        from_balance=min(left, invoice.amount_balance_applied) if left.amount > 0 else None,
        split=split,
    )
    if split is None:
        return plan
    if split.settled != plan.post_payment_amount:
        raise BillingError(
            _(
                "%(post_payment)s of this credit note was already paid and must be settled exactly: refund + credit "
                "+ out of band is %(settled)s."
            )
            % {"post_payment": plan.post_payment_amount, "settled": split.settled}
        )
    if split.cash_out > plan.refundable:
        raise BillingError(
            _(
                "Only %(refundable)s of it was paid by payments; the rest came from money balance and can only go "
                "back as credit."
            )
            % {"refundable": plan.refundable}
        )
    return plan


def credit_note_preview(
    *, invoice: Invoice, amount: Money | None = None, line_amounts: dict[int, Money] | None = None
) -> CreditNotePlan:
    """What a credit note of `amount`, or of the sum of `line_amounts`, would do to the invoice, read from its
    current rows: the service's own rules and plan (run again under its locks when issuing), before the split of
    the part already paid is chosen."""
    if amount is not None:
        amount = money_check_entered(amount, currency=invoice.currency)
    amount = credit_note_rules_check(invoice=invoice, amount=amount, line_amounts=line_amounts)
    return credit_note_plan(invoice=invoice, amount=amount)


# 3. Apply -------------------------------------------------------------------------------------------------------


def credit_note_issue(
    *,
    invoice: Invoice,
    actor: Actor,
    reason: str,
    amount: Money | None = None,
    line_amounts: dict[int, Money] | None = None,
    memo: str = "",
    refund_amount: Money | None = None,
    credit_amount: Money | None = None,
    out_of_band_amount: Money | None = None,
) -> CreditNote:
    """Issue a credit note for `amount`, or for the sum of `line_amounts` (invoice line id -> amount)."""
    request = credit_note_request_validate(
        invoice=invoice,
        actor=actor,
        reason=reason,
        amount=amount,
        line_amounts=line_amounts,
        memo=memo,
        refund_amount=refund_amount,
        credit_amount=credit_amount,
        out_of_band_amount=out_of_band_amount,
    )
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        payment_ids = Allocation.objects.filter(invoice=invoice, status=Allocation.Status.ACTIVE).values_list(
            "payment_id", flat=True
        )
        payments = {payment.pk: payment for payment in payments_lock(payment_ids)}
        amount = credit_note_rules_check(invoice=invoice, amount=request.amount, line_amounts=request.line_amounts)
        plan = credit_note_plan(invoice=invoice, amount=amount, split=request.split)
        credit_note = _credit_note_apply(
            member=member, invoice=invoice, payments=payments, request=request, plan=plan, actor=actor
        )
    return credit_note


def _credit_note_apply(
    *,
    member: Member,
    invoice: Invoice,
    payments: dict[int, Payment],
    request: CreditNoteRequest,
    plan: CreditNotePlan,
    actor: Actor,
) -> CreditNote:
    """Write the plan under the service's locks: the credit note and its lines, what it takes off the allocations,
    its refund and out-of-band parts, the money balance it returns, the invoice's amounts and the activity."""
    credit_note = credit_note_create_locked(
        invoice=invoice,
        amount=plan.amount,
        reason=request.reason,
        memo=request.memo,
        pre_payment_amount=plan.pre_payment_amount,
        split=plan.split,
        actor=actor,
        line_amounts=request.line_amounts,
    )
    takes = allocations_take_newest_first(
        allocations=[allocation for allocation, _take in plan.from_payments],
        amount=plan.refundable,
        actor=actor,
        reason=f"{credit_note} credited {invoice}",
    )
    for allocation, take in takes:
        RefundAllocation.objects.create(allocation=allocation, credit_note=credit_note, amount=take)
        payment_refresh_amounts(payments[allocation.payment_id])
    _settle_in_cash(credit_note=credit_note, takes=takes, payments=payments, split=plan.split, actor=actor)
    if plan.from_balance is not None and plan.from_balance.amount > 0:
        balance_return_locked(
            member=member,
            invoice=invoice,
            amount=plan.from_balance,
            actor=actor,
            note=f"Credited by {credit_note}",
            data={"credit_note": credit_note.number},
        )
    status_before = invoice.status
    invoice_refresh_amounts(invoice, actor=actor)
    activity_record(
        actor=actor,
        verb="credit_note.issued",
        member=member,
        invoice=invoice,
        target=credit_note,
        amount=plan.amount,
        status_before=status_before,
        status_after=invoice.status,
        message=request.memo,
        data={
            "credit_note": credit_note.number,
            "pre_payment": str(credit_note.pre_payment_amount.amount),
            "refund": str(credit_note.refund_amount.amount),
            "credit": str(credit_note.credit_amount.amount),
            "out_of_band": str(credit_note.out_of_band_amount.amount),
        },
    )
    return credit_note


def _settle_in_cash(
    *,
    credit_note: CreditNote,
    takes: list[tuple[Allocation, Money]],
    payments: dict[int, Payment],
    split: CreditNoteSplit,
    actor: Actor,
) -> None:
    """Refund, then return out of band, from the released money, newest payment first."""
    wanted = [(split.refund, False), (split.out_of_band, True)]
    for allocation, take in takes:
        payment = payments[allocation.payment_id]
        available = take
        for index, (left, is_out_of_band) in enumerate(wanted):
            part = min(left, available)
            if part.amount <= 0:
                continue
            refund_create_locked(
                payment=payment,
                amount=part,
                reason=Refund.Reason.CREDIT_NOTE,
                actor=actor,
                note=f"{credit_note} on {credit_note.invoice}",
                credit_note=credit_note,
                out_of_band=is_out_of_band,
            )
            wanted[index] = (left - part, is_out_of_band)
            available -= part
    if any(left.amount > 0 for left, _is_out_of_band in wanted):
        raise AssertionError("The credit note's refund could not be taken from its payments.")
