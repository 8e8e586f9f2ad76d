import pytest
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from payments.integrity import billing_integrity_violations
from payments.models import Allocation
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_void import payment_void
from tests.factories import (
    MemberFactory,
    card_payment,
    draft_invoice,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    reload,
    standalone_payment,
)


def test_applying_part_of_a_payment_allocates_it(db, staff, today):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member, amounts=["150.00"])

    [allocation] = payment_apply(invoice=invoice, applications=[(payment, eur("60.00"))], actor=staff)

    allocation = reload(allocation)
    assert allocation.number.startswith(f"ALC-{today.year}-")
    assert (allocation.payment, allocation.invoice) == (payment, invoice)
    assert allocation.amount == allocation.original_amount == eur("60.00")
    assert allocation.status == Allocation.Status.ACTIVE
    assert allocation.created_by == staff.user
    payment = reload(payment)
    assert payment.amount_allocated == eur("60.00")
    assert payment.amount_unallocated == eur("40.00")
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_paid == eur("60.00")
    assert invoice.amount_remaining == eur("90.00")
    activity = Activity.objects.get(verb="payment.allocated")
    assert (activity.invoice, activity.target, activity.amount) == (invoice, payment, eur("60.00"))
    assert activity.data == {"allocation": allocation.number, "payment": payment.number}
    assert billing_integrity_violations() == []


def test_several_payments_each_get_their_own_allocation(db, staff, today):
    member = MemberFactory()
    first = standalone_payment(member=member, amount="30.00")
    second = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member, amounts=["100.00"])

    allocations = payment_apply(
        invoice=invoice, applications=[(second, eur("70.00")), (first, eur("30.00"))], actor=staff
    )

    assert [(a.payment, a.amount) for a in allocations] == [(second, eur("70.00")), (first, eur("30.00"))]
    assert allocations[0].number < allocations[1].number
    assert reload(first).amount_unallocated == eur("0.00")
    assert reload(second).amount_unallocated == eur("30.00")
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_paid == eur("100.00")
    assert invoice.amount_remaining == eur("0.00")
    assert Activity.objects.filter(verb="invoice.paid", invoice=invoice).count() == 1
    assert billing_integrity_violations() == []


def test_one_payment_can_pay_several_invoices(db, staff):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    first = open_invoice(member=member, amounts=["60.00"])
    second = open_invoice(member=member, amounts=["60.00"])

    payment_apply(invoice=first, applications=[(payment, eur("60.00"))], actor=staff)
    payment_apply(invoice=second, applications=[(payment, eur("40.00"))], actor=staff)

    assert reload(first).status == InvoiceStatus.PAID
    assert reload(second).amount_remaining == eur("20.00")
    assert reload(payment).amount_allocated == eur("100.00")
    assert reload(payment).amount_unallocated == eur("0.00")
    assert billing_integrity_violations() == []


def test_an_overpayment_s_excess_can_be_applied_to_another_invoice(db, staff):
    member = MemberFactory()
    first = open_invoice(member=member, amounts=["60.00"])
    second = open_invoice(member=member, amounts=["100.00"])
    payment = external_payment(invoice=first, amount="100.00")

    payment_apply(invoice=second, applications=[(payment, eur("40.00"))], actor=staff)

    assert reload(payment).amount_unallocated == eur("0.00")
    assert reload(second).amount_remaining == eur("60.00")
    assert billing_integrity_violations() == []


def test_applying_to_an_uncollectible_invoice_in_full_makes_it_paid(db, staff):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    invoice_mark_uncollectible(invoice=invoice, actor=staff)

    payment_apply(invoice=invoice, applications=[(payment, eur("100.00"))], actor=staff)

    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_an_empty_list_is_refused(db, staff):
    invoice = open_invoice()

    with refused("Enter an amount for at least one payment"):
        payment_apply(invoice=invoice, applications=[], actor=staff)


def test_the_same_payment_twice_is_refused(db, staff):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member)

    with refused("Each payment can appear only once"):
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00")), (payment, eur("10.00"))], actor=staff)


def test_more_than_a_payment_s_unallocated_money_is_refused(db, staff, today):
    member = MemberFactory()
    enough = standalone_payment(member=member, amount="100.00")
    short = standalone_payment(member=member, amount="30.00")
    invoice = open_invoice(member=member, amounts=["100.00"])

    with refused(f"€30.01 is more than the unallocated money of {short.number} \\(€30.00\\)") as excinfo:
        payment_apply(invoice=invoice, applications=[(enough, eur("50.00")), (short, eur("30.01"))], actor=staff)

    assert "more than the unallocated money" in excinfo.value.message


def test_a_fully_allocated_payment_cannot_be_applied(db, staff, today):
    member = MemberFactory()
    payment = external_payment(invoice=open_invoice(member=member, amounts=["100.00"]))
    invoice = open_invoice(member=member, amounts=["100.00"])

    with refused(f"€1.00 is more than the unallocated money of {payment.number} \\(€0.00\\)"):
        payment_apply(invoice=invoice, applications=[(payment, eur("1.00"))], actor=staff)


def test_more_than_remains_on_the_invoice_is_refused(db, staff, today):
    member = MemberFactory()
    first = standalone_payment(member=member, amount="100.00")
    second = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member, amounts=["100.00"])

    with refused(f"€100.01 is more than what remains on INV-{today.year}-00001 \\(€100.00\\)"):
        payment_apply(invoice=invoice, applications=[(first, eur("60.00")), (second, eur("40.01"))], actor=staff)


