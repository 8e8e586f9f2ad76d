"""Card payments through the Stripe gateway, against localstripe on 127.0.0.1 (spec 6, 7)."""

import datetime

import pytest
import time_machine
from django.utils import timezone
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus
from payments.gateways.stripe import StripeGateway
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, AttemptStatus, PaymentAttempt, PaymentMethod, PaymentStatus
from payments.services.attempt_execute import _attempt_call_gateway, _attempt_claim, attempt_execute
from payments.services.attempt_reconcile import attempts_reconcile
from payments.services.payment_card import payment_create_card
from payments.services.payment_method import member_gateway_customer_ensure
from payments.tasks import attempt_execute_task
from tests.factories import MemberFactory, open_invoice, refused, reload, saved_card
from tests.payments.card.conftest import CARD_MODELS
from tests.support.localstripe import closed_port_url

pytestmark = pytest.mark.django_db


def stripe_invoice(localstripe, *, amounts=("25.00",), currency="EUR", number="4242424242424242"):
    invoice = open_invoice(amounts=list(amounts), currency=currency)
    card = saved_card(invoice.member, localstripe.card(number))
    return invoice, card


def test_the_member_gets_a_customer_and_a_card_and_an_off_session_charge_succeeds(localstripe, staff, committed):
    member = MemberFactory(name="Ada Lovelace", email="ada@space.example")
    invoice = open_invoice(member=member, amounts=["25.00"])
    token = localstripe.card()

    card = saved_card(member, token, actor=staff)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    member = reload(member)
    assert member.gateway_customer_id.startswith("cus_")
    [customer] = localstripe.list("customers")
    assert (customer["id"], customer["email"], customer["name"]) == (
        member.gateway_customer_id,
        member.email,
        member.name,
    )
    card = reload(card)
    assert (card.gateway, card.gateway_id, card.brand, card.last4) == ("stripe", token, "visa", "4242")
    assert (card.exp_month, card.exp_year) == (12, 2030)
    payment = reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    attempt = PaymentAttempt.objects.get()
    [intent] = localstripe.list("payment_intents")
    assert (intent["amount"], intent["currency"], intent["status"]) == (2500, "eur", "succeeded")
    assert (intent["customer"], intent["payment_method"]) == (member.gateway_customer_id, token)
    assert intent["metadata"] == {"attempt": str(attempt.uid), "payment": payment.number}
    assert (attempt.gateway, attempt.gateway_payment_id) == ("stripe", intent["id"])
    assert attempt.gateway_charge_id == intent["latest_charge"]["id"]
    assert Allocation.objects.get().amount == Money("25.00", "EUR")
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_a_card_declined_at_charge_time(localstripe, staff, committed):
    invoice, _ = stripe_invoice(localstripe, number="4000000000000341")

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    payment = reload(payment)
    assert payment.status == PaymentStatus.FAILED
    assert (payment.failure_code, payment.failure_message) == ("card_declined", "Your card was declined.")
    assert payment.next_retry_at is not None
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.decline_code) == (AttemptStatus.FAILED, "card_declined")
    [intent] = localstripe.list("payment_intents")
    assert (intent["id"], intent["status"]) == (attempt.gateway_payment_id, "requires_payment_method")
    assert not Allocation.objects.exists()
    assert reload(invoice).amount_remaining == Money("25.00", "EUR")
    assert billing_integrity_violations() == []


def test_a_card_that_needs_authentication_off_session_fails_for_good(localstripe, staff, committed, mailoutbox):
    invoice, _ = stripe_invoice(localstripe, number="4000002500003155")

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    payment = reload(payment)
    assert (payment.status, payment.failure_code, payment.next_retry_at) == (
        PaymentStatus.FAILED,
        "authentication_required",
        None,
    )
    [intent] = localstripe.list("payment_intents")
    assert intent["status"] == "requires_action"
    assert [mail.to for mail in mailoutbox] == [[invoice.member.email], [staff.user.email]]


@pytest.mark.parametrize("number", ["4000000000000002", "4000000000009995", "4000000000000069"])
def test_a_card_declined_when_saved_is_not_saved(localstripe, staff, number):
    member = MemberFactory()
    member_gateway_customer_ensure(member=member)
    token = localstripe.card(number)

    with refused(r"^The card was not saved: Your card was declined\.$", extra_models=CARD_MODELS):
        saved_card(member, token, actor=staff)

    assert not PaymentMethod.objects.exists()


def test_a_yen_invoice_is_sent_in_yen_not_in_hundredths(localstripe, staff, committed):
    invoice, _ = stripe_invoice(localstripe, amounts=["1500"], currency="JPY")

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    [intent] = localstripe.list("payment_intents")
    assert (intent["amount"], intent["currency"], intent["status"]) == (1500, "jpy", "succeeded")
    payment = reload(payment)
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, Money("1500", "JPY"))
    assert reload(invoice).status == InvoiceStatus.PAID


