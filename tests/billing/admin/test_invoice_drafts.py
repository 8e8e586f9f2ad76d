import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.money import Money

from billing.models import Activity, Invoice, InvoiceLine, InvoiceStatus
from billing.services.money_balance_adjust import money_balance_adjust
from tests.factories import (
    SYSTEM,
    MemberFactory,
    books_snapshot,
    draft_invoice,
    open_invoice,
    reload,
    standalone_payment,
)
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


def issue_confirmed(client, draft, **extra):
    """Open the Issue confirmation, then confirm it as shown: the confirmation's form with the draft's version."""
    confirmation = client.get(issue_url(draft))
    assert confirmation.status_code == 200
    data = {"confirmed": "True", "version": confirmation.context["draft_version"], **extra}
    return client.post(issue_url(draft), data, follow=True)


def test_issue_button_is_shown_on_a_draft_and_issues_it_after_the_confirmation(staff_client):
    draft = draft_invoice(amounts=["100.00"])
    assert issue_url(draft) in page_content(staff_client, change_url(draft))

    response = issue_confirmed(staff_client, draft)

    invoice = reload(draft)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.number.startswith("INV-")
    assert invoice.amount_remaining == Money("100.00", "EUR")
    assert messages_of(response) == [f"{invoice.number} issued; it is open with €100.00 remaining."]
    assert Activity.objects.filter(invoice=invoice, verb="invoice.issued").count() == 1


def test_the_issue_confirmation_shows_the_lines_the_total_and_the_credit_it_applies(staff_client, settings):
    settings.BILLING_APPLY_CREDIT_AT_ISSUE = True
    member = MemberFactory()
    money_balance_adjust(member=member, amount=Money("15.00", "EUR"), is_credit=True, note="goodwill", actor=SYSTEM)
    deposit = standalone_payment(member=member, amount="30.00")
    draft = draft_invoice(member=member, amounts=["60.00", "40.00"])
    before = books_snapshot()

    page = page_content(staff_client, issue_url(draft))

    assert f"Issue Draft #{draft.pk}?" in page
    assert "Line 1" in page and "Line 2" in page and "€100.00" in page
    assert "€15.00 of " in page and "money balance is applied to it." in page
    assert f"€30.00 of {deposit.number} (unallocated, received " in page
    assert "€55.00 will remain to pay." in page
    assert books_snapshot() == before

    issue_confirmed(staff_client, draft)

    invoice = reload(draft)
    assert (invoice.amount_balance_applied, invoice.amount_paid) == (Money("15.00", "EUR"), Money("30.00", "EUR"))
    assert invoice.amount_remaining == Money("55.00", "EUR")


def test_a_post_that_skips_the_issue_confirmation_issues_nothing(staff_client):
    draft = draft_invoice(amounts=["100.00"])
    before = books_snapshot()

    response = staff_client.post(issue_url(draft))

    assert response.status_code == 200
    assert "Nothing was done yet: check what will happen below, then confirm." in response.content.decode()
    assert reload(draft).status == InvoiceStatus.DRAFT
    assert books_snapshot() == before


def test_issue_saves_the_draft_s_pending_edits_before_its_confirmation(staff_client):
    """The draft page's Issue button sends the draft's form to the Issue page: a line changed from 10 to 20 is
    saved, and the confirmation and the issued invoice say 20, never the 10 saved before."""
    draft = draft_invoice(amounts=["10.00"])
    edited = draft_form_data(initial_lines=1, lines=[line("Line 1", "20.00")], _issue="1")

    sent = staff_client.post(issue_url(draft), edited)

    assert sent.status_code == 302 and sent.url == issue_url(draft)
    assert reload(draft).total == Money("20.00", "EUR")
    assert reload(draft).status == InvoiceStatus.DRAFT
    confirmation = staff_client.get(issue_url(draft)).content.decode()
    assert "€20.00" in confirmation and "€10.00" not in confirmation

    issue_confirmed(staff_client, draft)

    invoice = reload(draft)
    assert (invoice.status, invoice.total) == (InvoiceStatus.OPEN, Money("20.00", "EUR"))


