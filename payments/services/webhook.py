"""Gateway webhooks: stored once by event id, processed in a task, moving state only forward.

The webhook view verifies the event and stores it in one short transaction, and hands nothing to the broker: the
stored event is the work to do. The relay (`webhook_events_relay`, a Celery beat task every
BILLING_WEBHOOK_RELAY_SECONDS) processes the events stored since its last run; with Celery in-process (no broker,
as in `make run`) an event is processed right after its commit instead, as its task would be.

Processing is claimed on the event (`claimed_until`), so that the relay, a task, a late task and the periodic sweep
(`webhook_events_sweep`) never process one event twice. A failure is kept on the event with its error and tried again
by the sweep; after BILLING_WEBHOOK_MAX_ATTEMPTS tries the event has failed for good and waits in the admin for
someone to reprocess it (`webhook_event_reprocess`).
"""

import datetime
import logging
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.activity import Actor, activity_record
from billing.errors import InvalidState
from billing.lock_objects import member_lock
from billing.rows import row_insert_unless_exists
from payments.gateways.base import GatewayEvent
from payments.lock_objects import payment_lock
from payments.models import AttemptStatus, PaymentAttempt, Refund, RefundStatus, WebhookEvent
from payments.outbox import outbox_add, outbox_mail_add
from payments.services.attempt_execute import attempt_record_outcome

logger = logging.getLogger(__name__)
WEBHOOK = Actor.gateway("Stripe webhook")
# How long one worker may process an event before the sweep may take it over.
PROCESSING_LEASE = datetime.timedelta(minutes=10)


def webhook_event_store(*, gateway: str, event: GatewayEvent) -> tuple[WebhookEvent, bool]:
    """Store a verified event, in one short transaction that hands nothing to the broker: the relay processes it.
    A duplicate (same id) is stored once and changes nothing; with Celery in-process, a duplicate of an event not
    processed yet (stored while the broker was down) processes it."""
    stored = WebhookEvent(
        gateway=gateway, event_id=event.event_id, type=event.type, payload=event.payload, received_at=timezone.now()
    )
    with transaction.atomic(durable=True):
        if row_insert_unless_exists(stored, unique=["gateway", "event_id"]):
            _process_in_process(stored)
            return stored, True
    stored = WebhookEvent.objects.get(gateway=gateway, event_id=event.event_id)
    if stored.processed_at is None and stored.failed_at is None:
        with transaction.atomic(durable=True):
            _process_in_process(stored)
    return stored, False


def _process_in_process(event: WebhookEvent) -> None:
    """With Celery in-process (no broker and no beat: `make run`, the tests) nothing runs the relay: process the event
    right after the commit, as its task would run. A failure there is logged and kept for the sweep."""
    if current_app.conf.task_always_eager:
        transaction.on_commit(lambda: webhook_event_process(webhook_event_id=event.pk), robust=True)


def _process_later(event: WebhookEvent) -> None:
    outbox_add(task="payments.tasks.webhook_event_process_task", webhook_event_id=event.pk)


def _attempt_for(gateway: str, *, payment_intent_id: str = "", charge_id: str = "") -> PaymentAttempt | None:
    attempts = PaymentAttempt.objects.filter(gateway=gateway)
    if payment_intent_id:
        found = attempts.filter(gateway_payment_id=payment_intent_id).first()
        if found:
            return found
    if charge_id:
        return attempts.filter(gateway_charge_id=charge_id).first()
    return None


def _payment_intent_changed(event: WebhookEvent, data: dict) -> str:
    from payments.gateways.stripe import charge_result_from_payment_intent

    attempt = _attempt_for(event.gateway, payment_intent_id=data.get("id", ""))
    if attempt is None:
        return "not one of our payments"
    if attempt.status != AttemptStatus.PROCESSING:
        return f"attempt already {attempt.status}"
    attempt_record_outcome(attempt_id=attempt.pk, result=charge_result_from_payment_intent(data), actor=WEBHOOK)
    return "recorded"


