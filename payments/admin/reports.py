"""The billing reports in the admin: payments, accounts receivable aging and member credit.

Each report is a page of the admin site (`/admin/reports/...`) with a filter form; the same URL with
`?format=csv` downloads what the page shows, with the same filters. Only users with the
`payments.view_billing_reports` permission (and superusers) see and open them.
"""

import io
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.admin.base import VIEW_BILLING_REPORTS
from billing.admin.fields import BoundedDateField
from payments.models import PaymentStatus
from payments.reports import (
    AGING_BUCKETS,
    PAYMENT_METHOD_CHOICES,
    PaymentReportFilters,
    ReportPage,
    aging_csv_write,
    aging_report,
    aging_report_page,
    member_credit_csv_write,
    member_credit_report,
    member_credit_report_page,
    payments_csv_write,
    payments_report_default_period,
    payments_report_ordered,
    payments_report_queryset,
    payments_report_row_iterator,
    payments_report_rows,
    payments_report_totals,
)

PAYMENTS_PER_PAGE = 100
# Members per page of the aging and member credit reports (a row per member and currency).
MEMBERS_PER_PAGE = 100
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def currency_choices() -> list[tuple[str, str]]:
    return [("", _("All currencies")), *((code, code) for code in settings.BILLING_CURRENCIES)]


class PaymentReportForm(forms.Form):
    date_from = BoundedDateField(label=gettext_lazy("From"), required=False, widget=DATE_INPUT)
    date_to = BoundedDateField(label=gettext_lazy("To"), required=False, widget=DATE_INPUT)
    method = forms.ChoiceField(
        label=gettext_lazy("Method"),
        required=False,
        choices=[("", gettext_lazy("All methods")), *PAYMENT_METHOD_CHOICES],
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("All statuses")), *PaymentStatus.choices],
    )
    currency = forms.ChoiceField(label=gettext_lazy("Currency"), required=False, choices=currency_choices)

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError(
                _("The start date %(start)s is after the end date %(end)s.") % {"start": date_from, "end": date_to}
            )
        return cleaned

    def filters(self) -> PaymentReportFilters:
        data = self.cleaned_data
        return PaymentReportFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            method=data.get("method") or "",
            status=data.get("status") or "",
            currency=data.get("currency") or "",
        )


def payments_report_data(query: QueryDict) -> QueryDict:
    """The payments report's filters: as asked, or, when the query names no date at all, the default period
    (`payments_report_default_period`) filled in, so that the form shows what the totals cover and the CSV link
    and the pages keep it. Dates sent empty mean every payment ever received."""
    if "date_from" in query or "date_to" in query:
        return query
    query = query.copy()
    date_from, date_to = payments_report_default_period(timezone.localdate())
    query["date_from"], query["date_to"] = date_from.isoformat(), date_to.isoformat()
    return query


class AgingReportForm(forms.Form):
    as_of = BoundedDateField(
        label=gettext_lazy("As of"), required=False, widget=DATE_INPUT, help_text=gettext_lazy("Today when empty.")
    )
    currency = forms.ChoiceField(label=gettext_lazy("Currency"), required=False, choices=currency_choices)


class CreditReportForm(forms.Form):
    currency = forms.ChoiceField(label=gettext_lazy("Currency"), required=False, choices=currency_choices)


