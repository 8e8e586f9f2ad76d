"""Refund webhooks at POST /webhooks/stripe/ (charge.refunded, refund.updated, charge.refund.updated), signed as
Stripe signs them, for a refund made at localstripe (spec 6: state only moves forward)."""

import dataclasses

import pytest
import requests

from billing.models import Activity, InvoiceStatus
from billing.money import money_to_minor_units
from coworking_billing.celery import app as celery_app
from payments.gateways.base import RefundOutcome
from payments.gateways.stripe import StripeGateway
from payments.integrity import billing_integrity_violations
from payments.models import PaymentAttempt, Refund, RefundStatus, WebhookEvent
from payments.services.refund import payment_refund, refund_record_outcome
from tests.factories import eur, open_invoice, reload, saved_card
from tests.payments.card.test_webhooks import event, post
from tests.payments.refunds.helpers import card_paid, verbs

pytestmark = pytest.mark.django_db


def stripe_get(localstripe, path: str) -> dict:
    response = requests.get(f"{localstripe.url}/v1/{path}", auth=("sk_test_local", ""), timeout=5)
    response.raise_for_status()
    return response.json()


def _worker_sent_the_refund_and_stripe_answered_pending(refund: Refund) -> None:
    """What refund_execute does when Stripe answers `pending` (as it does for refunds it settles later): the refund
    exists at Stripe, and ours stays pending with its id until a webhook tells the outcome."""
    attempt = PaymentAttempt.objects.get(payment=refund.payment)
    result = StripeGateway().refund_create(
        gateway_payment_id=attempt.gateway_payment_id,
        amount_minor=money_to_minor_units(refund.amount),
        idempotency_key=refund.idempotency_key,
    )
    refund_record_outcome(refund_id=refund.pk, result=dataclasses.replace(result, outcome=RefundOutcome.PENDING))


@pytest.fixture
def pending(localstripe, staff, committed, no_worker):
    """A card payment of 25.00 charged at localstripe, and a refund of 10.00 (reopening the invoice) that Stripe
    has but has not settled yet."""
    invoice = open_invoice(amounts=["25.00"])
    saved_card(invoice.member, localstripe.card())
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)
    with committed():
        refund = payment_refund(
            payment=payment,
            amount=eur("10.00"),
            reason=Refund.Reason.REQUESTED_BY_MEMBER,
            actor=staff,
            invoice_handling=Refund.InvoiceHandling.REOPEN,
        )
    _worker_sent_the_refund_and_stripe_answered_pending(reload(refund))
    refund = reload(refund)
    assert (refund.status, refund.gateway_refund_id[:3]) == (RefundStatus.PENDING, "re_")
    celery_app.conf.task_always_eager = True  # from here on, the tasks the webhooks queue run at once
    return invoice, reload(payment), refund, stripe_get(localstripe, f"refunds/{refund.gateway_refund_id}")


def payment_amounts(payment) -> tuple:
    payment = reload(payment)
    return (
        payment.amount_allocated,
        payment.amount_refunded,
        payment.amount_refund_pending,
        payment.amount_unallocated,
    )


@pytest.mark.parametrize("event_type", ["refund.updated", "charge.refund.updated"])
def test_a_refund_event_settles_the_pending_refund_as_succeeded(client, committed, pending, event_type, mailoutbox):
    invoice, payment, refund, at_stripe = pending
    assert payment_amounts(payment) == (eur("15.00"), eur("0.00"), eur("10.00"), eur("0.00"))

    with committed():
        response = post(client, event("evt_refund_ok", event_type, {**at_stripe, "status": "succeeded"}))

    assert (response.status_code, response.content) == (200, b"stored")
    assert WebhookEvent.objects.get().processed_at is not None
    refund = reload(refund)
    assert (refund.status, refund.failure_message) == (RefundStatus.SUCCEEDED, "")
    assert refund.finished_at is not None
    assert payment_amounts(payment) == (eur("15.00"), eur("10.00"), eur("0.00"), eur("0.00"))
    succeeded = Activity.objects.get(verb="refund.succeeded")
    assert (succeeded.actor_kind, succeeded.actor_label, succeeded.target, succeeded.amount) == (
        "gateway",
        "Stripe webhook",
        payment,
        eur("10.00"),
    )
    [mail] = mailoutbox
    assert mail.subject == f"Refund of €10.00 on payment {payment.number}"
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("10.00"))
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(("status", "reason"), [("failed", "expired_or_canceled_card"), ("canceled", None)])
def test_a_refund_event_that_says_failed_gives_the_money_back_to_the_payment(
    client, committed, pending, status, reason, mailoutbox
):
    invoice, payment, refund, at_stripe = pending

    with committed():
        post(
            client,
            event("evt_refund_failed", "refund.updated", {**at_stripe, "status": status, "failure_reason": reason}),
        )

    refund = reload(refund)
    assert (refund.status, refund.failure_message) == (
        RefundStatus.FAILED,
        reason or "The gateway refused the refund.",
    )
    assert payment_amounts(payment) == (eur("15.00"), eur("0.00"), eur("0.00"), eur("10.00"))
    failed = Activity.objects.get(verb="refund.failed")
    assert (failed.actor_kind, failed.message) == ("gateway", refund.failure_message)
    assert mailoutbox == []
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("10.00"))
    assert billing_integrity_violations() == []


