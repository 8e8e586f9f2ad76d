"""Celery tasks: thin wrappers that call one service each.

The tasks that services queue after a commit come from the outbox (`payments.outbox`): they take the row's
`outbox_id` and run their service through `outbox_task_run`, which does it once and marks the row done. Services
name these tasks (`outbox_add(task="payments.tasks....")`) and never import this module; it imports them.
"""

import logging

from celery import shared_task

from members.models import Member
from payments.gateways import gateway_get
from payments.gateways.base import GatewayUnavailable
from payments.models import PaymentMethod
from payments.notifications import NOTIFICATIONS
from payments.outbox import outbox_relay, outbox_relay_fresh, outbox_task_run
from payments.services.attempt_execute import attempt_execute
from payments.services.attempt_reconcile import attempts_reconcile
from payments.services.payment_retries import payment_retries_run, payments_retry_with_new_card
from payments.services.refund import refund_execute
from payments.services.refund_reconcile import refunds_reconcile
from payments.services.webhook import webhook_event_process, webhook_events_relay, webhook_events_sweep

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=8, acks_late=True)
def attempt_execute_task(self, attempt_id: int, outbox_id: int | None = None) -> str:
    def work() -> str:
        try:
            attempt = attempt_execute(attempt_id=attempt_id)
        except GatewayUnavailable as error:
            # Nothing was charged yet, or the gateway will be asked again with the same key: try the same attempt
            # later.
            if self.request.is_eager:
                logger.warning(
                    "Attempt %s: %s; payments.services.attempt_reconcile will resume it.", attempt_id, error.message
                )
                return "unknown"
            raise self.retry(exc=error, countdown=min(120 * 2**self.request.retries, 3600)) from error
        return attempt.status

    return outbox_task_run(outbox_id, work)


@shared_task
def attempts_reconcile_task() -> dict:
    summary = attempts_reconcile()
    return {"checked": summary.checked, "settled": summary.settled, "flagged": summary.flagged}


@shared_task
def refunds_reconcile_task() -> dict:
    summary = refunds_reconcile()
    return {"checked": summary.checked, "settled": summary.settled, "flagged": summary.flagged}


@shared_task
def webhook_events_relay_task() -> dict:
    """The stored webhook events never tried: the webhook view only stores them (beat runs this every few seconds)."""
    summary = webhook_events_relay()
    return {"due": summary.due, "processed": summary.processed, "failed": summary.failed}


@shared_task
def webhook_events_sweep_task() -> dict:
    summary = webhook_events_sweep()
    return {"due": summary.due, "processed": summary.processed, "failed": summary.failed}


@shared_task
def outbox_relay_task() -> dict:
    summary = outbox_relay()
    return {"due": summary.due, "handed_over": summary.handed_over, "failed": summary.failed}


@shared_task
def outbox_relay_fresh_task() -> dict:
    """The outbox rows never handed over: a request that commits some wakes this relay (payments.outbox)."""
    summary = outbox_relay_fresh()
    return {"due": summary.due, "handed_over": summary.handed_over, "failed": summary.failed}


@shared_task
def payment_retries_run_task() -> dict:
    summary = payment_retries_run()
    return {"due": summary.due, "retried": summary.retried, "canceled": summary.canceled}


@shared_task(acks_late=True)
def payments_retry_with_new_card_task(member_id: int, payment_method_id: int, outbox_id: int | None = None) -> int:
    return outbox_task_run(
        outbox_id,
        lambda: payments_retry_with_new_card(
            member=Member.objects.get(pk=member_id), payment_method=PaymentMethod.objects.get(pk=payment_method_id)
        ),
    )


@shared_task(acks_late=True)
def payment_method_detach_task(gateway_id: str, outbox_id: int | None = None) -> None:
    # GatewayUnavailable leaves the row waiting: payments.outbox.outbox_relay hands it over again.
    return outbox_task_run(outbox_id, lambda: gateway_get().card_detach(gateway_id=gateway_id))


@shared_task(acks_late=True)
def webhook_event_process_task(webhook_event_id: int, outbox_id: int | None = None) -> str:
    # A failure is kept on the event, tried again by `webhook_events_sweep`, up to BILLING_WEBHOOK_MAX_ATTEMPTS.
    return outbox_task_run(outbox_id, lambda: webhook_event_process(webhook_event_id=webhook_event_id))


@shared_task(bind=True, max_retries=8, acks_late=True)
def refund_execute_task(self, refund_id: int, outbox_id: int | None = None) -> str:
    def work() -> str:
        try:
            refund = refund_execute(refund_id=refund_id)
        except GatewayUnavailable as error:
            if self.request.is_eager:
                logger.warning(
                    "Refund %s: %s; it stays pending and payments.services.refund_reconcile will resume it.",
                    refund_id,
                    error.message,
                )
                return "pending"
            raise self.retry(exc=error, countdown=min(120 * 2**self.request.retries, 3600)) from error
        return refund.status

    return outbox_task_run(outbox_id, work)


@shared_task(acks_late=True)
def mail_send_task(notification: str, outbox_id: int | None = None, **arguments) -> None:
    """Send one mail of `payments.notifications.NOTIFICATIONS`; its outbox row makes it sent once."""
    return outbox_task_run(outbox_id, lambda: NOTIFICATIONS[notification](**arguments))
