"""A French member in a real browser (headless Chromium, the sandbox gateway): after logging in from an English
browser, the portal, its amounts and its receipt are in French."""

import re

import pytest
from django.urls import reverse

from billing.models import InvoiceStatus
from payments.models import Payment, PaymentStatus
from tests.factories import open_invoice, reload
from tests.members.portal.conftest import MEMBER_PASSWORD, portal_member
from tests.support.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


@pytest.fixture
def lea(db):
    return portal_member(email="lea.martin@example.com", name="Léa Martin", language="fr")


def test_a_french_member_logs_in_and_pays_an_invoice_in_french(page, lea):
    invoice = open_invoice(member=lea, amounts=["1234.50"])

    page.goto(reverse("portal:login"))  # an English browser: the login page is in English
    page.get_by_label("Email").fill(lea.email)
    page.get_by_label("Password").fill(MEMBER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/portal/$"))

    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h1").inner_text() == "Vos factures"
    page.get_by_role("link", name=re.compile(r"^Payer 1\s234,50\s€$")).click()
    page.get_by_label("Une nouvelle carte").check()
    page.get_by_label("Numéro de carte").fill("4242 4242 4242 4242")
    page.get_by_label("Expiration (MM/AA)").fill("12/34")
    page.get_by_role("button", name=re.compile(r"^Payer 1\s234,50\s€$")).click()

    page.wait_for_url(re.compile(r"/portal/payments/\d+/$"))
    page.get_by_text("Nous avons reçu").wait_for()
    page.get_by_role("link", name="Voir le reçu").click()

    payment = Payment.objects.get()
    assert page.locator("h1").inner_text() == f"Reçu {payment.number}"
    assert re.search(r"1\s234,50\s€", page.locator("main").inner_text())
    assert payment.status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
