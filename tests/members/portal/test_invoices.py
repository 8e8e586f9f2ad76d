"""The member's invoices: the list, an invoice's page and its printable view (spec 4, 8)."""

import datetime
import re

import pytest
from django.urls import reverse

from billing.activity import Actor
from billing.models import Invoice
from billing.services.credit_note_issue import credit_note_issue
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from billing.templatetags.billing_money import local_date
from payments.services.refund import payment_refund
from tests.factories import card_payment, draft_invoice, eur, external_payment, open_invoice

pytestmark = pytest.mark.django_db

INVOICES = reverse("portal:invoice_list")


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def overdue_invoice(*, days: int = 3, **kwargs):
    """An open invoice whose due date passed `days` ago (issued earlier, as the books would have it)."""
    invoice = open_invoice(**kwargs)
    Invoice.objects.filter(pk=invoice.pk).update(
        issue_date=invoice.issue_date - datetime.timedelta(days=days + 14),
        due_date=invoice.issue_date - datetime.timedelta(days=days),
    )
    return Invoice.objects.get(pk=invoice.pk)


def numbers_in_order(html: str) -> list[str]:
    return re.findall(r"<strong>(INV-\d{4}-\d{5})</strong>", html)


def test_the_list_shows_open_invoices_first_then_the_rest_newest_first_and_never_drafts(member_client, member, today):
    paid = open_invoice(member=member, amounts=["10.00"])
    external_payment(invoice=paid)
    later = open_invoice(member=member, amounts=["20.00"], due_date=today + datetime.timedelta(days=20))
    sooner = open_invoice(member=member, amounts=["30.00"], due_date=today + datetime.timedelta(days=5))
    void = open_invoice(member=member, amounts=["40.00"])
    invoice_void(invoice=void, actor=Actor.system("tests"))
    draft = draft_invoice(member=member, amounts=["50.00"])

    html = page(member_client.get(INVOICES))

    assert numbers_in_order(html) == [sooner.number, later.number, void.number, paid.number]
    assert f"Draft #{draft.pk}" not in html
    assert reverse("portal:invoice_detail", args=[draft.pk]) not in html


def test_each_row_shows_dates_amounts_and_a_status_badge(member_client, member, today):
    overdue_invoice(member=member, amounts=["100.00"])
    partly = open_invoice(member=member, amounts=["100.00"], due_date=today + datetime.timedelta(days=3))
    external_payment(invoice=partly, amount="40.00")
    plain = open_invoice(member=member, amounts=["70.00"], due_date=today + datetime.timedelta(days=9))
    paid = open_invoice(member=member, amounts=["5.00"])
    external_payment(invoice=paid)
    uncollectible = open_invoice(member=member, amounts=["8.00"])
    invoice_mark_uncollectible(invoice=uncollectible, actor=Actor.system("tests"))
    void = open_invoice(member=member, amounts=["9.00"])
    invoice_void(invoice=void, actor=Actor.system("tests"))

    html = page(member_client.get(INVOICES))

    for css, label in [
        ("overdue", "Overdue"),
        ("partially_paid", "Partially paid"),
        ("open", "Open"),
        ("paid", "Paid"),
        ("uncollectible", "Uncollectible"),
        ("void", "Void"),
    ]:
        assert f'<span class="badge badge--{css}">{label}</span>' in html
    assert "€100.00" in html and "€60.00" in html  # total and remaining of the partly paid one
    assert local_date(partly.due_date) in html and local_date(partly.issue_date) in html
    assert f'href="{reverse("portal:invoice_pay", args=[plain.pk])}"' in html
    assert f'href="{reverse("portal:invoice_pay", args=[paid.pk])}"' not in html
    assert f'href="{reverse("portal:invoice_pay", args=[void.pk])}"' not in html


def test_the_list_filters_by_shown_status(member_client, member, today):
    overdue = overdue_invoice(member=member, amounts=["100.00"])
    paid = open_invoice(member=member, amounts=["5.00"])
    external_payment(invoice=paid)

    assert numbers_in_order(page(member_client.get(INVOICES, {"status": "overdue"}))) == [overdue.number]
    assert numbers_in_order(page(member_client.get(INVOICES, {"status": "paid"}))) == [paid.number]
    assert numbers_in_order(page(member_client.get(INVOICES, {"status": "draft"}))) == [overdue.number, paid.number]
    assert numbers_in_order(page(member_client.get(INVOICES, {"status": "nonsense"}))) == [overdue.number, paid.number]


def test_pay_all_is_offered_for_several_payable_invoices_of_one_currency(member_client, member):
    open_invoice(member=member, amounts=["10.00"])
    html = page(member_client.get(INVOICES))
    assert "Pay all open invoices" not in html

    open_invoice(member=member, amounts=["15.00"])
    open_invoice(member=member, amounts=["99.00"], currency="USD")
    html = page(member_client.get(INVOICES))

    assert html.count("Pay all open invoices") == 1
    assert reverse("portal:invoices_pay_all", args=["EUR"]) in html
    assert "(€25.00)" in html


