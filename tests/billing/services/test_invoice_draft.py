import datetime
from decimal import Decimal

import pytest
from djmoney.money import Money

from billing.models import Activity, Invoice, InvoiceLine, InvoiceStatus, NumberSequence
from billing.services.invoice_draft import (
    LineInput,
    invoice_details_update,
    invoice_draft_create,
    invoice_draft_delete,
    invoice_draft_update,
)
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_void import invoice_void
from payments.integrity import billing_integrity_violations
from tests.factories import MemberFactory, draft_invoice, external_payment, member_actor, open_invoice, refused, reload


def line(unit_amount: str, quantity: str = "1", tax_rate: str = "0", currency: str = "EUR", description: str = "Desk"):
    return LineInput(
        description=description,
        quantity=Decimal(quantity),
        unit_amount=Money(unit_amount, currency),
        tax_rate=Decimal(tax_rate),
    )


def test_draft_lines_are_quantity_times_unit_amount_plus_tax(db, staff):
    member = MemberFactory()

    invoice = invoice_draft_create(
        member=member,
        actor=staff,
        lines=[line("250.00", quantity="2", tax_rate="20", description="Dedicated desk"), line("15.50")],
        memo="March",
    )

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.number is None
    assert invoice.currency == "EUR"
    assert invoice.memo == "March"
    assert invoice.subtotal == Money("515.50", "EUR")
    assert invoice.tax_total == Money("100.00", "EUR")
    assert invoice.total == Money("615.50", "EUR")
    assert invoice.amount_remaining == Money("615.50", "EUR")
    lines = list(invoice.lines.all())
    assert [(item.position, item.description, item.amount, item.tax) for item in lines] == [
        (1, "Dedicated desk", Money("500.00", "EUR"), Money("100.00", "EUR")),
        (2, "Desk", Money("15.50", "EUR"), Money("0.00", "EUR")),
    ]
    assert not NumberSequence.objects.exists()
    assert billing_integrity_violations() == []


def test_line_amount_is_rounded_half_up(db, staff):
    invoice = invoice_draft_create(member=MemberFactory(), actor=staff, lines=[line("9.97", quantity="0.5")])

    assert reload(invoice).total == Money("4.99", "EUR")  # 4.985: half-even would give 4.98


def test_line_tax_is_rounded_half_up_on_the_rounded_line_amount(db, staff):
    invoice = invoice_draft_create(
        member=MemberFactory(), actor=staff, lines=[line("0.67", quantity="1.5", tax_rate="50")]
    )

    invoice = reload(invoice)
    # 1.5 x 0.67 = 1.005 -> 1.01; 50 % of 1.01 = 0.505 -> 0.51 (of the unrounded 1.005 it would be 0.50).
    assert invoice.subtotal == Money("1.01", "EUR")
    assert invoice.tax_total == Money("0.51", "EUR")
    assert invoice.total == Money("1.52", "EUR")


def test_each_line_is_rounded_before_the_total(db, staff):
    invoice = invoice_draft_create(
        member=MemberFactory(),
        actor=staff,
        lines=[line("0.01", quantity="0.5", tax_rate="10"), line("0.01", quantity="0.5", tax_rate="10")],
    )

    invoice = reload(invoice)
    assert [item.amount for item in invoice.lines.all()] == [Money("0.01", "EUR"), Money("0.01", "EUR")]
    assert invoice.subtotal == Money("0.02", "EUR")  # rounding the sum 0.01 would give 0.01
    assert invoice.total == Money("0.02", "EUR")


def test_each_line_tax_is_rounded_before_the_total(db, staff):
    invoice = invoice_draft_create(
        member=MemberFactory(),
        actor=staff,
        lines=[line("10.25", tax_rate="10"), line("10.25", tax_rate="10"), line("0.05", tax_rate="10")],
    )

    invoice = reload(invoice)
    assert [item.tax for item in invoice.lines.all()] == [
        Money("1.03", "EUR"),  # 1.025 half-up
        Money("1.03", "EUR"),
        Money("0.01", "EUR"),  # 0.005 half-up
    ]
    assert invoice.subtotal == Money("20.55", "EUR")
    assert invoice.tax_total == Money("2.07", "EUR")  # rounding the sum 2.055 would give 2.06
    assert invoice.total == Money("22.62", "EUR")


