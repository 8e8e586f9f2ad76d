"""Stripe webhooks at POST /webhooks/stripe/, signed as Stripe signs them, with the charges at localstripe (spec 6)."""

import hashlib
import hmac
import json
import time

import pytest
import requests
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus
from coworking_billing.celery import app as celery_app
from payments.gateways.stripe import StripeGateway
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, AttemptStatus, PaymentAttempt, PaymentStatus, WebhookEvent
from payments.services.attempt_execute import _attempt_call_gateway, _attempt_claim
from payments.services.payment_card import payment_create_card
from tests.factories import open_invoice, reload, saved_card

pytestmark = pytest.mark.django_db

URL = "/webhooks/stripe/"
SECRET = "whsec_test_secret"  # the `localstripe` fixture's STRIPE_WEBHOOK_SECRET


def signature(payload: str, *, secret: str = SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(event_id: str, event_type: str, obj: dict) -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": obj},
        }
    )


def post(client, payload: str, stripe_signature: str | None = ""):
    headers = {} if stripe_signature is None else {"HTTP_STRIPE_SIGNATURE": stripe_signature or signature(payload)}
    return client.post(URL, data=payload, content_type="application/json", **headers)


def payment_intent(localstripe, intent_id: str) -> dict:
    response = requests.get(f"{localstripe.url}/v1/payment_intents/{intent_id}", auth=("sk_test_local", ""), timeout=5)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def processing(localstripe, staff, committed, no_worker):
    """A card payment charged at localstripe whose worker died before recording the answer: the attempt is
    processing here and its PaymentIntent succeeded there."""
    invoice = open_invoice(amounts=["25.00"])
    saved_card(invoice.member, localstripe.card())
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    attempt, _ = _attempt_claim(PaymentAttempt.objects.get().pk)
    _attempt_call_gateway(attempt, StripeGateway())
    attempt = reload(attempt)
    assert attempt.status == AttemptStatus.PROCESSING
    celery_app.conf.task_always_eager = True  # from here on, the tasks the webhooks queue run at once
    return invoice, reload(payment), attempt, payment_intent(localstripe, attempt.gateway_payment_id)


def test_a_signed_payment_intent_succeeded_settles_the_processing_attempt(client, committed, processing):
    invoice, payment, attempt, intent = processing
    payload = event("evt_succeeded_1", "payment_intent.succeeded", intent)

    with committed():
        response = post(client, payload)

    assert (response.status_code, response.content) == (200, b"stored")
    stored = WebhookEvent.objects.get()
    assert (stored.gateway, stored.event_id, stored.type) == ("stripe", "evt_succeeded_1", "payment_intent.succeeded")
    assert stored.processed_at is not None
    assert stored.payload["data"]["object"]["id"] == intent["id"]
    attempt = reload(attempt)
    assert (attempt.status, attempt.gateway_charge_id) == (AttemptStatus.SUCCEEDED, intent["latest_charge"]["id"])
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert Allocation.objects.get().amount == Money("25.00", "EUR")
    assert reload(invoice).status == InvoiceStatus.PAID
    succeeded = Activity.objects.get(verb="payment.succeeded")
    assert (succeeded.actor_kind, succeeded.actor_label) == ("gateway", "Stripe webhook")
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    "make_signature",
    [
        pytest.param(lambda payload: "t=1,v1=" + "0" * 64, id="forged"),
        pytest.param(lambda payload: signature(payload, secret="whsec_someone_else"), id="other-secret"),
        pytest.param(lambda payload: signature(payload, timestamp=int(time.time()) - 3600), id="an-hour-old"),
        pytest.param(lambda payload: signature(payload, timestamp=int(time.time()) + 3600), id="an-hour-ahead"),
        pytest.param(
            lambda payload: signature(payload, timestamp=int(time.time()) + 360), id="beyond-the-tolerance-ahead"
        ),
        pytest.param(lambda payload: "t=abc,v1=" + "0" * 64, id="garbled"),
        pytest.param(lambda payload: signature(payload + " "), id="other-payload"),
        pytest.param(lambda payload: None, id="missing"),
    ],
)
def test_a_bad_or_missing_signature_gets_400_and_nothing_is_stored(client, committed, processing, make_signature):
    _, payment, attempt, intent = processing
    payload = event("evt_forged", "payment_intent.succeeded", intent)

    with committed() as callbacks:
        response = post(client, payload, make_signature(payload))

    assert response.status_code == 400
    assert callbacks == []
    assert not WebhookEvent.objects.exists()
    assert reload(attempt).status == AttemptStatus.PROCESSING
    assert reload(payment).status == PaymentStatus.PROCESSING