def test_issue_with_edits_that_do_not_validate_shows_the_draft_and_issues_nothing(staff_client):
    draft = draft_invoice(amounts=["10.00"])
    before = books_snapshot()

    response = staff_client.post(
        issue_url(draft), draft_form_data(initial_lines=1, lines=[line("Line 1", "abc")], _issue="1")
    )

    assert response.status_code == 200
    assert "Nothing was issued: correct the draft below, then issue it." in messages_of(response)
    assert response.context["lines"].total_error_count() == 1
    assert books_snapshot() == before
    assert reload(draft).status == InvoiceStatus.DRAFT


def test_issue_refuses_a_draft_changed_since_its_confirmation(staff_client):
    draft = draft_invoice(amounts=["10.00"])
    confirmation = staff_client.get(issue_url(draft))
    # Someone else saves the draft with 20 meanwhile.
    staff_client.post(change_url(draft), draft_form_data(initial_lines=1, lines=[line("Line 1", "20.00")]))
    before = books_snapshot()

    response = staff_client.post(
        issue_url(draft), {"confirmed": "True", "version": confirmation.context["draft_version"]}, follow=True
    )

    assert reload(draft).status == InvoiceStatus.DRAFT
    assert books_snapshot() == before
    assert messages_of(response)[-1:] == [
        f"Draft #{draft.pk} changed since you confirmed it (€20.00 now); check it and confirm again. Nothing was "
        "issued."
    ]
    # The page shown again is the confirmation of the draft as it is now: confirming it issues 20.
    assert response.context["draft_version"] != confirmation.context["draft_version"]
    assert "€20.00" in response.content.decode()


def test_issue_sent_twice_issues_once(staff_client):
    draft = draft_invoice(amounts=["100.00"])
    version = staff_client.get(issue_url(draft)).context["draft_version"]
    data = {"confirmed": "True", "version": version, "intent_key": "5f0f8a4e-0c1b-4a55-9d7e-3b7c1e2f9a01"}

    staff_client.post(issue_url(draft), data)
    again = staff_client.post(issue_url(draft), data, follow=True)

    invoice = reload(draft)
    assert invoice.status == InvoiceStatus.OPEN
    assert Activity.objects.filter(invoice=invoice, verb="invoice.issued").count() == 1
    assert messages_of(again) == [f"{invoice.number} issued; it is open with €100.00 remaining."]


def test_issue_refusal_shows_the_reason_and_changes_nothing(staff_client):
    draft = draft_invoice(amounts=["100.00"])
    InvoiceLine.objects.filter(invoice=draft).delete()
    before = books_snapshot()

    response = issue_confirmed(staff_client, draft)

    assert messages_of(response) == ["Add at least one line before issuing the invoice."]
    assert books_snapshot() == before


def test_issue_needs_the_permission(clerk_client):
    draft = draft_invoice()
    client = clerk_client("billing.view_invoice", "billing.change_invoice")
    before = books_snapshot()

    assert issue_url(draft) not in page_content(client, change_url(draft))
    assert client.get(issue_url(draft)).status_code == 403
    assert client.post(issue_url(draft), {"confirmed": "True", "version": "x"}).status_code == 403
    assert books_snapshot() == before


def test_issue_with_the_permission_only(clerk_client):
    draft = draft_invoice()
    client = clerk_client("billing.view_invoice", "billing.change_invoice", "billing.issue_invoice")

    assert issue_url(draft) in page_content(client, change_url(draft))
    issue_confirmed(client, draft)

    assert reload(draft).status == InvoiceStatus.OPEN


def test_issue_without_the_right_to_edit_the_draft_does_not_save_edits(clerk_client):
    draft = draft_invoice(amounts=["10.00"])
    client = clerk_client("billing.view_invoice", "billing.issue_invoice")

    response = client.post(issue_url(draft), draft_form_data(initial_lines=1, lines=[line("Line 1", "20.00")]))

    assert response.status_code == 403
    assert reload(draft).total == Money("10.00", "EUR")


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
