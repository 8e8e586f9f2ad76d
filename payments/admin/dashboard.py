"""The admin home page (`BillingAdminSite.index`): what needs doing today, from `payments.dashboard`'s reads.

A user sees the figures, queues and charts of the models they may view (each model admin's view permission), the
report links only with the reports' permission, and the models' list below: the billing apps first, then the
security ones (logins, groups, lockouts) under their own heading.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin import AdminSite
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from djmoney.money import Money

from billing.admin.base import VIEW_BILLING_REPORTS
from billing.models import Activity, Invoice, ShownStatus
from billing.money import money_format
from payments.admin.charts import Bar, bar_chart_svg
from payments.dashboard import (
    OVERDUE_QUEUE_DAYS,
    RECENT_ACTIVITY_COUNT,
    CurrencyFigures,
    Dashboard,
    DashboardParts,
    dashboard_read,
)
from payments.models import Payment, PaymentStatus, WebhookEvent
from payments.reports import AGING_BUCKETS

WEEK_LABEL = "j M"


@dataclass(frozen=True)
class Queue:
    key: str
    label: str
    count: int
    url: str
    hint: str


@dataclass(frozen=True)
class Chart:
    currency: str
    svg: SafeString


def may_view(site: AdminSite, request: HttpRequest, model) -> bool:
    model_admin = site._registry.get(model)
    return model_admin is not None and model_admin.has_view_permission(request)


def changelist_url(site: AdminSite, model, **query) -> str:
    url = reverse(f"{site.name}:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(query)}" if query else url


def queues_of(site: AdminSite, dashboard: Dashboard) -> list[Queue]:
    counts = dashboard.queues
    queues = [
        (
            "payments_failed",
            counts.payments_failed,
            ngettext("Failed payment awaiting retry", "Failed payments awaiting retry", counts.payments_failed or 0),
            changelist_url(site, Payment, status__exact=PaymentStatus.FAILED),
            _("Retry them (on the member's card or a new one) or cancel them."),
        ),
        (
            "payments_needing_review",
            counts.payments_needing_review,
            ngettext(
                "Payment with a charge or refund needing review",
                "Payments with a charge or refund needing review",
                counts.payments_needing_review or 0,
            ),
            changelist_url(site, Payment, needs_review="yes"),
            _("The gateway's answer is unknown: check it at the gateway."),
        ),
        (
            "webhook_events_failed",
            counts.webhook_events_failed,
            ngettext("Webhook event that failed", "Webhook events that failed", counts.webhook_events_failed or 0),
            changelist_url(site, WebhookEvent, state="failed"),
            _("Read the error, then reprocess them."),
        ),
        (
            "invoices_long_overdue",
            counts.invoices_long_overdue,
            ngettext(
                "Invoice overdue more than %(days)s days",
                "Invoices overdue more than %(days)s days",
                counts.invoices_long_overdue or 0,
            )
            % {"days": OVERDUE_QUEUE_DAYS},
            changelist_url(site, Invoice, overdue_for_more_than=OVERDUE_QUEUE_DAYS),
            _("Remind the member, charge a saved card or mark them uncollectible."),
        ),
    ]
    return [Queue(key, label, count, url, hint) for key, count, label, url, hint in queues if count is not None]


def report_url(site: AdminSite, name: str, **query) -> str:
    return f"{reverse(f'{site.name}:{name}')}?{urlencode(query)}"


def received_charts(site: AdminSite, dashboard: Dashboard, *, reports: bool) -> list[Chart]:
    """A chart per currency of the money received each week; each week links to the payments report of that week
    (for those who may read reports)."""
    charts = []
    for series in dashboard.received_per_week:
        linkable = reports and series.currency in settings.BILLING_CURRENCIES
        bars = [
            Bar(
                label=date_format(week.week_start, WEEK_LABEL),
                value=week.amount,
                text=money_format(Money(week.amount, series.currency)),
                url=report_url(
                    site,
                    "billing_report_payments",
                    date_from=week.week_start.isoformat(),
                    date_to=min(week.week_start + datetime.timedelta(days=6), dashboard.today).isoformat(),
                    status=PaymentStatus.SUCCEEDED,
                    currency=series.currency,
                )
                if linkable
                else None,
            )
            for week in series.weeks
        ]
        largest = max(week.amount for week in series.weeks)
        title = _("Money received per week in %(currency)s") % {"currency": series.currency}
        svg = bar_chart_svg(bars, title=title, largest_text=money_format(Money(largest, series.currency)))
        charts.append(Chart(series.currency, svg))
    return charts


def aging_charts(site: AdminSite, dashboard: Dashboard, *, reports: bool) -> list[Chart]:
    """A chart per currency of what is owed by days past due, in the aging report's buckets (linked to it)."""
    charts = []
    for row in dashboard.receivables_by_age:
        url = (
            report_url(site, "billing_report_aging", currency=row.currency)
            if reports and row.currency in settings.BILLING_CURRENCIES
            else None
        )
        bars = [
            Bar(
                label=str(label),
                value=row.buckets[key],
                text=money_format(Money(row.buckets[key], row.currency)),
                url=url,
            )
            for key, label, *_bounds in AGING_BUCKETS
        ]
        title = _("Receivables by age in %(currency)s") % {"currency": row.currency}
        charts.append(Chart(row.currency, bar_chart_svg(bars, title=title)))
    return charts