def test_another_member_s_payment_is_refused(db, staff, today):
    invoice = open_invoice(member=MemberFactory())
    payment = standalone_payment(member=MemberFactory(), amount="100.00")

    with refused(f"{payment.number} belongs to another member than INV-{today.year}-00001"):
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00"))], actor=staff)


def test_a_payment_in_another_currency_is_refused(db, staff, today):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00", currency="USD")
    invoice = open_invoice(member=member)

    with refused(f"{payment.number} is in USD; INV-{today.year}-00001 is in EUR"):
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00"))], actor=staff)
    with refused("This amount is in USD, but it must be in EUR"):
        payment_apply(invoice=invoice, applications=[(payment, Money("10.00", "USD"))], actor=staff)


def test_a_void_payment_is_refused(db, staff, today):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    payment_void(payment=payment, actor=staff)
    invoice = open_invoice(member=member)

    with refused(f"{payment.number} is void; only received money can be applied"):
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00"))], actor=staff)


def test_a_card_payment_still_at_the_gateway_is_refused(db, staff, today):
    invoice = open_invoice()
    payment = card_payment(invoice=invoice, amount="50.00")

    with refused(f"{payment.number} is processing; only received money can be applied"):
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00"))], actor=staff)


@pytest.mark.parametrize("state", ["draft", "void", "paid"])
def test_an_invoice_that_does_not_accept_payments_is_refused(db, staff, state):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
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
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00"))], actor=staff)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (eur("0.00"), "greater than zero, not 0.00"),
        (eur("-10.00"), "greater than zero, not -10.00"),
        (eur("10.005"), "EUR amounts have 2 decimals at most"),
        (eur("1234567890123"), "too large"),
        ("10.00", "The amount must be a sum of money"),
    ],
)
def test_bad_amounts_are_refused(db, staff, amount, message):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member)

    with refused(message):
        payment_apply(invoice=invoice, applications=[(payment, amount)], actor=staff)


def test_a_fraction_of_a_yen_is_refused(db, staff):
    member = MemberFactory(default_currency="JPY")
    payment = standalone_payment(member=member, amount="1000", currency="JPY")
    invoice = open_invoice(member=member, amounts=["1000"], currency="JPY")

    with refused("JPY has no minor unit: enter a whole amount, not 10.5"):
        payment_apply(invoice=invoice, applications=[(payment, Money("10.5", "JPY"))], actor=staff)


def test_a_member_cannot_apply_payments(db):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member)
    actor = member_actor(member)

    with refused("Only the space's staff can apply payments"):
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00"))], actor=actor)


def test_unallocating_reopens_a_paid_invoice_and_frees_the_money(db, staff):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="150.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    [allocation] = payment_apply(invoice=invoice, applications=[(payment, eur("100.00"))], actor=staff)
    assert reload(invoice).status == InvoiceStatus.PAID

    allocation_remove(allocation=allocation, actor=staff)

    allocation = reload(allocation)
    assert allocation.status == Allocation.Status.REMOVED
    assert allocation.amount == eur("0.00")
    assert allocation.original_amount == eur("100.00")
    assert allocation.removed_at is not None
    assert allocation.removed_reason == "Unallocated by staff"
    payment = reload(payment)
    assert payment.amount_allocated == eur("0.00")
    assert payment.amount_unallocated == eur("150.00")
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.paid_at is None
    assert invoice.amount_paid == eur("0.00")
    assert invoice.amount_remaining == eur("100.00")
    unallocated = Activity.objects.get(verb="payment.unallocated")
    assert (unallocated.invoice, unallocated.target, unallocated.amount) == (invoice, payment, eur("100.00"))
    reopened = Activity.objects.get(verb="invoice.reopened")
    assert (reopened.status_before, reopened.status_after, reopened.amount) == ("paid", "open", eur("100.00"))
    assert billing_integrity_violations() == []


def test_unallocating_one_of_two_allocations_keeps_the_other(db, staff):
    member = MemberFactory()
    first = standalone_payment(member=member, amount="40.00")
    second = standalone_payment(member=member, amount="60.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    allocations = payment_apply(
        invoice=invoice, applications=[(first, eur("40.00")), (second, eur("60.00"))], actor=staff
    )

    allocation_remove(allocation=allocations[1], actor=staff)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_paid == eur("40.00")
    assert invoice.amount_remaining == eur("60.00")
    assert reload(first).amount_unallocated == eur("0.00")
    assert reload(second).amount_unallocated == eur("60.00")
    assert billing_integrity_violations() == []


def test_unallocated_money_can_be_applied_again_with_a_new_number(db, staff, today):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    [first] = payment_apply(invoice=invoice, applications=[(payment, eur("100.00"))], actor=staff)
    allocation_remove(allocation=first, actor=staff)

    [second] = payment_apply(invoice=invoice, applications=[(payment, eur("100.00"))], actor=staff)

    assert second.number > first.number
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_unallocating_twice_is_refused(db, staff, today):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    [allocation] = payment_apply(invoice=invoice, applications=[(payment, eur("100.00"))], actor=staff)
    allocation_remove(allocation=allocation, actor=staff)

    with refused(f"Allocation {allocation.number} was already removed"):
        allocation_remove(allocation=allocation, actor=staff)


def test_a_member_cannot_unallocate(db):
    invoice = open_invoice()
    payment = external_payment(invoice=invoice)
    actor = member_actor(invoice.member)

    with refused("Only the space's staff can unallocate payments"):
        allocation_remove(allocation=payment.allocations.get(), actor=actor)
