"""The admin home (SPEC 13): money per currency, the queues of what needs doing and their lists, the charts' series,
the recent activity, and what a staff user without a model's view permission does not see."""

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from djmoney.money import Money

from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from payments.dashboard import (
    CurrencyFigures,
    DashboardParts,
    Queues,
    dashboard_read,
    received_per_week,
    week_start,
)
from payments.models import Refund
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund
from tests.factories import SYSTEM, MemberFactory, UserFactory, external_payment, standalone_payment
from tests.payments.dashboard_books import card_failed, issued_days_ago, queue_rows

pytestmark = pytest.mark.django_db

D = Decimal


# Money per currency ----------------------------------------------------------------------------------------------


def test_nothing_at_all_reads_no_currency_empty_queues_and_no_series(today):
    dashboard = dashboard_read(today=today)

    assert dashboard.figures == []
    assert dashboard.queues == Queues(0, 0, 0, 0)
    assert dashboard.received_per_week == []
    assert dashboard.receivables_by_age == []
    assert list(dashboard.recent_activity) == []


def test_open_overdue_received_and_unallocated_per_currency(today):
    """EUR: open 100 (not due) + 70 overdue + 120 left of a partly paid one; received this month 80 + 30 (of
    which 10 refunded) + 60 (refunded 20); voided, failed and last month's payments are not received."""
    issued_days_ago(0, amounts=["100.00"], due_in=14)
    issued_days_ago(10, amounts=["70.00"])
    partly_paid = issued_days_ago(0, amounts=["200.00"], due_in=14)
    external_payment(invoice=partly_paid, amount="80.00")
    standalone = standalone_payment(member=partly_paid.member, amount="30.00")
    payment_refund(payment=standalone, amount=Money("10.00", "EUR"), reason=Refund.Reason.OTHER, actor=SYSTEM)
    refunded = external_payment(invoice=issued_days_ago(0, amounts=["60.00"], due_in=14))
    payment_refund(
        payment=refunded,
        amount=Money("20.00", "EUR"),
        reason=Refund.Reason.OTHER,
        actor=SYSTEM,
        invoice_handling=Refund.InvoiceHandling.REOPEN,
    )
    voided = external_payment(invoice=issued_days_ago(0, amounts=["45.00"], due_in=14))
    payment_void(payment=voided, actor=SYSTEM, reason="bounced")
    card_failed(issued_days_ago(0, amounts=["25.00"], due_in=14))
    last_month = issued_days_ago(0, amounts=["500.00"], due_in=14)
    payment_last_month = external_payment(invoice=last_month)
    type(payment_last_month).objects.filter(pk=payment_last_month.pk).update(
        received_on=today.replace(day=1) - datetime.timedelta(days=1)
    )
    # GBP: overdue 40, and 15 uncollectible (apart from open); nothing received.
    issued_days_ago(20, amounts=["40.00"], currency="GBP")
    invoice_mark_uncollectible(invoice=issued_days_ago(3, amounts=["15.00"], currency="GBP"), actor=SYSTEM)
    # A void invoice owes nothing.
    invoice_void(invoice=issued_days_ago(40, amounts=["999.00"]), actor=SYSTEM)

    figures = dashboard_read(today=today).figures

    assert figures == [
        CurrencyFigures(
            "EUR",
            open=D("100.00") + D("70.00") + D("120.00") + D("20.00") + D("45.00") + D("25.00"),
            overdue=D("70.00"),
            uncollectible=D("0.00"),
            received=D("80.00") + D("30.00") + D("60.00"),
            refunded=D("10.00") + D("20.00"),
            unallocated=D("20.00"),
        ),
        CurrencyFigures(
            "GBP",
            open=D("40.00"),
            overdue=D("40.00"),
            uncollectible=D("15.00"),
            received=D("0.00"),
            refunded=D("0.00"),
            unallocated=D("0.00"),
        ),
    ]


def test_amounts_keep_their_currency_scale(today):
    issued_days_ago(5, amounts=["1500"], currency="JPY")

    (figures,) = dashboard_read(today=today).figures

    assert figures.currency == "JPY"
    assert str(figures.open) == "1500" and str(figures.received) == "0"


