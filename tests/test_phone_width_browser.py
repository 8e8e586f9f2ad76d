"""The front desk's pages at a phone's width (390 px) in headless Chromium: the page never scrolls sideways (wide
tables scroll inside their own box), with realistic data: a long member name, large amounts, several payments. The
lists (payments, invoices, members) fit at 1280 px with Django's side navigation open. The portal at 390 px too.

One test, parametrised over the pages; each builds the same books and looks at one page."""

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from djmoney.money import Money

from billing.models import CreditNote, Invoice
from billing.services.credit_note_issue import credit_note_issue
from members.models import Member
from payments.models import Payment
from payments.services.payment_external import payment_create_external
from tests.factories import (
    SYSTEM,
    MemberFactory,
    UserFactory,
    draft_invoice,
    external_payment,
    open_invoice,
    saved_card,
    standalone_payment,
)
from tests.members.portal.conftest import portal_member
from tests.support.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
LONG_NAME = "Anne-Sophie Delacroix-Montgomery de la Villardière, Atelier d'architecture et de paysage SARL"
LONG_EMAIL = "anne-sophie.delacroix-montgomery.de.la.villardiere@atelier-architecture-paysage.example"


@dataclass
class Books:
    member: Member
    draft: Invoice
    invoice: Invoice
    paid: Invoice
    payment: Payment
    paid_payment: Payment
    credit_note: CreditNote


@pytest.fixture
def books(db) -> Books:
    """A member with a long name and email, a draft, an open invoice with several payments, a paid invoice, a saved
    card, unallocated credit; other members so the lists have rows."""
    member = portal_member(email=LONG_EMAIL, name=LONG_NAME)
    for index in range(3):
        MemberFactory(name=f"{LONG_NAME} {index}")
    saved_card(member, make_default=True)
    draft = draft_invoice(member=member, amounts=["1234567.89", "98765.43", "250.00"], tax_rate="20")
    invoice = open_invoice(
        member=member,
        amounts=["987654.32", "123456.78", "45.50"],
        tax_rate="20",
    )
    payments = [
        payment_create_external(
            invoice=invoice, actor=SYSTEM, amount=Money(amount, "EUR"), kind=kind, reference=reference
        )
        for amount, kind, reference in [
            ("250000.00", "bank_transfer", "SEPA-CT-2026-12-05-ATELIER-DELACROIX-MONTGOMERY-000123456"),
            ("12345.67", "cash", ""),
            ("99999.99", "check", "Chèque n° 0001234567 Banque Populaire Rives de Paris"),
        ]
    ]
    paid = open_invoice(member=member, amounts=["845000.00"])
    paid_payment = external_payment(invoice=paid, kind="bank_transfer")
    credit_note = credit_note_issue(
        invoice=paid,
        actor=SYSTEM,
        reason="other",
        amount=Money("300000.00", "EUR"),
        refund_amount=Money("100000.00", "EUR"),
        credit_amount=Money("200000.00", "EUR"),
        memo="A meeting room booked twice over the whole quarter, refunded in part and kept as credit in part.",
    )
    standalone_payment(member=member, amount="123456.78")  # credit to apply
    for index in range(4):
        other = open_invoice(member=MemberFactory(name=f"{LONG_NAME} {index}"), amounts=["765432.10"])
        external_payment(invoice=other, amount="1234.56")
    return Books(
        member=member,
        draft=draft,
        invoice=invoice,
        paid=paid,
        payment=payments[0],
        paid_payment=paid_payment,
        credit_note=credit_note,
    )


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