def test_running_the_same_attempts_task_twice_charges_once(localstripe, staff, committed, no_worker):
    invoice, _ = stripe_invoice(localstripe)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    attempt = PaymentAttempt.objects.get()

    first = attempt_execute_task.apply(args=[attempt.pk])
    second = attempt_execute_task.apply(args=[attempt.pk])
    attempt_execute(attempt_id=attempt.pk)

    assert (first.get(), second.get()) == ("succeeded", "succeeded")
    assert len(localstripe.list("payment_intents")) == 1
    assert Allocation.objects.filter(payment=payment).count() == 1
    assert PaymentAttempt.objects.get().status == AttemptStatus.SUCCEEDED
    assert Activity.objects.filter(verb="payment.succeeded").count() == 1
    assert reload(invoice).amount_paid == Money("25.00", "EUR")
    assert billing_integrity_violations() == []


def _worker_dies_after_the_gateway_charged(attempt: PaymentAttempt) -> None:
    """What attempt_execute does, minus the recording: the worker died after Stripe said yes."""
    attempt, claimed = _attempt_claim(attempt.pk)
    assert claimed
    _attempt_call_gateway(attempt, StripeGateway())


def test_a_worker_that_died_after_the_charge_is_settled_by_reconciliation_without_a_second_charge(
    localstripe, staff, committed, no_worker
):
    invoice, _ = stripe_invoice(localstripe)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    attempt = PaymentAttempt.objects.get()
    start = timezone.now()

    _worker_dies_after_the_gateway_charged(attempt)

    attempt = reload(attempt)
    [intent] = localstripe.list("payment_intents")
    assert intent["status"] == "succeeded"
    assert (attempt.status, attempt.gateway_payment_id) == (AttemptStatus.PROCESSING, intent["id"])
    assert reload(payment).status == PaymentStatus.PROCESSING

    assert attempts_reconcile().checked == 0  # too recent to ask about
    with time_machine.travel(start + datetime.timedelta(minutes=11), tick=False):
        summary = attempts_reconcile()

    assert (summary.checked, summary.settled, summary.still_unknown, summary.flagged) == (1, 1, 0, [])
    assert len(localstripe.list("payment_intents")) == 1
    attempt = reload(attempt)
    assert (attempt.status, attempt.gateway_charge_id) == (AttemptStatus.SUCCEEDED, intent["latest_charge"]["id"])
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert Allocation.objects.get().amount == Money("25.00", "EUR")
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_a_redelivered_task_leaves_an_attempt_alone_while_its_worker_holds_it_then_settles_it(
    localstripe, staff, committed, no_worker
):
    invoice, _ = stripe_invoice(localstripe)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    attempt = PaymentAttempt.objects.get()
    start = timezone.now()
    _worker_dies_after_the_gateway_charged(attempt)

    assert attempt_execute_task.apply(args=[attempt.pk]).get() == "processing"
    with time_machine.travel(start + datetime.timedelta(minutes=5), tick=False):
        assert attempt_execute_task.apply(args=[attempt.pk]).get() == "succeeded"

    assert len(localstripe.list("payment_intents")) == 1
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert Allocation.objects.count() == 1


def test_an_attempt_the_gateway_never_answers_for_is_flagged_after_24_hours_and_never_retried_with_a_new_key(
    localstripe, staff, committed, no_worker, settings
):
    invoice, _ = stripe_invoice(localstripe)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    attempt = PaymentAttempt.objects.get()
    start = timezone.now()
    settings.STRIPE_API_BASE = closed_port_url()

    with time_machine.travel(start + datetime.timedelta(minutes=15), tick=False):
        soon = attempts_reconcile()
    with time_machine.travel(start + datetime.timedelta(hours=25), tick=False):
        late = attempts_reconcile()
    with time_machine.travel(start + datetime.timedelta(hours=26), tick=False):
        later = attempts_reconcile()

    assert (soon.checked, soon.still_unknown, soon.flagged) == (1, 1, [])
    assert (late.checked, late.still_unknown, late.flagged) == (1, 1, [payment.number])
    assert (later.checked, later.still_unknown, later.flagged) == (1, 1, [])
    attempt = reload(attempt)
    assert (attempt.status, attempt.needs_review) == (AttemptStatus.PROCESSING, True)
    assert PaymentAttempt.objects.count() == 1
    review = Activity.objects.get(verb="payment.needs_review")
    assert (review.target, review.amount, review.actor_kind) == (payment, Money("25.00", "EUR"), "system")
    assert reload(payment).status == PaymentStatus.PROCESSING
    assert localstripe.list("payment_intents") == []

    settings.STRIPE_API_BASE = localstripe.url
    with time_machine.travel(start + datetime.timedelta(hours=27), tick=False):
        back = attempts_reconcile()

    assert (back.checked, back.settled) == (1, 1)
    attempt = reload(attempt)
    assert (attempt.status, attempt.needs_review) == (AttemptStatus.SUCCEEDED, False)
    [intent] = localstripe.list("payment_intents")
    assert (intent["id"], intent["metadata"]["attempt"]) == (attempt.gateway_payment_id, str(attempt.uid))
    assert PaymentAttempt.objects.count() == 1
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert billing_integrity_violations() == []
