import pytest
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus, MoneyBalanceEntry
from billing.selectors import member_money_balance
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from payments.integrity import billing_integrity_violations
from tests.factories import (
    MemberFactory,
    draft_invoice,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    reload,
)


def _credit(member, amount: Money, staff):
    money_balance_adjust(member=member, amount=amount, is_credit=True, note="Goodwill", actor=staff)


def test_all_the_balance_that_fits_is_applied(db, staff):
    member = MemberFactory()
    _credit(member, eur("30.00"), staff)
    invoice = open_invoice(member=member, amounts=["100.00"])

    invoice_apply_money_balance(invoice=invoice, actor=staff)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_balance_applied == eur("30.00")
    assert invoice.amount_paid == eur("0.00")
    assert invoice.amount_remaining == eur("70.00")
    assert member_money_balance(member=member, currency="EUR") == eur("0.00")
    entry = MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.APPLIED)
    assert (entry.member, entry.invoice, entry.amount) == (member, invoice, eur("-30.00"))
    assert entry.created_by == staff.user
    activity = Activity.objects.get(verb="balance.applied")
    assert (activity.invoice, activity.target, activity.amount) == (invoice, entry, eur("30.00"))
    assert billing_integrity_violations() == []


def test_no_more_than_what_remains_is_applied(db, staff):
    member = MemberFactory()
    _credit(member, eur("150.00"), staff)
    invoice = open_invoice(member=member, amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")

    invoice_apply_money_balance(invoice=invoice, actor=staff)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_balance_applied == eur("60.00")
    assert invoice.amount_remaining == eur("0.00")
    assert member_money_balance(member=member, currency="EUR") == eur("90.00")
    assert billing_integrity_violations() == []


def test_a_chosen_amount_is_applied(db, staff):
    member = MemberFactory()
    _credit(member, eur("30.00"), staff)
    invoice = open_invoice(member=member, amounts=["100.00"])

    invoice_apply_money_balance(invoice=invoice, actor=staff, amount=eur("20.00"))

    assert reload(invoice).amount_remaining == eur("80.00")
    assert member_money_balance(member=member, currency="EUR") == eur("10.00")
    assert billing_integrity_violations() == []


def test_an_uncollectible_invoice_paid_by_balance_becomes_paid(db, staff):
    member = MemberFactory()
    _credit(member, eur("100.00"), staff)
    invoice = open_invoice(member=member, amounts=["100.00"])
    invoice_mark_uncollectible(invoice=invoice, actor=staff)

    invoice_apply_money_balance(invoice=invoice, actor=staff)

    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_more_than_the_balance_is_refused(db, staff):
    member = MemberFactory(name="Ada")
    _credit(member, eur("30.00"), staff)
    invoice = open_invoice(member=member, amounts=["100.00"])

    with refused(r"€30.01 is more than Ada's money balance \(€30.00\)"):
        invoice_apply_money_balance(invoice=invoice, actor=staff, amount=eur("30.01"))


def test_more_than_remains_is_refused(db, staff, today):
    member = MemberFactory()
    _credit(member, eur("300.00"), staff)
    invoice = open_invoice(member=member, amounts=["100.00"])

    with refused(f"€100.01 is more than what remains on INV-{today.year}-00001 \\(€100.00\\)"):
        invoice_apply_money_balance(invoice=invoice, actor=staff, amount=eur("100.01"))


def test_no_balance_is_refused(db, staff):
    member = MemberFactory(name="Ada")
    invoice = open_invoice(member=member)

    with refused("Ada has no money balance in EUR to apply"):
        invoice_apply_money_balance(invoice=invoice, actor=staff)


def test_a_balance_in_another_currency_is_not_applied(db, staff):
    member = MemberFactory(name="Ada")
    _credit(member, Money("100.00", "USD"), staff)
    invoice = open_invoice(member=member)

    with refused("Ada has no money balance in EUR to apply"):
        invoice_apply_money_balance(invoice=invoice, actor=staff)
    with refused("This amount is in USD, but it must be in EUR"):
        invoice_apply_money_balance(invoice=invoice, actor=staff, amount=Money("10.00", "USD"))


@pytest.mark.parametrize("state", ["draft", "void", "paid"])
def test_an_invoice_that_does_not_accept_payments_is_refused(db, staff, state):
    member = MemberFactory()
    _credit(member, eur("30.00"), staff)
    invoice = draft_invoice(member=member) if state == "draft" else open_invoice(member=member)
    if state == "void":
        invoice_void(invoice=invoice, actor=staff)
    if state == "paid":
        external_payment(invoice=invoice)
    message = {
        "draft": "is a draft: issue it before recording payments",
        "void": "is void and cannot be paid",
        "paid": "is already paid in full",
    }[state]

    with refused(message):
        invoice_apply_money_balance(invoice=invoice, actor=staff)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (eur("0.00"), "greater than zero, not 0.00"),
        (eur("-10.00"), "greater than zero, not -10.00"),
        (eur("10.005"), "EUR amounts have 2 decimals at most"),
        (eur("1234567890123"), "too large"),
        (10, "The amount must be a sum of money"),
    ],
)
def test_bad_amounts_are_refused(db, staff, amount, message):
    member = MemberFactory()
    _credit(member, eur("30.00"), staff)
    invoice = open_invoice(member=member)

    with refused(message):
        invoice_apply_money_balance(invoice=invoice, actor=staff, amount=amount)


def test_a_fraction_of_a_yen_is_refused(db, staff):
    member = MemberFactory(default_currency="JPY")
    _credit(member, Money("1000", "JPY"), staff)
    invoice = open_invoice(member=member, amounts=["1000"], currency="JPY")

    with refused("JPY has no minor unit: enter a whole amount, not 10.5"):
        invoice_apply_money_balance(invoice=invoice, actor=staff, amount=Money("10.5", "JPY"))


def test_a_member_cannot_apply_money_balance(db, staff):
    member = MemberFactory()
    _credit(member, eur("30.00"), staff)
    invoice = open_invoice(member=member)
    actor = member_actor(member)

    with refused("Only the space's staff can apply money balance"):
        invoice_apply_money_balance(invoice=invoice, actor=actor)
