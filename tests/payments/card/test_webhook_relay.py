"""The webhook view stores the event and hands nothing to the broker; the webhook relay processes it (spec 6, issue 12:
webhooks verified and stored in one short transaction): every few seconds on the beat schedule, in a worker."""

import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Activity, InvoiceStatus
from coworking_billing.celery import app as celery_app
from payments.integrity import billing_integrity_violations
from payments.models import AttemptStatus, OutboxMessage, PaymentStatus, WebhookEvent
from payments.services.webhook import webhook_event_process, webhook_events_relay, webhook_events_sweep
from tests.factories import reload
from tests.payments.card import test_celery_worker, test_webhooks
from tests.payments.card.test_webhooks import SECRET, event, post

pytestmark = pytest.mark.django_db

processing = test_webhooks.processing  # a charge processing at localstripe, its PaymentIntent succeeded there


def later(**delta) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(**delta)


def queued_messages(queue: str) -> int:
    """How many messages wait in the broker's queue (Redis, or memory without REDIS_URL)."""
    with celery_app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(queue=queue, passive=True).message_count


def test_with_the_broker_down_the_webhook_answers_200_and_the_relay_processes_the_event_later(
    client, committed, processing, broker_down
):
    invoice, payment, attempt, intent = processing

    with committed() as callbacks:
        response = post(client, event("evt_relayed", "payment_intent.succeeded", intent))

    assert (response.status_code, response.content) == (200, b"stored")
    assert callbacks == []  # nothing runs after the commit: nothing is handed to the broker
    assert not OutboxMessage.objects.filter(task="payments.tasks.webhook_event_process_task").exists()
    stored = WebhookEvent.objects.get()
    assert (stored.state, stored.attempts) == ("waiting", 0)
    assert reload(attempt).status == AttemptStatus.PROCESSING

    with committed():
        summary = webhook_events_relay()  # the broker is still down: the relay needs none

    assert (summary.due, summary.processed, summary.failed) == (1, 1, 0)
    stored = reload(stored)
    assert (stored.state, stored.attempts, stored.processing_error) == ("processed", 1, "")
    assert reload(attempt).status == AttemptStatus.SUCCEEDED
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    assert webhook_events_relay().due == 0
    assert webhook_events_sweep(now=later(hours=1)).due == 0
    assert webhook_event_process(webhook_event_id=stored.pk) == "already processed"
    assert Activity.objects.filter(verb="payment.succeeded").count() == 1
    assert billing_integrity_violations() == []


def test_with_the_broker_up_the_webhook_publishes_nothing(client, committed, processing, no_worker):
    """Tasks go to the broker (a queue of this test's own, that no worker reads): the webhook adds nothing to it."""
    _, payment, _, intent = processing
    celery_app.conf.task_always_eager = False  # the `processing` fixture ran tasks in-process from there on
    before = queued_messages(no_worker)

    with committed() as callbacks:
        response = post(client, event("evt_nothing_published", "payment_intent.succeeded", intent))

    assert (response.status_code, response.content) == (200, b"stored")
    assert callbacks == []
    assert queued_messages(no_worker) == before
    assert WebhookEvent.objects.get().state == "waiting"
    assert reload(payment).status == PaymentStatus.PROCESSING

    with committed():
        assert webhook_events_relay().processed == 1
    assert reload(payment).status == PaymentStatus.SUCCEEDED


def test_a_duplicate_of_a_waiting_event_stores_nothing_and_the_relay_processes_the_event_once(
    client, committed, processing, broker_down
):
    _, payment, _, intent = processing
    payload = event("evt_twice_waiting", "payment_intent.succeeded", intent)

    with committed():
        first = post(client, payload)
    with committed() as callbacks:
        again = post(client, payload)

    assert (first.content, again.content) == (b"stored", b"duplicate")
    assert callbacks == []
    assert WebhookEvent.objects.count() == 1
    with committed():
        assert webhook_events_relay().processed == 1
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert Activity.objects.filter(verb="payment.succeeded").count() == 1


def stored_event(event_id: str, *, received_at: datetime.datetime, **fields) -> WebhookEvent:
    return WebhookEvent.objects.create(
        gateway="stripe",
        event_id=event_id,
        type="customer.created",
        payload={"data": {"object": {"id": "cus_1", "object": "customer"}}},
        received_at=received_at,
        **fields,
    )


