"""A charge is one gateway call (create and confirm with the attempt's key, committed before the call); a worker
that dies after that call and before its commit is settled by reconciliation, which sends the same key again within
the gateway's key lifetime and finds the charge by the attempt in its metadata after it: never a second charge
(spec 6)."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import InvoiceStatus
from payments.gateways.stripe import StripeGateway
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, AttemptStatus, PaymentAttempt, PaymentStatus
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxCharge
from payments.services.attempt_execute import _attempt_call_gateway, _attempt_claim, attempt_execute
from payments.services.attempt_reconcile import attempts_reconcile
from payments.services.payment_card import payment_create_card
from tests.factories import open_invoice, reload, saved_card

pytestmark = pytest.mark.django_db


class CallLog:
    """Which gateway methods were called, in order (the gateway itself is the real one)."""

    def __init__(self):
        self.calls: list[str] = []


def logged(gateway_class):
    """The gateway class, noting each charge call in `self.log` before making it."""

    class Logged(gateway_class):
        def __init__(self, *args, log: CallLog, **kwargs):
            super().__init__(*args, **kwargs)
            self.log = log

    for name in ("charge_create", "charge_find", "charge_prepare", "charge_confirm", "charge_retrieve"):

        def method(self, *args, _name=name, **kwargs):
            self.log.calls.append(_name)
            return getattr(gateway_class, _name)(self, *args, **kwargs)

        setattr(Logged, name, method)
    return Logged


LoggedSandbox = logged(SandboxGateway)
LoggedStripe = logged(StripeGateway)


def queued_card_payment(staff, committed, invoice):
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    return payment, PaymentAttempt.objects.get(payment=payment)


def worker_dies_after_the_gateway_charged(attempt: PaymentAttempt, gateway) -> None:
    """The worker claims the attempt and makes its one call; the gateway charges, and the worker dies before
    anything more is written (the answer never reaches the database)."""
    attempt, claimed = _attempt_claim(attempt.pk)
    assert claimed
    _attempt_call_gateway(attempt, gateway)


def test_a_charge_is_one_gateway_call_that_creates_and_confirms(staff, committed, no_worker):
    invoice = open_invoice(amounts=["50.00"])
    saved_card(invoice.member)
    payment, attempt = queued_card_payment(staff, committed, invoice)
    log = CallLog()

    with CaptureQueriesContext(connection) as queries:
        attempt_execute(attempt_id=attempt.pk, gateway=LoggedSandbox(log=log))

    assert log.calls == ["charge_create"]
    charge = SandboxCharge.objects.get()
    assert (charge.status, charge.confirmations, charge.idempotency_key) == (
        SandboxCharge.Status.SUCCEEDED,
        1,
        attempt.idempotency_key,
    )
    assert charge.metadata == {"attempt": str(attempt.uid), "payment": payment.number}
    attempt = reload(attempt)
    assert (attempt.status, attempt.gateway_payment_id) == (AttemptStatus.SUCCEEDED, charge.id)
    assert reload(invoice).status == InvoiceStatus.PAID
    # 53 before the charge was one call and the outcome's re-reads were removed; the sandbox's own rows included.
    assert len(queries) <= 40, "\n".join(query["sql"][:120] for query in queries)
    assert billing_integrity_violations() == []


def test_a_declined_one_call_charge_fails_the_payment_with_the_charges_id(staff, committed, no_worker):
    invoice = open_invoice(amounts=["50.00"])
    saved_card(invoice.member, "4000000000000341")
    payment, attempt = queued_card_payment(staff, committed, invoice)

    attempt_execute(attempt_id=attempt.pk)

    charge = SandboxCharge.objects.get()
    attempt = reload(attempt)
    assert (attempt.status, attempt.decline_code, attempt.gateway_payment_id) == (
        AttemptStatus.FAILED,
        "generic_decline",
        charge.id,
    )
    assert reload(payment).status == PaymentStatus.FAILED


def test_the_same_key_sent_again_to_the_sandbox_answers_the_first_outcome_and_charges_once(db):
    from members.models import Member
    from payments.services.payment_method import payment_method_add
    from tests.factories import SYSTEM

    member = Member.objects.create(name="Twice", email="twice@space.example")
    card = payment_method_add(member=member, card_token="4242424242424242", actor=SYSTEM)
    member = reload(member)
    gateway = SandboxGateway()
    arguments = dict(
        customer_id=member.gateway_customer_id,
        payment_method_id=card.gateway_id,
        amount_minor=1000,
        currency="EUR",
        idempotency_key="attempt-once",
        metadata={"attempt": "once"},
    )

    first = gateway.charge_create(**arguments)
    second = gateway.charge_create(**arguments)

    assert first == second
    assert first.gateway_payment_id
    assert SandboxCharge.objects.get().confirmations == 1
    assert gateway.charge_find(customer_id=member.gateway_customer_id, attempt="once") == first
    assert gateway.charge_find(customer_id=member.gateway_customer_id, attempt="other") is None


@pytest.mark.parametrize(
    ("hours_later", "calls"),
    [
        # Within the key's lifetime the same key is sent again: the gateway answers the first call's outcome.
        (0.2, ["charge_create"]),
        # After it, the charge is found by the attempt in its metadata, and not created again.
        (25, ["charge_find"]),
    ],
)
def test_a_worker_that_died_after_the_one_call_is_settled_by_reconciliation_without_a_second_charge(
    staff, committed, no_worker, time_machine, hours_later, calls
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    invoice = open_invoice(amounts=["50.00"])
    saved_card(invoice.member)
    payment, attempt = queued_card_payment(staff, committed, invoice)

    worker_dies_after_the_gateway_charged(attempt, SandboxGateway(fail_after_charge=True))

    charge = SandboxCharge.objects.get()
    assert (charge.status, charge.confirmations) == (SandboxCharge.Status.SUCCEEDED, 1)
    attempt = reload(attempt)
    assert (attempt.status, attempt.gateway_payment_id) == (AttemptStatus.PROCESSING, "")
    assert reload(payment).status == PaymentStatus.PROCESSING

    log = CallLog()
    time_machine.move_to(start + datetime.timedelta(hours=hours_later), tick=False)
    summary = attempts_reconcile(gateway=LoggedSandbox(log=log))

    assert (summary.checked, summary.settled) == (1, 1)
    assert log.calls == calls
    assert SandboxCharge.objects.count() == 1
    assert SandboxCharge.objects.get().confirmations == 1
    attempt = reload(attempt)
    assert (attempt.status, attempt.gateway_payment_id) == (AttemptStatus.SUCCEEDED, charge.id)
    assert PaymentAttempt.objects.count() == 1
    assert Allocation.objects.get().amount == payment.amount
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_after_the_keys_lifetime_a_charge_the_gateway_never_made_is_made_once(
    staff, committed, no_worker, use_gateway, time_machine
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    invoice = open_invoice(amounts=["50.00"])
    saved_card(invoice.member)
    payment, attempt = queued_card_payment(staff, committed, invoice)
    use_gateway(SandboxGateway(fail_before_charge=True))
    with pytest.raises(Exception, match="unreachable"):
        attempt_execute(attempt_id=attempt.pk)
    assert not SandboxCharge.objects.exists()

    log = CallLog()
    time_machine.move_to(start + datetime.timedelta(hours=30), tick=False)
    summary = attempts_reconcile(gateway=LoggedSandbox(log=log))

    assert (summary.checked, summary.settled) == (1, 1)
    assert log.calls == ["charge_find", "charge_create"]
    charge = SandboxCharge.objects.get()
    assert (charge.confirmations, charge.idempotency_key) == (1, attempt.idempotency_key)
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert billing_integrity_violations() == []


def stripe_queued_payment(localstripe, staff, committed, number="4242424242424242"):
    invoice = open_invoice(amounts=["25.00"])
    saved_card(invoice.member, localstripe.card(number))
    return (invoice, *queued_card_payment(staff, committed, invoice))


def test_stripe_one_call_creates_and_confirms_with_the_attempts_metadata(localstripe, staff, committed, no_worker):
    invoice, payment, attempt = stripe_queued_payment(localstripe, staff, committed)
    log = CallLog()

    attempt_execute(attempt_id=attempt.pk, gateway=LoggedStripe(log=log))

    assert log.calls == ["charge_create"]
    [intent] = localstripe.list("payment_intents")
    assert (intent["status"], intent["metadata"]["attempt"]) == ("succeeded", str(attempt.uid))
    assert reload(attempt).gateway_payment_id == intent["id"]
    assert reload(invoice).status == InvoiceStatus.PAID


def test_stripe_a_declined_one_call_charge_names_its_payment_intent(localstripe, staff, committed, no_worker):
    _invoice, payment, attempt = stripe_queued_payment(localstripe, staff, committed, number="4000000000000341")

    attempt_execute(attempt_id=attempt.pk)

    [intent] = localstripe.list("payment_intents")
    attempt = reload(attempt)
    assert (attempt.status, attempt.decline_code, attempt.gateway_payment_id) == (
        AttemptStatus.FAILED,
        "card_declined",
        intent["id"],
    )
    assert reload(payment).status == PaymentStatus.FAILED


def test_stripe_the_same_key_sent_again_charges_once_and_the_charge_is_found_by_its_attempt(
    localstripe, staff, committed, no_worker
):
    _invoice, payment, attempt = stripe_queued_payment(localstripe, staff, committed)
    gateway = StripeGateway()
    member = reload(payment.member)
    arguments = dict(
        customer_id=member.gateway_customer_id,
        payment_method_id=attempt.payment_method.gateway_id,
        amount_minor=2500,
        currency="EUR",
        idempotency_key=attempt.idempotency_key,
        metadata={"attempt": str(attempt.uid), "payment": payment.number},
    )

    first = gateway.charge_create(**arguments)
    second = gateway.charge_create(**arguments)

    assert first == second
    [intent] = localstripe.list("payment_intents")
    assert first.gateway_payment_id == intent["id"]
    # localstripe has no search and lists without filters: the gateway falls back to listing and filtering.
    assert gateway.charge_find(customer_id=member.gateway_customer_id, attempt=str(attempt.uid)) == first
    assert gateway.charge_find(customer_id=member.gateway_customer_id, attempt="another") is None


@pytest.mark.parametrize(("hours_later", "calls"), [(0.2, ["charge_create"]), (25, ["charge_find"])])
def test_stripe_a_worker_that_died_before_storing_the_answer_is_settled_without_a_second_charge(
    localstripe, staff, committed, no_worker, time_machine, hours_later, calls
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    invoice, payment, attempt = stripe_queued_payment(localstripe, staff, committed)
    attempt, claimed = _attempt_claim(attempt.pk)
    assert claimed
    # The one call, made as the service makes it, whose answer the worker never wrote down.
    StripeGateway().charge_create(
        customer_id=reload(payment.member).gateway_customer_id,
        payment_method_id=attempt.payment_method.gateway_id,
        amount_minor=2500,
        currency="EUR",
        idempotency_key=attempt.idempotency_key,
        metadata={"attempt": str(attempt.uid), "payment": payment.number},
    )
    assert reload(attempt).gateway_payment_id == ""

    log = CallLog()
    time_machine.move_to(start + datetime.timedelta(hours=hours_later), tick=False)
    summary = attempts_reconcile(gateway=LoggedStripe(log=log))

    assert (summary.checked, summary.settled) == (1, 1)
    assert log.calls == calls
    [intent] = localstripe.list("payment_intents")
    attempt = reload(attempt)
    assert (attempt.status, attempt.gateway_payment_id) == (AttemptStatus.SUCCEEDED, intent["id"])
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []
