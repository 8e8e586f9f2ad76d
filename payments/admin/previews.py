"""The previews of the Refund and Issue credit note pages: what the services would do, read from the current rows
(the services check everything again under their locks). The same previews feed the pages (server-side, on GET
and on Preview) and their JSON endpoints (the pages' script asks them again when an amount changes)."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.template.loader import render_to_string
from djmoney.money import Money

from billing.errors import BillingError
from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.money import amount_as_typed, minor_unit, money_parse, money_sum, zero
from payments.models import Payment
from payments.services.credit_note import (
    CreditNotePreview,
    credit_note_line_creditable,
    credit_note_preview,
    invoice_creditable,
)
from payments.services.refund import payment_refundable, refund_plan

REFUND_PREVIEW_TEMPLATE = "admin/payments/payment/refund_preview.html"
CREDIT_NOTE_PREVIEW_TEMPLATE = "admin/billing/invoice/credit_note_preview.html"


def shown_status_after(invoice: Invoice, *, status: str, amount_paid: Money) -> str:
    """The status a person would see on the invoice with this document status and paid amount."""
    return Invoice(
        status=status, due_date=invoice.due_date, currency=invoice.currency, amount_paid=amount_paid
    ).get_shown_status_display()


def money_json(value: Money | None) -> str | None:
    """An amount for the JSON previews: its decimal text at the currency's scale ("60.00", "1000")."""
    return None if value is None else str(value.amount.quantize(minor_unit(value.currency)))


# Refunds


@dataclass(frozen=True)
class InvoiceAfterRefund:
    """One invoice a refund takes money from, and what each choice leaves on it."""

    invoice: Invoice
    amount: Money
    reopen_remaining: Money
    reopen_status: str
    credit_note_status: str

    @property
    def remaining(self) -> Money:
        return self.invoice.amount_remaining

    @property
    def status(self) -> str:
        return self.invoice.get_shown_status_display()


@dataclass(frozen=True)
class RefundPreview:
    refundable: Money
    amount: Money | None = None
    from_unallocated: Money | None = None
    invoices: list[InvoiceAfterRefund] = field(default_factory=list)
    error: str = ""

    @property
    def takes_allocated_money(self) -> bool:
        return bool(self.invoices)

    def as_json(self) -> dict:
        return {
            "ok": not self.error and self.amount is not None,
            "error": self.error,
            "currency": self.refundable.currency.code,
            "amount": money_json(self.amount),
            "refundable": money_json(self.refundable),
            "from_unallocated": money_json(self.from_unallocated),
            "takes_allocated_money": self.takes_allocated_money,
            "invoices": [
                {
                    "invoice": row.invoice.number,
                    "amount": money_json(row.amount),
                    "remaining": money_json(row.remaining),
                    "status": row.status,
                    "reopen": {"remaining": money_json(row.reopen_remaining), "status": row.reopen_status},
                    "credit_note": {"remaining": money_json(row.remaining), "status": row.credit_note_status},
                }
                for row in self.invoices
            ],
        }


def refund_preview(*, payment: Payment, text: str | None) -> RefundPreview:
    """What refunding `text` (as typed) of the payment would take: its unallocated money first, then its
    allocations newest first, grouped per invoice."""
    refundable = payment_refundable(payment)
    if not (text or "").strip():
        return RefundPreview(refundable, error="Enter the amount to refund.")
    try:
        amount = money_parse(text, payment.currency)
    except BillingError as error:
        return RefundPreview(refundable, error=error.message)
    if amount > refundable:
        return RefundPreview(
            refundable,
            amount=amount,
            error=f"{amount} is more than what is left to refund on {payment} ({refundable}, counting refunds in "
            "progress).",
        )
    plan = refund_plan(payment=payment, amount=amount)
    taken: dict[int, tuple[Invoice, Money]] = {}
    for allocation, take in plan.from_invoices:
        invoice, before = taken.get(allocation.invoice_id, (allocation.invoice, zero(payment.currency)))
        taken[allocation.invoice_id] = (invoice, before + take)
    rows = []
    for invoice, take in taken.values():
        reopen_remaining = invoice.amount_remaining + take
        reopened = InvoiceStatus.OPEN if invoice.status == InvoiceStatus.PAID else invoice.status
        rows.append(
            InvoiceAfterRefund(
                invoice=invoice,
                amount=take,
                reopen_remaining=reopen_remaining,
                reopen_status=shown_status_after(invoice, status=reopened, amount_paid=invoice.amount_paid - take),
                credit_note_status=shown_status_after(
                    invoice, status=invoice.status, amount_paid=invoice.amount_paid - take
                ),
            )
        )
    return RefundPreview(refundable, amount=amount, from_unallocated=plan.from_unallocated, invoices=rows)


