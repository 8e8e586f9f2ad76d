import datetime

from django.conf import settings as django_settings
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus, MoneyBalanceEntry, NumberSequence
from billing.selectors import member_money_balance
from billing.services.invoice_issue import invoice_issue
from billing.services.money_balance_adjust import money_balance_adjust
from payments.integrity import billing_integrity_violations
from payments.models import Allocation
from payments.services.payment_void import payment_void
from tests.factories import (
    MemberFactory,
    draft_invoice,
    member_actor,
    open_invoice,
    refused,
    reload,
    standalone_payment,
)


def _credit(member, amount: str, staff, currency: str = "EUR"):
    return money_balance_adjust(
        member=member, amount=Money(amount, currency), is_credit=True, note="Goodwill", actor=staff
    )


def test_issuing_numbers_the_invoice_and_opens_it(db, staff, today):
    draft = draft_invoice(amounts=["100.00", "20.00"], tax_rate="20")

    invoice = invoice_issue(invoice=draft, actor=staff)

    invoice = reload(invoice)
    assert invoice.number == f"INV-{today.year}-00001"
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.issue_date == today
    assert invoice.due_date == today + datetime.timedelta(days=django_settings.BILLING_DEFAULT_DUE_DAYS)
    assert invoice.issued_at is not None
    assert invoice.paid_at is None
    assert invoice.total == Money("144.00", "EUR")
    assert invoice.amount_remaining == Money("144.00", "EUR")
    assert invoice.amount_paid == Money("0.00", "EUR")
    activity = Activity.objects.get()
    assert activity.verb == "invoice.issued"
    assert activity.invoice == invoice
    assert activity.actor_user == staff.user
    assert activity.amount == Money("144.00", "EUR")
    assert (activity.status_before, activity.status_after) == ("draft", "open")
    assert billing_integrity_violations() == []


def test_invoice_numbers_are_sequential_across_members(db, staff, today):
    drafts = [draft_invoice(), draft_invoice(), draft_invoice()]

    for draft in reversed(drafts):
        invoice_issue(invoice=draft, actor=staff)

    assert [reload(draft).number for draft in reversed(drafts)] == [
        f"INV-{today.year}-00001",
        f"INV-{today.year}-00002",
        f"INV-{today.year}-00003",
    ]
    assert NumberSequence.objects.get(series="INV", year=today.year).last_value == 3
    assert billing_integrity_violations() == []


def test_the_number_s_year_is_the_issue_date_s(db, staff):
    draft = draft_invoice()
    draft.issue_date = datetime.date(2025, 12, 31)
    draft.save(update_fields=["issue_date"])

    invoice = invoice_issue(invoice=draft, actor=staff)

    invoice = reload(invoice)
    assert invoice.number == "INV-2025-00001"
    assert invoice.issue_date == datetime.date(2025, 12, 31)
    assert invoice.due_date == datetime.date(2025, 12, 31) + datetime.timedelta(days=14)
    assert billing_integrity_violations() == []


def test_a_due_date_set_on_the_draft_is_kept(db, staff, today):
    due_date = today + datetime.timedelta(days=3)

    invoice = invoice_issue(invoice=draft_invoice(due_date=due_date), actor=staff)

    assert reload(invoice).due_date == due_date


def test_a_zero_total_invoice_is_paid_at_once(db, staff):
    invoice = invoice_issue(invoice=draft_invoice(amounts=["0.00"]), actor=staff)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.paid_at is not None
    assert invoice.total == Money("0.00", "EUR")
    assert invoice.amount_remaining == Money("0.00", "EUR")
    assert list(Activity.objects.order_by("pk").values_list("verb", "status_before", "status_after")) == [
        ("invoice.issued", "draft", "open"),
        ("invoice.paid", "open", "paid"),
    ]
    assert billing_integrity_violations() == []


def test_issuing_applies_money_balance_first_then_unallocated_payments_oldest_first(db, staff):
    member = MemberFactory()
    older = standalone_payment(member=member, amount="50.00")
    newer = standalone_payment(member=member, amount="40.00")
    _credit(member, "30.00", staff)

    invoice = invoice_issue(invoice=draft_invoice(member=member, amounts=["100.00"]), actor=staff, apply_credit=True)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_balance_applied == Money("30.00", "EUR")
    assert invoice.amount_paid == Money("70.00", "EUR")
    assert invoice.amount_remaining == Money("0.00", "EUR")
    assert member_money_balance(member=member, currency="EUR") == Money("0.00", "EUR")
    applied = MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.APPLIED)
    assert (applied.amount, applied.invoice) == (Money("-30.00", "EUR"), invoice)
    assert [(a.payment, a.amount) for a in Allocation.objects.order_by("pk")] == [
        (older, Money("50.00", "EUR")),
        (newer, Money("20.00", "EUR")),
    ]
    assert reload(older).amount_unallocated == Money("0.00", "EUR")
    assert reload(newer).amount_allocated == Money("20.00", "EUR")
    assert reload(newer).amount_unallocated == Money("20.00", "EUR")
    assert [(a.verb, a.amount) for a in Activity.objects.filter(invoice=invoice).order_by("pk")] == [
        ("invoice.issued", Money("100.00", "EUR")),
        ("balance.applied", Money("30.00", "EUR")),
        ("payment.allocated", Money("50.00", "EUR")),
        ("payment.allocated", Money("20.00", "EUR")),
        ("invoice.paid", Money("0.00", "EUR")),
    ]
    assert billing_integrity_violations() == []


