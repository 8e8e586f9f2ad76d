"""With tasks going to a Redis broker, a request that commits outbox rows someone waits for only wakes the relay (one
Redis command, and the relay's task when none is on its way); mails wake nothing and wait for beat's relay; the relay
hands every fresh row over once, in bulk (issue 12: mail and tasks leave the request)."""

import pytest
from django.conf import settings
from django.db import transaction

from coworking_billing.celery import app as celery_app
from payments.models import OutboxMessage
from payments.outbox import MAIL_TASK, _redis_client, _wake_key, outbox_add, outbox_mail_add, outbox_relay_fresh
from tests.conftest import broker_queue_delete
from tests.factories import MemberFactory, reload, standalone_payment

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the wake-up is a Redis command: set REDIS_URL"),
]


def queued(queue: str) -> list[str]:
    """The names of the tasks waiting in the broker's queue."""
    import json

    messages = _redis_client().lrange(queue, 0, -1)
    return sorted(json.loads(message)["headers"]["task"] for message in messages)


@pytest.fixture
def broker_queue(no_worker):
    yield no_worker
    broker_queue_delete(no_worker)


def receipt_add(payment):
    """A receipt's row that wakes the relay, as a charge's or a refund's does (a mail alone waits for beat's)."""
    return outbox_add(task=MAIL_TASK, notification="payment_receipt", payment_id=payment.pk)


def test_commits_wake_one_relay_which_hands_each_row_over_once(broker_queue, mailoutbox):
    member = MemberFactory()
    celery_app.conf.task_always_eager = True
    payment = standalone_payment(member=member, amount="20.00")  # its receipt is sent in-process
    mailoutbox.clear()
    celery_app.conf.task_always_eager = False

    with transaction.atomic():
        first, second = receipt_add(payment), receipt_add(payment)
    with transaction.atomic():
        third = receipt_add(payment)

    # Nothing was handed over in the requests: one relay is on its way, for all three rows.
    assert queued(broker_queue) == ["payments.tasks.outbox_relay_fresh_task"]
    assert [(reload(row).attempts, reload(row).sent_at) for row in (first, second, third)] == [(0, None)] * 3
    assert _redis_client().get(_wake_key()) is not None

    celery_app.conf.task_always_eager = True  # the relay's hand-overs run the mail task in-process
    summary = outbox_relay_fresh()

    assert (summary.due, summary.handed_over, summary.failed) == (3, 3, 0)
    assert len(mailoutbox) == 3
    for row in (first, second, third):
        row = reload(row)
        assert (row.attempts, row.done_at is not None, row.sent_at is not None) == (1, True, True)
    assert _redis_client().get(_wake_key()) is None
    assert outbox_relay_fresh().due == 0
    assert len(mailoutbox) == 3

    # A row committed after the relay cleared the key wakes the next relay.
    celery_app.conf.task_always_eager = False
    with transaction.atomic():
        receipt_add(payment)
    assert queued(broker_queue) == ["payments.tasks.outbox_relay_fresh_task"] * 2


def test_a_mail_wakes_nothing_and_beats_relay_sends_it(broker_queue, mailoutbox):
    celery_app.conf.task_always_eager = True
    payment = standalone_payment(member=MemberFactory(), amount="20.00")
    mailoutbox.clear()
    celery_app.conf.task_always_eager = False
    _redis_client().delete(_wake_key())

    with transaction.atomic():
        row = outbox_mail_add(notification="payment_receipt", payment_id=payment.pk)

    assert queued(broker_queue) == []  # no Redis command in the request: no relay published, no key set
    assert _redis_client().get(_wake_key()) is None
    assert (reload(row).attempts, mailoutbox) == (0, [])

    schedule = settings.CELERY_BEAT_SCHEDULE["relay-outbox-fresh"]
    assert (schedule["task"], schedule["schedule"]) == (
        "payments.tasks.outbox_relay_fresh_task",
        settings.BILLING_OUTBOX_RELAY_SECONDS,
    )
    celery_app.conf.task_always_eager = True  # the beat's relay, its hand-over running the mail task in-process
    assert outbox_relay_fresh().handed_over == 1
    assert len(mailoutbox) == 1 and reload(row).done_at is not None


def test_a_row_rolled_back_with_its_savepoint_is_not_handed_over(broker_queue):
    celery_app.conf.task_always_eager = True
    payment = standalone_payment(member=MemberFactory(), amount="20.00")
    celery_app.conf.task_always_eager = False

    with transaction.atomic():
        kept = receipt_add(payment)
        with pytest.raises(RuntimeError), transaction.atomic():
            receipt_add(payment)
            raise RuntimeError("rolled back")

    assert list(OutboxMessage.objects.filter(attempts=0, done_at=None).values_list("pk", flat=True)) == [kept.pk]
    celery_app.conf.task_always_eager = True
    assert outbox_relay_fresh().handed_over == 1
    assert reload(kept).done_at is not None