def test_without_a_webhook_secret_every_event_is_refused(client, settings, processing):
    _, _, _, intent = processing
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = event("evt_no_secret", "payment_intent.succeeded", intent)

    response = post(client, payload, signature(payload, secret=""))

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_signature_a_little_ahead_of_our_clock_is_accepted(client, committed, processing):
    """Clocks differ: a timestamp within the tolerance (5 minutes) ahead is as good as one as far behind."""
    _, payment, _, intent = processing
    payload = event("evt_ahead", "payment_intent.succeeded", intent)

    with committed():
        response = post(client, payload, signature(payload, timestamp=int(time.time()) + 240))

    assert (response.status_code, response.content) == (200, b"stored")
    assert reload(payment).status == PaymentStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        pytest.param("[]", "The body is a JSON list, not an event object.", id="a-list"),
        pytest.param('"evt_1"', "The body is a JSON str, not an event object.", id="a-string"),
        pytest.param("42", "The body is a JSON int, not an event object.", id="a-number"),
        pytest.param("{", "The body is not JSON.", id="not-json"),
        pytest.param(
            '{"type": "payment_intent.succeeded", "data": {"object": {}}}',
            "The event has no id (a string of 1 to 255 characters).",
            id="no-id",
        ),
        pytest.param(
            '{"id": 12, "type": "payment_intent.succeeded", "data": {"object": {}}}',
            "The event has no id (a string of 1 to 255 characters).",
            id="a-numeric-id",
        ),
        pytest.param(
            '{"id": "evt_1", "data": {"object": {}}}',
            "The event has no type (a string of 1 to 100 characters).",
            id="no-type",
        ),
        pytest.param(
            '{"id": "evt_1", "type": "payment_intent.succeeded", "data": {}}',
            "The event has no data.object.",
            id="no-data-object",
        ),
        pytest.param(
            '{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": "pi_1"}}',
            "The event has no data.object.",
            id="data-object-not-an-object",
        ),
        pytest.param(
            '{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_\\u0000"}}}',
            "The event holds a NUL character.",
            id="a-nul-character",
        ),
        pytest.param(
            '{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"amount": NaN}}}',
            "The body is not JSON.",
            id="nan",
        ),
    ],
)
def test_a_signed_body_that_is_not_an_event_object_gets_400_and_nothing_is_stored(
    client, settings, committed, payload, error
):
    settings.STRIPE_WEBHOOK_SECRET = SECRET

    with committed() as callbacks:
        response = post(client, payload)

    assert (response.status_code, response.content.decode()) == (400, error)
    assert callbacks == []
    assert not WebhookEvent.objects.exists()