def csv_response(filename: str, write: Callable[[io.StringIO], None]) -> HttpResponse:
    output = io.StringIO()
    write(output)
    response = HttpResponse(output.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def query_without(query: QueryDict, *names: str) -> str:
    query = query.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


REPORTS = (
    (
        "payments",
        gettext_lazy("Payments"),
        gettext_lazy("Payments by date, method and status, with totals per currency."),
    ),
    (
        "aging",
        gettext_lazy("Accounts receivable aging"),
        gettext_lazy("What members still owe, by days past the due date."),
    ),
    (
        "member_credit",
        gettext_lazy("Member credit"),
        gettext_lazy("Unallocated payments and money balances, per member."),
    ),
)


class BillingReports:
    """The report pages of an admin site (`coworking_billing.admin.BillingAdminSite.get_urls`)."""

    def __init__(self, admin_site: AdminSite):
        self.admin_site = admin_site

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("reports/", view(self.index_view), name="billing_reports"),
            path("reports/payments/", view(self.payments_view), name="billing_report_payments"),
            path("reports/aging/", view(self.aging_view), name="billing_report_aging"),
            path("reports/member-credit/", view(self.member_credit_view), name="billing_report_member_credit"),
        ]

    @staticmethod
    def permission_require(request: HttpRequest) -> None:
        if not request.user.has_perm(VIEW_BILLING_REPORTS):
            raise PermissionDenied

    def url(self, name: str) -> str:
        return reverse(f"{self.admin_site.name}:{name}")

    def render(self, request: HttpRequest, template: str, *, title: str, form: forms.Form, **extra) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "reports_url": self.url("billing_reports"),
            "csv_query": query_without(request.GET, "format", "page"),
            **extra,
        }
        return TemplateResponse(request, template, context)

    def index_view(self, request: HttpRequest) -> HttpResponse:
        self.permission_require(request)
        reports = [
            {"url": self.url(f"billing_report_{key}"), "title": title, "description": description}
            for key, title, description in REPORTS
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Billing reports"),
            "reports": reports,
        }
        return TemplateResponse(request, "admin/reports/index.html", context)

    def payments_view(self, request: HttpRequest) -> HttpResponse:
        self.permission_require(request)
        data = payments_report_data(request.GET)
        form = PaymentReportForm(data)
        queries = {"csv_query": query_without(data, "format", "page"), "page_query": query_without(data, "page")}
        if not form.is_valid():
            return self.render(request, "admin/reports/payments.html", title=_("Payments report"), form=form, **queries)
        queryset = payments_report_queryset(form.filters())
        totals = payments_report_totals(queryset)
        ordered = payments_report_ordered(queryset)
        if wants_csv(request):
            return csv_response(
                f"payments-{timezone.localdate().isoformat()}.csv",
                lambda output: payments_csv_write(output, payments_report_row_iterator(ordered), totals),
            )
        count = sum(total.count for total in totals)
        paginator = Paginator(ordered, PAYMENTS_PER_PAGE)
        paginator.count = count  # known from the totals: no COUNT query
        page = paginator.get_page(request.GET.get("page"))
        return self.render(
            request,
            "admin/reports/payments.html",
            title=_("Payments report"),
            form=form,
            rows=payments_report_rows(page.object_list),
            totals=totals,
            page=page,
            count=count,
            period=(form.cleaned_data.get("date_from"), form.cleaned_data.get("date_to")),
            **queries,
        )

    def aging_view(self, request: HttpRequest) -> HttpResponse:
        self.permission_require(request)
        form = AgingReportForm(request.GET)
        if not form.is_valid():
            return self.render(request, "admin/reports/aging.html", title=_("Accounts receivable aging"), form=form)
        as_of = form.cleaned_data.get("as_of") or timezone.localdate()
        currency = form.cleaned_data.get("currency") or ""
        if wants_csv(request):
            rows, totals = aging_report(as_of=as_of, currency=currency)
            return csv_response(
                f"receivables-aging-{as_of.isoformat()}.csv", lambda output: aging_csv_write(output, rows, totals)
            )
        page = ReportPage.parse(request.GET.get("page"), size=MEMBERS_PER_PAGE)
        rows, totals, has_next = aging_report_page(as_of=as_of, currency=currency, page=page)
        return self.render(
            request,
            "admin/reports/aging.html",
            title=_("Accounts receivable aging"),
            form=form,
            as_of=as_of,
            bucket_labels=[label for _, label, *_ in AGING_BUCKETS],
            rows=rows,
            totals=totals,
            **self.page_links(request, page, has_next=has_next),
        )

    @staticmethod
    def page_links(request: HttpRequest, page: ReportPage, *, has_next: bool) -> dict:
        """The previous and next links of a report that does not count its rows."""
        return {
            "page_number": page.number,
            "page_query": query_without(request.GET, "page"),
            "previous_page": page.number - 1 if page.number > 1 else None,
            "next_page": page.number + 1 if has_next else None,
        }

    def member_credit_view(self, request: HttpRequest) -> HttpResponse:
        self.permission_require(request)
        form = CreditReportForm(request.GET)
        if not form.is_valid():
            return self.render(request, "admin/reports/member_credit.html", title=_("Member credit"), form=form)
        currency = form.cleaned_data.get("currency") or ""
        if wants_csv(request):
            rows, totals = member_credit_report(currency=currency)
            return csv_response(
                f"member-credit-{timezone.localdate().isoformat()}.csv",
                lambda output: member_credit_csv_write(output, rows, totals),
            )
        page = ReportPage.parse(request.GET.get("page"), size=MEMBERS_PER_PAGE)
        rows, totals, has_next = member_credit_report_page(currency=currency, page=page)
        return self.render(
            request,
            "admin/reports/member_credit.html",
            title=_("Member credit"),
            form=form,
            rows=rows,
            totals=totals,
            **self.page_links(request, page, has_next=has_next),
        )
