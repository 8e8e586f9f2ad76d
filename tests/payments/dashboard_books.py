"""Hand-built books for the admin home's tests: invoices issued some days ago, and rows in every queue."""

import datetime

import time_machine
from django.utils import timezone
from djmoney.money import Money

from billing.services.invoice_void import invoice_mark_uncollectible
from payments.models import PaymentAttempt, PaymentStatus, Refund, WebhookEvent
from tests.factories import SYSTEM, MemberFactory, card_payment, external_payment, open_invoice


def issued_days_ago(days: int, *, amounts=("100.00",), currency="EUR", member=None, due_in: int = 0):
    """An open invoice issued `days` days ago, due `due_in` days after its issue."""
    issued = timezone.localdate() - datetime.timedelta(days=days)
    moment = timezone.make_aware(datetime.datetime.combine(issued, datetime.time(12)))
    with time_machine.travel(moment, tick=False):
        return open_invoice(
            amounts=list(amounts),
            currency=currency,
            member=member or MemberFactory(default_currency=currency),
            due_date=issued + datetime.timedelta(days=due_in),
        )


def card_failed(invoice):
    return card_payment(invoice=invoice, amount=str(invoice.amount_remaining.amount), status=PaymentStatus.FAILED)


def queue_rows() -> dict[str, set[int]]:
    """Rows in every queue (their ids, by queue), and rows beside them that must stay out."""
    failed = card_failed(issued_days_ago(0, amounts=["25.00"]))
    card_payment(invoice=issued_days_ago(0, amounts=["26.00"]), amount="26.00", status=PaymentStatus.SUCCEEDED)
    card_payment(invoice=issued_days_ago(0, amounts=["27.00"]), amount="27.00", status=PaymentStatus.CANCELED)

    charge_review = card_payment(invoice=issued_days_ago(0, amounts=["30.00"]), amount="30.00")
    for needs_review in (True, False):
        PaymentAttempt.objects.create(
            payment=charge_review,
            payment_method=charge_review.payment_method,
            amount=charge_review.amount,
            trigger=PaymentAttempt.Trigger.STAFF,
            gateway="sandbox",
            needs_review=needs_review,
            status="failed" if not needs_review else "processing",
        )
    refund_review = card_payment(invoice=issued_days_ago(0, amounts=["31.00"]), amount="31.00", status="succeeded")
    for _ in range(2):  # two flagged refunds of one payment: one payment to review
        Refund.objects.create(
            payment=refund_review,
            amount=Money("1.00", "EUR"),
            kind=Refund.Kind.GATEWAY,
            reason=Refund.Reason.OTHER,
            gateway="sandbox",
            needs_review=True,
        )

    now = timezone.now()
    webhook_failed = WebhookEvent.objects.create(
        gateway="stripe", event_id="evt_failed", type="charge.refunded", payload={}, failed_at=now, attempts=5
    )
    WebhookEvent.objects.create(gateway="stripe", event_id="evt_waiting", type="charge.refunded", payload={})
    WebhookEvent.objects.create(
        gateway="stripe",
        event_id="evt_reprocessed",
        type="charge.refunded",
        payload={},
        failed_at=now,
        processed_at=now,
    )

    long_overdue = issued_days_ago(31, amounts=["40.00"])
    issued_days_ago(30, amounts=["41.00"])  # 30 days past due: not more than 30
    paid_late = issued_days_ago(60, amounts=["42.00"])
    external_payment(invoice=paid_late)
    invoice_mark_uncollectible(invoice=issued_days_ago(90, amounts=["43.00"]), actor=SYSTEM)
    return {
        "payments_failed": {failed.pk},
        "payments_needing_review": {charge_review.pk, refund_review.pk},
        "webhook_events_failed": {webhook_failed.pk},
        "invoices_long_overdue": {long_overdue.pk},
    }
