"""The transactional outbox: work that follows a commit (a Celery task, a mail) never fails the request.

A service calls `outbox_add` inside its transaction: the row commits with the change, or not at all. After the
commit the request only wakes the relay: one Redis command (`SET NX` of a key that says a relay is on its way), and
only the request that sets the key publishes the relay's task (`outbox_relay_fresh`), which clears the key, then
hands over every row never handed over, in bulk, in a worker. So a request costs no publish of its own, and a row
is handed over promptly: a row committed before the relay cleared the key is read by it, one committed after sets
the key again and wakes the next relay. Without a Redis broker, in eager mode (tests, `make run`: its task runs at
once), or when the wake-up fails, the rows are handed over right after the commit, in the request, as before; a
broker or mail server that is down is recorded on the row and the request goes on. `outbox_relay` (on the beat
schedule, and in `manage.py reconcile_payments`) hands over again what is not done once its `next_attempt_at` has
passed (a row whose relay was lost too). A task
started from the outbox runs through `outbox_task_run`, which claims the row, skips it when it is done already, and
marks it done when the task ran to the end: so the relay may hand a row over twice, and its work is still done
once (a mail is sent once).

A row names its task by its Celery name, and the hand-over finds it in the Celery app's registry (the payments
app registers its tasks when Django starts, `PaymentsConfig.ready`). So the outbox imports no task, no service and
no mail: services import the outbox, tasks import the services, and nothing imports back.
"""

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import current_app
from celery.exceptions import Retry
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.rows import rows_insert
from payments.models import OutboxMessage

logger = logging.getLogger(__name__)

MAIL_TASK = "payments.tasks.mail_send_task"
RELAY_FRESH_TASK = "payments.tasks.outbox_relay_fresh_task"
# A relay woken and lost (its worker died) lets the next request wake another after this many seconds; beat's
# `outbox_relay` hands its rows over in any case once their `next_attempt_at` is due.
WAKE_SECONDS = 10
RELAY_BATCH = 500
# How long a worker may run one row's task before the relay may hand it to another.
CLAIM_LEASE = datetime.timedelta(minutes=10)
RETRY_DELAY_MAX = datetime.timedelta(hours=1)


def outbox_add(*, task: str, relay_at_once: bool = True, **arguments: Any) -> OutboxMessage:
    """Write the task (by its Celery name, with JSON keyword arguments) in the current transaction; it is handed
    to the broker after the commit: at once (the commit wakes the relay), or with `relay_at_once=False` by the
    relay that beat runs every BILLING_OUTBOX_RELAY_SECONDS (work nobody waits for, such as a mail: the request
    then costs no Redis command)."""
    if not transaction.get_connection().in_atomic_block:
        raise AssertionError("outbox_add belongs inside the transaction of the change that asks for the work.")
    message = OutboxMessage(task=task, arguments=arguments, next_attempt_at=timezone.now() + _retry_delay(1))
    rows_insert([message])
    if current_app.conf.task_always_eager:
        transaction.on_commit(lambda: _hand_over(message))
        return message
    if not relay_at_once:
        return message
    # One hook per atomic block: a savepoint rolled back takes its hook and the rows it names with it.
    database = transaction.get_connection()
    savepoints = set(database.savepoint_ids)
    for hook_savepoints, hook, _robust in database.run_on_commit:
        if isinstance(hook, _RelayWake) and hook_savepoints == savepoints:
            hook.messages.append(message)
            return message
    transaction.on_commit(_RelayWake([message]))
    return message


class _RelayWake:
    """The one after-commit hook of a transaction's outbox rows (when tasks go to a broker): wake the relay; hand
    the rows over here only when that fails."""

    def __init__(self, messages: list[OutboxMessage]):
        self.messages = messages

    def __call__(self) -> None:
        try:
            woken = _relay_wake()
        except Exception as error:  # noqa: BLE001 - Redis is down: the rows are handed over (or recorded) here
            logger.warning("Outbox relay not woken: %s; the rows are handed over after the commit.", error)
            woken = False
        if not woken:
            for message in self.messages:
                _hand_over(message)


_redis_clients: dict[str, Any] = {}


def _redis_client():
    """A Redis client on the broker's server, or None when the broker is not Redis."""
    url = current_app.conf.broker_url or ""
    if not url.startswith(("redis://", "rediss://")):
        return None
    if url not in _redis_clients:
        import redis

        _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return _redis_clients[url]


def _wake_key() -> str:
    """One key per database and queue (tests on one Redis each have their own)."""
    return f"payments:outbox-relay-wake:{connection.settings_dict['NAME']}:{current_app.conf.task_default_queue}"


def _relay_wake() -> bool:
    """Make sure a relay is on its way: True when one was (or now is). False without a Redis broker."""
    client = _redis_client()
    if client is None:
        return False
    key = _wake_key()
    if not client.set(key, "1", nx=True, ex=WAKE_SECONDS):
        return True
    try:
        current_app.tasks[RELAY_FRESH_TASK].apply_async(retry=False)
    except Exception:
        client.delete(key)
        raise
    return True


def outbox_mail_add(*, notification: str, **arguments: Any) -> OutboxMessage:
    """A mail of `payments.notifications.NOTIFICATIONS`, sent by a task after the commit, within
    BILLING_OUTBOX_RELAY_SECONDS (beat's relay hands it over; with Celery in-process, right after the commit)."""
    return outbox_add(task=MAIL_TASK, relay_at_once=False, notification=notification, **arguments)


