import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.money import Money

from billing.models import Activity, Invoice, InvoiceLine, InvoiceStatus
from tests.factories import MemberFactory, books_snapshot, draft_invoice, open_invoice, reload
from tests.payments.admin.helpers import draft_form_data, line, messages_of, page_content

ADD = reverse("admin:billing_invoice_add")


def change_url(invoice) -> str:
    return reverse("admin:billing_invoice_change", args=[invoice.pk])


def issue_url(invoice) -> str:
    return reverse("admin:billing_invoice_issue", args=[invoice.pk])


def delete_url(invoice) -> str:
    return reverse("admin:billing_invoice_delete", args=[invoice.pk])


def test_add_page_shows_the_draft_form_and_empty_lines(staff_client):
    member = MemberFactory()

    response = staff_client.get(ADD, {"member": member.pk})

    assert response.status_code == 200
    assert response.context["form"].initial["member"] == str(member.pk)
    assert len(response.context["lines"].forms) == 3
    assert 'name="lines-0-unit_amount"' in response.content.decode()


def test_add_creates_a_draft_with_its_lines_through_the_service(staff_client):
    member = MemberFactory(default_currency="EUR")
    data = draft_form_data(
        member=member.pk,
        currency="",
        due_date="2030-01-31",
        memo="January desk",
        lines=[
            line("Hot desk", "10.00", quantity="2", tax_rate="20"),
            line("Coffee", "5.50"),
            line("", ""),  # an untouched extra row is skipped
        ],
    )

    response = staff_client.post(ADD, data, follow=True)

    invoice = Invoice.objects.get()
    assert response.redirect_chain[-1][0] == change_url(invoice)
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.member == member
    assert invoice.currency == "EUR"
    assert invoice.due_date == datetime.date(2030, 1, 31)
    assert invoice.memo == "January desk"
    assert invoice.subtotal == Money("25.50", "EUR")
    assert invoice.tax_total == Money("4.00", "EUR")
    assert invoice.total == Money("29.50", "EUR")
    assert [(row.description, row.quantity, row.amount, row.tax) for row in invoice.lines.all()] == [
        ("Hot desk", Decimal("2.000"), Money("20.00", "EUR"), Money("4.00", "EUR")),
        ("Coffee", Decimal("1.000"), Money("5.50", "EUR"), Money("0.00", "EUR")),
    ]
    assert messages_of(response) == [f"Draft #{invoice.pk} saved (€29.50)."]


def test_add_uses_the_chosen_currency(staff_client):
    member = MemberFactory(default_currency="EUR")

    staff_client.post(ADD, draft_form_data(member=member.pk, currency="JPY", lines=[line("Room", "1500")]))

    invoice = Invoice.objects.get()
    assert invoice.currency == "JPY"
    assert invoice.total == Money("1500", "JPY")


@pytest.mark.parametrize(
    ("unit_amount", "error"),
    [
        ("-5", "“-5” has a sign (amounts are typed without + or -)"),
        ("10.005", "“10.005” has 3 decimals, but EUR amounts have 2 at most"),
        ("abc", "“abc” is not an amount of money: type the amount like 1,234.56 or 12.50."),
        ("1234567890123", "at most 12 digits before the decimals"),
    ],
)
def test_add_refuses_a_bad_unit_amount_and_writes_nothing(staff_client, unit_amount, error):
    member = MemberFactory(default_currency="EUR")
    before = books_snapshot()

    response = staff_client.post(ADD, draft_form_data(member=member.pk, lines=[line("Desk", unit_amount)]))

    assert response.status_code == 200
    assert error in response.context["lines"].forms[0].errors["unit_amount"][0]
    assert books_snapshot() == before


def test_add_refuses_a_fraction_of_yen(staff_client):
    member = MemberFactory(default_currency="JPY")
    before = books_snapshot()

    response = staff_client.post(ADD, draft_form_data(member=member.pk, lines=[line("Desk", "10.5")]))

    assert response.context["lines"].forms[0].errors["unit_amount"] == [
        "“10.5” has decimals, but JPY has no minor unit: type the amount like 1,234 or 12."
    ]
    assert books_snapshot() == before


