"""How to pay an invoice by bank transfer, on the pages, the PDF and the mail (templates/billing/_how_to_pay.html,
templates/mail/_how_to_pay.txt): the space's account, the RF reference and the EPC QR code drawn by segno from the
payload `billing.bank_transfer` builds."""

import segno
from django import template
from django.utils.safestring import mark_safe

from billing.bank_transfer import InvoiceTransfer, invoice_transfer

register = template.Library()

# EPC069-12: error correction level M, at most QR version 13.
EPC_QR_ERROR = "m"
EPC_QR_MAX_VERSION = 13


def epc_qr(payload: str) -> segno.QRCode:
    """The QR code of an EPC payload, its bytes in UTF-8 (the payload's character set 1)."""
    code = segno.make_qr(payload.encode("utf-8"), error=EPC_QR_ERROR, boost_error=False)
    if code.version > EPC_QR_MAX_VERSION:
        raise ValueError(f"An EPC QR code is at most version {EPC_QR_MAX_VERSION}, not {code.version}.")
    return code


@register.simple_tag
def how_to_pay(invoice) -> InvoiceTransfer | None:
    """`{% how_to_pay invoice as transfer %}`: the account, reference, amount and QR payload; None when there is
    nothing to pay by transfer."""
    return invoice_transfer(invoice)


@register.filter
def epc_qr_svg(payload: str) -> str:
    """The QR code as inline SVG markup (the portal and the admin)."""
    return mark_safe(epc_qr(payload).svg_inline(scale=4, border=2, omitsize=False))  # noqa: S308 (segno's own markup)


@register.filter
def epc_qr_png(payload: str) -> str:
    """The QR code as a PNG data URI (the PDF: xhtml2pdf draws images, not SVG)."""
    return epc_qr(payload).png_data_uri(scale=4, border=2)