def test_a_user_without_payments_sees_no_payment_figures(today):
    external_payment(invoice=issued_days_ago(0, amounts=["50.00"], due_in=5), amount="20.00")

    dashboard = dashboard_read(today=today, parts=DashboardParts(payments=False))

    assert dashboard.figures == [CurrencyFigures("EUR", open=D("30.00"), overdue=D("0.00"), uncollectible=D("0.00"))]
    assert dashboard.queues.payments_failed is None and dashboard.queues.payments_needing_review is None
    assert dashboard.received_per_week == []


# The charts' series ----------------------------------------------------------------------------------------------


def test_money_received_per_week_counts_succeeded_payments_by_the_day_received(today):
    member = MemberFactory()
    standalone_payment(member=member, amount="30.00")
    for days, amount in ((7, "11.00"), (8, "4.00"), (7 * 12, "900.00")):
        payment = standalone_payment(member=member, amount=amount)
        type(payment).objects.filter(pk=payment.pk).update(received_on=today - datetime.timedelta(days=days))
    payment_void(payment=standalone_payment(member=member, amount="70.00"), actor=SYSTEM, reason="mistake")
    card_failed(issued_days_ago(0, amounts=["25.00"]))
    standalone_payment(member=member, amount="5", currency="JPY")

    eur, jpy = received_per_week(today=today)

    assert eur.currency == "EUR" and jpy.currency == "JPY"
    assert [week.week_start for week in eur.weeks] == [
        week_start(today) - datetime.timedelta(weeks=11 - index) for index in range(12)
    ]
    expected: dict[datetime.date, Decimal] = {}
    for days, amount in ((0, "30.00"), (7, "11.00"), (8, "4.00")):
        start = week_start(today - datetime.timedelta(days=days))
        expected[start] = expected.get(start, D(0)) + D(amount)
    assert {week.week_start: week.amount for week in eur.weeks if week.amount} == expected
    assert str(eur.weeks[0].amount) == "0.00"
    assert [week.amount for week in jpy.weeks][-1] == D("5")


def test_receivables_by_age_use_the_aging_reports_buckets(today):
    issued_days_ago(0, amounts=["10.00"], due_in=10)  # current
    issued_days_ago(5, amounts=["20.00"])  # 1-30
    issued_days_ago(45, amounts=["30.00"])  # 31-60
    invoice_mark_uncollectible(invoice=issued_days_ago(100, amounts=["40.00"]), actor=SYSTEM)  # over 90
    issued_days_ago(3, amounts=["7.00"], currency="GBP")

    eur, gbp = dashboard_read(today=today).receivables_by_age

    assert eur.buckets == {
        "current": D("10.00"),
        "days_1_30": D("20.00"),
        "days_31_60": D("30.00"),
        "days_61_90": D("0.00"),
        "over_90": D("40.00"),
    }
    assert gbp.currency == "GBP" and gbp.buckets["days_1_30"] == D("7.00") and gbp.total == D("7.00")


# The queues and their lists --------------------------------------------------------------------------------------


@pytest.fixture
def queued(db):
    return queue_rows()


def test_each_queue_counts_its_rows_only(queued, today):
    queues = dashboard_read(today=today).queues

    assert queues == Queues(
        payments_failed=1, payments_needing_review=2, webhook_events_failed=1, invoices_long_overdue=1
    )


def queue_links(page: str) -> dict[str, tuple[int, str]]:
    """Each queue of the home page: its count and the list it links to."""
    found = re.findall(
        r'<li class="billing-queue[^"]*" id="queue-(\w+)">\s*<a href="([^"]+)"><span class="billing-queue-count">(\d+)',
        page,
    )
    return {key: (int(count), url.replace("&amp;", "&")) for key, url, count in found}


def test_each_queue_links_to_a_list_showing_exactly_its_rows(staff_client, queued):
    page = staff_client.get(reverse("admin:index")).content.decode()
    links = queue_links(page)

    assert set(links) == set(queued)
    for key, (count, url) in links.items():
        response = staff_client.get(url)
        assert response.status_code == 200, url
        changelist = response.context["cl"]
        listed = {row.pk for row in changelist.queryset}
        assert listed == queued[key], key
        assert count == len(listed), key