def test_add_refuses_a_zero_quantity_and_a_tax_rate_over_100(staff_client):
    member = MemberFactory()
    before = books_snapshot()

    response = staff_client.post(
        ADD,
        draft_form_data(
            member=member.pk, lines=[line("Desk", "10.00", quantity="0"), line("Tax", "1", tax_rate="101")]
        ),
    )

    assert "quantity" in response.context["lines"].forms[0].errors
    assert "tax_rate" in response.context["lines"].forms[1].errors
    assert books_snapshot() == before


def test_add_shows_the_service_refusal_and_writes_nothing(staff_client):
    member = MemberFactory()
    before = books_snapshot()

    response = staff_client.post(
        ADD,
        draft_form_data(
            member=member.pk, issue_date="2030-02-01", due_date="2030-01-01", lines=[line("Desk", "10.00")]
        ),
    )

    assert response.status_code == 200
    assert messages_of(response) == ["The due date 2030-01-01 is before the issue date 2030-02-01."]
    assert books_snapshot() == before


def test_draft_page_shows_its_lines_for_editing(staff_client):
    draft = draft_invoice(amounts=["100.00", "20.50"], tax_rate="20")

    response = staff_client.get(change_url(draft))

    lines = response.context["lines"]
    assert [form.initial["unit_amount"] for form in lines.initial_forms] == ["100.00", "20.50"]
    assert [form.initial["tax_rate"] for form in lines.initial_forms] == [Decimal("20.00"), Decimal("20.00")]
    assert [form.initial["quantity"] for form in lines.initial_forms] == [Decimal("1"), Decimal("1")]


def test_edit_replaces_the_lines_of_a_draft(staff_client):
    draft = draft_invoice(amounts=["100.00", "20.00"])
    data = draft_form_data(
        initial_lines=2,
        memo="Corrected",
        lines=[
            line("Line 1", "100.00", quantity="1.5"),
            line("Line 2", "20.00", delete=True),
            line("Locker", "7.25", tax_rate="10"),
        ],
    )

    response = staff_client.post(change_url(draft), data, follow=True)

    draft = reload(draft)
    assert response.redirect_chain[-1][0] == change_url(draft)
    assert draft.memo == "Corrected"
    assert [(row.description, row.amount, row.tax) for row in draft.lines.all()] == [
        ("Line 1", Money("150.00", "EUR"), Money("0.00", "EUR")),
        ("Locker", Money("7.25", "EUR"), Money("0.73", "EUR")),
    ]
    assert draft.total == Money("157.98", "EUR")


def test_edit_refuses_bad_input_and_keeps_the_draft(staff_client):
    draft = draft_invoice(amounts=["100.00"])
    before = books_snapshot()

    response = staff_client.post(change_url(draft), draft_form_data(initial_lines=1, lines=[line("Line 1", "1.001")]))

    assert response.status_code == 200
    assert response.context["lines"].forms[0].errors["unit_amount"]
    assert books_snapshot() == before


def test_issued_invoice_page_has_no_line_formset(staff_client):
    invoice = open_invoice(amounts=["100.00"])

    response = staff_client.get(change_url(invoice))

    assert "lines" not in response.context or not hasattr(response.context["lines"], "management_form")
    assert 'name="lines-TOTAL_FORMS"' not in response.content.decode()