@dataclass(frozen=True)
class FigureRow:
    """A currency's figures and where they lead ("" for no link)."""

    figures: CurrencyFigures
    links: dict[str, str]


def figure_rows(site: AdminSite, dashboard: Dashboard, *, reports: bool) -> list[FigureRow]:
    """Per currency, the figures and where they lead: the overdue invoices, and (with the reports' permission) the
    month's payments and the members' credit."""
    rows = []
    for row in dashboard.figures:
        known = row.currency in settings.BILLING_CURRENCIES
        links = {
            "overdue": changelist_url(site, Invoice, shown_status=ShownStatus.OVERDUE, currency=row.currency)
            if row.overdue is not None and known
            else "",
            "received": report_url(
                site,
                "billing_report_payments",
                date_from=dashboard.month_start.isoformat(),
                date_to=dashboard.today.isoformat(),
                status=PaymentStatus.SUCCEEDED,
                currency=row.currency,
            )
            if reports and known and row.received is not None
            else "",
            "unallocated": report_url(site, "billing_report_member_credit", currency=row.currency)
            if reports and known and row.unallocated is not None
            else "",
        }
        rows.append(FigureRow(row, links))
    return rows


def app_lists(app_list: list[dict], security_apps: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """The billing apps, then the security apps."""
    return (
        [app for app in app_list if app["app_label"] not in security_apps],
        [app for app in app_list if app["app_label"] in security_apps],
    )


def dashboard_context(site: AdminSite, request: HttpRequest) -> dict:
    parts = DashboardParts(
        invoices=may_view(site, request, Invoice),
        payments=may_view(site, request, Payment),
        webhook_events=may_view(site, request, WebhookEvent),
        activity=may_view(site, request, Activity),
    )
    dashboard = dashboard_read(today=timezone.localdate(), parts=parts)
    reports = request.user.has_perm(VIEW_BILLING_REPORTS)
    billing_apps, security_apps = app_lists(site.get_app_list(request), getattr(site, "security_apps", ()))
    return {
        "dashboard": dashboard,
        "dashboard_parts": parts,
        "figure_rows": figure_rows(site, dashboard, reports=reports),
        "queues": queues_of(site, dashboard),
        "received_charts": received_charts(site, dashboard, reports=reports),
        "aging_charts": aging_charts(site, dashboard, reports=reports),
        "recent_activity": dashboard.recent_activity,
        "recent_activity_count": RECENT_ACTIVITY_COUNT,
        "activity_url": changelist_url(site, Activity) if parts.activity else "",
        "billing_apps": billing_apps,
        "security_apps": security_apps,
    }
