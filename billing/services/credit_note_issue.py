"""Credit notes: the only way to reduce an issued invoice.

The preview follows Stripe's rules: `pre_payment_amount = min(amount, amount_remaining)` reduces what is still
owed; the rest (`post_payment_amount`) was already paid and must be settled exactly by refund + credit +
out-of-band. That part is taken from the invoice's allocations, newest first, then from money balance applied to
it. Refunds are made from the payments it comes from, newest first; member credit stays unallocated on those
payments (or returns to the money balance); out-of-band money is recorded as refunded outside the system.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor, activity_record
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
)
from billing.money import money_check_entered, money_from_db, money_sum, zero
from billing.numbering import CREDIT_NOTE, number_next
from billing.services.invoice_money_balance import balance_return_locked
from payments.allocations import allocations_take_newest_first
from payments.amounts import invoice_refresh_amounts, payment_refresh_amounts
from payments.lock_objects import payments_lock
from payments.models import Allocation, Refund, RefundAllocation
from payments.services.refund import refund_create_locked


@dataclass(frozen=True)
class CreditNotePreview:
    amount: Money
    creditable: Money
    pre_payment_amount: Money
    post_payment_amount: Money
    remaining_after: Money
    # Where the post-payment part comes from: (allocation, amount), newest first, then money balance.
    from_payments: list[tuple[Allocation, Money]] = field(default_factory=list)
    from_balance: Money | None = None

    @property
    def refundable(self) -> Money:
        """At most this much of the post-payment part can be refunded or returned out of band."""
        return money_sum((take for _, take in self.from_payments), self.amount.currency)


def invoice_creditable(invoice: Invoice) -> Money:
    """The cap: what the credit notes of the invoice may still add up to (a void one no longer counts)."""
    return invoice.total - invoice.amount_credited


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


def credit_note_preview(*, invoice: Invoice, amount: Money) -> CreditNotePreview:
    """What a credit note of `amount` would do to the invoice (read from its current rows)."""
    amount = money_check_entered(amount, currency=invoice.currency)
    creditable = invoice_creditable(invoice)
    pre = min(amount, invoice.amount_remaining)
    post = amount - pre
    from_payments = []
    left = post
    allocations = invoice.allocations.filter(status=Allocation.Status.ACTIVE).select_related("payment")
    for allocation in allocations.order_by("-created_at", "-pk"):
        if left.amount <= 0:
            break
        take = min(allocation.amount, left)
        from_payments.append((allocation, take))
        left -= take
    from_balance = min(left, invoice.amount_balance_applied) if left.amount > 0 else None
    return CreditNotePreview(
        amount=amount,
        creditable=creditable,
        pre_payment_amount=pre,
        post_payment_amount=post,
        remaining_after=invoice.amount_remaining - pre,
        from_payments=from_payments,
        from_balance=from_balance,
    )


def _line_amounts_check(invoice: Invoice, line_amounts: dict[int, Money]) -> Money:
    creditable = credit_note_line_creditable(invoice)
    for line_id, line_amount in line_amounts.items():
        if line_id not in creditable:
            raise BillingError("A line of another invoice was given.")
        line_amount = money_check_entered(line_amount, currency=invoice.currency)
        if line_amount > creditable[line_id]:
            line = InvoiceLine.objects.get(pk=line_id)
            raise BillingError(f"“{line.description}” has {creditable[line_id]} left to credit, not {line_amount}.")
    return money_sum(line_amounts.values(), invoice.currency)


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
    actor.require_permission("billing.issue_credit_note", "issue credit notes")
    if reason not in CreditNoteReason.values:
        raise BillingError("Choose a reason for the credit note.")
    if (amount is None) == (not line_amounts):
        raise BillingError("Enter the amount of the credit note, or an amount per line.")
    currency = invoice.currency
    if amount is not None:
        amount = money_check_entered(amount, currency=currency)
    splits = {}
    for name, value in (("refund", refund_amount), ("credit", credit_amount), ("out of band", out_of_band_amount)):
        splits[name] = (
            zero(currency) if value is None else money_check_entered(value, currency=currency, allow_zero=True)
        )
    if splits["refund"].amount or splits["out of band"].amount:
        # Its refund and out-of-band parts send money back, as a refund of the payments does.
        actor.require_permission("payments.refund_payment", "send money back with a credit note")
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        payment_ids = Allocation.objects.filter(invoice=invoice, status=Allocation.Status.ACTIVE).values_list(
            "payment_id", flat=True
        )
        payments = {payment.pk: payment for payment in payments_lock(payment_ids)}
        if not invoice_can_be_credited(invoice):
            raise InvalidState(
                f"{invoice} is {invoice.get_status_display().lower()}; credit notes reduce issued invoices only."
            )
        if line_amounts:
            amount = _line_amounts_check(invoice, line_amounts)
        preview = credit_note_preview(invoice=invoice, amount=amount)
        if amount > preview.creditable:
            raise BillingError(
                f"{amount} is more than what is left to credit on {invoice} ({preview.creditable} of {invoice.total})."
            )
        settled = splits["refund"] + splits["credit"] + splits["out of band"]
        if settled != preview.post_payment_amount:
            raise BillingError(
                f"{preview.post_payment_amount} of this credit note was already paid and must be settled exactly: "
                f"refund + credit + out of band is {settled}."
            )
        cash_out = splits["refund"] + splits["out of band"]
        if cash_out > preview.refundable:
            raise BillingError(
                f"Only {preview.refundable} of it was paid by payments; the rest came from money balance and can "
                "only go back as credit."
            )
        credit_note = CreditNote.objects.create(
            number=number_next(series=CREDIT_NOTE, year=timezone.localdate().year),
            invoice=invoice,
            currency=currency,
            amount=amount,
            reason=reason,
            memo=memo,
            pre_payment_amount=preview.pre_payment_amount,
            refund_amount=splits["refund"],
            credit_amount=splits["credit"],
            out_of_band_amount=splits["out of band"],
            actor_label=actor.label,
            created_by=actor.user,
        )
        if line_amounts:
            CreditNoteLine.objects.bulk_create(
                CreditNoteLine(credit_note=credit_note, invoice_line_id=line_id, amount=line_amount)
                for line_id, line_amount in line_amounts.items()
            )
        takes = allocations_take_newest_first(
            allocations=[allocation for allocation, _ in preview.from_payments],
            amount=preview.refundable,
            actor=actor,
            reason=f"{credit_note} credited {invoice}",
        )
        for allocation, take in takes:
            RefundAllocation.objects.create(allocation=allocation, credit_note=credit_note, amount=take)
            payment_refresh_amounts(payments[allocation.payment_id])
        _settle_in_cash(
            credit_note=credit_note,
            takes=takes,
            payments=payments,
            refund=splits["refund"],
            out_of_band=splits["out of band"],
            actor=actor,
        )
        if preview.from_balance is not None and preview.from_balance.amount > 0:
            balance_return_locked(
                member=member,
                invoice=invoice,
                amount=preview.from_balance,
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
            amount=amount,
            status_before=status_before,
            status_after=invoice.status,
            message=memo,
            data={
                "credit_note": credit_note.number,
                "pre_payment": str(credit_note.pre_payment_amount.amount),
                "refund": str(credit_note.refund_amount.amount),
                "credit": str(credit_note.credit_amount.amount),
                "out_of_band": str(credit_note.out_of_band_amount.amount),
            },
        )
    return credit_note


def _settle_in_cash(*, credit_note, takes, payments, refund: Money, out_of_band: Money, actor: Actor) -> None:
    """Refund, then return out of band, from the released money, newest payment first."""
    wanted = [(refund, False), (out_of_band, True)]
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
    if any(left.amount > 0 for left, _ in wanted):
        raise AssertionError("The credit note's refund could not be taken from its payments.")