def test_posting_lines_to_an_issued_invoice_changes_nothing(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    before = books_snapshot()

    response = staff_client.post(change_url(invoice), draft_form_data(initial_lines=1, lines=[line("Line 1", "1.00")]))

    assert response.status_code == 200  # the memo and due date form, with the missing due date as its error
    assert response.context["form"].errors["due_date"]
    assert books_snapshot() == before


# Issue


def test_issue_button_is_shown_on_a_draft_and_issues_it(staff_client):
    draft = draft_invoice(amounts=["100.00"])
    assert issue_url(draft) in page_content(staff_client, change_url(draft))

    response = staff_client.post(issue_url(draft), follow=True)

    invoice = reload(draft)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.number.startswith("INV-")
    assert invoice.amount_remaining == Money("100.00", "EUR")
    assert messages_of(response) == [f"{invoice.number} issued; it is open with €100.00 remaining."]
    assert Activity.objects.filter(invoice=invoice, verb="invoice.issued").count() == 1


def test_issue_refusal_shows_the_reason_and_changes_nothing(staff_client):
    draft = draft_invoice(amounts=["100.00"])
    InvoiceLine.objects.filter(invoice=draft).delete()
    before = books_snapshot()

    response = staff_client.post(issue_url(draft), follow=True)

    assert messages_of(response) == ["Add at least one line before issuing the invoice."]
    assert books_snapshot() == before


def test_issue_is_post_only(staff_client):
    draft = draft_invoice()

    assert staff_client.get(issue_url(draft)).status_code == 405
    assert reload(draft).status == InvoiceStatus.DRAFT


def test_issue_needs_the_permission(clerk_client):
    draft = draft_invoice()
    client = clerk_client("billing.view_invoice", "billing.change_invoice")
    before = books_snapshot()

    assert issue_url(draft) not in page_content(client, change_url(draft))
    assert client.post(issue_url(draft)).status_code == 403
    assert books_snapshot() == before


def test_issue_with_the_permission_only(clerk_client):
    draft = draft_invoice()
    client = clerk_client("billing.view_invoice", "billing.change_invoice", "billing.issue_invoice")

    assert issue_url(draft) in page_content(client, change_url(draft))
    client.post(issue_url(draft))

    assert reload(draft).status == InvoiceStatus.OPEN


# Delete


def test_delete_a_draft_after_confirmation(staff_client):
    draft = draft_invoice(amounts=["10.00", "20.00"])

    confirmation = staff_client.get(delete_url(draft))
    response = staff_client.post(delete_url(draft), follow=True)

    assert "Yes, delete the draft" in confirmation.content.decode()
    assert not Invoice.objects.filter(pk=draft.pk).exists()
    assert InvoiceLine.objects.count() == 0
    assert messages_of(response) == [f"Draft #{draft.pk} deleted."]
    assert Activity.objects.filter(verb="invoice.draft_deleted").count() == 1


def test_an_issued_invoice_cannot_be_deleted(staff_client):
    invoice = open_invoice()
    before = books_snapshot()

    assert staff_client.get(delete_url(invoice)).status_code == 403
    assert staff_client.post(delete_url(invoice)).status_code == 403
    assert books_snapshot() == before


def test_delete_needs_the_permission(clerk_client):
    draft = draft_invoice()
    client = clerk_client("billing.view_invoice", "billing.change_invoice")

    assert delete_url(draft) not in page_content(client, change_url(draft))
    assert client.post(delete_url(draft)).status_code == 403
    assert Invoice.objects.filter(pk=draft.pk).exists()


def test_a_viewer_sees_the_draft_read_only(clerk_client):
    draft = draft_invoice(amounts=["10.00"])
    client = clerk_client("billing.view_invoice")
    before = books_snapshot()

    page = client.get(change_url(draft))
    response = client.post(change_url(draft), draft_form_data(initial_lines=1, lines=[line("Line 1", "99.00")]))

    assert page.status_code == 200
    assert 'name="lines-TOTAL_FORMS"' not in page.content.decode()
    assert response.status_code == 403
    assert books_snapshot() == before


def test_add_needs_the_permission(clerk_client):
    client = clerk_client("billing.view_invoice")

    assert client.get(ADD).status_code == 403
    assert client.post(ADD, draft_form_data(member=MemberFactory().pk, lines=[line("Desk", "1")])).status_code == 403
    assert Invoice.objects.count() == 0


def test_add_finds_the_member_by_name(staff_client):
    member = MemberFactory(name="Grace Hopper")
    MemberFactory(name="Alan Turing")

    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "billing", "model_name": "invoice", "field_name": "member", "term": "hopper"},
    )

    assert [result["id"] for result in response.json()["results"]] == [str(member.pk)]


def test_edit_clears_a_date_left_empty(staff_client):
    draft = draft_invoice(amounts=["10.00"], due_date=datetime.date(2030, 1, 31))

    staff_client.post(change_url(draft), draft_form_data(initial_lines=1, due_date="", lines=[line("Line 1", "10.00")]))

    assert reload(draft).due_date is None