def test_zero_decimal_currency_lines_round_to_whole_units(db, staff):
    member = MemberFactory(default_currency="JPY")

    invoice = invoice_draft_create(
        member=member, actor=staff, lines=[line("333", quantity="1.5", tax_rate="10", currency="JPY")]
    )

    invoice = reload(invoice)
    assert invoice.currency == "JPY"
    assert invoice.subtotal == Money("500", "JPY")  # 499.5 half-up
    assert invoice.tax_total == Money("50", "JPY")
    assert invoice.total == Money("550", "JPY")


def test_three_decimal_currency_lines_round_to_the_fils(db, staff):
    invoice = invoice_draft_create(
        member=MemberFactory(),
        actor=staff,
        currency="BHD",
        lines=[line("0.335", quantity="3", tax_rate="50", currency="BHD")],
    )

    invoice = reload(invoice)
    assert invoice.subtotal == Money("1.005", "BHD")
    assert invoice.tax_total == Money("0.503", "BHD")  # 0.5025 half-up
    assert invoice.total == Money("1.508", "BHD")


def test_a_free_line_makes_a_zero_total_draft(db, staff):
    invoice = invoice_draft_create(member=MemberFactory(), actor=staff, lines=[line("0")])

    assert reload(invoice).total == Money("0.00", "EUR")


def test_draft_currency_defaults_to_the_member_s(db, staff):
    member = MemberFactory(default_currency="CHF")

    invoice = invoice_draft_create(member=member, actor=staff, lines=[line("12.00", currency="CHF")])

    assert invoice.currency == "CHF"
    assert reload(invoice).total == Money("12.00", "CHF")


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (line("10.00", description="  "), "Line 2: enter a description"),
        (line("10.00", quantity="0"), "Line 2: the quantity must be greater than 0 and at most 1000000"),
        (line("10.00", quantity="-1"), "Line 2: the quantity must be greater than 0"),
        (line("10.00", quantity="1000001"), "Line 2: the quantity must be greater than 0 and at most 1000000"),
        (line("10.00", quantity="1.0005"), "Line 2: the quantity has at most 3 decimals"),
        (LineInput("Desk", "abc", Money("10.00", "EUR")), "Line 2: the quantity and the tax rate must be numbers"),
        (LineInput("Desk", None, Money("10.00", "EUR")), "Line 2: the quantity and the tax rate must be numbers"),
        (line("10.00", tax_rate="100.01"), "Line 2: the tax rate is a percentage between 0 and 100"),
        (line("10.00", tax_rate="-1"), "Line 2: the tax rate is a percentage between 0 and 100"),
        (line("10.00", tax_rate="12.345"), "Line 2: the tax rate is a percentage .* at most 2 decimals"),
        (line("-1.00"), r"Line 2: The amount cannot be negative \(-1.00\)"),
        (line("10.005"), "Line 2: EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly"),
        (line("1234567890123"), "Line 2: The amount 1234567890123 is too large"),
        (line("10.00", currency="USD"), "Line 2: This amount is in USD, but it must be in EUR"),
        (LineInput("Desk", Decimal(1), Decimal("10.00")), "Line 2: The amount must be a sum of money"),
    ],
)
def test_a_bad_line_is_refused_and_nothing_is_written(db, staff, bad_line, message):
    member = MemberFactory()

    with refused(message):
        invoice_draft_create(member=member, actor=staff, lines=[line("10.00"), bad_line])

    assert not Invoice.objects.exists()


def test_a_fractional_unit_amount_in_a_zero_decimal_currency_is_refused(db, staff):
    member = MemberFactory(default_currency="JPY")

    with refused("Line 1: JPY has no minor unit: enter a whole amount, not 10.5"):
        invoice_draft_create(member=member, actor=staff, lines=[line("10.5", currency="JPY")])


def test_a_total_beyond_12_digits_is_refused(db, staff):
    member = MemberFactory()

    with refused("too large: at most 12 digits"):
        invoice_draft_create(member=member, actor=staff, lines=[line("999999999.00", quantity="1000000")])


def test_an_unknown_currency_is_refused(db, staff):
    member = MemberFactory()

    with refused("“ZZZ” is not a currency code"):
        invoice_draft_create(member=member, actor=staff, currency="ZZZ", lines=[line("10.00")])


def test_a_due_date_before_the_issue_date_is_refused(db, staff):
    member = MemberFactory()

    with refused("The due date 2026-03-01 is before the issue date 2026-03-02"):
        invoice_draft_create(
            member=member,
            actor=staff,
            lines=[line("10.00")],
            issue_date=datetime.date(2026, 3, 2),
            due_date=datetime.date(2026, 3, 1),
        )


