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
from billing.services.money_balance_adjust import money_balance_adjust
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
    page.locator("#payments").get_by_role("link", name="Create", exact=True).click()
    expect(page.get_by_role("button", name="Record payment", exact=True)).to_be_visible()
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
    page.locator("#payments").get_by_role("link", name="Create", exact=True).click()
    assert page.get_by_label("Amount").input_value() == "60.00"
    assert page.get_by_label(re.compile(r"•••• 4242")).is_checked()
    expect(page.locator("#external-fields")).to_be_hidden()
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
    page.locator(".billing-actionbar summary").click()
    page.get_by_role("button", name="Issue and charge").click()
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
    row = page.locator(f"#payments tr[data-payment='{payment.number}']")
    row.get_by_label(f"Actions for {reload(invoice).allocations.get().number}").click()
    row.get_by_role("link", name="Refund").click()
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


def test_create_switches_between_a_saved_card_and_external(page, superuser, member):
    """One Create form: the button says Charge for a saved card and Record payment for External, whose fields show
    only then; the method chosen decides what happens."""
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)

    log_in(page, superuser)
    invoice_page(page, invoice)
    page.locator("#payments").get_by_role("link", name="Create", exact=True).click()
    expect(page.get_by_label(f"{card} (default)")).to_be_checked()
    expect(page.get_by_role("button", name="Charge", exact=True)).to_be_visible()
    expect(page.locator("#external-fields")).to_be_hidden()

    page.get_by_label(re.compile("External:")).check()
    expect(page.get_by_role("button", name="Record payment", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Charge", exact=True)).to_have_count(0)
    page.get_by_label("Amount").fill("25.00")
    page.get_by_label("Received as").select_option(label="Cash")
    submit(page, "Record payment", invoice)

    payment = Payment.objects.get()
    assert (payment.method, payment.amount) == ("external", Money("25.00", "EUR"))
    assert (amount_shown(page, "Paid"), amount_shown(page, "Remaining")) == ("€25.00", "€75.00")

    page.locator("#payments").get_by_role("link", name="Create", exact=True).click()
    page.get_by_label(re.compile("External:")).check()
    page.get_by_label(f"{card} (default)").check()
    expect(page.get_by_role("button", name="Charge", exact=True)).to_be_visible()
    submit(page, "Charge", invoice)

    assert status_shown(page) == "Paid"
    assert Payment.objects.filter(method="card", status=PaymentStatus.SUCCEEDED).get().amount == Money("75.00", "EUR")


def test_issue_saves_the_unsaved_edits_and_confirms_before_issuing(page, superuser, member):
    """A line changed from 10 to 20, then Issue (without Save draft): the confirmation shows 20, and the invoice is
    issued with 20."""
    invoice = draft_invoice(member=member, amounts=["10.00"])

    log_in(page, superuser)
    invoice_page(page, invoice)
    page.locator("input[name='lines-0-unit_amount']").fill("20.00")
    page.get_by_role("button", name="Issue", exact=True).click()

    page.wait_for_url(re.compile(rf"/admin/billing/invoice/{invoice.pk}/issue/$"))
    expect(page.locator("#issue-lines")).to_contain_text("€20.00")
    assert reload(invoice).status == InvoiceStatus.DRAFT
    submit(page, "Yes, issue the invoice", invoice)

    invoice = reload(invoice)
    assert (invoice.status, invoice.total) == (InvoiceStatus.OPEN, Money("20.00", "EUR"))
    assert (amount_shown(page, "Total"), amount_shown(page, "Remaining")) == ("€20.00", "€20.00")


def test_the_credit_note_split_stays_as_typed_when_the_amount_changes(page, superuser, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card_paid(invoice, "100.00")

    log_in(page, superuser)
    invoice_page(page, invoice)
    page.locator(".billing-actionbar summary").click()
    page.get_by_role("link", name="Issue credit note").click()
    page.locator("#id_amount").fill("100.00")
    expect(page.locator("#id_refund_amount")).to_have_value("100.00")
    page.locator("#id_refund_amount").fill("60.00")
    page.locator("#id_credit_amount").fill("40.00")
    page.locator("#id_out_of_band_amount").fill("0.00")
    with page.expect_response(re.compile(r"/credit-note/preview/\?")):
        page.locator("#id_amount").fill("100")

    expect(page.locator("#id_refund_amount")).to_have_value("60.00")
    expect(page.locator("#id_credit_amount")).to_have_value("40.00")
    page.get_by_label("Reason").select_option(label="Order change")
    submit(page, "Issue credit note", invoice)

    credit_note = CreditNote.objects.get()
    assert (credit_note.refund_amount, credit_note.credit_amount) == (Money("60.00", "EUR"), Money("40.00", "EUR"))


def test_the_action_bar_sits_below_the_title_on_one_line_at_1280_pixels(page, superuser, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    money_balance_adjust(member=member, amount=Money("5.00", "EUR"), is_credit=True, note="goodwill", actor=SYSTEM)
    saved_card(member)
    page.set_viewport_size({"width": 1280, "height": 800})

    log_in(page, superuser)
    invoice_page(page, invoice)

    title = page.locator("#content h1").bounding_box()
    bar = page.locator(".billing-actionbar")
    box = bar.bounding_box()
    assert box["y"] >= title["y"] + title["height"]
    primary = bar.locator(".billing-action--primary").bounding_box()
    more = bar.locator("summary").bounding_box()
    assert abs(primary["y"] - more["y"]) < 2 and primary["height"] == more["height"]
    assert box["height"] < 2 * primary["height"]
