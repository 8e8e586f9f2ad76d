"""Reconciliation of charges whose outcome is unknown, with the sandbox's injected failures (spec 6)."""

import datetime

import pytest
from django.utils import timezone

from billing.models import Activity, InvoiceStatus
from payments.gateways.base import GatewayUnavailable
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, AttemptStatus, PaymentAttempt, PaymentStatus
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxCharge
from payments.services.attempt_execute import attempt_execute
from payments.services.attempt_reconcile import attempts_reconcile
from payments.services.payment_card import payment_create_card
from payments.tasks import attempt_execute_task
from tests.factories import open_invoice, reload, saved_card

pytestmark = pytest.mark.django_db


def minutes(n: float) -> datetime.timedelta:
    return datetime.timedelta(minutes=n)


def test_an_answer_lost_after_the_charge_is_settled_by_sending_its_key_again(
    staff, committed, use_gateway, time_machine
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    invoice = open_invoice(amounts=["50.00"])
    saved_card(invoice.member)
    use_gateway(SandboxGateway(fail_after_charge=True))

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    attempt = PaymentAttempt.objects.get()
    charge = SandboxCharge.objects.get()
    assert (charge.status, charge.confirmations) == (SandboxCharge.Status.SUCCEEDED, 1)
    # One call creates and confirms the charge: with its answer lost, not even the charge's id is known here.
    assert (attempt.status, attempt.gateway_payment_id) == (AttemptStatus.PROCESSING, "")
    assert reload(payment).status == PaymentStatus.PROCESSING
    assert reload(invoice).amount_remaining.amount == 50

    use_gateway(SandboxGateway())
    time_machine.move_to(start + minutes(11), tick=False)
    summary = attempts_reconcile()

    assert (summary.checked, summary.settled) == (1, 1)
    assert SandboxCharge.objects.get().confirmations == 1
    assert (reload(attempt).status, reload(attempt).gateway_payment_id) == (AttemptStatus.SUCCEEDED, charge.id)
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert Allocation.objects.count() == 1
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


@pytest.mark.parametrize("resumed_by", ["the task's retry", "reconciliation"])
def test_a_gateway_unreachable_before_the_charge_leaves_the_attempt_to_be_resumed_with_its_key(
    staff, committed, no_worker, use_gateway, time_machine, resumed_by
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    invoice = open_invoice(amounts=["50.00"])
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    attempt = PaymentAttempt.objects.get()
    use_gateway(SandboxGateway(fail_before_charge=True))

    with pytest.raises(GatewayUnavailable):  # what the worker's task catches to retry later
        attempt_execute(attempt_id=attempt.pk)

    attempt = reload(attempt)
    assert (attempt.status, attempt.gateway_payment_id) == (AttemptStatus.PROCESSING, "")
    assert not SandboxCharge.objects.exists()
    assert reload(payment).status == PaymentStatus.PROCESSING

    use_gateway(SandboxGateway())
    if resumed_by == "reconciliation":
        time_machine.move_to(start + minutes(5), tick=False)
        assert attempts_reconcile().checked == 0
        time_machine.move_to(start + minutes(11), tick=False)
        assert attempts_reconcile().settled == 1
    else:
        assert attempt_execute_task.apply(args=[attempt.pk]).get() == "processing"  # still claimed: left alone
        time_machine.move_to(start + minutes(2), tick=False)  # the task's first retry comes after 120 s
        assert attempt_execute_task.apply(args=[attempt.pk]).get() == "succeeded"

    charge = SandboxCharge.objects.get()
    assert charge.idempotency_key == attempt.idempotency_key
    assert PaymentAttempt.objects.count() == 1
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert billing_integrity_violations() == []


def test_a_queued_charge_whose_message_was_lost_is_charged_by_reconciliation(staff, committed, no_worker, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    invoice = open_invoice(amounts=["50.00"])
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    time_machine.move_to(start + minutes(9), tick=False)
    early = attempts_reconcile()
    time_machine.move_to(start + minutes(10), tick=False)
    due = attempts_reconcile()

    assert (early.checked, due.checked, due.settled) == (0, 1, 1)
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert SandboxCharge.objects.count() == 1


def test_what_stays_unknown_for_24_hours_is_flagged_once_and_settled_later_without_a_new_attempt(
    staff, committed, use_gateway, time_machine
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    invoice = open_invoice(amounts=["50.00"])
    saved_card(invoice.member)
    use_gateway(SandboxGateway(fail_after_charge=True))
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    use_gateway(SandboxGateway(fail_before_charge=True))

    flagged = []
    for hours in (1, 23, 24.5, 30):
        time_machine.move_to(start + datetime.timedelta(hours=hours), tick=False)
        flagged.append(attempts_reconcile().flagged)

    assert flagged == [[], [], [payment.number], []]
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.needs_review) == (AttemptStatus.PROCESSING, True)
    assert Activity.objects.filter(verb="payment.needs_review").count() == 1
    assert SandboxCharge.objects.count() == 1

    use_gateway(SandboxGateway())
    time_machine.move_to(start + datetime.timedelta(hours=31), tick=False)
    attempts_reconcile()

    attempt = reload(attempt)
    assert (attempt.status, attempt.needs_review) == (AttemptStatus.SUCCEEDED, False)
    assert PaymentAttempt.objects.count() == 1
    assert SandboxCharge.objects.get().confirmations == 1
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert billing_integrity_violations() == []
