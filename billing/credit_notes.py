"""Numbering and writing a credit note: the one place a credit note row is created, for both ways of issuing one
(`billing.services.credit_note_issue`, and a refund that reduces the invoices it takes money from,
`payments.services.refund`)."""

from dataclasses import dataclass

from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor
from billing.models import CreditNote, CreditNoteLine, Invoice
from billing.numbering import CREDIT_NOTE, number_next


@dataclass(frozen=True)
class CreditNoteSplit:
    """How the part of a credit note that was already paid is settled: refunded from the invoice's payments, kept
    as the member's credit, or returned outside the system."""

    refund: Money
    credit: Money
    out_of_band: Money

    @property
    def settled(self) -> Money:
        return self.refund + self.credit + self.out_of_band

    @property
    def cash_out(self) -> Money:
        """What leaves the system: the refund and the out-of-band parts."""
        return self.refund + self.out_of_band


def credit_note_create_locked(
    *,
    invoice: Invoice,
    amount: Money,
    reason: str,
    memo: str,
    pre_payment_amount: Money,
    split: CreditNoteSplit,
    actor: Actor,
    line_amounts: dict[int, Money] | None = None,
) -> CreditNote:
    """Number the credit note and create it with its lines (invoice line id -> amount). The caller holds the
    member's and the invoice's locks, has checked the rules, moves the money and records the activity."""
    credit_note = CreditNote.objects.create(
        number=number_next(series=CREDIT_NOTE, year=timezone.localdate().year),
        invoice=invoice,
        currency=invoice.currency,
        amount=amount,
        reason=reason,
        memo=memo,
        pre_payment_amount=pre_payment_amount,
        refund_amount=split.refund,
        credit_amount=split.credit,
        out_of_band_amount=split.out_of_band,
        actor_label=actor.label,
        created_by=actor.user,
    )
    if line_amounts:
        CreditNoteLine.objects.bulk_create(
            CreditNoteLine(credit_note=credit_note, invoice_line_id=line_id, amount=line_amount)
            for line_id, line_amount in line_amounts.items()
        )
    return credit_note