def test_charge_refunded_as_stripe_sends_it_now_settles_the_pending_refund(client, committed, pending, localstripe):
    """Since API version 2022-11-15 a charge does not list its refunds: the refund's state is asked of Stripe."""
    _, payment, refund, at_stripe = pending
    charge = stripe_get(localstripe, f"charges/{at_stripe['charge']}")
    charge.pop("refunds", None)

    with committed():
        response = post(client, event("evt_charge_refunded", "charge.refunded", {**charge, "amount_refunded": 1000}))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().processed_at is not None
    assert reload(refund).status == RefundStatus.SUCCEEDED
    assert payment_amounts(payment) == (eur("15.00"), eur("10.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


def test_charge_refunded_with_its_refunds_listed_settles_the_pending_refund(client, committed, pending, localstripe):
    _, payment, refund, at_stripe = pending
    charge = stripe_get(localstripe, f"charges/{at_stripe['charge']}")
    listed = {"object": "list", "data": [{**at_stripe, "status": "succeeded"}], "has_more": False}

    with committed():
        post(client, event("evt_charge_refunded", "charge.refunded", {**charge, "refunds": listed}))

    assert reload(refund).status == RefundStatus.SUCCEEDED
    assert payment_amounts(payment) == (eur("15.00"), eur("10.00"), eur("0.00"), eur("0.00"))


def test_a_pending_event_leaves_a_pending_refund_pending(client, committed, pending):
    _, payment, refund, at_stripe = pending
    activity_before = Activity.objects.count()

    with committed():
        post(client, event("evt_refund_pending", "refund.updated", {**at_stripe, "status": "pending"}))

    assert WebhookEvent.objects.get().processed_at is not None
    assert reload(refund).status == RefundStatus.PENDING
    assert payment_amounts(payment) == (eur("15.00"), eur("0.00"), eur("10.00"), eur("0.00"))
    assert Activity.objects.count() == activity_before


def test_a_late_pending_event_does_not_undo_a_succeeded_refund(client, committed, pending):
    invoice, payment, refund, at_stripe = pending
    with committed():
        post(client, event("evt_refund_ok", "refund.updated", {**at_stripe, "status": "succeeded"}))
    settled = reload(refund)
    activity_before = Activity.objects.count()

    with committed():
        response = post(client, event("evt_refund_late", "charge.refund.updated", {**at_stripe, "status": "pending"}))

    assert response.status_code == 200
    assert WebhookEvent.objects.get(event_id="evt_refund_late").processed_at is not None
    refund = reload(refund)
    assert (refund.status, refund.failure_message, refund.finished_at) == (
        RefundStatus.SUCCEEDED,
        "",
        settled.finished_at,
    )
    assert payment_amounts(payment) == (eur("15.00"), eur("10.00"), eur("0.00"), eur("0.00"))
    assert Activity.objects.count() == activity_before
    assert verbs(verb__startswith="refund.") == ["refund.requested", "refund.succeeded"]
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    ("late", "reason"),
    [
        pytest.param({"status": "failed", "failure_reason": "lost_or_stolen_card"}, "lost_or_stolen_card", id="failed"),
        pytest.param(
            {"status": "canceled"}, "The gateway reports that this refund failed after it succeeded.", id="canceled"
        ),
    ],
)
def test_a_refund_reported_failed_after_it_succeeded_gives_the_money_back_to_the_payment(
    client, committed, pending, mailoutbox, staff, late, reason
):
    """Spec 6: the one backward move. The money never reached the card: it is the member's credit again."""
    invoice, payment, refund, at_stripe = pending
    with committed():
        post(client, event("evt_refund_ok", "refund.updated", {**at_stripe, "status": "succeeded"}))
    assert payment_amounts(payment) == (eur("15.00"), eur("10.00"), eur("0.00"), eur("0.00"))
    mailoutbox.clear()

    with committed():
        response = post(client, event("evt_refund_late", "charge.refund.updated", {**at_stripe, **late}))

    assert response.status_code == 200
    assert WebhookEvent.objects.get(event_id="evt_refund_late").processed_at is not None
    refund = reload(refund)
    assert (refund.status, refund.failure_message) == (RefundStatus.FAILED, reason)
    assert payment_amounts(payment) == (eur("15.00"), eur("0.00"), eur("0.00"), eur("10.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("10.00"))
    assert verbs(verb__startswith="refund.") == ["refund.requested", "refund.succeeded", "refund.failed_after_success"]
    reversed_ = Activity.objects.get(verb="refund.failed_after_success")
    assert (reversed_.actor_label, reversed_.target, reversed_.amount) == ("Stripe webhook", payment, eur("10.00"))
    assert (reversed_.status_before, reversed_.status_after) == ("succeeded", "failed")
    [mail] = mailoutbox
    assert mail.to == [staff.user.email]
    assert mail.subject == f"Refund failed after it succeeded: {payment.number} ({payment.member.name})"
    assert "€10.00" in mail.body and "unallocated" in mail.body
    assert billing_integrity_violations() == []

    with committed():
        post(client, event("evt_refund_late_again", "refund.updated", {**at_stripe, **late}))

    assert payment_amounts(payment) == (eur("15.00"), eur("0.00"), eur("0.00"), eur("10.00"))
    assert Activity.objects.filter(verb="refund.failed_after_success").count() == 1
    assert len(mailoutbox) == 1


def test_a_late_success_does_not_undo_a_failed_refund(client, committed, pending):
    _, payment, refund, at_stripe = pending
    with committed():
        post(client, event("evt_refund_failed", "refund.updated", {**at_stripe, "status": "failed"}))

    with committed():
        post(client, event("evt_refund_late", "refund.updated", {**at_stripe, "status": "succeeded"}))

    assert reload(refund).status == RefundStatus.FAILED
    assert payment_amounts(payment) == (eur("15.00"), eur("0.00"), eur("0.00"), eur("10.00"))
    assert billing_integrity_violations() == []


def test_the_same_refund_event_twice_is_processed_once(client, committed, pending):
    _, payment, refund, at_stripe = pending
    payload = event("evt_refund_twice", "refund.updated", {**at_stripe, "status": "succeeded"})

    with committed():
        first = post(client, payload)
    with committed() as callbacks:
        second = post(client, payload)

    assert (first.content, second.content) == (b"stored", b"duplicate")
    assert callbacks == []
    assert Activity.objects.filter(verb="refund.succeeded").count() == 1
    assert payment_amounts(payment) == (eur("15.00"), eur("10.00"), eur("0.00"), eur("0.00"))


def test_an_event_about_someone_else_s_refund_changes_nothing(client, committed, pending):
    _, payment, refund, at_stripe = pending
    activity_before = Activity.objects.count()

    with committed():
        post(client, event("evt_other", "refund.updated", {**at_stripe, "id": "re_not_ours", "status": "failed"}))

    assert WebhookEvent.objects.get().processed_at is not None
    assert reload(refund).status == RefundStatus.PENDING
    assert payment_amounts(payment) == (eur("15.00"), eur("0.00"), eur("10.00"), eur("0.00"))
    assert Activity.objects.count() == activity_before


def test_a_refund_event_with_a_bad_signature_is_refused_and_changes_nothing(client, committed, pending):
    _, payment, refund, at_stripe = pending
    payload = event("evt_forged", "refund.updated", {**at_stripe, "status": "failed"})

    with committed():
        response = post(client, payload, "t=1,v1=" + "0" * 64)

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert reload(refund).status == RefundStatus.PENDING


def test_charge_refunded_about_someone_else_s_charge_changes_nothing(client, committed, pending, localstripe):
    _, payment, refund, at_stripe = pending
    charge = stripe_get(localstripe, f"charges/{at_stripe['charge']}")
    charge.pop("refunds", None)
    activity_before = Activity.objects.count()

    with committed():
        post(client, event("evt_other_charge", "charge.refunded", {**charge, "id": "ch_other", "payment_intent": None}))

    assert WebhookEvent.objects.get().processed_at is not None
    assert reload(refund).status == RefundStatus.PENDING
    assert payment_amounts(payment) == (eur("15.00"), eur("0.00"), eur("10.00"), eur("0.00"))
    assert Activity.objects.count() == activity_before