def test_a_signed_body_that_is_not_utf8_gets_400(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    payload = b'{"id": "evt_\xff"}'
    timestamp = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()

    response = client.post(
        URL, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=f"t={timestamp},v1={digest}"
    )

    assert (response.status_code, response.content) == (400, b"The body is not UTF-8 text.")
    assert not WebhookEvent.objects.exists()


def test_only_post_is_accepted(client, localstripe):
    assert client.get(URL).status_code == 405


def test_the_same_event_twice_is_stored_and_processed_once(client, committed, processing):
    _, payment, _, intent = processing
    payload = event("evt_twice", "payment_intent.succeeded", intent)

    with committed():
        first = post(client, payload)
    processed_at = WebhookEvent.objects.get().processed_at
    with committed() as callbacks:
        second = post(client, payload)

    assert (first.status_code, first.content) == (200, b"stored")
    assert (second.status_code, second.content) == (200, b"duplicate")
    assert callbacks == []  # nothing queued for the duplicate
    assert WebhookEvent.objects.get().processed_at == processed_at
    assert Activity.objects.filter(verb="payment.succeeded").count() == 1
    assert Allocation.objects.filter(payment=payment).count() == 1


def test_a_late_payment_failed_does_not_undo_a_success(client, committed, processing):
    invoice, payment, attempt, intent = processing
    failed_intent = {
        **intent,
        "status": "requires_payment_method",
        "latest_charge": None,
        "last_payment_error": {"code": "card_declined", "decline_code": "generic_decline", "message": "Declined."},
    }

    with committed():
        post(client, event("evt_ok", "payment_intent.succeeded", intent))
    with committed():
        late = post(client, event("evt_late_failure", "payment_intent.payment_failed", failed_intent))

    assert late.status_code == 200
    assert WebhookEvent.objects.get(event_id="evt_late_failure").processed_at is not None
    assert reload(attempt).status == AttemptStatus.SUCCEEDED
    payment = reload(payment)
    assert (payment.status, payment.failure_code) == (PaymentStatus.SUCCEEDED, "")
    assert Allocation.objects.get().amount == Money("25.00", "EUR")
    assert reload(invoice).status == InvoiceStatus.PAID
    assert not Activity.objects.filter(verb="payment.failed").exists()
    assert billing_integrity_violations() == []


def test_payment_failed_settles_a_processing_attempt_as_failed(client, committed, processing):
    invoice, payment, attempt, intent = processing
    failed_intent = {
        **intent,
        "status": "requires_payment_method",
        "latest_charge": None,
        "last_payment_error": {
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        },
    }

    with committed():
        post(client, event("evt_failed", "payment_intent.payment_failed", failed_intent))

    payment = reload(payment)
    assert (payment.status, payment.failure_code, payment.failure_message) == (
        PaymentStatus.FAILED,
        "insufficient_funds",
        "Your card has insufficient funds.",
    )
    assert payment.next_retry_at is not None
    assert reload(attempt).status == AttemptStatus.FAILED
    assert reload(invoice).amount_remaining == Money("25.00", "EUR")


def test_an_event_about_someone_elses_payment_intent_changes_nothing(client, committed, processing):
    _, payment, attempt, intent = processing

    with committed():
        response = post(client, event("evt_other", "payment_intent.succeeded", {**intent, "id": "pi_not_ours"}))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().processed_at is not None
    assert reload(attempt).status == AttemptStatus.PROCESSING
    assert reload(payment).status == PaymentStatus.PROCESSING


def test_an_unhandled_event_type_is_stored_and_ignored(client, committed, localstripe):
    with committed():
        response = post(client, event("evt_customer", "customer.created", {"id": "cus_1", "object": "customer"}))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().processed_at is not None
    assert not Activity.objects.exists()


def test_a_dispute_flags_the_payment_records_it_and_mails_the_administrators(
    client, committed, localstripe, staff, mailoutbox
):
    invoice = open_invoice(amounts=["25.00"])
    saved_card(invoice.member, localstripe.card())
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    attempt = PaymentAttempt.objects.get()
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 2500,
        "currency": "eur",
        "charge": attempt.gateway_charge_id,
        "payment_intent": attempt.gateway_payment_id,
        "reason": "fraudulent",
        "status": "needs_response",
    }

    with committed():
        response = post(client, event("evt_dispute_1", "charge.dispute.created", dispute))
    with committed():
        post(client, event("evt_dispute_2", "charge.dispute.created", dispute))

    assert response.status_code == 200
    payment = reload(payment)
    assert (payment.disputed, payment.status) == (True, PaymentStatus.SUCCEEDED)
    disputed = Activity.objects.get(verb="payment.disputed")
    assert (disputed.target, disputed.invoice, disputed.actor_kind) == (payment, invoice, "gateway")
    assert disputed.data == {"dispute": "dp_1", "reason": "fraudulent", "amount_minor": 2500}
    [mail] = [mail for mail in mailoutbox if mail.subject.startswith("Dispute")]
    assert mail.to == [staff.user.email]
    assert payment.number in mail.subject + mail.body
    assert reload(invoice).status == InvoiceStatus.PAID


def test_a_dispute_found_by_its_charge_id_alone(client, committed, localstripe, staff, mailoutbox):
    invoice = open_invoice(amounts=["25.00"])
    saved_card(invoice.member, localstripe.card())
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    charge_id = PaymentAttempt.objects.get().gateway_charge_id

    with committed():
        post(client, event("evt_dispute", "charge.dispute.created", {"id": "dp_2", "charge": charge_id}))

    assert reload(payment).disputed is True
    assert len([mail for mail in mailoutbox if mail.subject.startswith("Dispute")]) == 1
