"""The preview of the Issue credit note page: what the service would do, read from the current rows (the service checks
everything again under its locks). The same preview feeds the page (server-side, on GET and on Preview) and its JSON
endpoint (the page's script asks it again when an amount changes). `shown_status_after` and `money_json` serve the
refund preview of the payment page too."""

from collections.abc import Mapping
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.errors import BillingError
from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.money import amount_as_typed, minor_unit, money_parse, zero
from billing.services.credit_note_issue import (
    CreditNotePlan,
    credit_note_line_creditable,
    credit_note_preview,
    invoice_creditable,
)

CREDIT_NOTE_PREVIEW_TEMPLATE = "admin/billing/invoice/credit_note_preview.html"


def shown_status_after(invoice: Invoice, *, status: str, amount_paid: Money) -> str:
    """The status a person would see on the invoice with this document status and paid amount."""
    return Invoice(
        status=status, due_date=invoice.due_date, currency=invoice.currency, amount_paid=amount_paid
    ).get_shown_status_display()


def money_json(value: Money | None) -> str | None:
    """An amount for the JSON previews: its decimal text at the currency's scale ("60.00", "1000")."""
    return None if value is None else str(value.amount.quantize(minor_unit(value.currency)))


@dataclass(frozen=True)
class CreditNotePagePreview:
    """The service's preview of a credit note, with what the page adds: the cap, the invoice's status after, and
    the split it suggests for the part that was already paid (refund what payments paid, keep as credit what the
    money balance paid; all of it as credit for a user who may not refund)."""

    invoice: Invoice
    creditable: Money
    preview: CreditNotePlan | None = None
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
        line_amounts = {}
        for line, _line_creditable in lines:
            text = (data.get(line_field_name(line)) or "").strip()
            if not text:
                continue
            line_amount = money_parse(text, currency, allow_zero=True)
            if line_amount.amount:
                line_amounts[line.pk] = line_amount
        if amount_text and line_amounts:
            raise BillingError(_("Enter the amount of the credit note, or an amount per line, not both."))
        if not amount_text and not line_amounts:
            return CreditNotePagePreview(
                invoice=invoice,
                creditable=creditable,
                error=_("Enter the amount of the credit note, or an amount per line."),
            )
        amount = money_parse(amount_text, currency) if amount_text else None
        preview = credit_note_preview(invoice=invoice, amount=amount, line_amounts=line_amounts or None)
    except BillingError as error:
        return CreditNotePagePreview(invoice=invoice, creditable=creditable, error=error.message)
    return CreditNotePagePreview(invoice=invoice, creditable=creditable, preview=preview, may_refund=may_refund)


def credit_note_preview_html(preview: CreditNotePagePreview) -> str:
    return render_to_string(CREDIT_NOTE_PREVIEW_TEMPLATE, {"preview": preview})