# (page id, viewport, who looks at it, the URL from the books): "admin" is a superuser, "clerk" a staff user who may
# only view payments, "portal" the member. A 403 or 404 page's id ends in its status.
PAGES = [
    ("admin-home", PHONE, "admin", lambda b: admin_url("index")),
    ("invoice-page", PHONE, "admin", lambda b: admin_url("billing_invoice_change", b.invoice.pk)),
    ("draft-form", PHONE, "admin", lambda b: admin_url("billing_invoice_change", b.draft.pk)),
    ("create-payment", PHONE, "admin", lambda b: admin_url("billing_invoice_create_payment", b.invoice.pk)),
    ("issue-confirm", PHONE, "admin", lambda b: admin_url("billing_invoice_issue", b.draft.pk)),
    ("mark-uncollectible", PHONE, "admin", lambda b: admin_url("billing_invoice_mark_uncollectible", b.invoice.pk)),
    ("unallocate", PHONE, "admin", lambda b: admin_url("payments_payment_unallocate", b.payment.allocations.get().pk)),
    ("apply-payment", PHONE, "admin", lambda b: admin_url("billing_invoice_apply_payment", b.invoice.pk)),
    ("void-invoice", PHONE, "admin", lambda b: admin_url("billing_invoice_void", b.invoice.pk)),
    ("credit-note-form", PHONE, "admin", lambda b: admin_url("billing_invoice_credit_note", b.paid.pk)),
    ("credit-note-page", PHONE, "admin", lambda b: admin_url("billing_creditnote_change", b.credit_note.pk)),
    ("payment-page", PHONE, "admin", lambda b: admin_url("payments_payment_change", b.payment.pk)),
    ("refund-form", PHONE, "admin", lambda b: admin_url("payments_payment_refund", b.paid_payment.pk)),
    ("member-page", PHONE, "admin", lambda b: admin_url("members_member_change", b.member.pk)),
    ("invoice-list", PHONE, "admin", lambda b: admin_url("billing_invoice_changelist")),
    ("payment-list", PHONE, "admin", lambda b: admin_url("payments_payment_changelist")),
    ("member-list", PHONE, "admin", lambda b: admin_url("members_member_changelist")),
    ("reports", PHONE, "admin", lambda b: admin_url("billing_reports")),
    ("payments-report", PHONE, "admin", lambda b: admin_url("billing_report_payments")),
    ("aging-report", PHONE, "admin", lambda b: admin_url("billing_report_aging")),
    ("member-credit-report", PHONE, "admin", lambda b: admin_url("billing_report_member_credit")),
    ("admin-403", PHONE, "clerk", lambda b: admin_url("payments_payment_refund", b.paid_payment.pk)),
    ("admin-404", PHONE, "admin", lambda b: "/admin/nowhere/"),
    ("payment-list-1280", DESKTOP, "admin", lambda b: admin_url("payments_payment_changelist")),
    ("invoice-list-1280", DESKTOP, "admin", lambda b: admin_url("billing_invoice_changelist")),
    ("member-list-1280", DESKTOP, "admin", lambda b: admin_url("members_member_changelist")),
    ("portal-invoices", PHONE, "portal", lambda b: reverse("portal:invoice_list")),
    ("portal-invoice", PHONE, "portal", lambda b: reverse("portal:invoice_detail", args=[b.invoice.pk])),
    ("portal-pay", PHONE, "portal", lambda b: reverse("portal:invoice_pay", args=[b.invoice.pk])),
    ("portal-payments", PHONE, "portal", lambda b: reverse("portal:payment_list")),
    ("portal-payment", PHONE, "portal", lambda b: reverse("portal:payment_status", args=[b.payment.pk])),
    ("portal-receipt", PHONE, "portal", lambda b: reverse("portal:receipt", args=[b.payment.pk])),
    ("portal-cards", PHONE, "portal", lambda b: reverse("portal:card_list")),
    ("portal-credit", PHONE, "portal", lambda b: reverse("portal:credit")),
    ("portal-404", PHONE, "portal", lambda b: "/portal/invoices/999999999/"),
]


def logged_in_context(browser, live_server, user, viewport):
    """A browser context with the user's session cookie (logged in by Django's test client, not the login form)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    context.set_default_timeout(15_000)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context


@pytest.mark.parametrize(("viewport", "who", "url_of"), [page[1:] for page in PAGES], ids=[page[0] for page in PAGES])
def test_the_page_does_not_scroll_sideways(request, browser, live_server, books, viewport, who, url_of):
    if who in ("admin", "clerk"):
        user = UserFactory(username=who, is_staff=True, is_superuser=who == "admin")
        user.save()  # the password the factory set: the session's hash is checked against it
        if who == "clerk":
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label="payments", codename="view_payment")
            )
    else:
        user = books.member.user
    context = logged_in_context(browser, live_server, user, viewport)
    try:
        page = context.new_page()
        response = page.goto(url_of(books))
        status = request.node.callspec.id.rsplit("-", 1)[-1]
        assert response.status == (int(status) if status in ("403", "404") else 200), page.url
        assert "/login/" not in page.url
        page.wait_for_load_state("networkidle")
        scroll_width, wide = page.evaluate(
            "() => [document.documentElement.scrollWidth, Array.from(document.querySelectorAll('body *'))"
            " .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 8)"
            " .map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)]"
        )
        assert scroll_width <= viewport["width"], f"{page.url}: {scroll_width} px wide; too wide: {wide}"
        if viewport == DESKTOP:
            # With Django's side navigation open, the list fits its own box too: nothing to scroll inside it.
            assert page.locator("#nav-sidebar").is_visible()
            box = page.locator("#changelist-form .results")
            assert box.evaluate("box => box.scrollWidth <= box.clientWidth"), box.evaluate(
                "box => [box.scrollWidth, box.clientWidth]"
            )
    finally:
        context.close()
