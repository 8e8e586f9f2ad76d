"""The portal in a real browser: headless Chromium (Debian's, never a downloaded build) driven by Playwright against
pytest-django's live server, with the sandbox gateway and with Stripe.js served by localstripe (spec 8).

The live server answers in its own thread with real commits, so the charge queued after commit runs there (Celery is
eager in the tests) before the status page is shown.
"""

import os
import re

import pytest
from django.urls import reverse

from billing.models import InvoiceStatus
from payments.models import Payment, PaymentMethod, PaymentStatus
from tests.factories import external_payment, open_invoice, reload
from tests.members.portal.conftest import MEMBER_PASSWORD, portal_member
from tests.support.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


@pytest.fixture
def lea(db):
    return portal_member(email="lea.martin@example.com", name="Léa Martin")


def log_in(page, member) -> None:
    page.goto(reverse("portal:login"))
    page.get_by_label("Email").fill(member.email.upper())
    page.get_by_label("Password").fill(MEMBER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/portal/$"))


def test_a_member_pays_an_open_invoice_with_a_new_sandbox_card_and_sees_the_receipt(page, lea):
    invoice = open_invoice(member=lea, amounts=["120.00"])

    log_in(page, lea)
    assert page.locator("h1").inner_text() == "Your invoices"
    page.get_by_role("link", name="Pay €120.00").click()
    page.get_by_label("A new card").check()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_role("button", name="Pay €120.00").click()

    page.wait_for_url(re.compile(r"/portal/payments/\d+/$"))
    page.get_by_text("Thank you").wait_for()
    assert page.locator(".payment-status h1 .badge--paid").inner_text() == "Paid"
    page.get_by_role("link", name="See the receipt").click()

    payment = Payment.objects.get()
    assert page.locator("h1").inner_text() == f"Receipt {payment.number}"
    assert "€120.00" in page.content()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    page.goto(reverse("portal:invoice_list"))
    assert page.locator(".invoices .badge").inner_text() == "Paid"


def test_the_0341_card_shows_its_decline_and_another_card_pays(page, lea):
    invoice = open_invoice(member=lea, amounts=["80.00"])

    log_in(page, lea)
    page.goto(reverse("portal:invoice_pay", args=[invoice.pk]))
    page.get_by_label("Card number").fill("4000 0000 0000 0341")
    page.get_by_label("Expiry (MM/YY)").fill("10/33")
    page.get_by_role("button", name="Pay €80.00").click()

    page.get_by_text("The payment did not go through").wait_for()
    assert "Your card was declined." in page.locator("[role=alert]").inner_text()
    page.get_by_role("link", name="Try another card").click()
    page.get_by_label("A new card").check()
    page.get_by_label("Card number").fill("4242424242424242")
    page.get_by_label("Expiry (MM/YY)").fill("10/33")
    page.get_by_role("button", name="Pay €80.00").click()

    page.get_by_text("Thank you").wait_for()
    assert reload(invoice).status == InvoiceStatus.PAID


@pytest.fixture
def stripe_js(localstripe, settings):
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_local"
    settings.STRIPE_JS_URL = f"{localstripe.url}/js.stripe.com/v3/"
    return localstripe


def fill_localstripe_card(page, number: str = "4242424242424242") -> None:
    """localstripe's fake Stripe.js mounts plain inputs in the card element, named by their placeholders."""
    element = page.locator("[data-card-element]")
    element.get_by_placeholder("number").fill(number)
    element.get_by_placeholder("exp_month").fill("12")
    element.get_by_placeholder("exp_year").fill("34")
    element.get_by_placeholder("cvc").fill("123")
    element.get_by_placeholder("postal_code").fill("75011")


def test_with_stripe_a_member_adds_a_card_in_the_card_element_and_pays_with_it(page, lea, stripe_js):
    invoice = open_invoice(member=lea, amounts=["25.00"])

    log_in(page, lea)
    page.goto(reverse("portal:card_list"))
    fill_localstripe_card(page)
    page.get_by_role("button", name="Save the card").click()
    page.get_by_text("is saved").wait_for()

    card = PaymentMethod.objects.get()
    assert (card.gateway, card.last4, card.exp_month, card.exp_year) == ("stripe", "4242", 12, 2034)
    assert card.gateway_id.startswith("pm_")
    (setup_intent,) = stripe_js.list("setup_intents")
    assert (setup_intent["status"], setup_intent["payment_method"]) == ("succeeded", card.gateway_id)

    page.goto(reverse("portal:invoice_pay", args=[invoice.pk]))
    assert page.get_by_label(re.compile(r"Visa •••• 4242")).is_checked()
    page.get_by_role("button", name="Pay €25.00").click()

    page.get_by_text("Thank you").wait_for()
    payment = Payment.objects.get()
    assert (payment.status, payment.payment_method) == (PaymentStatus.SUCCEEDED, card)
    assert reload(invoice).status == InvoiceStatus.PAID
    (intent,) = stripe_js.list("payment_intents")
    assert (intent["status"], intent["amount"], intent["payment_method"]) == ("succeeded", 2500, card.gateway_id)


def test_with_stripe_a_member_pays_with_a_new_card_on_the_pay_page(page, lea, stripe_js):
    invoice = open_invoice(member=lea, amounts=["42.00"])

    log_in(page, lea)
    page.goto(reverse("portal:invoice_pay", args=[invoice.pk]))
    assert page.locator("input[name=card_number]").count() == 0
    fill_localstripe_card(page)
    page.get_by_role("button", name="Pay €42.00").click()

    page.get_by_text("Thank you").wait_for()
    assert reload(invoice).status == InvoiceStatus.PAID
    assert PaymentMethod.objects.get().gateway == "stripe"


def test_the_invoices_list_fits_a_phone_without_horizontal_scrolling(browser, live_server, lea, tmp_path):
    for amounts in (["1250.00"], ["80.00", "20.00"], ["9.90"]):
        open_invoice(member=lea, amounts=amounts)
    paid = open_invoice(member=lea, amounts=["300.00"])
    external_payment(invoice=paid)
    open_invoice(member=lea, amounts=["12.00"], currency="USD")
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()

    log_in(page, lea)
    for url in (reverse("portal:invoice_list"), reverse("portal:invoice_detail", args=[paid.pk])):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    page.goto(reverse("portal:invoice_list"))
    assert page.locator(".badge--paid").count() == 1
    assert page.evaluate("getComputedStyle(document.querySelector('.invoices thead')).position") == "absolute"
    page.screenshot(path=str(tmp_path / "invoices-390.png"), full_page=True)
    if os.environ.get("PORTAL_SCREENSHOT"):
        page.screenshot(path=os.environ["PORTAL_SCREENSHOT"], full_page=True)
    context.close()
