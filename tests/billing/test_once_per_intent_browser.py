"""Once per intent in a real browser (headless Chromium, tests/support/browser.py): a double click on a submit button
acts once, and a form on its way disables its button and holds back a second submit (static/payments/submit-once.js,
a courtesy: the protection is the form's key, tests/billing/test_once_per_intent.py)."""

import re

import pytest
from django.urls import reverse

from billing.models import InvoiceStatus
from payments.models import Payment
from tests.factories import MemberFactory, open_invoice, reload
from tests.members.portal.conftest import portal_member
from tests.members.portal.test_browser import log_in as portal_log_in
from tests.payments.admin.test_browser import log_in as admin_log_in
from tests.payments.admin.test_browser import staff_login
from tests.support.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


def posts_to(page, path: str) -> list[str]:
    """The POST requests the page sends to `path`, as they are sent."""
    sent: list[str] = []
    page.on(
        "request",
        lambda request: sent.append(request.url) if request.method == "POST" and path in request.url else None,
    )
    return sent


@pytest.fixture
def superuser(db):
    return staff_login(username="manager", is_superuser=True)


def test_a_double_click_on_record_payment_sends_the_form_once(page, superuser):
    invoice = open_invoice(member=MemberFactory(), amounts=["100.00"])
    url = reverse("admin:billing_invoice_create_payment", args=[invoice.pk])
    admin_log_in(page, superuser)
    page.goto(url)
    page.get_by_label("Amount").fill("40.00")
    sent = posts_to(page, url)

    page.get_by_role("button", name="Record payment", exact=True).dblclick()
    page.wait_for_url(re.compile(rf"/admin/billing/invoice/{invoice.pk}/change/$"))

    assert len(sent) == 1
    assert Payment.objects.count() == 1
    assert "recorded: €40.00 applied to" in page.locator(".messagelist .success").inner_text()


def test_the_submit_button_is_disabled_once_the_form_is_on_its_way(page, superuser):
    """The form is sent into a frame so that the page stays (the admin refuses to be framed: the frame shows an
    error, the request was sent): its button is disabled, and a second submit is held back."""
    invoice = open_invoice(member=MemberFactory(), amounts=["100.00"])
    url = reverse("admin:billing_invoice_void", args=[invoice.pk])
    admin_log_in(page, superuser)
    page.goto(url)
    page.evaluate(
        """() => {
            const frame = document.createElement("iframe");
            frame.name = "sink";
            document.body.appendChild(frame);
            document.querySelector("#content-main form").target = "sink";
        }"""
    )
    sent = posts_to(page, url)
    button = page.get_by_role("button", name="Yes, void the invoice")

    with page.expect_response(lambda response: response.request.method == "POST" and url in response.url):
        button.click()
    page.wait_for_function("() => document.querySelector('#content-main input[type=submit]').disabled")
    page.evaluate("() => document.querySelector('#content-main form').requestSubmit()")
    page.wait_for_timeout(300)  # time for a second request to leave, if it were sent

    assert len(sent) == 1
    assert reload(invoice).status == InvoiceStatus.VOID


def test_a_double_click_on_pay_in_the_portal_sends_the_payment_once(page, db):
    lea = portal_member(email="lea.martin@example.com", name="Léa Martin")
    invoice = open_invoice(member=lea, amounts=["120.00"])
    url = reverse("portal:invoice_pay", args=[invoice.pk])
    portal_log_in(page, lea)
    page.goto(url)
    page.get_by_label("A new card").check()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    sent = posts_to(page, url)

    page.get_by_role("button", name="Pay €120.00").dblclick()
    page.wait_for_url(re.compile(r"/portal/payments/\d+/$"))

    assert len(sent) == 1
    assert Payment.objects.count() == 1
    assert reload(invoice).status == InvoiceStatus.PAID
