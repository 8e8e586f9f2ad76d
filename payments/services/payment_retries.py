"""Automatic retries of failed card payments."""

import datetime
import logging
from dataclasses import dataclass

from django.utils import timezone

from billing.activity import Actor
from billing.errors import BillingError
from members.models import Member
from payments.models import Payment, PaymentAttempt, PaymentMethod, PaymentMethodKind, PaymentStatus
from payments.services.payment_card import payment_retry

logger = logging.getLogger(__name__)
RETRIES = Actor.system("automatic retries")


@dataclass
class RetrySummary:
    due: int = 0
    retried: int = 0
    canceled: int = 0
    refused: int = 0


def payment_retries_run(*, now: datetime.datetime | None = None, progress=None) -> RetrySummary:
    """Retry every failed card payment whose next retry is due."""
    now = now or timezone.now()
    summary = RetrySummary()
    due = Payment.objects.filter(
        method=PaymentMethodKind.CARD, status=PaymentStatus.FAILED, next_retry_at__lte=now
    ).order_by("next_retry_at", "pk")
    for payment in due:
        summary.due += 1
        try:
            attempt = payment_retry(payment=payment, actor=RETRIES, trigger=PaymentAttempt.Trigger.AUTOMATIC)
        except BillingError as error:
            logger.info("Automatic retry of %s refused: %s", payment, error.message)
            Payment.objects.filter(pk=payment.pk, status=PaymentStatus.FAILED).update(next_retry_at=None)
            summary.refused += 1
        else:
            if attempt is None:
                summary.canceled += 1
            else:
                summary.retried += 1
        if progress:
            progress(payment.pk)
    return summary


def payments_retry_with_new_card(*, member: Member, payment_method: PaymentMethod) -> int:
    """A card the member just added pays their failed card payments at once. Returns how many were retried."""
    retried = 0
    failed = Payment.objects.filter(member=member, method=PaymentMethodKind.CARD, status=PaymentStatus.FAILED)
    for payment in failed.order_by("pk"):
        try:
            attempt = payment_retry(
                payment=payment,
                actor=Actor.system("new card"),
                payment_method=payment_method,
                trigger=PaymentAttempt.Trigger.NEW_CARD,
            )
        except BillingError as error:
            logger.info("Retry of %s with the new card refused: %s", payment, error.message)
            continue
        retried += attempt is not None
    return retried
