"""The outbox with a real Celery worker on Redis and PostgreSQL: work that waited while the broker was down is handed
to the worker by the relay once the broker is back, and done once."""

import datetime

from django.utils import timezone

from billing.models import InvoiceStatus
from coworking_billing.celery import app as celery_app
from payments.integrity import billing_integrity_violations
from payments.models import OutboxMessage, PaymentStatus
from payments.outbox import outbox_relay, outbox_relay_fresh
from payments.sandbox.models import SandboxCharge
from payments.services.payment_card import payment_create_card
from tests.factories import open_invoice, reload, saved_card
from tests.payments.card import test_celery_worker
from tests.payments.card.test_celery_worker import wait_for

# PostgreSQL and Redis only, and the worker fixtures, as in the worker's own tests.
pytestmark = test_celery_worker.pytestmark
worker = test_celery_worker.worker
tasks_to_worker = test_celery_worker.tasks_to_worker

LATER = datetime.timedelta(hours=2)


def test_work_that_waited_for_the_broker_is_done_by_the_worker_once_it_is_back(tasks_to_worker, broker_down, staff):
    process, log_path = tasks_to_worker
    invoice = open_invoice(amounts=["42.00"])
    saved_card(invoice.member)

    payment = payment_create_card(invoice=invoice, actor=staff)

    assert reload(payment).status == PaymentStatus.PENDING
    waiting = sorted(OutboxMessage.objects.filter(done_at=None).values_list("task", flat=True))
    assert waiting == [
        "payments.tasks.attempt_execute_task",
        "payments.tasks.mail_send_task",
        "payments.tasks.payments_retry_with_new_card_task",
    ]
    assert not SandboxCharge.objects.exists()

    broker_down()  # the broker is back; the tasks go to the worker's queue
    celery_app.conf.task_always_eager = False
    summary = outbox_relay(now=timezone.now() + LATER)

    assert (summary.due, summary.handed_over) == (3, 3)
    wait_for(
        # The receipt the charge's outcome adds waits for beat's relay (every few seconds): run it as beat would.
        lambda: outbox_relay_fresh().due >= 0 and not OutboxMessage.objects.filter(done_at=None).exists(),
        what="the worker to do the outbox's work (the charge, then its receipt)",
        log_path=log_path,
        process=process,
    )
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    assert SandboxCharge.objects.count() == 1
    receipt = OutboxMessage.objects.get(arguments__notification="payment_receipt")
    assert (receipt.attempts, receipt.last_error) == (1, "")
    assert outbox_relay(now=timezone.now() + 2 * LATER).due == 0
    assert billing_integrity_violations() == []