def test_the_relay_processes_new_events_oldest_first_and_leaves_the_rest_to_the_sweep():
    now = timezone.now()
    newer = stored_event("evt_newer", received_at=now - datetime.timedelta(seconds=1))
    older = stored_event("evt_older", received_at=now - datetime.timedelta(seconds=2))
    tried = stored_event(
        "evt_tried",
        received_at=now - datetime.timedelta(seconds=30),
        attempts=1,
        last_attempt_at=now - datetime.timedelta(seconds=20),
        processing_error="GatewayUnavailable: Stripe could not be reached",
    )
    running = stored_event(
        "evt_running",
        received_at=now - datetime.timedelta(seconds=3),
        attempts=1,
        last_attempt_at=now,
        claimed_until=now + datetime.timedelta(minutes=10),
    )
    failed = stored_event("evt_failed", received_at=now - datetime.timedelta(seconds=4), failed_at=now)
    done = stored_event("evt_done", received_at=now - datetime.timedelta(seconds=5), processed_at=now)

    summary = webhook_events_relay()

    assert (summary.due, summary.processed, summary.failed) == (2, 2, 0)
    older, newer = reload(older), reload(newer)
    assert (older.state, older.attempts, newer.state, newer.attempts) == ("processed", 1, "processed", 1)
    assert older.processed_at <= newer.processed_at
    assert [reload(stored).state for stored in (tried, running, failed)] == ["waiting", "waiting", "failed"]
    assert (reload(tried).attempts, reload(done).attempts) == (1, 0)
    # A failed try waits for the sweep, after its delay.
    assert webhook_events_relay().due == 0
    assert webhook_events_sweep(now=later(minutes=2)).due == 1
    assert reload(tried).state == "processed"


def test_the_relay_runs_every_few_seconds_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["relay-webhook-events"]

    assert entry["task"] == "payments.tasks.webhook_events_relay_task"
    assert entry["task"] in celery_app.tasks
    assert 0 < entry["schedule"] <= 10
    assert entry["options"]["expires"] <= entry["schedule"]


@test_celery_worker.pytestmark[0]
@test_celery_worker.pytestmark[1]
@test_celery_worker.pytestmark[2]
def test_a_worker_with_beat_processes_a_stored_webhook_event_within_seconds(
    transactional_db, client, tmp_path, settings
):
    """Production's set-up: the view stores the event, and a worker running beat's relay processes it."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    celery_app.conf.task_always_eager = False
    with test_celery_worker.worker_running(
        tmp_path, beat=True, env_extra={"BILLING_WEBHOOK_RELAY_SECONDS": "1"}
    ) as running:
        _, process, log_path = running

        response = post(client, event("evt_to_the_worker", "customer.created", {"id": "cus_1", "object": "customer"}))

        assert (response.status_code, response.content) == (200, b"stored")
        test_celery_worker.wait_for(
            lambda: WebhookEvent.objects.filter(event_id="evt_to_the_worker", processed_at__isnull=False).exists(),
            what="the relay on the beat schedule to process the stored event",
            log_path=log_path,
            process=process,
            timeout=30,
        )
    assert WebhookEvent.objects.get().attempts == 1


def test_the_webhook_request_is_one_insert(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    celery_app.conf.task_always_eager = False  # as in production

    with CaptureQueriesContext(connection) as queries:
        response = post(client, event("evt_one_query", "customer.created", {"id": "cus_1", "object": "customer"}))

    assert (response.status_code, response.content) == (200, b"stored")
    # Its transaction (a savepoint here, inside the test's transaction) holds one statement.
    statements = [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]
    assert [statement.split(" (")[0] for statement in statements] == ['INSERT INTO "payments_webhookevent"']
    assert WebhookEvent.objects.get().state == "waiting"


def test_reconcile_payments_processes_an_event_stored_a_moment_ago(client, committed, processing, broker_down):
    """Without beat (a space that runs `manage.py reconcile_payments` from cron), a stored event is processed on the
    command's next run, not only once the sweep's wait for a failed event has passed."""
    from django.core.management import call_command

    invoice, payment, attempt, intent = processing
    with committed():
        post(client, event("evt_by_the_command", "payment_intent.succeeded", intent))

    with committed():
        call_command("reconcile_payments", "--no-progress", stdout=(output := io.StringIO()))

    assert "Webhook events: 1 due: 1 processed, 0 failed." in output.getvalue()
    assert WebhookEvent.objects.get().state == "processed"
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
