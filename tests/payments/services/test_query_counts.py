"""The round trips of each money service, pinned (tests/support/queries.py counts them): a service that reads a
locked row again, re-aggregates what it could move by the delta, or writes its rows one by one shows up here."""

from billing.models import Invoice
from payments.models import Allocation, AttemptStatus, OutboxMessage, Payment, PaymentAttempt
from payments.sandbox.gateway import SandboxGateway
from payments.services.attempt_execute import _attempt_claim, attempt_record_outcome
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_card import payment_create_card
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_void import payment_void
from payments.tasks import attempt_execute_task
from tests.factories import (
    MemberFactory,
    eur,
    external_payment,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)
from tests.support.queries import round_trips


def fresh(invoice: Invoice) -> Invoice:
    """The invoice as a page passes it to a service: read by id, nothing related cached."""
    return Invoice.objects.get(pk=invoice.pk)


def test_recording_an_external_payment_that_pays_part_of_an_invoice(db, staff):
    invoice = fresh(open_invoice(amounts=["100.00"]))

    # member lock, invoice lock, the PAY and ALC numbers, payment, then in one statement on PostgreSQL (rows_together)
    # the receipt outbox row, allocation, invoice UPDATE and the activity records
    with round_trips(5):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=eur("40.00"))

    assert Payment.objects.get().amount_allocated == eur("40.00")


def test_recording_an_external_payment_that_pays_the_invoice_off(db, staff):
    invoice = fresh(open_invoice(amounts=["100.00"]))

    # the same, the invoice's UPDATE with its new status at once, and the look for failed card payments whose
    # automatic retries end now that the invoice is paid
    with round_trips(7):
        payment_create_external(invoice=invoice, actor=staff, kind="check", amount=eur("100.00"))


def test_recording_an_external_payment_larger_than_the_invoice(db, staff):
    invoice = fresh(open_invoice(amounts=["100.00"]))

    # the same, the overpayment's activity record joining the others
    with round_trips(7):
        payment_create_external(invoice=invoice, actor=staff, kind="check", amount=eur("130.00"))


def test_recording_a_standalone_payment(db, staff):
    member = MemberFactory()

    # member lock, the PAY number, payment, then the receipt outbox row and the activity record (one statement on
    # PostgreSQL)
    with round_trips(4):
        payment_create_standalone(member=member, actor=staff, amount=eur("50.00"), kind="bank_transfer")


def test_applying_two_payments_to_an_invoice(db, staff):
    invoice = fresh(open_invoice(amounts=["100.00"]))
    first = standalone_payment(member=invoice.member, amount="30.00")
    second = standalone_payment(member=invoice.member, amount="30.00")

    # member, invoice and payments locks, both ALC numbers, both allocations in one INSERT, one UPDATE per payment,
    # invoice UPDATE, the activity records
    with round_trips(9):
        payment_apply(invoice=invoice, applications=[(first, eur("30.00")), (second, eur("20.00"))], actor=staff)


def test_unallocating_an_allocation(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="100.00")
    allocation = Allocation.objects.get()

    # the invoice's member (before any lock), member, invoice, payment and allocation locks, allocation, payment
    # and invoice UPDATEs, the activity records
    with round_trips(9):
        allocation_remove(allocation=allocation, actor=staff)


def test_voiding_a_payment_allocated_to_two_invoices(db, staff):
    member = MemberFactory()
    invoices = [open_invoice(member=member, amounts=["50.00"]) for _index in range(2)]
    payment = standalone_payment(member=member, amount="80.00")
    payment_apply(invoice=invoices[0], applications=[(payment, eur("50.00"))], actor=staff)
    payment_apply(invoice=invoices[1], applications=[(payment, eur("30.00"))], actor=staff)
    payment = Payment.objects.get(pk=payment.pk)

    # member lock, the payment's invoices (allocated, targeted), invoices lock, payment lock, allocations lock,
    # one UPDATE per allocation, payment UPDATE, one UPDATE per invoice, the activity records
    with round_trips(12):
        payment_void(payment=payment, actor=staff, reason="Bounced")


def queued_charge(staff, committed, invoice: Invoice) -> PaymentAttempt:
    """A card payment for the invoice, its attempt queued and the outbox row of its charge committed."""
    saved_card(invoice.member)
    with committed():
        payment_create_card(invoice=invoice, actor=staff)
    return PaymentAttempt.objects.get()


def test_claiming_a_charge(db, staff, committed, no_worker):
    attempt = queued_charge(staff, committed, open_invoice(amounts=["100.00"]))

    # the payment and the attempt locked in one query (their member and card read with them), payment and attempt
    # UPDATEs
    with round_trips(3):
        _attempt, claimed = _attempt_claim(attempt.pk)

    assert claimed


def test_settling_a_charge_that_pays_the_invoice_off(db, staff, committed, no_worker):
    attempt = queued_charge(staff, committed, open_invoice(amounts=["100.00"]))
    attempt, _claimed = _attempt_claim(attempt.pk)
    result = SandboxGateway().charge_create(
        customer_id=attempt.payment.member.gateway_customer_id,
        payment_method_id=attempt.payment_method.gateway_id,
        amount_minor=10000,
        currency="EUR",
        idempotency_key=attempt.idempotency_key,
        metadata={"attempt": str(attempt.uid)},
    )

    # member lock, the targets with their invoices locked (and whether a failed card payment for each has a retry
    # scheduled: none here, so none is looked for when the invoice is paid), the payment and the attempt locked,
    # attempt UPDATE, the ALC number, allocation, invoice UPDATE, the activity records, payment UPDATE, receipt
    # outbox row
    with round_trips(10):
        attempt_record_outcome(
            attempt_id=attempt.pk, result=result, payment_id=attempt.payment_id, member_id=attempt.payment.member_id
        )

    assert reload(attempt).status == AttemptStatus.SUCCEEDED
    assert Payment.objects.get().amount_allocated == eur("100.00")


def test_a_charge_task_from_its_outbox_row(db, staff, committed, no_worker):
    attempt = queued_charge(staff, committed, open_invoice(amounts=["100.00"]))
    outbox = OutboxMessage.objects.get(task="payments.tasks.attempt_execute_task")

    # the outbox row claimed, the claim (3), the sandbox's card and charge (2), the charge's id written ahead, the
    # settle (10), the outbox row done
    with round_trips(18):
        attempt_execute_task.apply(kwargs={"attempt_id": attempt.pk, "outbox_id": outbox.pk})

    assert reload(attempt).status == AttemptStatus.SUCCEEDED
