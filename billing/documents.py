"""Invoices, credit notes and payment receipts as PDF documents, rendered from the templates in
`templates/documents/` by xhtml2pdf (pure Python, on reportlab: no system package needed).

Reads only: each function takes an object the caller already fetched (the admin through its permissions, the portal
through its member-scoped selectors) and returns the PDF's bytes, in the member's language.

A page module, not a domain one: like a view it renders templates and answers HTTP downloads (`pdf_response`), and
only pages (the admin's and the portal's) import it. It may import any domain module; no domain module may import
it (tests/test_architecture.py holds both)."""

import io
from pathlib import Path

import reportlab
from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from billing.models import CreditNote, Invoice
from members.languages import member_language
from payments.models import RECEIPT_STATUSES, Payment
from payments.selectors import invoice_allocations, invoice_credit_notes, payment_allocations, payment_refunds

# Bitstream Vera ships with reportlab; unlike the PDF standard fonts it has the minus sign and more of Latin
# Extended-A (Ł, ğ, ş) for members' names and addresses.
_FONT_DIR = Path(reportlab.__file__).parent / "fonts"
FONTS = {
    "font_regular": _FONT_DIR / "Vera.ttf",
    "font_bold": _FONT_DIR / "VeraBd.ttf",
    "font_italic": _FONT_DIR / "VeraIt.ttf",
}


class DocumentError(RuntimeError):
    """The PDF could not be rendered (a bug in a template, not something a user can fix)."""


def _link_callback(uri: str, rel: str) -> str:
    """Only the bundled fonts and images drawn into the page (the EPC QR code, a PNG data URI) may be loaded: a
    document never fetches anything from the network."""
    allowed = {str(path) for path in FONTS.values()}
    if uri in allowed or uri.startswith("data:image/png;base64,"):
        return uri
    raise DocumentError(f"A document may not load {uri!r}.")


def _render(template: str, context: dict) -> bytes:
    # In the member's language (their documents, whoever downloads them), with its dates and amounts.
    with translation.override(member_language(context["member"])):
        html = render_to_string(
            template,
            {
                **context,
                "space_name": settings.BILLING_SPACE_NAME,
                "generated_on": timezone.localdate(),
                **{name: str(path) for name, path in FONTS.items()},
            },
        )
    output = io.BytesIO()
    # xhtml2pdf confines local reads to the working directory unless told otherwise; the bundled fonts live in the
    # installed reportlab, wherever the environment is (outside the project in a deployment): without this, the
    # fonts are silently not embedded and Helvetica cannot draw "•" or non-Latin-1 text.
    policy = ResourceAccessPolicy(base_dir=_FONT_DIR, allow_remote=False)
    status = pisa.CreatePDF(
        src=html, dest=output, encoding="utf-8", link_callback=_link_callback, resource_policy=policy
    )
    if status.err:
        raise DocumentError(f"{template} could not be rendered as a PDF ({status.err} error(s)).")
    return output.getvalue()


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice: its lines and totals, and what was credited, applied, paid and remains."""
    return _render(
        "documents/invoice.html",
        {
            "invoice": invoice,
            "member": invoice.member,
            "lines": list(invoice.lines.all()),
            "allocations": [row for row in invoice_allocations(invoice=invoice) if row.status == row.Status.ACTIVE],
            "credit_notes": list(invoice_credit_notes(invoice=invoice)),
        },
    )


def credit_note_pdf(credit_note: CreditNote) -> bytes:
    """The credit note: its invoice, amount, reason, the lines it credits and how its amount was settled."""
    invoice = credit_note.invoice
    return _render(
        "documents/credit_note.html",
        {
            "credit_note": credit_note,
            "invoice": invoice,
            "member": invoice.member,
            "lines": list(credit_note.lines.select_related("invoice_line")),
        },
    )


def receipt_pdf(payment: Payment) -> bytes:
    """The payment's receipt: what was received, how, what it paid and what was refunded."""
    return _render(
        "documents/receipt.html",
        {
            "payment": payment,
            "member": payment.member,
            "allocations": list(payment_allocations(payment=payment)),
            "refunds": list(payment_refunds(payment=payment)),
        },
    )


def payment_has_receipt(payment: Payment) -> bool:
    """Money was received: succeeded, or voided and kept for the record (its receipt says so)."""
    return payment.status in RECEIPT_STATUSES


def invoice_pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number or f'draft-{invoice.pk}'}.pdf"


def pdf_response(content: bytes, *, filename: str) -> HttpResponse:
    """A download of the PDF (never cached: it carries a member's billing details)."""
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
