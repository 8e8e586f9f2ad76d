"""Automatic retries of failed card payments."""

import datetime
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from billing.activity import Actor, activity_record
from billing.errors import BillingError
from billing.lock_objects import member_lock
from members.models import Member
from payments.amounts import invoice_reserved
from payments.lock_objects import payment_lock
from payments.models import Payment, PaymentAttempt, PaymentMethod, PaymentMethodKind, PaymentStatus
from payments.services.attempt_execute import payment_failed_for_good_mail_add
from payments.services.payment_card import payment_retry

logger = logging.getLogger(__name__)
RETRIES = Actor.system("automatic retries")
RETRY_POSTPONEMENT = datetime.timedelta(hours=1)


@dataclass
class RetrySummary:
    due: int = 0
    retried: int = 0
    canceled: int = 0
    postponed: int = 0
    refused: int = 0


def payments_retry_due(*, now: datetime.datetime):
    """Failed card payments whose next automatic retry is due, the longest waiting first."""
    return Payment.objects.filter(
        method=PaymentMethodKind.CARD, status=PaymentStatus.FAILED, next_retry_at__lte=now
    ).order_by("next_retry_at", "pk")


def payment_retries_run(*, now: datetime.datetime | None = None, progress=None) -> RetrySummary:
    """Retry every failed card payment whose next retry is due."""
    now = now or timezone.now()
    summary = RetrySummary()
    for payment in payments_retry_due(now=now):
        summary.due += 1
        try:
            attempt = payment_retry(payment=payment, actor=RETRIES, trigger=PaymentAttempt.Trigger.AUTOMATIC)
        except BillingError as error:
            logger.info("Automatic retry of %s refused: %s", payment, error.message)
            if any(invoice_reserved(target.invoice).amount > 0 for target in payment.targets.all()):
                _retry_postpone(payment=payment, now=now)
                summary.postponed += 1
            else:
                _retries_stop(payment=payment, reason=error.message)
                summary.refused += 1
        else:
            if attempt is None:
                summary.canceled += 1
            else:
                summary.retried += 1
        if progress:
            progress(payment.pk)
    return summary


def _retry_postpone(*, payment: Payment, now: datetime.datetime) -> None:
    """Another card payment for the invoice is at the gateway: look again once it has answered."""
    Payment.objects.filter(pk=payment.pk, status=PaymentStatus.FAILED, next_retry_at__isnull=False).update(
        next_retry_at=now + RETRY_POSTPONEMENT
    )


def _retries_stop(*, payment: Payment, reason: str) -> None:
    """The retry cannot be made (no card left, nothing to charge): the payment has failed for good."""
    with transaction.atomic(durable=True):
        member_lock(payment.member_id)
        payment = payment_lock(payment.pk)
        if payment.status != PaymentStatus.FAILED or payment.next_retry_at is None:
            return
        payment.next_retry_at = None
        payment.save(update_fields=["next_retry_at"])
        activity_record(
            actor=RETRIES,
            verb="payment.retries_stopped",
            member=payment.member,
            invoice=payment.invoice,
            target=payment,
            amount=payment.amount,
            message=reason,
        )
        payment_failed_for_good_mail_add(payment_id=payment.pk)


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