def test_an_amount_being_charged_is_shown_as_processing_and_not_offered_again(member_client, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card_payment(invoice=invoice, amount="30.00", status="processing")

    html = page(member_client.get(INVOICES))

    assert "€30.00 processing" in html
    assert "Pay €70.00" in html


def test_the_list_is_empty_for_a_new_member(member_client):
    assert "You have no invoices yet." in page(member_client.get(INVOICES))


def test_the_invoice_page_shows_lines_totals_payments_refunds_credit_notes_and_what_remains(
    member_client, member, staff
):
    invoice = open_invoice(member=member, amounts=["100.00", "50.00"], tax_rate="20")
    payment = external_payment(invoice=invoice, amount="60.00")
    credit_note_issue(invoice=invoice, actor=staff, reason="order_change", amount=eur("30.00"), memo="Room closed")
    payment_refund(
        payment=payment, amount=eur("10.00"), reason="requested_by_member", actor=staff, invoice_handling="reopen"
    )
    card_payment(invoice=invoice, amount="20.00", status="processing")

    html = page(member_client.get(reverse("portal:invoice_detail", args=[invoice.pk])))

    assert "Line 1" in html and "Line 2" in html
    lines = html[html.index("<h2>Lines</h2>") : html.index("<h2>What remains</h2>")]
    assert re.findall(r'data-label="(?:Amount|Tax)" class="num">([^<]+)<', lines) == [
        "€100.00",
        "€20.00",
        "€50.00",
        "€10.00",
    ]
    assert '<td class="num" data-label="Total">€180.00</td>' in lines
    assert lines.count("20 %") == 2
    assert payment.number in html and reverse("portal:receipt", args=[payment.pk]) in html
    assert "Refunds" in html and "€10.00" in html
    credit_note = invoice.credit_notes.get()
    assert credit_note.number in html and "Order change" in html and "Room closed" in html
    # 180 - 30 credited - (60 - 10) paid = 100 remaining, of which 20 is at the gateway.
    assert "<strong>€100.00</strong>" in html
    assert "Being processed" in html and "€20.00" in html
    assert "Card payments in progress" in html
    assert f'href="{reverse("portal:invoice_pay", args=[invoice.pk])}"' in html
    assert "Pay €80.00" in html


def test_a_paid_invoice_has_no_pay_button(member_client, member):
    invoice = open_invoice(member=member, amounts=["10.00"])
    external_payment(invoice=invoice)

    html = page(member_client.get(reverse("portal:invoice_detail", args=[invoice.pk])))

    assert reverse("portal:invoice_pay", args=[invoice.pk]) not in html
    assert '<span class="badge badge--paid">Paid</span>' in html


def test_money_balance_applied_shows_on_the_invoice(member_client, member, staff):
    money_balance_adjust(member=member, amount=eur("25.00"), is_credit=True, note="Goodwill", actor=staff)
    invoice = invoice_issue(invoice=draft_invoice(member=member, amounts=["100.00"]), actor=staff, apply_credit=True)

    html = page(member_client.get(reverse("portal:invoice_detail", args=[invoice.pk])))

    assert "Your credit applied" in html and "− €25.00" in html
    assert "<strong>€75.00</strong>" in html


def test_the_printable_invoice_is_a_document_with_print_css(member_client, member):
    member.billing_address = "12 rue des Lilas\n75011 Paris"
    member.save()
    invoice = open_invoice(member=member, amounts=["100.00"], tax_rate="20")

    html = page(member_client.get(reverse("portal:invoice_print", args=[invoice.pk])))

    assert f"Invoice {invoice.number}" in html
    assert "12 rue des Lilas<br>75011 Paris" in html
    assert "Amount due" in html and "€120.00" in html
    assert "portal/portal.css" in html
    assert "data-print" in html
    assert 'class="site-nav"' not in html


def test_the_printable_invoice_declares_the_members_language(member_client, member):
    member.language = "fr"
    member.save()
    invoice = open_invoice(member=member, amounts=["100.00"])

    html = page(member_client.get(reverse("portal:invoice_print", args=[invoice.pk])))

    assert '<html lang="fr">' in html and "Imprimer" in html


def test_quantities_and_rates_are_shown_plainly(member_client, member):
    from decimal import Decimal

    from billing.services.invoice_draft import LineInput, invoice_draft_create

    draft = invoice_draft_create(
        member=member,
        actor=Actor.system("tests"),
        currency="EUR",
        lines=[
            LineInput(description="Desk", quantity=Decimal("10"), unit_amount=eur("12.50"), tax_rate=Decimal("5.5"))
        ],
    )
    invoice = invoice_issue(invoice=draft, actor=Actor.system("tests"), apply_credit=False)

    html = page(member_client.get(reverse("portal:invoice_detail", args=[invoice.pk])))

    assert '<td data-label="Quantity" class="num">10</td>' in html
    assert "5.5 %" in html
    assert "1E+1" not in html


def _invoice_with_a_failed_card_payment(member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = card_payment(invoice=invoice, amount="100.00", status="failed")
    return invoice, payment


def test_an_open_invoice_shows_its_failed_card_payment(member_client, member):
    invoice, payment = _invoice_with_a_failed_card_payment(member)

    html = page(member_client.get(reverse("portal:invoice_detail", args=[invoice.pk])))

    assert "Card payments in progress" in html
    assert payment.number in html


@pytest.mark.parametrize("end", ["paid", "void", "uncollectible"])
def test_an_invoice_that_is_paid_void_or_uncollectible_shows_no_card_payment_in_progress(
    member_client, member, staff, end
):
    invoice, payment = _invoice_with_a_failed_card_payment(member)
    processing = card_payment(invoice=open_invoice(member=member), amount="5.00")  # another invoice's
    if end == "paid":
        external_payment(invoice=invoice)
    elif end == "void":
        invoice_void(invoice=invoice, actor=staff)
    else:
        invoice_mark_uncollectible(invoice=invoice, actor=staff)

    html = page(member_client.get(reverse("portal:invoice_detail", args=[invoice.pk])))

    assert "Card payments in progress" not in html
    assert payment.number not in html
    assert processing.number not in html
    assert ">Failed<" not in html
