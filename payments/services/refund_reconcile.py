"""Settle card refunds still pending after BILLING_RECONCILE_AFTER_MINUTES (their task never ran, the gateway did
not answer, a webhook was lost), the same safety net as `attempt_reconcile` for charges.

A refund the gateway knows (it has a gateway refund id) is asked about by that id; one never sent is sent with its
own idempotency key, so a refund the gateway made but whose answer we lost is not made twice. What cannot be settled
within BILLING_NEEDS_REVIEW_AFTER_HOURS is flagged "needs review" for a person to look at.
"""

import datetime
import logging

from django.conf import settings
from django.utils import timezone

from payments.gateways import gateway_get
from payments.gateways.base import Gateway, GatewayError
from payments.models import Refund, RefundStatus
from payments.services.attempt_reconcile import ReconcileSummary
from payments.services.needs_review import needs_review_flag
from payments.services.refund import SYSTEM, refund_execute, refund_record_outcome

logger = logging.getLogger(__name__)


def refunds_to_reconcile(*, now: datetime.datetime):
    threshold = now - datetime.timedelta(minutes=settings.BILLING_RECONCILE_AFTER_MINUTES)
    return Refund.objects.filter(kind=Refund.Kind.GATEWAY, status=RefundStatus.PENDING, created_at__lte=threshold)


def refunds_reconcile(
    *, now: datetime.datetime | None = None, gateway: Gateway | None = None, progress=None
) -> ReconcileSummary:
    now = now or timezone.now()
    gateway = gateway or gateway_get()
    summary = ReconcileSummary()
    for refund_id in sorted(refunds_to_reconcile(now=now).values_list("pk", flat=True)):
        summary.checked += 1
        try:
            refund = _refund_settle(refund_id, gateway)
        except GatewayError as error:
            logger.warning("Refund %s could not be reconciled: %s", refund_id, error.message)
            refund = Refund.objects.get(pk=refund_id)
        if refund.status == RefundStatus.PENDING:
            summary.still_unknown += 1
            if _flag_if_overdue(refund, now=now):
                summary.flagged.append(f"refund of {refund.amount} from {refund.payment.number}")
        else:
            summary.settled += 1
        if progress:
            progress(refund_id)
    return summary


def _refund_settle(refund_id: int, gateway: Gateway) -> Refund:
    refund = Refund.objects.get(pk=refund_id)
    if refund.gateway_refund_id:
        result = gateway.refund_retrieve(gateway_refund_id=refund.gateway_refund_id)
        return refund_record_outcome(refund_id=refund.pk, result=result)
    return refund_execute(refund_id=refund.pk, gateway=gateway)


def _flag_if_overdue(refund: Refund, *, now: datetime.datetime) -> bool:
    if refund.needs_review:
        return False
    return needs_review_flag(
        rows=Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING),
        started_at=refund.sent_at or refund.created_at,
        now=now,
        payment=refund.payment,
        actor=SYSTEM,
        verb="refund.needs_review",
        amount=refund.amount,
        message="The gateway's answer for this refund is still unknown; check it in the gateway's dashboard.",
        data={"refund": str(refund.uid), "gateway_refund_id": refund.gateway_refund_id},
    )