def _dispute_created(event: WebhookEvent, data: dict) -> str:
    attempt = _attempt_for(
        event.gateway, payment_intent_id=data.get("payment_intent") or "", charge_id=data.get("charge") or ""
    )
    if attempt is None:
        return "not one of our payments"
    with transaction.atomic(durable=True):
        member = member_lock(attempt.payment.member_id)
        payment = payment_lock(attempt.payment_id)
        if payment.disputed:
            return "already flagged"
        payment.disputed = True
        payment.save(update_fields=["disputed"])
        activity_record(
            actor=WEBHOOK,
            verb="payment.disputed",
            member=member,
            invoice=payment.invoice,
            target=payment,
            data={"dispute": data.get("id"), "reason": data.get("reason"), "amount_minor": data.get("amount")},
        )
        outbox_mail_add(notification="payment_disputed", payment_id=payment.pk)
    return "flagged"


def _refund_changed(event: WebhookEvent, data: dict) -> str:
    from payments.gateways.stripe import refund_result_from_refund
    from payments.services.refund import refund_record_outcome

    if data.get("object") == "charge":
        refunds = (data.get("refunds") or {}).get("data")
        if refunds is None:
            return _charge_refunds_ask(event, data)
    else:
        refunds = [data]
    outcomes = []
    for refund_data in refunds:
        refund = Refund.objects.filter(gateway=event.gateway, gateway_refund_id=refund_data.get("id", "")).first()
        if refund is None:
            outcomes.append("not one of our refunds")
            continue
        refund_record_outcome(refund_id=refund.pk, result=refund_result_from_refund(refund_data), actor=WEBHOOK)
        outcomes.append("recorded")
    return ", ".join(outcomes) or "no refunds"


def _charge_refunds_ask(event: WebhookEvent, charge: dict) -> str:
    """A charge no longer lists its refunds (Stripe API 2022-11-15 and later): ask the gateway about our pending
    refunds of that charge that it already knows, and record what it says."""
    from payments.gateways import gateway_get
    from payments.services.refund import refund_record_outcome

    attempt = _attempt_for(
        event.gateway, payment_intent_id=charge.get("payment_intent") or "", charge_id=charge.get("id", "")
    )
    if attempt is None:
        return "not one of our payments"
    pending = Refund.objects.filter(
        payment_id=attempt.payment_id, gateway=event.gateway, status=RefundStatus.PENDING
    ).exclude(gateway_refund_id="")
    outcomes = []
    for refund in pending.order_by("pk"):
        result = gateway_get().refund_retrieve(gateway_refund_id=refund.gateway_refund_id)
        refund_record_outcome(refund_id=refund.pk, result=result, actor=WEBHOOK)
        outcomes.append(f"asked: {result.outcome}")
    return ", ".join(outcomes) or "no pending refunds"


HANDLERS = {
    "charge.refunded": _refund_changed,
    "refund.updated": _refund_changed,
    "charge.refund.updated": _refund_changed,
    "payment_intent.succeeded": _payment_intent_changed,
    "payment_intent.payment_failed": _payment_intent_changed,
    "charge.dispute.created": _dispute_created,
}


def webhook_event_process(*, webhook_event_id: int) -> str:
    """Apply the event once. Returns what was done (for logs and tests); never raises for a handler's failure,
    which is kept on the event for the sweep's next try and for a person to read in the admin."""
    claimed = _event_claim(webhook_event_id)
    event = WebhookEvent.objects.get(pk=webhook_event_id)
    if not claimed:
        if event.processed_at is not None:
            return "already processed"
        return "failed for good" if event.failed_at is not None else "being processed"
    outcome, _ = _event_apply(event)
    return outcome


def _event_claim(webhook_event_id: int) -> bool:
    """Claim the event for one try, unless it is processed, failed for good or being processed."""
    now = timezone.now()
    return bool(
        WebhookEvent.objects.filter(pk=webhook_event_id, processed_at__isnull=True, failed_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + PROCESSING_LEASE, attempts=F("attempts") + 1, last_attempt_at=now)
    )


