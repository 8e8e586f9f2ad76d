"""The billing admin in a real browser: headless Chromium (Debian's) driven by Playwright against pytest-django's live
server, logged in through the admin's login page. The invoice page's buttons (spec 5.1, 5.2, 5.3, 5.9, 5.11) and
what a front-desk user does not see (spec 9).

The live server commits for real and Celery is eager in the tests, so a charge or a refund queued after commit has
settled with the sandbox gateway before the next page is shown.
"""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from djmoney.money import Money
from playwright.sync_api import expect

from billing.models import CreditNote, InvoiceStatus
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.services.payment_card import payment_create_card
from tests.factories import (
    SYSTEM,
    MemberFactory,
    UserFactory,
    draft_invoice,
    external_payment,
    open_invoice,
    reload,
    saved_card,
)
from tests.support.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS

PASSWORD = "staff-password"
FRONT_DESK_PERMISSIONS = [
    "payments.record_external_payment",
    "billing.view_invoice",
    "payments.view_payment",
    "members.view_member",
]


def staff_login(**kwargs):
    """A staff user with a password (the factory sets it without saving it)."""
    user = UserFactory(is_staff=True, password=PASSWORD, **kwargs)
    user.save()
    return user


@pytest.fixture
def superuser(db):
    return staff_login(username="manager", is_superuser=True)


@pytest.fixture
def member(db):
    return MemberFactory(name="Léa Martin", email="lea.martin@example.com")


