"""The admin's money forms read amounts in the space's locale (`BILLING_LOCALE`) and show them in it: Create payment,
Refund (and the amount the gateway is asked for), Issue credit note, their previews (page and JSON endpoint), the
pre-filled amounts and the reports."""

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import CreditNote, CreditNoteLine
from payments.models import Payment, PaymentStatus, Refund, RefundAllocation
from payments.sandbox.models import SandboxRefund
from payments.services.payment_card import payment_create_card
from tests.factories import SYSTEM, books_snapshot, eur, external_payment, open_invoice, reload, saved_card
from tests.payments.admin.helpers import (
    create_payment_url,
    credit_note_preview_url,
    credit_note_url,
    messages_of,
    refund_preview_url,
    refund_url,
)

NBSP, NNBSP = "\xa0", "\u202f"
EXTRA_MODELS = (Refund, RefundAllocation, CreditNote, CreditNoteLine, SandboxRefund)


@pytest.fixture
def french(settings):
    settings.BILLING_LOCALE = "fr"


@pytest.fixture
def german(settings):
    settings.BILLING_LOCALE = "de"


def payment_data(amount: str) -> dict:
    return {
        "amount": amount,
        "method": "external",
        "kind": "check",
        "reference": "CHK-1001",
        "received_on": timezone.localdate().isoformat(),
        "note": "",
    }


def refund_data(amount: str, **fields) -> dict:
    return {"amount": amount, "reason": "requested_by_member", "note": "", "invoice_handling": "reopen", **fields}


def snapshot() -> dict:
    return books_snapshot(extra_models=EXTRA_MODELS)


def card_paid(invoice, committed) -> Payment:
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=SYSTEM)
    payment = reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


# Create payment (external)


def test_create_payment_in_french_reads_a_decimal_comma_and_says_the_amount_in_french(staff_client, french):
    invoice = open_invoice(amounts=["100.00"])

    response = staff_client.post(create_payment_url(invoice), payment_data("12,50"), follow=True)

    payment = Payment.objects.get()
    assert (payment.amount, payment.amount_allocated) == (eur("12.50"), eur("12.50"))
    assert reload(invoice).amount_remaining == eur("87.50")
    assert messages_of(response) == [f"{payment.number} recorded: 12,50{NBSP}€ applied to {invoice.number}."]


def test_create_payment_in_german_reads_points_between_thousands(staff_client, german):
    invoice = open_invoice(amounts=["1000.00"])

    response = staff_client.post(create_payment_url(invoice), payment_data("1.000,00"), follow=True)

    payment = Payment.objects.get()
    assert payment.amount == eur("1000.00")
    assert reload(invoice).amount_remaining == eur("0.00")
    assert messages_of(response) == [f"{payment.number} recorded: 1.000,00{NBSP}€ applied to {invoice.number}."]


@pytest.mark.parametrize(
    ("locale", "amount", "error"),
    [
        ("fr", "1e3", "“1e3” is not an amount of money: type the amount like 1\u202f234,56 or 12,50."),
        ("fr", "12.50", "“12.50” has its separators in the wrong places: type the amount like 1\u202f234,56 or 12,50."),
        ("de", "1e3", "“1e3” is not an amount of money: type the amount like 1.234,56 or 12,50."),
        ("de", "12.50", "“12.50” is ambiguous: type the amount like 1.234,56 or 12,50."),
        ("de", "-5", "“-5” has a sign (amounts are typed without + or -): type the amount like 1.234,56 or 12,50."),
        ("en", "12,50", "“12,50” is ambiguous: type the amount like 1,234.56 or 12.50."),
    ],
)
def test_create_payment_refuses_a_malformed_amount_and_writes_nothing(staff_client, settings, locale, amount, error):
    settings.BILLING_LOCALE = locale
    invoice = open_invoice(amounts=["100.00"])
    before = snapshot()

    response = staff_client.post(create_payment_url(invoice), payment_data(amount))

    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == [error]
    assert snapshot() == before


def test_create_payment_pre_fills_the_remaining_amount_in_french_and_takes_it_back_unchanged(staff_client, french):
    invoice = open_invoice(amounts=["1234.50"])

    page = staff_client.get(create_payment_url(invoice))

    assert page.context["form"]["amount"].value() == "1234,50"
    assert 'value="1234,50"' in page.content.decode()
    staff_client.post(create_payment_url(invoice), payment_data(page.context["form"]["amount"].value()))
    assert Payment.objects.get().amount == eur("1234.50")
    assert reload(invoice).amount_remaining == eur("0.00")


# Refund


def test_refund_in_french_asks_the_gateway_for_12_50(staff_client, french, committed):
    invoice = open_invoice(amounts=["100.00"])
    payment = card_paid(invoice, committed)

    with committed():
        response = staff_client.post(refund_url(payment), refund_data("12,50"), follow=True)

    refund = Refund.objects.get()
    assert refund.amount == eur("12.50")
    assert SandboxRefund.objects.get().amount_minor == 1250
    assert reload(payment).amount_refunded == eur("12.50")
    [message] = messages_of(response)
    assert message.startswith(f"Refund of 12,50{NBSP}€ from {payment.number} to {payment.payment_method}")
    assert f"{invoice.number} asks for 12,50{NBSP}€ again (12,50{NBSP}€ remains)." in message


