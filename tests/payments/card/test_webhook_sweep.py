"""Stored webhook events that were not processed are processed by the periodic sweep, once (spec 6): the broker was
down when they were stored, Stripe sent them again, their processing failed; those that failed for good are listed
in the admin with their error and can be reprocessed."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from billing.models import Activity, InvoiceStatus
from payments.integrity import billing_integrity_violations
from payments.models import AttemptStatus, OutboxMessage, PaymentStatus, RefundStatus, WebhookEvent
from payments.outbox import outbox_relay
from payments.services.webhook import webhook_events_sweep
from tests.factories import UserFactory, reload
from tests.payments.card import test_webhooks
from tests.payments.card.test_webhooks import event, post
from tests.payments.refunds import test_refund_webhooks
from tests.payments.refunds.test_refund_webhooks import stripe_get
from tests.support.localstripe import closed_port_url

pytestmark = pytest.mark.django_db

# The fixtures of those modules: a charge processing at localstripe, a refund pending there.
processing = test_webhooks.processing
pending = test_refund_webhooks.pending

CHANGELIST = reverse("admin:payments_webhookevent_changelist")


def later(**delta) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(**delta)


def test_an_event_stored_while_the_broker_was_down_is_processed_by_the_sweep_once(
    client,
    committed,
    processing,
    broker_down,
):
    invoice, payment, attempt, intent = processing
    payload = event("evt_while_down", "payment_intent.succeeded", intent)

    with committed():
        first = post(client, payload)
    with committed():
        again = post(client, payload)  # Stripe's retry: we have it, it is not processed yet

    assert (first.status_code, first.content, again.status_code, again.content) == (
        200,
        b"stored",
        200,
        b"duplicate",
    )
    stored = WebhookEvent.objects.get()
    assert (stored.processed_at, stored.attempts) == (None, 0)
    # The view hands nothing to the broker (it is down) and queues no task: the stored event is the work to do.
    assert not OutboxMessage.objects.filter(task="payments.tasks.webhook_event_process_task").exists()
    assert reload(attempt).status == AttemptStatus.PROCESSING
    assert webhook_events_sweep(now=later(seconds=30)).due == 0  # the relay's, until the sweep's delay is over

    broker_down()
    with committed():
        summary = webhook_events_sweep(now=later(minutes=2))

    assert (summary.due, summary.processed, summary.failed) == (1, 1, 0)
    stored = reload(stored)
    assert (stored.processed_at is not None, stored.attempts, stored.processing_error) == (True, 1, "")
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    # The work queued before (the charge's task), handed over at last, processes nothing of it again.
    with committed():
        outbox_relay(now=later(hours=2))
    assert not OutboxMessage.objects.filter(done_at=None).exists()
    assert reload(stored).attempts == 1
    assert Activity.objects.filter(verb="payment.succeeded").count() == 1
    assert webhook_events_sweep(now=later(hours=3)).due == 0
    assert billing_integrity_violations() == []


def test_stripes_retry_of_an_event_not_processed_yet_processes_it(client, committed, processing, broker_down):
    _, payment, _, intent = processing
    payload = event("evt_retried", "payment_intent.succeeded", intent)
    with committed():
        post(client, payload)
    assert WebhookEvent.objects.get().processed_at is None

    broker_down()
    with committed():
        again = post(client, payload)

    assert (again.status_code, again.content) == (200, b"duplicate")
    assert WebhookEvent.objects.get().processed_at is not None
    assert reload(payment).status == PaymentStatus.SUCCEEDED


@pytest.fixture
def failing(client, committed, pending, localstripe, settings):
    """A `charge.refunded` event whose processing asks Stripe about the pending refund, while Stripe cannot be
    reached: each try fails."""
    invoice, payment, refund, at_stripe = pending
    charge = stripe_get(localstripe, f"charges/{at_stripe['charge']}")
    charge.pop("refunds", None)
    settings.STRIPE_API_BASE = closed_port_url()
    with committed():
        response = post(client, event("evt_failing", "charge.refunded", {**charge, "amount_refunded": 1000}))
    assert response.status_code == 200
    return payment, refund, WebhookEvent.objects.get(event_id="evt_failing")


def test_an_event_whose_processing_fails_is_tried_a_bounded_number_of_times_then_fails_for_good(
    failing, settings, committed
):
    payment, refund, stored = failing
    stored = reload(stored)
    assert (stored.attempts, stored.processed_at, stored.failed_at) == (1, None, None)
    assert stored.processing_error.startswith("GatewayUnavailable: Stripe could not be reached")

    sweeps = []
    for minutes in (2, 4, 6, 8, 10):
        summary = webhook_events_sweep(now=later(minutes=minutes))
        sweeps.append((summary.due, summary.failed))

    assert settings.BILLING_WEBHOOK_MAX_ATTEMPTS == 5
    assert sweeps == [(1, 1), (1, 1), (1, 1), (1, 1), (0, 0)]
    stored = reload(stored)
    assert (stored.attempts, stored.processed_at, stored.failed_at is not None) == (5, None, True)
    assert stored.state == "failed"
    assert reload(refund).status == RefundStatus.PENDING


def test_an_event_failed_for_good_is_listed_in_the_admin_and_reprocess_processes_it(
    failing, settings, localstripe, client, staff_user, committed
):
    payment, refund, stored = failing
    settings.BILLING_WEBHOOK_MAX_ATTEMPTS = 2
    webhook_events_sweep(now=later(minutes=2))
    stored = reload(stored)
    assert stored.state == "failed"
    processed = WebhookEvent.objects.create(
        gateway="stripe", event_id="evt_done", type="customer.created", payload={}, processed_at=timezone.now()
    )
    client.force_login(staff_user)

    listed = client.get(CHANGELIST, {"state": "failed"})

    assert [row.pk for row in listed.context["cl"].result_list] == [stored.pk]
    html = listed.content.decode()
    assert "GatewayUnavailable: Stripe could not be reached" in html
    assert '<span class="billing-badge billing-badge--failed">Failed</span>' in html
    assert [row.pk for row in client.get(CHANGELIST, {"state": "processed"}).context["cl"].result_list] == [
        processed.pk
    ]
    assert client.get(reverse("admin:payments_webhookevent_change", args=[stored.pk])).status_code == 200

    settings.STRIPE_API_BASE = localstripe.url
    with committed():
        response = client.post(
            CHANGELIST + "?state=failed", {"action": "reprocess", "_selected_action": [stored.pk]}, follow=True
        )

    # (Here its processing runs when the test's block ends; in production the commit runs it before the answer.)
    assert [str(message) for message in response.context["messages"]] == [
        "charge.refunded evt_failing is queued to be processed again."
    ]
    stored = reload(stored)
    assert (stored.state, stored.attempts, stored.processing_error) == ("processed", 1, "")
    assert reload(refund).status == RefundStatus.SUCCEEDED
    reprocessed = Activity.objects.get(verb="webhook.reprocessed")
    assert (reprocessed.actor_user, reprocessed.target, reprocessed.data["event"]) == (
        staff_user,
        stored,
        "evt_failing",
    )
    assert reprocessed.message.startswith("GatewayUnavailable")
    assert billing_integrity_violations() == []


def test_reprocess_needs_its_permission(failing, settings, client, committed):
    _, refund, stored = failing
    settings.BILLING_WEBHOOK_MAX_ATTEMPTS = 1
    stored.failed_at = timezone.now()
    stored.save(update_fields=["failed_at"])
    viewer = UserFactory(is_staff=True)
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(viewer)

    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action this user may take
    with committed():
        client.post(CHANGELIST, {"action": "reprocess", "_selected_action": [stored.pk]})

    assert reload(stored).state == "failed"
    assert not Activity.objects.filter(verb="webhook.reprocessed").exists()
