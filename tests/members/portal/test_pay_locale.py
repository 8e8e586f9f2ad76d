"""The portal's Pay form reads the amount in the space's locale (`BILLING_LOCALE`), pre-fills it in that locale,
and the portal, the receipt mail and the PDF show amounts in it."""

import io
import re

import pytest
from django.core import mail
from django.urls import reverse
from pypdf import PdfReader

from payments.models import Payment, PaymentStatus
from payments.notifications import payment_receipt_notify
from payments.sandbox.models import SandboxCustomer
from tests.factories import books_snapshot, eur, open_invoice, reload, saved_card
from tests.payments.card.conftest import CARD_MODELS

pytestmark = pytest.mark.django_db

NBSP, NNBSP = "\xa0", "\u202f"


@pytest.fixture
def french(settings):
    settings.BILLING_LOCALE = "fr"


def pay_url(invoice) -> str:
    return reverse("portal:invoice_pay", args=[invoice.pk])


def pay(client, invoice, *, amount: str, card):
    data = {"amount": amount, "card": str(card.pk), "card_number": "", "card_expiry": ""}
    return client.post(pay_url(invoice), data)


def snapshot() -> dict:
    return books_snapshot(extra_models=(*CARD_MODELS, SandboxCustomer))


def test_a_partial_payment_in_french_reads_a_decimal_comma(member_client, member, committed, partial_payments, french):
    invoice = open_invoice(member=member, amounts=["1200.00"])
    card = saved_card(member)

    html = member_client.get(pay_url(invoice)).content.decode()
    assert re.search(r'<input type="text" name="amount" value="1200,00"[^>]*inputmode="decimal"', html)
    assert f"at least 10,00{NBSP}€" in html

    with committed():
        response = pay(member_client, invoice, amount="1 012,50", card=card)

    payment = Payment.objects.get()
    assert response.status_code == 302
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, eur("1012.50"))
    invoice = reload(invoice)
    assert invoice.amount_remaining == eur("187.50")
    assert f"<strong>187,50{NBSP}€</strong>" in member_client.get(pay_url(invoice)).content.decode()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12.50", "“12.50” has its separators in the wrong places: type the amount like 1\u202f234,56 or 12,50."),
        ("1e3", "“1e3” is not an amount of money: type the amount like 1\u202f234,56 or 12,50."),
        (
            "+12,50",
            "“+12,50” has a sign (amounts are typed without + or -): type the amount like 1\u202f234,56 or 12,50.",
        ),
        (
            "12,505",
            "“12,505” has 3 decimals, but EUR amounts have 2 at most: type the amount like 1\u202f234,56 or 12,50.",
        ),
        ("", "Enter an amount: type it like 1\u202f234,56 or 12,50."),
    ],
)
def test_a_malformed_amount_in_french_is_refused_and_nothing_is_written(
    member_client, member, partial_payments, french, amount, message
):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    before = snapshot()

    response = pay(member_client, invoice, amount=amount, card=card)

    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == [message]
    assert snapshot() == before


def test_the_whole_amount_pre_filled_in_french_is_paid_unchanged(member_client, member, committed, french):
    invoice = open_invoice(member=member, amounts=["1234.50"])
    card = saved_card(member)

    page = member_client.get(pay_url(invoice))
    html = page.content.decode()
    assert '<input type="hidden" name="amount" value="1234,50"' in html
    assert f"Pay 1{NNBSP}234,50{NBSP}€" in html

    with committed():
        pay(member_client, invoice, amount=page.context["form"]["amount"].value(), card=card)

    assert Payment.objects.get().amount == eur("1234.50")
    assert reload(invoice).amount_remaining == eur("0.00")


def test_the_receipt_page_mail_and_pdf_show_the_amount_in_french(member_client, member, committed, french):
    invoice = open_invoice(member=member, amounts=["1234.50"])
    card = saved_card(member)
    with committed():
        pay(member_client, invoice, amount="1234,50", card=card)
    payment = Payment.objects.get()
    mail.outbox.clear()

    page = member_client.get(reverse("portal:receipt", args=[payment.pk])).content.decode()
    payment_receipt_notify(payment_id=payment.pk)
    pdf = member_client.get(reverse("portal:receipt_pdf", args=[payment.pk]))

    assert f"1{NNBSP}234,50{NBSP}€" in page and "€1,234.50" not in page
    [message] = mail.outbox
    assert message.subject == f"Receipt {payment.number}: 1{NNBSP}234,50{NBSP}€ received"
    assert f"we received 1{NNBSP}234,50{NBSP}€" in message.body
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    # xhtml2pdf lays out the (narrow) no-break spaces as spaces, which the PDF's font has.
    assert "1 234,50 €" in text and "€1,234.50" not in text