def test_credit_smaller_than_the_invoice_leaves_it_partially_paid(db, staff):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    _credit(member, "30.00", staff)

    invoice = invoice_issue(invoice=draft_invoice(member=member, amounts=["200.00"]), actor=staff, apply_credit=True)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_balance_applied == Money("30.00", "EUR")
    assert invoice.amount_paid == Money("50.00", "EUR")
    assert invoice.amount_remaining == Money("120.00", "EUR")
    assert invoice.shown_status() == "partially_paid"
    assert reload(payment).amount_unallocated == Money("0.00", "EUR")
    assert billing_integrity_violations() == []


def test_money_balance_larger_than_the_invoice_stays_for_later(db, staff):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    _credit(member, "150.00", staff)

    invoice = invoice_issue(invoice=draft_invoice(member=member, amounts=["100.00"]), actor=staff, apply_credit=True)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_balance_applied == Money("100.00", "EUR")
    assert invoice.amount_paid == Money("0.00", "EUR")
    assert member_money_balance(member=member, currency="EUR") == Money("50.00", "EUR")
    assert reload(payment).amount_unallocated == Money("50.00", "EUR")
    assert not Allocation.objects.exists()
    assert billing_integrity_violations() == []


def test_only_the_member_s_received_money_in_the_invoice_s_currency_is_applied(db, staff):
    member = MemberFactory()
    other_member = MemberFactory()
    standalone_payment(member=other_member, amount="50.00")
    _credit(other_member, "50.00", staff)
    standalone_payment(member=member, amount="50.00", currency="USD")
    _credit(member, "50.00", staff, currency="USD")
    voided = standalone_payment(member=member, amount="50.00")
    payment_void(payment=voided, actor=staff)

    invoice = invoice_issue(invoice=draft_invoice(member=member, amounts=["100.00"]), actor=staff, apply_credit=True)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_remaining == Money("100.00", "EUR")
    assert invoice.amount_balance_applied == Money("0.00", "EUR")
    assert not Allocation.objects.exists()
    assert not MoneyBalanceEntry.objects.filter(kind=MoneyBalanceEntry.Kind.APPLIED).exists()
    assert billing_integrity_violations() == []


def test_without_apply_credit_nothing_is_applied(db, staff):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    _credit(member, "30.00", staff)

    invoice = invoice_issue(invoice=draft_invoice(member=member), actor=staff, apply_credit=False)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_remaining == Money("100.00", "EUR")
    assert reload(payment).amount_unallocated == Money("50.00", "EUR")
    assert member_money_balance(member=member, currency="EUR") == Money("30.00", "EUR")


def test_applying_credit_at_issue_is_on_by_default():
    assert django_settings.BILLING_APPLY_CREDIT_AT_ISSUE is True


def test_the_setting_decides_when_apply_credit_is_not_given(db, staff, settings):
    member = MemberFactory()
    _credit(member, "30.00", staff)

    settings.BILLING_APPLY_CREDIT_AT_ISSUE = False
    first = invoice_issue(invoice=draft_invoice(member=member), actor=staff)
    settings.BILLING_APPLY_CREDIT_AT_ISSUE = True
    second = invoice_issue(invoice=draft_invoice(member=member), actor=staff)

    assert reload(first).amount_balance_applied == Money("0.00", "EUR")
    assert reload(first).amount_remaining == Money("100.00", "EUR")
    assert reload(second).amount_balance_applied == Money("30.00", "EUR")
    assert reload(second).amount_remaining == Money("70.00", "EUR")
    assert billing_integrity_violations() == []


def test_a_due_date_before_the_issue_date_is_refused(db, staff, today):
    yesterday = today - datetime.timedelta(days=1)
    draft = draft_invoice(due_date=yesterday)

    with refused(f"The due date {yesterday:%Y-%m-%d} is before the issue date {today:%Y-%m-%d}"):
        invoice_issue(invoice=draft, actor=staff)

    assert reload(draft).status == InvoiceStatus.DRAFT
    assert reload(draft).number is None


def test_a_draft_without_lines_is_refused(db, staff):
    draft = draft_invoice(amounts=[])

    with refused("Add at least one line before issuing the invoice"):
        invoice_issue(invoice=draft, actor=staff)


def test_issuing_twice_is_refused(db, staff, today):
    invoice = open_invoice()

    with refused(f"INV-{today.year}-00001 is already issued"):
        invoice_issue(invoice=invoice, actor=staff)


def test_a_failed_issue_does_not_use_up_a_number(db, staff, today):
    invoice_issue(invoice=draft_invoice(), actor=staff)
    empty = draft_invoice(amounts=[])
    with refused("Add at least one line"):
        invoice_issue(invoice=empty, actor=staff)

    invoice = invoice_issue(invoice=draft_invoice(), actor=staff)

    assert reload(invoice).number == f"INV-{today.year}-00002"
    assert billing_integrity_violations() == []


def test_a_member_cannot_issue_invoices(db):
    draft = draft_invoice()
    actor = member_actor(draft.member)

    with refused("Only the space's staff can issue invoices"):
        invoice_issue(invoice=draft, actor=actor)