def _event_apply(event: WebhookEvent) -> tuple[str, bool]:
    """One try of a claimed event: its handler's outcome (or "failed: ...", kept on the event) and whether it is
    processed."""
    handler = HANDLERS.get(event.type)
    try:
        outcome = handler(event, event.payload["data"]["object"]) if handler else "ignored"
    except Exception as error:  # noqa: BLE001 - kept on the event, tried again by the sweep
        failed_for_good = event.attempts >= settings.BILLING_WEBHOOK_MAX_ATTEMPTS
        WebhookEvent.objects.filter(pk=event.pk).update(
            processing_error=f"{type(error).__name__}: {error}"[:2000],
            claimed_until=None,
            failed_at=timezone.now() if failed_for_good else None,
        )
        logger.exception(
            "Webhook %s %s failed (try %s): %s",
            event.type,
            event.event_id,
            event.attempts,
            "failed for good; reprocess it in the admin" if failed_for_good else "webhook_events_sweep tries again",
        )
        return f"failed: {error}", False
    WebhookEvent.objects.filter(pk=event.pk).update(
        processed_at=timezone.now(), processing_error="", claimed_until=None
    )
    logger.info("Webhook %s %s: %s", event.type, event.event_id, outcome)
    return outcome, True


@dataclass
class SweepSummary:
    due: int = 0
    processed: int = 0
    failed: int = 0


def webhook_events_waiting(*, now: datetime.datetime):
    """Events not processed nor failed for good, that nothing is processing and nothing tried for a while."""
    quiet_since = now - datetime.timedelta(seconds=settings.BILLING_OUTBOX_RETRY_SECONDS)
    return (
        WebhookEvent.objects.filter(processed_at__isnull=True, failed_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(last_attempt_at__isnull=True, received_at__lte=quiet_since) | Q(last_attempt_at__lte=quiet_since))
    )


def webhook_events_sweep(*, now: datetime.datetime | None = None) -> SweepSummary:
    """Process the stored events that were not (the broker was down, the task died, a try failed), oldest first."""
    now = now or timezone.now()
    summary = SweepSummary()
    for event_id in webhook_events_waiting(now=now).order_by("received_at", "pk").values_list("pk", flat=True):
        summary.due += 1
        webhook_event_process(webhook_event_id=event_id)
        if WebhookEvent.objects.filter(pk=event_id, processed_at__isnull=False).exists():
            summary.processed += 1
        else:
            summary.failed += 1
    return summary


def webhook_events_fresh(*, now: datetime.datetime):
    """Events never tried (stored since the relay last ran) that nothing is processing: the relay's work."""
    return WebhookEvent.objects.filter(
        processed_at__isnull=True, failed_at__isnull=True, last_attempt_at__isnull=True
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))


def webhook_events_relay(*, now: datetime.datetime | None = None) -> SweepSummary:
    """Process the events stored and never tried, oldest first: the webhook view only stores them. On the beat
    schedule every BILLING_WEBHOOK_RELAY_SECONDS; two relays running at once share the events (each one claims an
    event before processing it, and leaves those claimed by the other). A failure is kept on the event, and the sweep
    tries it again."""
    now = now or timezone.now()
    summary = SweepSummary()
    for event_id in webhook_events_fresh(now=now).order_by("received_at", "pk").values_list("pk", flat=True):
        if not _event_claim(event_id):
            continue
        summary.due += 1
        _, processed = _event_apply(WebhookEvent.objects.get(pk=event_id))
        if processed:
            summary.processed += 1
        else:
            summary.failed += 1
    return summary


def webhook_event_reprocess(*, webhook_event: WebhookEvent, actor: Actor) -> WebhookEvent:
    """Try a failed (or still waiting) event again, with a fresh count of tries; its processing is queued."""
    actor.require_permission("payments.reprocess_webhookevent", _("reprocess webhook events"))
    with transaction.atomic(durable=True):
        event = WebhookEvent.objects.select_for_update().get(pk=webhook_event.pk)
        if event.processed_at is not None:
            raise InvalidState(
                _("The event %(event_id)s is processed already; there is nothing to reprocess.")
                % {"event_id": event.event_id}
            )
        activity_record(
            actor=actor,
            verb="webhook.reprocessed",
            target=event,
            message=event.processing_error,
            data={"event": event.event_id, "type": event.type, "attempts": event.attempts},
        )
        event.failed_at = None
        event.attempts = 0
        event.claimed_until = None
        event.save(update_fields=["failed_at", "attempts", "claimed_until"])
        _process_later(event)
    return WebhookEvent.objects.get(pk=event.pk)