def refund_preview_html(preview: RefundPreview, *, payment: Payment) -> str:
    return render_to_string(REFUND_PREVIEW_TEMPLATE, {"preview": preview, "payment": payment})


# Credit notes


@dataclass(frozen=True)
class CreditNotePagePreview:
    """The service's preview of a credit note, with what the page adds: the cap, the invoice's status after, and
    the split it suggests for the part that was already paid (refund what payments paid, keep as credit what the
    money balance paid; all of it as credit for a user who may not refund)."""

    invoice: Invoice
    creditable: Money
    preview: CreditNotePreview | None = None
    error: str = ""
    may_refund: bool = True

    @property
    def amount(self) -> Money | None:
        return self.preview.amount if self.preview else None

    @property
    def status_after(self) -> str:
        preview, invoice = self.preview, self.invoice
        paid_after = invoice.amount_paid - preview.refundable
        status = invoice.status
        if preview.remaining_after.amount == 0 and status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
            status = InvoiceStatus.PAID
        return shown_status_after(invoice, status=status, amount_paid=paid_after)

    @property
    def suggested_split(self) -> dict[str, Money]:
        currency = self.invoice.currency
        refund = self.preview.refundable if self.may_refund else zero(currency)
        return {
            "refund_amount": refund,
            "credit_amount": self.preview.post_payment_amount - refund,
            "out_of_band_amount": zero(currency),
        }

    def as_json(self) -> dict:
        data = {
            "ok": self.preview is not None and not self.error,
            "error": self.error,
            "currency": self.invoice.currency,
            "creditable": money_json(self.creditable),
            "total": money_json(self.invoice.total),
            "remaining": money_json(self.invoice.amount_remaining),
        }
        if not data["ok"]:
            return data
        preview = self.preview
        return {
            **data,
            "amount": money_json(preview.amount),
            "pre_payment_amount": money_json(preview.pre_payment_amount),
            "post_payment_amount": money_json(preview.post_payment_amount),
            "remaining_after": money_json(preview.remaining_after),
            "status_after": self.status_after,
            "from_payments": [
                {
                    "payment": allocation.payment.number,
                    "allocation": allocation.number,
                    "method": allocation.payment.get_method_label(),
                    "amount": money_json(take),
                }
                for allocation, take in preview.from_payments
            ],
            "from_balance": money_json(preview.from_balance or zero(self.invoice.currency)),
            # The split fills the page's fields: as a person would type it, in the space's locale.
            "split": {name: amount_as_typed(value) for name, value in self.suggested_split.items()},
        }


def invoice_lines_creditable(invoice: Invoice) -> list[tuple[InvoiceLine, Money]]:
    """The invoice's lines, each with what is left to credit on it."""
    creditable = credit_note_line_creditable(invoice)
    return [(line, creditable[line.pk]) for line in invoice.lines.all()]


def credit_note_page_preview(
    *, invoice: Invoice, data: Mapping, lines: list[tuple[InvoiceLine, Money]], line_field_name, may_refund: bool
) -> CreditNotePagePreview:
    """The preview of the credit note described by `data` (the page's fields as typed): its amount, or the sum of
    its line amounts. `may_refund`: whether the user may send money back (else the paid part is suggested as
    credit)."""
    creditable = invoice_creditable(invoice)
    currency = invoice.currency
    try:
        amount_text = (data.get("amount") or "").strip()
        line_amounts = []
        for line, line_creditable in lines:
            text = (data.get(line_field_name(line)) or "").strip()
            if not text:
                continue
            line_amount = money_parse(text, currency, allow_zero=True)
            if line_amount > line_creditable:
                raise BillingError(f"“{line.description}” has {line_creditable} left to credit, not {line_amount}.")
            if line_amount.amount:
                line_amounts.append(line_amount)
        if amount_text and line_amounts:
            raise BillingError("Enter the amount of the credit note, or an amount per line, not both.")
        if amount_text:
            amount = money_parse(amount_text, currency)
        elif line_amounts:
            amount = money_sum(line_amounts, currency)
        else:
            return CreditNotePagePreview(
                invoice=invoice,
                creditable=creditable,
                error="Enter the amount of the credit note, or an amount per line.",
            )
        if amount > creditable:
            raise BillingError(
                f"{amount} is more than what is left to credit on {invoice} ({creditable} of {invoice.total})."
            )
        preview = credit_note_preview(invoice=invoice, amount=amount)
    except BillingError as error:
        return CreditNotePagePreview(invoice=invoice, creditable=creditable, error=error.message)
    return CreditNotePagePreview(invoice=invoice, creditable=creditable, preview=preview, may_refund=may_refund)


def credit_note_preview_html(preview: CreditNotePagePreview) -> str:
    return render_to_string(CREDIT_NOTE_PREVIEW_TEMPLATE, {"preview": preview})
