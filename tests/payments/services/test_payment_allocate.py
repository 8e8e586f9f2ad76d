"""Allocating a member's unallocated money to several open invoices at once (issue 14, item 5): the split oldest
first, the plan over several payments, and the service's refusals, each leaving the books unchanged."""

import datetime

import pytest
from djmoney.money import Money

from billing.models import Activity, Invoice, InvoiceStatus
from billing.services.invoice_void import invoice_void
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Payment
from payments.services.payment_allocate import allocation_plan, allocation_split, payments_allocate
from tests.factories import (
    SYSTEM,
    MemberFactory,
    eur,
    member_actor,
    open_invoice,
    refused,
    reload,
    standalone_payment,
)

pytestmark = pytest.mark.django_db


def issued_days_ago(invoice: Invoice, days: int, today) -> Invoice:
    Invoice.objects.filter(pk=invoice.pk).update(issue_date=today - datetime.timedelta(days=days))
    return reload(invoice)


def received_days_ago(payment: Payment, days: int, today) -> Payment:
    Payment.objects.filter(pk=payment.pk).update(received_on=today - datetime.timedelta(days=days))
    return reload(payment)


@pytest.fixture
def books(today):
    """A member with 100.00 unallocated on one payment and three open invoices: 30.00 (oldest), 50.00, 40.00."""
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    newest = issued_days_ago(open_invoice(member=member, amounts=["40.00"]), 5, today)
    oldest = issued_days_ago(open_invoice(member=member, amounts=["30.00"]), 40, today)
    middle = issued_days_ago(open_invoice(member=member, amounts=["50.00"]), 20, today)
    return member, payment, [oldest, middle, newest]


def test_the_split_fills_the_oldest_invoices_first(books):
    _member, payment, (oldest, middle, newest) = books

    split = allocation_split(available=payment.amount_unallocated, invoices=[newest, middle, oldest])

    assert split == [(oldest, eur("30.00")), (middle, eur("50.00")), (newest, eur("20.00"))]


def test_the_split_of_more_than_is_owed_leaves_the_rest_and_of_nothing_gives_zeros(books):
    _member, _payment, (oldest, middle, newest) = books

    assert allocation_split(available=eur("500.00"), invoices=[oldest, middle, newest]) == [
        (oldest, eur("30.00")),
        (middle, eur("50.00")),
        (newest, eur("40.00")),
    ]
    assert allocation_split(available=eur("0.00"), invoices=[oldest]) == [(oldest, eur("0.00"))]


def test_allocating_the_proposed_split_pays_the_oldest_and_part_of_the_newest(books, staff):
    member, payment, (oldest, middle, newest) = books
    split = allocation_split(available=payment.amount_unallocated, invoices=[oldest, middle, newest])

    allocations = payments_allocate(member=member, payments=[payment], amounts=split, actor=staff)

    assert [(a.invoice, a.payment, a.amount) for a in allocations] == [
        (oldest, payment, eur("30.00")),
        (middle, payment, eur("50.00")),
        (newest, payment, eur("20.00")),
    ]
    assert len({allocation.number for allocation in allocations}) == 3
    assert [reload(invoice).status for invoice in (oldest, middle, newest)] == [
        InvoiceStatus.PAID,
        InvoiceStatus.PAID,
        InvoiceStatus.OPEN,
    ]
    assert reload(newest).amount_remaining == eur("20.00")
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("100.00"), eur("0.00"))
    activities = Activity.objects.filter(verb="payment.allocated").order_by("pk")
    assert [(activity.invoice, activity.amount) for activity in activities] == [
        (oldest, eur("30.00")),
        (middle, eur("50.00")),
        (newest, eur("20.00")),
    ]
    assert all(activity.actor_user == staff.user for activity in activities)
    assert billing_integrity_violations() == []


def test_excluded_invoices_and_chosen_amounts_are_what_is_allocated(books, staff):
    member, payment, (oldest, middle, newest) = books

    payments_allocate(
        member=member, payments=[payment], amounts=[(newest, eur("40.00")), (oldest, eur("12.50"))], actor=staff
    )

    assert reload(oldest).amount_remaining == eur("17.50")
    assert reload(middle).amount_remaining == eur("50.00")
    assert reload(newest).status == InvoiceStatus.PAID
    assert reload(payment).amount_unallocated == eur("47.50")
    assert not Allocation.objects.filter(invoice=middle).exists()


