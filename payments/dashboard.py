"""The admin home's reads: what is owed and received per currency, the queues of what needs doing, the charts' series
and the recent activity.

Every figure is counted or summed in the database (`values` + `Sum`/`Count`), so the home page costs the same few
queries with ten payments or half a million. Money is counted as the reports count it (payments/reports.py):
received is what succeeded payments brought in, by the day it was received (else created); void, failed and
canceled payments bring in nothing. Each queue is the very query its list filter runs, so a count and the list it
links to always agree.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncWeek

from billing.models import PAYABLE_STATUSES, Activity, Invoice, InvoiceStatus
from payments.models import Payment, PaymentAttempt, PaymentStatus, Refund, WebhookEvent
from payments.reports import (
    AgingRow,
    PaymentReportFilters,
    aging_report_queryset,
    aging_report_totals,
    amount_at_scale,
    payments_report_queryset,
    payments_report_totals,
)

# The queue of long-overdue invoices: open, more than this many days past their due date.
OVERDUE_QUEUE_DAYS = 30
# Weeks the chart of money received shows, the current one included.
RECEIVED_WEEKS = 12
RECENT_ACTIVITY_COUNT = 10


# The queues: each list filter of the admin runs the same function. --------------------------------------------


def payments_failed(queryset: QuerySet[Payment] | None = None) -> QuerySet[Payment]:
    """Failed card payments, waiting to be retried (automatically or by hand) or canceled."""
    return (Payment.objects.all() if queryset is None else queryset).filter(status=PaymentStatus.FAILED)


def payment_ids_needing_review() -> QuerySet:
    """The ids of the payments with a charge attempt or a refund whose outcome reconciliation could not settle: one
    UNION of two small indexed reads (`needs_review` is rare)."""
    attempts = PaymentAttempt.objects.filter(needs_review=True).values("payment_id").order_by()
    refunds = Refund.objects.filter(needs_review=True).values("payment_id").order_by()
    return attempts.union(refunds)


def payments_needing_review(queryset: QuerySet[Payment] | None = None) -> QuerySet[Payment]:
    queryset = Payment.objects.all() if queryset is None else queryset
    return queryset.filter(
        Q(pk__in=PaymentAttempt.objects.filter(needs_review=True).values("payment_id"))
        | Q(pk__in=Refund.objects.filter(needs_review=True).values("payment_id"))
    )


WEBHOOK_EVENT_FAILED = Q(processed_at__isnull=True, failed_at__isnull=False)


def webhook_events_failed(queryset: QuerySet[WebhookEvent] | None = None) -> QuerySet[WebhookEvent]:
    """Events that failed for good (every try made) and were not processed since."""
    return (WebhookEvent.objects.all() if queryset is None else queryset).filter(WEBHOOK_EVENT_FAILED)


def invoices_long_overdue(
    queryset: QuerySet[Invoice] | None = None, *, today: datetime.date | None = None
) -> QuerySet[Invoice]:
    """Open invoices more than OVERDUE_QUEUE_DAYS days past their due date."""
    return (Invoice.objects.all() if queryset is None else queryset).overdue_for_more_than(
        OVERDUE_QUEUE_DAYS, today=today
    )


# What the home page shows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardParts:
    """Which parts to read (what the user may see): invoices, payments, webhook events, the activity log."""

    invoices: bool = True
    payments: bool = True
    webhook_events: bool = True
    activity: bool = True


@dataclass
class CurrencyFigures:
    """One currency's money. `open` is what open invoices still ask for, `overdue` the part of it past its due date;
    `received` what succeeded payments received this month brought in (`refunded` of it went back since);
    `unallocated` the money of succeeded payments not applied to any invoice yet (the members' unallocated
    credit); `uncollectible` what invoices marked uncollectible still ask for (outside `open`, inside the aging).
    A figure the user may not see is None."""

    currency: str
    open: Decimal | None = None
    overdue: Decimal | None = None
    uncollectible: Decimal | None = None
    received: Decimal | None = None
    refunded: Decimal | None = None
    unallocated: Decimal | None = None


@dataclass(frozen=True)
class WeekReceived:
    week_start: datetime.date
    amount: Decimal


@dataclass(frozen=True)
class ReceivedSeries:
    """Money received per week in one currency, oldest week first (a week without payments is zero)."""

    currency: str
    weeks: list[WeekReceived]


@dataclass(frozen=True)
class Queues:
    """How many rows each queue holds; None for a queue the user may not see."""

    payments_failed: int | None = None
    payments_needing_review: int | None = None
    webhook_events_failed: int | None = None
    invoices_long_overdue: int | None = None


@dataclass
class Dashboard:
    today: datetime.date
    month_start: datetime.date
    figures: list[CurrencyFigures] = field(default_factory=list)
    queues: Queues = field(default_factory=Queues)
    received_per_week: list[ReceivedSeries] = field(default_factory=list)
    receivables_by_age: list[AgingRow] = field(default_factory=list)
    recent_activity: list[Activity] = field(default_factory=list)


def owed(*, today: datetime.date) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """Per currency, what open invoices still ask for, the part of it past due, and what uncollectible invoices
    still ask for: one grouped query (on the index of the invoices that are owed something)."""
    is_open = Q(status=InvoiceStatus.OPEN)
    rows = (
        Invoice.objects.filter(status__in=PAYABLE_STATUSES, amount_remaining__gt=0)
        .values("currency")
        .annotate(
            open=Sum("amount_remaining", filter=is_open),
            overdue=Sum("amount_remaining", filter=is_open & Q(due_date__lt=today)),
            uncollectible=Sum("amount_remaining", filter=Q(status=InvoiceStatus.UNCOLLECTIBLE)),
        )
        .order_by("currency")
    )
    return {
        row["currency"]: tuple(
            amount_at_scale(row[name], row["currency"]) for name in ("open", "overdue", "uncollectible")
        )
        for row in rows
    }


def received_between(*, date_from: datetime.date, date_to: datetime.date) -> dict[str, tuple[Decimal, Decimal]]:
    """Per currency, what succeeded payments received in the period brought in, and what was refunded of it, as the
    payments report's totals count them: one grouped query."""
    totals = payments_report_totals(
        payments_report_queryset(PaymentReportFilters(date_from=date_from, date_to=date_to))
    )
    return {total.currency: (total.received, total.refunded) for total in totals if total.received_count}


