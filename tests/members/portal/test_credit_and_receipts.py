"""The member's credit, payments and receipts in the portal, and the portal links in the mail (spec 8, 9)."""

import re

import pytest
from django.urls import resolve, reverse

from billing.services.money_balance_adjust import money_balance_adjust
from billing.templatetags.billing_money import local_date
from payments.models import Payment
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund
from tests.factories import card_payment, eur, external_payment, open_invoice, saved_card, standalone_payment

pytestmark = pytest.mark.django_db


def test_the_credit_page_shows_the_money_balance_and_unallocated_payments_per_currency(member_client, member, staff):
    money_balance_adjust(member=member, amount=eur("25.00"), is_credit=True, note="Internal note", actor=staff)
    standalone_payment(member=member, amount="40.00")
    standalone_payment(member=member, amount="7.00", currency="USD")

    html = member_client.get(reverse("portal:credit")).content.decode()

    rows = re.findall(
        r'<td data-label="Currency"><strong>(\w+)</strong>.*?Total credit" class="num"><strong>([^<]+)<', html, re.S
    )
    assert rows == [("EUR", "€65.00"), ("USD", "$7.00")]
    assert "€25.00" in html and "€40.00" in html
    assert "Payments with money left" in html
    assert "Money balance history" in html and "Adjustment" in html
    assert "Internal note" not in html


def test_the_credit_page_for_a_member_without_credit(member_client):
    assert "You have no credit." in member_client.get(reverse("portal:credit")).content.decode()


def test_the_payments_page_lists_every_payment_with_its_status(member_client, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    received = external_payment(invoice=invoice, amount="60.00", kind="bank_transfer")
    charging = card_payment(invoice=invoice, amount="40.00", status="processing")

    html = member_client.get(reverse("portal:payment_list")).content.decode()

    assert reverse("portal:receipt", args=[received.pk]) in html
    assert reverse("portal:payment_status", args=[charging.pk]) in html
    assert "External (bank transfer)" in html
    assert '<span class="badge badge--processing">Processing</span>' in html


def test_a_receipt_shows_what_the_payment_paid_its_refunds_and_the_credit_left(
    member_client, member, staff, today, settings
):
    first = open_invoice(member=member, amounts=["30.00"])
    payment = external_payment(invoice=first, amount="50.00", kind="check")
    payment_refund(payment=payment, amount=eur("5.00"), reason="requested_by_member", actor=staff)

    html = member_client.get(reverse("portal:receipt", args=[payment.pk])).content.decode()

    assert f"Receipt {payment.number}" in html
    assert member.name in html and local_date(today) in html
    assert "External (check)" in html
    assert first.number in html and "€30.00" in html
    assert "Refunded" in html and "€5.00" in html
    assert "Kept as your credit" in html and "€15.00" in html
    assert "data-print" in html
    assert "@media print" in (settings.BASE_DIR / "static" / "portal" / "portal.css").read_text()


def test_a_void_payment_has_a_receipt_that_says_so(member_client, member, staff):
    invoice = open_invoice(member=member, amounts=["30.00"])
    payment = external_payment(invoice=invoice)
    payment_void(payment=payment, actor=staff, reason="Bounced")

    html = member_client.get(reverse("portal:receipt", args=[payment.pk])).content.decode()

    assert "This payment was voided" in html
    assert "removed" in html


def test_an_external_payment_has_no_status_page_but_a_receipt(member_client, member):
    payment = external_payment(invoice=open_invoice(member=member, amounts=["30.00"]))

    response = member_client.get(reverse("portal:payment_status", args=[payment.pk]))

    assert response.url == reverse("portal:receipt", args=[payment.pk])


# Mail ------------------------------------------------------------------------------------------------------------------


def portal_path(url: str, settings) -> str:
    assert url.startswith(settings.BILLING_PORTAL_URL)
    return "/portal/" + url.removeprefix(settings.BILLING_PORTAL_URL)


def test_the_failed_payment_mail_links_to_the_payments_page_in_the_portal(
    member_client, member, committed, mailoutbox, settings
):
    settings.BILLING_PORTAL_URL = "https://space.example/portal/"
    invoice = open_invoice(member=member, amounts=["80.00"])
    card = saved_card(member, "4000002500003155")  # needs authentication: a hard decline, no automatic retry

    with committed():
        member_client.post(reverse("portal:invoice_pay", args=[invoice.pk]), {"amount": "80.00", "card": card.pk})

    payment = Payment.objects.get()
    member_mail = next(mail for mail in mailoutbox if mail.to == [member.email])
    url = re.search(r"https://space\.example/portal/\S*", member_mail.body)[0]
    assert url == f"https://space.example/portal/payments/{payment.pk}/"
    match = resolve(portal_path(url, settings))
    assert (match.view_name, match.kwargs) == ("portal:payment_status", {"pk": payment.pk})
    html = member_client.get(portal_path(url, settings)).content.decode()
    assert "authentication" in html and "Try another card" in html


def test_the_receipt_mail_links_to_the_receipt(member_client, member, committed, mailoutbox, settings):
    settings.BILLING_PORTAL_URL = "https://space.example/portal"
    invoice = open_invoice(member=member, amounts=["80.00"])
    card = saved_card(member)

    with committed():
        member_client.post(reverse("portal:invoice_pay", args=[invoice.pk]), {"amount": "80.00", "card": card.pk})

    payment = Payment.objects.get()
    (receipt_mail,) = [mail for mail in mailoutbox if mail.subject.startswith("Receipt")]
    assert f"https://space.example/portal/receipts/{payment.pk}/" in receipt_mail.body