def test_a_member_cannot_create_invoices(db):
    member = MemberFactory()
    actor = member_actor(member)

    with refused("Only the space's staff can create invoices"):
        invoice_draft_create(member=member, actor=actor, lines=[line("10.00")])


def test_a_draft_s_lines_dates_and_memo_can_be_replaced(db, staff):
    invoice = draft_invoice(amounts=["100.00", "20.00"])

    invoice_draft_update(
        invoice=invoice,
        actor=staff,
        lines=[line("40.00", quantity="2", tax_rate="20")],
        issue_date=datetime.date(2026, 4, 1),
        due_date=datetime.date(2026, 4, 30),
        memo="April",
    )

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.number is None
    assert invoice.subtotal == Money("80.00", "EUR")
    assert invoice.tax_total == Money("16.00", "EUR")
    assert invoice.total == Money("96.00", "EUR")
    assert invoice.amount_remaining == Money("96.00", "EUR")
    assert invoice.lines.count() == 1
    assert InvoiceLine.objects.count() == 1
    assert (invoice.issue_date, invoice.due_date, invoice.memo) == (
        datetime.date(2026, 4, 1),
        datetime.date(2026, 4, 30),
        "April",
    )
    assert not NumberSequence.objects.exists()
    assert billing_integrity_violations() == []


def test_a_draft_update_without_lines_keeps_them(db, staff):
    invoice = draft_invoice(amounts=["100.00"])

    invoice_draft_update(invoice=invoice, actor=staff, memo="Hello")

    invoice = reload(invoice)
    assert invoice.memo == "Hello"
    assert invoice.total == Money("100.00", "EUR")
    assert invoice.lines.count() == 1


def test_a_bad_line_in_a_draft_update_changes_nothing(db, staff):
    invoice = draft_invoice(amounts=["100.00"])

    with refused("Line 1: The amount must be greater than zero|Line 1: the quantity must be greater than 0"):
        invoice_draft_update(invoice=invoice, actor=staff, lines=[line("10.00", quantity="0")], memo="changed")


def test_a_draft_update_with_the_due_date_before_the_issue_date_is_refused(db, staff):
    invoice = draft_invoice()

    with refused("is before the issue date"):
        invoice_draft_update(
            invoice=invoice, actor=staff, issue_date=datetime.date(2026, 3, 2), due_date=datetime.date(2026, 3, 1)
        )


@pytest.mark.parametrize("status", ["open", "paid", "void"])
def test_an_issued_invoice_s_lines_cannot_change(db, staff, status):
    invoice = open_invoice(amounts=["100.00"])
    if status == "paid":
        external_payment(invoice=invoice)
    if status == "void":
        invoice_void(invoice=invoice, actor=staff)
    assert reload(invoice).status == status

    with refused(r"INV-\d{4}-00001 is issued: its lines and amounts can no longer change. Issue a credit note"):
        invoice_draft_update(invoice=invoice, actor=staff, lines=[line("1.00")], memo="cheaper")


def test_a_member_cannot_edit_a_draft(db):
    invoice = draft_invoice()
    actor = member_actor(invoice.member)

    with refused("Only the space's staff can edit invoices"):
        invoice_draft_update(invoice=invoice, actor=actor, memo="mine")


