"""Flag for a person what a sweep could not settle in time (a charge or a refund whose gateway answer is unknown)."""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from djmoney.money import Money

from billing.activity import Actor, activity_record
from payments.models import Payment


def needs_review_flag(
    *,
    rows: QuerySet,
    started_at: datetime.datetime,
    now: datetime.datetime,
    payment: Payment,
    actor: Actor,
    verb: str,
    amount: Money,
    message: str,
    data: dict,
) -> bool:
    """Set `needs_review` on `rows` (the one attempt or refund, still unsettled) once BILLING_NEEDS_REVIEW_AFTER_HOURS
    have passed since it started, with an activity on its payment; False when it is too early or already flagged."""
    if started_at > now - datetime.timedelta(hours=settings.BILLING_NEEDS_REVIEW_AFTER_HOURS):
        return False
    with transaction.atomic(durable=True):
        flagged = rows.filter(needs_review=False).update(needs_review=True)
        if flagged:
            activity_record(
                actor=actor,
                verb=verb,
                member=payment.member,
                invoice=payment.invoice,
                target=payment,
                amount=amount,
                message=message,
                data=data,
            )
    return bool(flagged)
