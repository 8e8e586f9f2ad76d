from billing.models import Activity, InvoiceStatus
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Payment, PaymentStatus
from payments.services.payment_apply import payment_apply
from payments.services.payment_void import payment_void
from tests.factories import (
    MemberFactory,
    card_payment,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    reload,
    standalone_payment,
)


def test_voiding_a_payment_removes_its_allocations_and_reopens_the_invoices(db, staff, today):
    member = MemberFactory()
    paid = open_invoice(member=member, amounts=["100.00"])
    partly_paid = open_invoice(member=member, amounts=["80.00"])
    untouched = open_invoice(member=member, amounts=["10.00"])
    payment = standalone_payment(member=member, amount="160.00")
    payment_apply(invoice=paid, applications=[(payment, eur("100.00"))], actor=staff)
    payment_apply(invoice=partly_paid, applications=[(payment, eur("50.00"))], actor=staff)

    payment_void(payment=payment, actor=staff, reason="  Check bounced  ")

    payment = reload(payment)
    assert payment.status == PaymentStatus.VOID
    assert payment.voided_at is not None
    assert payment.void_reason == "Check bounced"
    assert payment.amount == eur("160.00")
    assert payment.amount_allocated == eur("0.00")
    assert payment.amount_unallocated == eur("0.00")
    assert payment.amount_refunded == eur("0.00")
    assert list(Allocation.objects.values_list("status", "amount", "original_amount")) == [
        ("removed", eur("0.00").amount, eur("100.00").amount),
        ("removed", eur("0.00").amount, eur("50.00").amount),
    ]
    assert all(
        reason == f"{payment.number} voided: Check bounced"
        for reason in Allocation.objects.values_list("removed_reason", flat=True)
    )
    paid = reload(paid)
    assert paid.status == InvoiceStatus.OPEN
    assert paid.amount_paid == eur("0.00")
    assert paid.amount_remaining == eur("100.00")
    partly_paid = reload(partly_paid)
    assert partly_paid.status == InvoiceStatus.OPEN
    assert partly_paid.amount_remaining == eur("80.00")
    assert reload(untouched).amount_remaining == eur("10.00")
    voided = Activity.objects.get(verb="payment.voided")
    assert (voided.target, voided.member, voided.amount) == (payment, member, eur("160.00"))
    assert (voided.status_before, voided.status_after) == ("succeeded", "void")
    assert voided.message == "Check bounced"
    assert sorted(voided.data["invoices_reopened"]) == [paid.number, partly_paid.number]
    assert Activity.objects.filter(verb="payment.unallocated").count() == 2
    assert list(Activity.objects.filter(verb="invoice.reopened").values_list("invoice", flat=True)) == [paid.pk]
    assert billing_integrity_violations() == []


def test_voiding_the_payment_recorded_on_an_invoice_reopens_it(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="120.00")

    payment_void(payment=payment, actor=staff)

    payment = reload(payment)
    assert payment.status == PaymentStatus.VOID
    assert payment.void_reason == "Voided by staff"
    assert payment.amount_unallocated == eur("0.00")
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_remaining == eur("100.00")
    assert Activity.objects.get(verb="payment.voided").data == {"invoices_reopened": [invoice.number]}
    assert billing_integrity_violations() == []


def test_voiding_a_standalone_payment_takes_back_the_member_s_credit(db, staff):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")

    payment_void(payment=payment, actor=staff)

    payment = reload(payment)
    assert payment.status == PaymentStatus.VOID
    assert payment.amount_unallocated == eur("0.00")
    assert Activity.objects.get(verb="payment.voided").data == {"invoices_reopened": []}
    assert billing_integrity_violations() == []


def test_a_card_payment_cannot_be_voided(db, staff, today):
    invoice = open_invoice()
    payment = card_payment(invoice=invoice, amount="50.00", status="succeeded")

    with refused(f"{payment.number} was collected by card: refund it instead of voiding it"):
        payment_void(payment=payment, actor=staff)


def test_a_card_payment_in_flight_cannot_be_voided(db, staff):
    payment = card_payment(invoice=open_invoice(), amount="50.00")

    with refused("was collected by card: refund it instead of voiding it"):
        payment_void(payment=payment, actor=staff)


def test_voiding_twice_is_refused(db, staff, today):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")
    payment_void(payment=payment, actor=staff)

    with refused(f"{payment.number} is already void"):
        payment_void(payment=payment, actor=staff)


def test_a_refunded_payment_cannot_be_voided(db, staff, today):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")
    # What a recorded refund of 25.00 leaves on the payment (the refund service is not part of the foundation).
    Payment.objects.filter(pk=payment.pk).update(amount_refunded=eur("25.00"), amount_unallocated=eur("50.00"))

    with refused(f"{payment.number} has refunds; a refunded payment cannot be voided"):
        payment_void(payment=payment, actor=staff)


def test_a_payment_with_a_refund_in_flight_cannot_be_voided(db, staff):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")
    Payment.objects.filter(pk=payment.pk).update(amount_refund_pending=eur("25.00"), amount_unallocated=eur("50.00"))

    with refused("has refunds; a refunded payment cannot be voided"):
        payment_void(payment=payment, actor=staff)


def test_a_member_cannot_void_a_payment(db):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="75.00")
    actor = member_actor(member)

    with refused("Only the space's staff can void payments"):
        payment_void(payment=payment, actor=actor)