def test_an_issued_invoice_s_memo_and_due_date_can_change(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    new_due_date = invoice.due_date + datetime.timedelta(days=10)
    activities = Activity.objects.count()

    invoice_details_update(invoice=invoice, actor=staff, due_date=new_due_date, memo="Pay by transfer")

    updated = reload(invoice)
    assert updated.due_date == new_due_date
    assert updated.memo == "Pay by transfer"
    assert updated.status == InvoiceStatus.OPEN
    assert updated.number == invoice.number
    assert updated.total == Money("100.00", "EUR")
    assert updated.amount_remaining == Money("100.00", "EUR")
    assert Activity.objects.count() == activities + 1
    activity = Activity.objects.get(verb="invoice.updated")
    assert activity.invoice == invoice
    assert activity.actor_user == staff.user
    assert activity.data == {"due_date": [str(invoice.due_date), str(new_due_date)], "memo": "changed"}
    assert billing_integrity_violations() == []


def test_details_update_without_changes_records_nothing(db, staff):
    invoice = open_invoice()
    activities = Activity.objects.count()

    invoice_details_update(invoice=invoice, actor=staff, due_date=invoice.due_date, memo=invoice.memo)

    assert Activity.objects.count() == activities


def test_an_issued_invoice_keeps_a_due_date(db, staff):
    invoice = open_invoice()

    with refused("An issued invoice needs a due date"):
        invoice_details_update(invoice=invoice, actor=staff, due_date=None, memo="")


def test_an_issued_invoice_s_due_date_cannot_go_before_its_issue_date(db, staff):
    invoice = open_invoice()
    day_before = invoice.issue_date - datetime.timedelta(days=1)

    with refused(f"The due date {day_before:%Y-%m-%d} is before the issue date {invoice.issue_date:%Y-%m-%d}"):
        invoice_details_update(invoice=invoice, actor=staff, due_date=day_before, memo="")


def test_a_draft_s_due_date_cannot_go_before_its_issue_date(db, staff):
    invoice = draft_invoice()
    invoice_draft_update(invoice=invoice, actor=staff, issue_date=datetime.date(2026, 3, 2))

    with refused("The due date 2026-03-01 is before the issue date 2026-03-02"):
        invoice_details_update(invoice=invoice, actor=staff, due_date=datetime.date(2026, 3, 1), memo="")


def test_a_void_invoice_s_details_cannot_change(db, staff):
    invoice = open_invoice()
    invoice_void(invoice=invoice, actor=staff)

    with refused(r"INV-\d{4}-00001 is void; it can no longer change"):
        invoice_details_update(invoice=invoice, actor=staff, due_date=invoice.due_date, memo="late note")


def test_a_member_cannot_change_an_invoice_s_details(db):
    invoice = open_invoice()
    actor = member_actor(invoice.member)

    with refused("Only the space's staff can edit invoices"):
        invoice_details_update(invoice=invoice, actor=actor, due_date=None, memo="x")


def test_deleting_a_draft_removes_it_and_its_lines(db, staff):
    invoice = draft_invoice(amounts=["100.00", "20.00"])

    invoice_draft_delete(invoice=invoice, actor=staff)

    assert not Invoice.objects.exists()
    assert not InvoiceLine.objects.exists()
    assert not NumberSequence.objects.exists()
    activity = Activity.objects.get()
    assert activity.verb == "invoice.draft_deleted"
    assert activity.member == invoice.member
    assert activity.amount == Money("120.00", "EUR")
    assert activity.data == {"draft_id": invoice.pk}
    assert billing_integrity_violations() == []


@pytest.mark.parametrize("status", ["open", "void"])
def test_an_issued_invoice_is_never_deleted(db, staff, status):
    invoice = open_invoice()
    if status == "void":
        invoice_void(invoice=invoice, actor=staff)

    with refused(r"INV-\d{4}-00001 is issued and can never be deleted; void it or issue a credit note"):
        invoice_draft_delete(invoice=invoice, actor=staff)


def test_a_member_cannot_delete_a_draft(db):
    invoice = draft_invoice()
    actor = member_actor(invoice.member)

    with refused("Only the space's staff can delete invoices"):
        invoice_draft_delete(invoice=invoice, actor=actor)


def test_deleting_drafts_leaves_no_gap_in_the_numbers(db, staff, today):
    member = MemberFactory()
    first, second, third = (draft_invoice(member=member) for _ in range(3))

    invoice_issue(invoice=first, actor=staff)
    invoice_draft_delete(invoice=second, actor=staff)
    invoice_issue(invoice=third, actor=staff)

    assert reload(first).number == f"INV-{today.year}-00001"
    assert reload(third).number == f"INV-{today.year}-00002"
    assert NumberSequence.objects.get(series="INV").last_value == 2
    assert billing_integrity_violations() == []


def test_a_draft_update_changes_only_what_is_given(db, staff):
    invoice = draft_invoice(due_date=datetime.date(2026, 5, 31))
    invoice_draft_update(invoice=invoice, actor=staff, issue_date=datetime.date(2026, 5, 1))

    invoice_draft_update(invoice=invoice, actor=staff, memo="Only the memo")

    updated = reload(invoice)
    assert (updated.issue_date, updated.due_date, updated.memo) == (
        datetime.date(2026, 5, 1),
        datetime.date(2026, 5, 31),
        "Only the memo",
    )
    assert updated.total == Money("100.00", "EUR")
