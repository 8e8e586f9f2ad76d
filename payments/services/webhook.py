"""Gateway webhooks: stored once by event id, processed in a task, moving state only forward."""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.activity import Actor, activity_record
from billing.lock_objects import member_lock
from payments.gateways.base import GatewayEvent
from payments.lock_objects import payment_lock
from payments.models import AttemptStatus, PaymentAttempt, Refund, RefundStatus, WebhookEvent
from payments.services.attempt_execute import attempt_record_outcome

logger = logging.getLogger(__name__)
WEBHOOK = Actor.gateway("Stripe webhook")


def webhook_event_store(*, gateway: str, event: GatewayEvent) -> tuple[WebhookEvent, bool]:
    """Store a verified event and queue its processing; a duplicate (same id) is stored once and not requeued."""
    try:
        with transaction.atomic(durable=True):
            stored = WebhookEvent.objects.create(
                gateway=gateway, event_id=event.event_id, type=event.type, payload=event.payload
            )
            transaction.on_commit(lambda: _enqueue(stored.pk))
    except IntegrityError:
        return WebhookEvent.objects.get(gateway=gateway, event_id=event.event_id), False
    return stored, True


def _enqueue(webhook_event_id: int) -> None:
    from payments.tasks import webhook_event_process_task

    webhook_event_process_task.delay(webhook_event_id)


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
        from payments.notifications import payment_disputed_notify

        transaction.on_commit(lambda: payment_disputed_notify(payment_id=payment.pk))
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
    """Apply the event once. Returns what was done (for logs and tests)."""
    event = WebhookEvent.objects.get(pk=webhook_event_id)
    if event.processed_at is not None:
        return "already processed"
    handler = HANDLERS.get(event.type)
    try:
        outcome = handler(event, event.payload["data"]["object"]) if handler else "ignored"
    except Exception as error:
        # Kept unprocessed, with the error, for the task's next try and for a person to read in the admin.
        WebhookEvent.objects.filter(pk=event.pk).update(processing_error=f"{type(error).__name__}: {error}")
        raise
    WebhookEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
        processed_at=timezone.now(), processing_error=""
    )
    logger.info("Webhook %s %s: %s", event.type, event.event_id, outcome)
    return outcome