def test_the_overdue_filter_offers_more_than_30_60_and_90_days(staff_client, today):
    invoices = {days: issued_days_ago(days, amounts=["10.00"]) for days in (31, 61, 91)}

    for days, expected in ((30, {31, 61, 91}), (60, {61, 91}), (90, {91})):
        response = staff_client.get(reverse("admin:billing_invoice_changelist"), {"overdue_for_more_than": days})
        assert {row.pk for row in response.context["cl"].queryset} == {invoices[d].pk for d in expected}
    response = staff_client.get(reverse("admin:billing_invoice_changelist"), {"overdue_for_more_than": "7"})
    assert {row.pk for row in response.context["cl"].queryset} == {invoice.pk for invoice in invoices.values()}


# The page ----------------------------------------------------------------------------------------------------------


def test_the_home_page_shows_money_with_its_currency_charts_and_recent_activity(staff_client, today, settings):
    settings.BILLING_SPACE_NAME = "Atelier Nord"
    invoice = issued_days_ago(10, amounts=["70.00"], member=MemberFactory(name="Léa Martin"))
    external_payment(invoice=invoice, amount="40.00")

    page = staff_client.get(reverse("admin:index")).content.decode()

    assert "Atelier Nord billing" in page
    row = re.search(r'<tr id="figures-EUR">.*?</tr>', page, re.S).group(0)
    assert re.search(r'data-figure="open">€30\.00', row)
    assert re.search(r'data-figure="overdue"><a href="[^"]*shown_status=overdue[^"]*">€30\.00</a>', row)
    assert re.search(r'data-figure="received"><a href="[^"]+">€40\.00</a>', row)
    assert 'aria-label="Money received per week in EUR"' in page
    assert f"<title>{today - datetime.timedelta(days=today.weekday()):%-d %b}: €40.00</title>" in page
    assert 'aria-label="Receivables by age in EUR"' in page
    assert "<title>1-30 days: €30.00</title>" in page
    assert "recorded <a" in page and "Léa Martin" in page  # the activity, in sentences
    assert "<svg" in page and "cdn" not in page.lower()


def test_security_apps_sit_under_their_own_heading_below_the_billing_apps(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()

    security = page.index('id="dashboard-security"')
    for app in ("app-billing", "app-members", "app-payments"):
        assert page.index(app) < security
    for app in ("app-auth", "app-axes"):
        assert page.index(app) > security
    assert ">Security</h2>" in page


def clerk(client, *permissions: str):
    user = UserFactory(is_staff=True)
    user.save()
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client.force_login(user)
    return client


def test_a_staff_user_sees_only_the_queues_and_figures_of_the_models_they_may_view(client, queued):
    page = clerk(client, "billing.view_invoice").get(reverse("admin:index")).content.decode()

    assert set(queue_links(page)) == {"invoices_long_overdue"}
    assert 'data-figure="open"' in page and 'data-figure="received"' not in page
    assert 'id="chart-aging"' in page and 'id="chart-received"' not in page
    assert 'id="dashboard-activity"' not in page and 'id="dashboard-security"' not in page
    assert 'id="billing-reports-module"' not in page

    page = clerk(client, "payments.view_payment", "payments.view_webhookevent").get(reverse("admin:index"))
    page = page.content.decode()
    assert set(queue_links(page)) == {"payments_failed", "payments_needing_review", "webhook_events_failed"}
    assert 'data-figure="open"' not in page and 'data-figure="received"' in page
    # Without the reports' permission the figures do not link to the reports.
    assert reverse("admin:billing_report_payments") not in page


def test_a_staff_user_without_any_billing_permission_sees_no_dashboard(client, queued):
    page = clerk(client).get(reverse("admin:index")).content.decode()

    assert queue_links(page) == {}
    assert 'id="dashboard-money"' not in page and 'class="billing-chart"' not in page
    assert "You don’t have permission to view or edit anything." in page