def _retry_delay(attempts: int) -> datetime.timedelta:
    """The wait before the relay hands a row over again: BILLING_OUTBOX_RETRY_SECONDS, doubling with each
    hand-over, at most an hour."""
    seconds = settings.BILLING_OUTBOX_RETRY_SECONDS * 2 ** max(attempts - 1, 0)
    return min(datetime.timedelta(seconds=seconds), RETRY_DELAY_MAX)


def outbox_hand_over(*, message_id: int) -> bool:
    """Give the row's task to the broker (in eager mode: run it). Never raises: a failure is recorded on the row,
    and `outbox_relay` tries again after the row's `next_attempt_at`. Returns whether the broker took it."""
    message = OutboxMessage.objects.filter(pk=message_id, done_at__isnull=True).first()
    if message is None:
        return False
    return _hand_over(message)


def _hand_over(message: OutboxMessage) -> bool:
    """Publish the row's task, then count the hand-over on the row in one UPDATE (the row just written by
    `outbox_add` is handed over so, without reading it again)."""
    error = _publish(message)
    if error is not None:
        _hand_over_count(message, last_error=_describe(error))
        return False
    _hand_over_count(message, sent_at=Coalesce("sent_at", Value(timezone.now())))
    return True


def _publish(message: OutboxMessage) -> BaseException | None:
    """Give the row's task to the broker (in eager mode: run it); the error, if it failed."""
    try:
        task = current_app.tasks[message.task]
        task.apply_async(kwargs={**message.arguments, "outbox_id": message.pk}, retry=False)
    except Exception as error:  # noqa: BLE001 - the broker, the mail server or the task failed: kept for the relay
        logger.warning(
            "Outbox %s (%s) not done: %s; payments.outbox.outbox_relay will hand it over again.",
            message.pk,
            message.task,
            error,
        )
        return error
    return None


def _hand_over_count(message: OutboxMessage, **changes) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        attempts=F("attempts") + 1,
        next_attempt_at=timezone.now() + _retry_delay(message.attempts + 1),
        **changes,
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def outbox_task_run(outbox_id: int | None, work: Callable[[], Any]) -> Any:
    """Run a task's work for its outbox row: once. The row is claimed first (a row already done, or claimed by
    another worker, is skipped), marked done when the work returns, and released with the error when it raises.
    Without a row (a task started by hand or by a sweep) the work just runs."""
    if outbox_id is None:
        return work()
    now = timezone.now()
    claimed = (
        OutboxMessage.objects.filter(pk=outbox_id, done_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + CLAIM_LEASE)
    )
    if not claimed:
        return "already done or running"
    try:
        result = work()
    except Retry:
        # Celery runs the task again with the same row: release it for that run.
        OutboxMessage.objects.filter(pk=outbox_id).update(claimed_until=None)
        raise
    except Exception as error:
        logger.warning("Outbox %s failed: %s; payments.outbox.outbox_relay will hand it over again.", outbox_id, error)
        OutboxMessage.objects.filter(pk=outbox_id).update(claimed_until=None, last_error=_describe(error))
        raise
    OutboxMessage.objects.filter(pk=outbox_id).update(done_at=timezone.now(), claimed_until=None, last_error="")
    return result


@dataclass
class RelaySummary:
    due: int = 0
    handed_over: int = 0
    failed: int = 0


def outbox_waiting(*, now: datetime.datetime):
    """Rows not done whose next hand-over is due and that no worker is running."""
    return OutboxMessage.objects.filter(done_at__isnull=True, next_attempt_at__lte=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def outbox_relay_fresh() -> RelaySummary:
    """Hand over every row never handed over, oldest first, in batches (the relay a request wakes). The wake-up key
    is cleared first: a row committed from then on wakes another relay. Each batch is claimed (counted as handed
    over, its next attempt set) in one UPDATE under `SKIP LOCKED`, so two relays never share a row; then its tasks
    are published, and one UPDATE marks those the broker took."""
    client = _redis_client()
    if client is not None:
        try:
            client.delete(_wake_key())
        except Exception as error:  # noqa: BLE001 - Redis is down: the hand-overs below fail and are recorded
            logger.warning("Outbox relay wake-up key not cleared: %s", error)
    summary = RelaySummary()
    while True:
        now = timezone.now()
        with transaction.atomic():
            batch = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(done_at__isnull=True, attempts=0)
                .order_by("pk")
                .only("pk", "task", "arguments")[:RELAY_BATCH]
            )
            if not batch:
                return summary
            OutboxMessage.objects.filter(pk__in=[message.pk for message in batch]).update(
                attempts=F("attempts") + 1, next_attempt_at=now + _retry_delay(1)
            )
        taken = []
        for message in batch:
            summary.due += 1
            error = _publish(message)
            if error is None:
                taken.append(message.pk)
            else:
                summary.failed += 1
                OutboxMessage.objects.filter(pk=message.pk).update(last_error=_describe(error))
        summary.handed_over += len(taken)
        OutboxMessage.objects.filter(pk__in=taken).update(sent_at=Coalesce("sent_at", Value(timezone.now())))


def outbox_relay(*, now: datetime.datetime | None = None) -> RelaySummary:
    """Hand over again every row whose work is not done and whose next attempt is due, oldest first."""
    now = now or timezone.now()
    summary = RelaySummary()
    for message_id in outbox_waiting(now=now).order_by("pk").values_list("pk", flat=True):
        summary.due += 1
        if outbox_hand_over(message_id=message_id):
            summary.handed_over += 1
        else:
            summary.failed += 1
    return summary
