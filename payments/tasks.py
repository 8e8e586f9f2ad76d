"""Celery tasks: thin wrappers that call one service each."""

import logging

from celery import shared_task

from payments.gateways import gateway_get
from payments.gateways.base import GatewayUnavailable

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=8, acks_late=True)
def attempt_execute_task(self, attempt_id: int) -> str:
    from payments.services.attempt_execute import attempt_execute

    try:
        attempt = attempt_execute(attempt_id=attempt_id)
    except GatewayUnavailable as error:
        # Nothing was charged yet, or the gateway will be asked again with the same key: try the same attempt later.
        if self.request.is_eager:
            logger.warning("Attempt %s: %s; reconciliation will resume it.", attempt_id, error.message)
            return "unknown"
        raise self.retry(exc=error, countdown=min(120 * 2**self.request.retries, 3600)) from error
    return attempt.status


@shared_task
def attempts_reconcile_task() -> dict:
    from payments.services.attempt_reconcile import attempts_reconcile

    summary = attempts_reconcile()
    return {"checked": summary.checked, "settled": summary.settled, "flagged": summary.flagged}


@shared_task
def payment_retries_run_task() -> dict:
    from payments.services.payment_retries import payment_retries_run

    summary = payment_retries_run()
    return {"due": summary.due, "retried": summary.retried, "canceled": summary.canceled}


@shared_task
def payments_retry_with_new_card_task(member_id: int, payment_method_id: int) -> int:
    from members.models import Member
    from payments.models import PaymentMethod
    from payments.services.payment_retries import payments_retry_with_new_card

    return payments_retry_with_new_card(
        member=Member.objects.get(pk=member_id), payment_method=PaymentMethod.objects.get(pk=payment_method_id)
    )


@shared_task(bind=True, max_retries=8)
def payment_method_detach_task(self, gateway_id: str) -> None:
    try:
        gateway_get().card_detach(gateway_id=gateway_id)
    except GatewayUnavailable as error:
        raise self.retry(exc=error, countdown=60) from error


@shared_task(autoretry_for=(Exception,), retry_backoff=60, max_retries=5)
def webhook_event_process_task(webhook_event_id: int) -> str:
    from payments.services.webhook import webhook_event_process

    return webhook_event_process(webhook_event_id=webhook_event_id)


@shared_task(bind=True, max_retries=8, acks_late=True)
def refund_execute_task(self, refund_id: int) -> str:
    from payments.services.refund import refund_execute

    try:
        refund = refund_execute(refund_id=refund_id)
    except GatewayUnavailable as error:
        if self.request.is_eager:
            logger.warning("Refund %s: %s; it stays pending and will be tried again.", refund_id, error.message)
            return "pending"
        raise self.retry(exc=error, countdown=min(120 * 2**self.request.retries, 3600)) from error
    return refund.status