def log_in(page, user) -> None:
    page.goto(reverse("admin:login"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def invoice_page(page, invoice) -> None:
    page.goto(reverse("admin:billing_invoice_change", args=[invoice.pk]))


def submit(page, label: str, invoice) -> None:
    """Submit the form page and wait for the invoice page it redirects to."""
    page.get_by_role("button", name=label, exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/billing/invoice/{invoice.pk}/change/$"))


def amount_shown(page, label: str) -> str:
    """A row of the invoice page's Amounts table."""
    return page.locator(f"#amounts tr:has(th:text-is('{label}')) td").inner_text()


def status_shown(page) -> str:
    return page.locator(".billing-summary .billing-badge").inner_text()


def success_message(page) -> str:
    return page.locator(".messagelist .success").inner_text()


def card_paid(invoice, amount: str) -> Payment:
    """A sandbox card (4242) charged for `amount`; the charge settles at once (eager task after the commit)."""
    card = saved_card(invoice.member, make_default=True)
    payment = payment_create_card(
        invoice=invoice, actor=SYSTEM, amount=Money(amount, invoice.currency), payment_method=card
    )
    payment = reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


def test_a_partial_external_payment_leaves_the_invoice_partially_paid(page, superuser, member):
    invoice = open_invoice(member=member, amounts=["100.00"])

    log_in(page, superuser)
    invoice_page(page, invoice)
    assert status_shown(page) == "Open"
    page.get_by_role("link", name="Create payment").click()
    page.get_by_label("Amount").fill("40.00")
    page.get_by_label("Received as").select_option(label="Bank transfer")
    page.get_by_label("Reference").fill("TRF-2041")
    submit(page, "Record payment", invoice)

    assert "recorded: €40.00 applied to" in success_message(page)
    assert status_shown(page) == "Partially paid"
    assert (amount_shown(page, "Paid"), amount_shown(page, "Remaining")) == ("€40.00", "€60.00")
    assert reload(invoice).amount_remaining == Money("60.00", "EUR")


def test_charging_the_saved_card_for_the_rest_pays_the_invoice(page, superuser, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")
    saved_card(member)

    log_in(page, superuser)
    invoice_page(page, invoice)
    page.get_by_role("link", name="Charge saved card").click()
    assert page.get_by_label("Amount").input_value() == "60.00"
    assert page.get_by_label(re.compile(r"•••• 4242")).is_checked()
    submit(page, "Charge", invoice)

    assert "€60.00 charged to" in success_message(page)
    assert status_shown(page) == "Paid"
    assert (amount_shown(page, "Paid"), amount_shown(page, "Remaining")) == ("€100.00", "€0.00")
    assert reload(invoice).status == InvoiceStatus.PAID


def test_issue_and_charge_pays_a_draft_with_the_saved_card(page, superuser, member):
    invoice = draft_invoice(member=member, amounts=["75.00", "25.00"])
    saved_card(member)

    log_in(page, superuser)
    invoice_page(page, invoice)
    page.get_by_role("link", name="Issue and charge").click()
    submit(page, "Issue and charge", invoice)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert f"{invoice} issued" in success_message(page)
    assert status_shown(page) == "Paid"
    assert (amount_shown(page, "Total"), amount_shown(page, "Remaining")) == ("€100.00", "€0.00")


def test_a_partial_card_refund_that_reopens_the_balance(page, superuser, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = card_paid(invoice, "100.00")

    log_in(page, superuser)
    invoice_page(page, invoice)
    assert status_shown(page) == "Paid"
    page.locator("#payments").get_by_role("link", name="Refund").click()
    with page.expect_response(re.compile(r"/refund/preview/\?")):
        page.get_by_label("Amount").fill("30.00")
    page.get_by_label("Reason").select_option(label="Requested by the member")
    page.get_by_label(re.compile(r"Reopen the invoice balance")).check()
    submit(page, "Refund", invoice)

    assert "Refund of €30.00 from" in success_message(page)
    assert status_shown(page) == "Partially paid"
    assert (amount_shown(page, "Paid"), amount_shown(page, "Remaining")) == ("€70.00", "€30.00")
    refund = Refund.objects.get()
    assert (refund.payment, refund.status, refund.amount) == (payment, RefundStatus.SUCCEEDED, Money("30.00", "EUR"))
    assert reload(invoice).status == InvoiceStatus.OPEN


def test_a_credit_note_on_a_paid_invoice_split_between_refund_and_credit(page, superuser, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = card_paid(invoice, "100.00")

    log_in(page, superuser)
    invoice_page(page, invoice)
    page.get_by_role("link", name="Issue credit note").click()
    page.locator("#id_amount").fill("40.00")
    # The page's script previews the amount and fills in a split (all refunded): wait for it, then change it.
    expect(page.locator("#id_refund_amount")).to_have_value("40.00")
    page.get_by_label("Reason").select_option(label="Order change")
    page.locator("#id_refund_amount").fill("25.00")
    page.locator("#id_credit_amount").fill("15.00")
    page.locator("#id_out_of_band_amount").fill("0.00")
    submit(page, "Issue credit note", invoice)

    credit_note = CreditNote.objects.get()
    assert f"{credit_note} issued on {invoice} for €40.00" in success_message(page)
    row = page.locator("#credit-notes tbody tr")
    assert row.locator("td").all_inner_texts()[1] == "Issued"
    assert row.locator("td").all_inner_texts()[3:] == [
        "€40.00",
        "Order change",
        "€0.00",
        "€25.00",
        "€15.00",
        "€0.00",
    ]
    assert status_shown(page) == "Paid"
    assert (amount_shown(page, "Credited"), amount_shown(page, "Remaining")) == ("€40.00", "€0.00")
    payment = reload(payment)
    assert (payment.amount_refunded, payment.amount_unallocated) == (Money("25.00", "EUR"), Money("15.00", "EUR"))


def test_a_front_desk_user_does_not_see_refund_on_a_payment(page, member):
    user = staff_login(username="frontdesk")
    for permission in FRONT_DESK_PERMISSIONS:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    invoice = open_invoice(member=member, amounts=["50.00"])
    payment = external_payment(invoice=invoice)

    log_in(page, user)
    page.goto(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert page.locator("h1").inner_text() == str(payment)
    assert page.get_by_role("link", name="Refund").count() == 0
    invoice_page(page, invoice)
    assert status_shown(page) == "Paid"
    assert page.get_by_role("link", name="Refund").count() == 0
    response = page.goto(reverse("admin:payments_payment_refund", args=[payment.pk]))
    assert response.status == 403