def test_from_several_payments_the_oldest_payment_is_used_first(staff, today):
    member = MemberFactory()
    newer = received_days_ago(standalone_payment(member=member, amount="50.00"), 2, today)
    older = received_days_ago(standalone_payment(member=member, amount="30.00"), 10, today)
    first = issued_days_ago(open_invoice(member=member, amounts=["20.00"]), 30, today)
    second = issued_days_ago(open_invoice(member=member, amounts=["45.00"]), 15, today)

    allocations = payments_allocate(
        member=member, payments=[newer, older], amounts=[(second, eur("45.00")), (first, eur("20.00"))], actor=staff
    )

    assert [(a.invoice, a.payment, a.amount) for a in allocations] == [
        (first, older, eur("20.00")),
        (second, older, eur("10.00")),
        (second, newer, eur("35.00")),
    ]
    assert reload(older).amount_unallocated == eur("0.00")
    assert reload(newer).amount_unallocated == eur("15.00")
    assert billing_integrity_violations() == []


def test_the_plan_takes_each_invoice_from_the_payments_oldest_first(today):
    member = MemberFactory()
    newer = received_days_ago(standalone_payment(member=member, amount="50.00"), 2, today)
    older = received_days_ago(standalone_payment(member=member, amount="30.00"), 10, today)
    invoice = open_invoice(member=member, amounts=["70.00"])

    steps = allocation_plan(payments=[newer, older], amounts=[(reload(invoice), eur("70.00"))])

    assert [(step.payment, step.amount) for step in steps] == [(older, eur("30.00")), (newer, eur("40.00"))]


def test_more_than_the_payments_unallocated_money_is_refused(books, staff):
    member, payment, (oldest, middle, newest) = books

    with refused(rf"€120\.00 is more than the unallocated money of {payment.number} \(€100\.00\)\."):
        payments_allocate(
            member=member,
            payments=[payment],
            amounts=[(oldest, eur("30.00")), (middle, eur("50.00")), (newest, eur("40.00"))],
            actor=staff,
        )


def test_more_than_an_invoices_remaining_is_refused(books, staff):
    member, payment, (oldest, _middle, _newest) = books

    with refused(rf"€30\.01 is more than what remains on {oldest.number} \(€30\.00\)\."):
        payments_allocate(member=member, payments=[payment], amounts=[(oldest, eur("30.01"))], actor=staff)


def test_more_than_several_payments_hold_is_refused_naming_the_members_money(staff):
    member = MemberFactory()
    payments = [standalone_payment(member=member, amount="10.00"), standalone_payment(member=member, amount="5.00")]
    invoice = open_invoice(member=member, amounts=["100.00"])

    with refused(r"€15\.01 is more than the unallocated money of the member's payments in EUR \(€15\.00\)\."):
        payments_allocate(member=member, payments=payments, amounts=[(invoice, eur("15.01"))], actor=staff)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (eur("0.00"), "The amount must be greater than zero, not 0.00."),
        (eur("-5.00"), "The amount must be greater than zero"),
        (Money("5.00", "USD"), "This amount is in USD, but it must be in EUR."),
        (eur("1.001"), "EUR amounts have 2 decimals at most"),
    ],
)
def test_bad_amounts_are_refused(books, staff, amount, message):
    member, payment, (oldest, _middle, _newest) = books

    with refused(message):
        payments_allocate(member=member, payments=[payment], amounts=[(oldest, amount)], actor=staff)


def test_nothing_chosen_another_members_invoice_a_void_invoice_and_members_are_refused(books, staff):
    member, payment, (oldest, _middle, _newest) = books
    other = open_invoice(amounts=["10.00"])
    void = open_invoice(member=member, amounts=["10.00"])
    invoice_void(invoice=void, actor=SYSTEM)

    with refused("Choose at least one invoice"):
        payments_allocate(member=member, payments=[payment], amounts=[], actor=staff)
    with refused("belongs to another member"):
        payments_allocate(member=member, payments=[payment], amounts=[(other, eur("10.00"))], actor=staff)
    with refused("void"):
        payments_allocate(member=member, payments=[payment], amounts=[(reload(void), eur("10.00"))], actor=staff)
    with refused("Each invoice can appear only once"):
        payments_allocate(
            member=member, payments=[payment], amounts=[(oldest, eur("1.00")), (oldest, eur("1.00"))], actor=staff
        )
    with refused("no unallocated payment"):
        payments_allocate(member=member, payments=[], amounts=[(oldest, eur("1.00"))], actor=staff)
    with refused("apply payments"):
        payments_allocate(member=member, payments=[payment], amounts=[(oldest, eur("1.00"))], actor=member_actor())


def test_another_members_payment_is_refused(books, staff):
    member, _payment, (oldest, _middle, _newest) = books
    stranger = standalone_payment(member=MemberFactory(), amount="50.00")

    with refused("belongs to another member"):
        payments_allocate(member=member, payments=[stranger], amounts=[(oldest, eur("10.00"))], actor=staff)