def test_refund_in_french_of_20_00_refunds_20_00(staff_client, french):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)

    response = staff_client.post(refund_url(payment), refund_data("20,00"), follow=True)

    assert Refund.objects.get().amount == eur("20.00")
    assert reload(payment).amount_refunded == eur("20.00")
    assert messages_of(response)[0].startswith(f"Refund of 20,00{NBSP}€ from {payment.number} recorded.")


@pytest.mark.parametrize("amount", ["1e3", "20.00", "-20,00", "20_00", "٢٠"])
def test_refund_in_french_refuses_a_malformed_amount_and_writes_nothing(staff_client, french, amount):
    payment = external_payment(invoice=open_invoice(amounts=["100.00"]))
    before = snapshot()

    response = staff_client.post(refund_url(payment), refund_data(amount))

    assert response.status_code == 200
    assert response.context["form"].errors["amount"][0].endswith(": type the amount like 1\u202f234,56 or 12,50.")
    assert snapshot() == before


def test_refund_preview_in_french_repeats_the_amount_with_its_currency(staff_client, french):
    invoice = open_invoice(amounts=["1500.00"])
    payment = external_payment(invoice=invoice, amount="1500.00")
    before = snapshot()

    page = staff_client.post(refund_url(payment), refund_data("1 200,50", _preview="Preview"))
    data = staff_client.get(refund_preview_url(payment), {"amount": "1 200,50"}).json()

    assert snapshot() == before
    content = page.content.decode()
    assert (
        f"A refund of <strong>1{NNBSP}200,50{NBSP}€</strong> (at most 1{NNBSP}500,00{NBSP}€ can be refunded)" in content
    )
    assert page.context["form"]["amount"].value() == "1 200,50"
    assert (data["ok"], data["amount"]) == (True, "1200.50")
    assert f"A refund of <strong>1{NNBSP}200,50{NBSP}€</strong>" in data["html"]


def test_refund_preview_endpoint_in_german_refuses_a_decimal_point(staff_client, german):
    payment = external_payment(invoice=open_invoice(amounts=["100.00"]))

    data = staff_client.get(refund_preview_url(payment), {"amount": "12.50"}).json()

    assert (data["ok"], data["error"]) == (False, "“12.50” is ambiguous: type the amount like 1.234,56 or 12,50.")


def test_refund_page_pre_fills_what_is_left_in_german(staff_client, german):
    payment = external_payment(invoice=open_invoice(amounts=["1500.00"]), amount="1500.00")

    assert staff_client.get(refund_url(payment)).context["form"]["amount"].value() == "1500,00"


# Credit note


def test_credit_note_in_french_reads_the_amount_and_the_split_and_fills_the_split_in_french(staff_client, french):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    before = snapshot()

    preview = staff_client.post(credit_note_url(invoice), {"amount": "40,50", "reason": "", "_preview": "Preview"})
    data = staff_client.get(credit_note_preview_url(invoice), {"amount": "40,50"}).json()

    assert snapshot() == before
    form = preview.context["form"]
    assert [form[name].value() for name in ("amount", "refund_amount", "credit_amount", "out_of_band_amount")] == [
        "40,50",
        "40,50",
        "0,00",
        "0,00",
    ]
    assert f"<strong>40,50{NBSP}€</strong>" in preview.content.decode()
    assert data["split"] == {"refund_amount": "40,50", "credit_amount": "0,00", "out_of_band_amount": "0,00"}

    response = staff_client.post(
        credit_note_url(invoice),
        {"amount": "40,50", "reason": "order_change", "memo": "", **data["split"]},
        follow=True,
    )

    note = CreditNote.objects.get()
    assert (note.amount, note.refund_amount) == (eur("40.50"), eur("40.50"))
    assert messages_of(response)[0].startswith(f"{note.number} issued on {invoice.number} for 40,50{NBSP}€: ")


# Pages and reports show amounts in the locale


def test_pages_and_reports_show_amounts_in_german(staff_client, german):
    invoice = open_invoice(amounts=["1234.50"])
    payment = external_payment(invoice=invoice, amount="1234.50")

    invoice_page = staff_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    changelist = staff_client.get(reverse("admin:payments_payment_changelist")).content.decode()
    report = staff_client.get(reverse("admin:billing_report_payments")).content.decode()
    csv = staff_client.get(reverse("admin:billing_report_payments"), {"format": "csv"}).content.decode()

    assert f"1.234,50{NBSP}€" in invoice_page and "€1,234.50" not in invoice_page
    assert f"1.234,50{NBSP}€" in changelist
    assert f"<td>1.234,50{NBSP}€</td>" in report and "1234.50" not in report and "1234,50" not in report
    assert payment.number in csv and "1234.50" in csv and "1234,50" not in csv
