"""Settle attempts whose outcome is unknown (a timeout, a worker that died) by asking the gateway.

Never a new idempotency key: an attempt is resumed with its own key and its stored gateway id. What cannot be
settled within BILLING_NEEDS_REVIEW_AFTER_HOURS is flagged "needs review" for a person to look at.
"""

import datetime
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from payments.gateways import gateway_get
from payments.gateways.base import Gateway, GatewayError
from payments.models import AttemptStatus, PaymentAttempt
from payments.services.attempt_execute import SYSTEM, attempt_execute
from payments.services.needs_review import needs_review_flag

logger = logging.getLogger(__name__)


@dataclass
class ReconcileSummary:
    checked: int = 0
    settled: int = 0
    still_unknown: int = 0
    flagged: list[str] = field(default_factory=list)


def attempts_to_reconcile(*, now: datetime.datetime):
    threshold = now - datetime.timedelta(minutes=settings.BILLING_RECONCILE_AFTER_MINUTES)
    return PaymentAttempt.objects.filter(
        Q(status=AttemptStatus.PROCESSING, sent_at__lte=threshold)
        | Q(status=AttemptStatus.QUEUED, created_at__lte=threshold)
    )


def attempts_reconcile(
    *, now: datetime.datetime | None = None, gateway: Gateway | None = None, progress=None
) -> ReconcileSummary:
    now = now or timezone.now()
    gateway = gateway or gateway_get()
    summary = ReconcileSummary()
    attempt_ids = sorted(attempt.pk for attempt in attempts_to_reconcile(now=now))
    for attempt_id in attempt_ids:
        summary.checked += 1
        try:
            attempt = attempt_execute(attempt_id=attempt_id, gateway=gateway)
        except GatewayError as error:
            logger.warning("Attempt %s could not be reconciled: %s", attempt_id, error.message)
            attempt = PaymentAttempt.objects.get(pk=attempt_id)
        if attempt.status in (AttemptStatus.QUEUED, AttemptStatus.PROCESSING):
            summary.still_unknown += 1
            if _flag_if_overdue(attempt, now=now):
                summary.flagged.append(str(attempt.payment.number))
        else:
            summary.settled += 1
        if progress:
            progress(attempt_id)
    return summary


def _flag_if_overdue(attempt: PaymentAttempt, *, now: datetime.datetime) -> bool:
    if attempt.needs_review:
        return False
    return needs_review_flag(
        rows=PaymentAttempt.objects.filter(pk=attempt.pk),
        started_at=attempt.sent_at or attempt.created_at,
        now=now,
        payment=attempt.payment,
        actor=SYSTEM,
        verb="payment.needs_review",
        amount=attempt.amount,
        message="The gateway's answer for this charge is still unknown; check it in the gateway's dashboard.",
        data={"attempt": str(attempt.uid), "gateway_payment_id": attempt.gateway_payment_id},
    )