def unallocated_credit() -> dict[str, Decimal]:
    """Per currency, the money of succeeded payments not applied to any invoice: one grouped query (on the index of
    the payments that keep money unallocated)."""
    rows = (
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0)
        .values("currency")
        .annotate(total=Sum("amount_unallocated"))
        .order_by("currency")
    )
    return {row["currency"]: amount_at_scale(row["total"], row["currency"]) for row in rows}


def week_start(day: datetime.date) -> datetime.date:
    """The Monday of the day's week."""
    return day - datetime.timedelta(days=day.weekday())


def received_per_week(*, today: datetime.date, weeks: int = RECEIVED_WEEKS) -> list[ReceivedSeries]:
    """Per currency, what succeeded payments brought in each week (Monday to Sunday) of the last `weeks` weeks,
    today's included: one grouped query on the payments report's date index."""
    first = week_start(today) - datetime.timedelta(weeks=weeks - 1)
    starts = [first + datetime.timedelta(weeks=index) for index in range(weeks)]
    rows = (
        payments_report_queryset(PaymentReportFilters(date_from=first, date_to=today))
        .filter(status=PaymentStatus.SUCCEEDED)
        .annotate(week=TruncWeek("report_date"))
        .values("currency", "week")
        .annotate(total=Sum("amount"))
        .order_by("currency", "week")
    )
    sums: dict[str, dict[datetime.date, Decimal]] = {}
    for row in rows:  # a row per currency and week: at most `weeks` per currency
        week = row["week"].date() if isinstance(row["week"], datetime.datetime) else row["week"]
        sums.setdefault(row["currency"], {})[week] = amount_at_scale(row["total"], row["currency"])
    return [
        ReceivedSeries(
            currency=currency,
            weeks=[
                WeekReceived(week_start=start, amount=by_week.get(start, amount_at_scale(None, currency)))
                for start in starts
            ],
        )
        for currency, by_week in sorted(sums.items())
    ]


def receivables_by_age(*, today: datetime.date) -> list[AgingRow]:
    """Per currency, what is owed by days past due, in the aging report's buckets: one grouped query."""
    return aging_report_totals(aging_report_queryset(as_of=today), as_of=today)


def queues_count(*, today: datetime.date, parts: DashboardParts) -> Queues:
    """The queues' sizes: one COUNT each."""
    return Queues(
        payments_failed=payments_failed().count() if parts.payments else None,
        payments_needing_review=payment_ids_needing_review().count() if parts.payments else None,
        webhook_events_failed=webhook_events_failed().count() if parts.webhook_events else None,
        invoices_long_overdue=invoices_long_overdue(today=today).count() if parts.invoices else None,
    )


def recent_activity(*, limit: int = RECENT_ACTIVITY_COUNT) -> QuerySet[Activity]:
    """The newest records of the activity log (on its `created_at` index)."""
    return Activity.objects.order_by("-created_at", "-id")[:limit]


def dashboard_read(*, today: datetime.date, parts: DashboardParts = DashboardParts()) -> Dashboard:
    """Everything the home page shows of the parts asked for: at most nine queries, whatever the size of the
    books, and one more when the page reads the activity's rows."""
    month_start = today.replace(day=1)
    dashboard = Dashboard(today=today, month_start=month_start, queues=queues_count(today=today, parts=parts))
    figures: dict[str, CurrencyFigures] = {}

    def of(currency: str) -> CurrencyFigures:
        return figures.setdefault(currency, CurrencyFigures(currency))

    if parts.invoices:
        for currency, (open_amount, overdue, uncollectible) in owed(today=today).items():
            of(currency).open, of(currency).overdue, of(currency).uncollectible = open_amount, overdue, uncollectible
        dashboard.receivables_by_age = receivables_by_age(today=today)
    if parts.payments:
        for currency, (received, refunded) in received_between(date_from=month_start, date_to=today).items():
            of(currency).received, of(currency).refunded = received, refunded
        for currency, unallocated in unallocated_credit().items():
            of(currency).unallocated = unallocated
        dashboard.received_per_week = received_per_week(today=today)
    zero_unless_hidden(figures.values(), parts)
    dashboard.figures = [figures[currency] for currency in sorted(figures)]
    if parts.activity:
        dashboard.recent_activity = recent_activity()
    return dashboard


def zero_unless_hidden(figures, parts: DashboardParts) -> None:
    """A currency seen in one figure shows zero in the others the user may see (not a blank)."""
    for row in figures:
        zero = amount_at_scale(None, row.currency)
        if parts.invoices:
            row.open = zero if row.open is None else row.open
            row.overdue = zero if row.overdue is None else row.overdue
            row.uncollectible = zero if row.uncollectible is None else row.uncollectible
        if parts.payments:
            row.received = zero if row.received is None else row.received
            row.refunded = zero if row.refunded is None else row.refunded
            row.unallocated = zero if row.unallocated is None else row.unallocated
