"""Fixtures of the card-payment tests: running what a commit would run, a queue no worker reads, a chosen gateway."""

import uuid

import pytest

from coworking_billing.celery import app as celery_app
from payments.gateways import gateway_override
from payments.gateways.sandbox_models import SandboxCharge
from payments.models import PaymentAttempt, PaymentMethod, WebhookEvent

# Rows a refused card operation must not write either, besides the books of `tests.factories.books_snapshot`.
CARD_MODELS = (PaymentAttempt, PaymentMethod, SandboxCharge, WebhookEvent)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): ...` runs what the block queued for after its commit (the Celery tasks, eager here, and
    the mail), as the commit of a real request would; callbacks queued by those callbacks run too."""

    def run_on_commit():
        return django_capture_on_commit_callbacks(execute=True)

    return run_on_commit


@pytest.fixture
def no_worker():
    """Tasks go to a broker queue of this test's own that no worker reads: a charge stays queued (in flight)."""
    queue = f"tests-no-worker-{uuid.uuid4().hex[:12]}"
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = default_queue
    broker_queue_delete(queue)


def broker_queue_delete(name: str) -> None:
    """Remove a test's queue, its messages and its bindings from the broker (Redis, or memory without REDIS_URL).
    The queue is declared on this channel first: kombu deletes only the bindings its channel knows."""
    with celery_app.connection_for_write() as connection:
        queue = celery_app.amqp.queues[name].bind(connection.default_channel)
        queue.declare()
        queue.delete()


@pytest.fixture
def use_gateway():
    """`use_gateway(SandboxGateway(fail_before_charge=True))` until the end of the test."""
    yield gateway_override
    gateway_override(None)
