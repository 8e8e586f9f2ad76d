"""The billing reports in the admin: exact figures, filters, CSV, permission and a constant number of queries."""

import csv
import datetime
import io

import pytest
from djmoney.money import Money

from members.models import Member
from payments.services.payment_external import payment_create_standalone
from tests.payments.admin.helpers import page_queries
from tests.payments.report_books import days_ago, invoice_issued, report_books_create

PAYMENTS_URL = "/admin/reports/payments/"
AGING_URL = "/admin/reports/aging/"
CREDIT_URL = "/admin/reports/member-credit/"
REPORTS_PERMISSION = "payments.view_billing_reports"


@pytest.fixture
def books(staff, today):
    return report_books_create(actor=staff, today=today)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.content.decode())))


def iso(date: datetime.date) -> str:
    return date.isoformat()


# Payments ------------------------------------------------------------------------------------------------------


def test_payments_report_shows_every_payment_with_totals_per_currency(staff_client, books):
    response = staff_client.get(PAYMENTS_URL)

    assert response.status_code == 200
    rows = [
        (row.number, row.date, row.member, row.method, row.status, row.currency)
        + (str(row.amount), str(row.allocated), str(row.refunded), str(row.unallocated))
        for row in response.context["rows"]
    ]
    today = books.today
    assert rows == [
        (books.bob_transfer.number, days_ago(today, 20), "Bob Baker", "External (bank transfer)", "Succeeded", "EUR")
        + ("80.00", "80.00", "0.00", "0.00"),
        (books.bob_deposit.number, days_ago(today, 15), "Bob Baker", "External (bank transfer)", "Succeeded", "EUR")
        + ("150.00", "0.00", "40.00", "110.00"),
        (books.alice_cash.number, days_ago(today, 3), "Alice Archer", "External (cash)", "Succeeded", "EUR")
        + ("50.00", "50.00", "0.00", "0.00"),
        (books.chiyo_cash.number, days_ago(today, 2), "Chiyo Sato", "External (cash)", "Succeeded", "JPY")
        + ("3000", "3000", "0", "0"),
    ]
    totals = [
        (total.currency, total.count, str(total.amount), str(total.allocated), str(total.refunded))
        + (str(total.unallocated),)
        for total in response.context["totals"]
    ]
    assert totals == [("EUR", 3, "280.00", "130.00", "40.00", "110.00"), ("JPY", 1, "3000", "3000", "0", "0")]
    content = response.content.decode()
    assert "Export CSV" in content
    assert books.bob_deposit.number in content


def test_payments_report_exports_the_same_rows_and_totals_to_csv(staff_client, books):
    today = books.today

    rows = csv_rows(staff_client.get(PAYMENTS_URL, {"format": "csv"}))

    assert rows == [
        ["Number", "Date", "Member", "Method", "Status", "Currency", "Amount", "Allocated", "Refunded", "Unallocated"],
        [books.bob_transfer.number, iso(days_ago(today, 20)), "Bob Baker", "External (bank transfer)", "Succeeded"]
        + ["EUR", "80.00", "80.00", "0.00", "0.00"],
        [books.bob_deposit.number, iso(days_ago(today, 15)), "Bob Baker", "External (bank transfer)", "Succeeded"]
        + ["EUR", "150.00", "0.00", "40.00", "110.00"],
        [books.alice_cash.number, iso(days_ago(today, 3)), "Alice Archer", "External (cash)", "Succeeded"]
        + ["EUR", "50.00", "50.00", "0.00", "0.00"],
        [books.chiyo_cash.number, iso(days_ago(today, 2)), "Chiyo Sato", "External (cash)", "Succeeded"]
        + ["JPY", "3000", "3000", "0", "0"],
        ["Total", "", "3 payments", "", "", "EUR", "280.00", "130.00", "40.00", "110.00"],
        ["Total", "", "1 payment", "", "", "JPY", "3000", "3000", "0", "0"],
    ]


def test_payments_report_filters_by_date_range_method_and_status(staff_client, books):
    today = books.today
    in_range = {"date_from": iso(days_ago(today, 16)), "date_to": iso(days_ago(today, 3))}

    rows = csv_rows(staff_client.get(PAYMENTS_URL, {**in_range, "format": "csv"}))
    assert [row[0] for row in rows[1:]] == [books.bob_deposit.number, books.alice_cash.number, "Total"]
    assert rows[-1] == ["Total", "", "2 payments", "", "", "EUR", "200.00", "50.00", "40.00", "110.00"]

    cash = staff_client.get(PAYMENTS_URL, {"method": "cash"}).context["rows"]
    assert [row.number for row in cash] == [books.alice_cash.number, books.chiyo_cash.number]
    external = staff_client.get(PAYMENTS_URL, {"method": "external"}).context["rows"]
    assert len(external) == 4
    assert list(staff_client.get(PAYMENTS_URL, {"method": "card"}).context["rows"]) == []
    jpy = staff_client.get(PAYMENTS_URL, {"currency": "JPY"}).context["totals"]
    assert [(total.currency, total.count) for total in jpy] == [("JPY", 1)]
    failed = staff_client.get(PAYMENTS_URL, {"status": "failed"})
    assert failed.context["rows"] == []
    assert failed.context["totals"] == []
    assert "No payments match these filters." in failed.content.decode()


def test_payments_report_refuses_a_start_after_the_end(staff_client, books):
    today = books.today

    response = staff_client.get(PAYMENTS_URL, {"date_from": iso(today), "date_to": iso(days_ago(today, 1))})

    assert response.status_code == 200
    assert "rows" not in response.context
    assert f"The start date {iso(today)} is after the end date {iso(days_ago(today, 1))}." in response.content.decode()


# Accounts receivable aging -------------------------------------------------------------------------------------


def aging_figures(rows) -> list[tuple]:
    return [(row.member, row.currency, *(str(value) for value in row.bucket_values), str(row.total)) for row in rows]


def test_aging_report_buckets_what_remains_by_days_past_due(staff_client, books):
    response = staff_client.get(AGING_URL)

    assert response.status_code == 200
    assert response.context["as_of"] == books.today
    assert aging_figures(response.context["rows"]) == [
        ("Alice Archer", "EUR", "100.00", "150.00", "300.00", "0.00", "0.00", "550.00"),
        ("Bob Baker", "EUR", "0.00", "0.00", "0.00", "400.00", "500.00", "900.00"),
        ("Chiyo Sato", "JPY", "0", "7000", "0", "0", "0", "7000"),
    ]
    assert aging_figures(response.context["totals"]) == [
        ("Total", "EUR", "100.00", "150.00", "300.00", "400.00", "500.00", "1450.00"),
        ("Total", "JPY", "0", "7000", "0", "0", "0", "7000"),
    ]


def test_aging_report_as_of_an_earlier_date_moves_the_buckets(staff_client, books):
    response = staff_client.get(AGING_URL, {"as_of": iso(days_ago(books.today, 50))})

    # Invoices issued later are left out; Alice's 300.00 was not yet due, Bob's were 25 and 70 days late.
    assert aging_figures(response.context["rows"]) == [
        ("Alice Archer", "EUR", "300.00", "0.00", "0.00", "0.00", "0.00", "300.00"),
        ("Bob Baker", "EUR", "0.00", "400.00", "0.00", "500.00", "0.00", "900.00"),
    ]


def test_aging_report_bucket_edges(staff_client, books):
    """Alice's 200.00 invoice was due 10 days ago: 30 days past due is still 1-30, 31 is 31-60."""
    as_of_30 = staff_client.get(AGING_URL, {"as_of": iso(days_ago(books.today, -20)), "currency": "EUR"})
    as_of_31 = staff_client.get(AGING_URL, {"as_of": iso(days_ago(books.today, -21)), "currency": "EUR"})

    assert aging_figures(as_of_30.context["rows"])[0][2:5] == ("0.00", "250.00", "0.00")
    assert aging_figures(as_of_31.context["rows"])[0][2:5] == ("0.00", "100.00", "150.00")


def test_aging_report_exports_to_csv_with_the_currency_filter(staff_client, books):
    rows = csv_rows(staff_client.get(AGING_URL, {"currency": "EUR", "format": "csv"}))

    assert rows == [
        ["Member", "Currency", "Current", "1-30 days", "31-60 days", "61-90 days", "Over 90 days", "Total"],
        ["Alice Archer", "EUR", "100.00", "150.00", "300.00", "0.00", "0.00", "550.00"],
        ["Bob Baker", "EUR", "0.00", "0.00", "0.00", "400.00", "500.00", "900.00"],
        ["Total", "EUR", "100.00", "150.00", "300.00", "400.00", "500.00", "1450.00"],
    ]


# Member credit -------------------------------------------------------------------------------------------------


def test_member_credit_report_shows_unallocated_payments_and_money_balances(staff_client, books):
    response = staff_client.get(CREDIT_URL)

    rows = [
        (row.member, row.currency, str(row.unallocated), str(row.money_balance), str(row.total))
        for row in response.context["rows"]
    ]
    assert rows == [("Alice Archer", "EUR", "0.00", "25.00", "25.00"), ("Bob Baker", "EUR", "110.00", "0.00", "110.00")]
    totals = [
        (total.currency, str(total.unallocated), str(total.money_balance), str(total.total))
        for total in response.context["totals"]
    ]
    assert totals == [("EUR", "110.00", "25.00", "135.00")]


def test_member_credit_report_exports_to_csv(staff_client, books):
    rows = csv_rows(staff_client.get(CREDIT_URL, {"format": "csv"}))

    assert rows == [
        ["Member", "Currency", "Unallocated payments", "Money balance", "Total credit"],
        ["Alice Archer", "EUR", "0.00", "25.00", "25.00"],
        ["Bob Baker", "EUR", "110.00", "0.00", "110.00"],
        ["Total", "EUR", "110.00", "25.00", "135.00"],
    ]
    assert csv_rows(staff_client.get(CREDIT_URL, {"currency": "JPY", "format": "csv"})) == [
        ["Member", "Currency", "Unallocated payments", "Money balance", "Total credit"]
    ]


# Permission and links ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/admin/reports/", PAYMENTS_URL, f"{PAYMENTS_URL}?format=csv", AGING_URL, CREDIT_URL, f"{CREDIT_URL}?format=csv"],
)
def test_a_staff_user_without_the_permission_gets_403(clerk_client, books, url):
    client = clerk_client("payments.view_payment")

    assert client.get(url).status_code == 403


def test_the_reports_are_not_linked_without_the_permission(clerk_client):
    client = clerk_client("payments.view_payment")

    assert "/admin/reports/" not in client.get("/admin/").content.decode()
    assert PAYMENTS_URL not in client.get("/admin/payments/payment/").content.decode()


def test_the_reports_are_linked_from_the_admin_index_and_the_payment_list(staff_client):
    index = staff_client.get("/admin/").content.decode()
    assert all(url in index for url in ("/admin/reports/", PAYMENTS_URL, AGING_URL, CREDIT_URL))
    assert PAYMENTS_URL in staff_client.get("/admin/payments/payment/").content.decode()
    reports = staff_client.get("/admin/reports/").content.decode()
    assert all(url in reports for url in (PAYMENTS_URL, AGING_URL, CREDIT_URL))


def test_a_user_with_the_permission_opens_every_report(clerk_client, books):
    client = clerk_client(REPORTS_PERMISSION)

    for url in ("/admin/reports/", PAYMENTS_URL, AGING_URL, CREDIT_URL):
        assert client.get(url).status_code == 200
    assert csv_rows(client.get(PAYMENTS_URL, {"format": "csv"}))[-1][0] == "Total"


def test_the_reports_require_a_staff_login(client, books):
    response = client.get(PAYMENTS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# Queries -------------------------------------------------------------------------------------------------------


def members_with_credit(count: int, *, staff, today) -> None:
    """`count` members, each with a standalone payment (unallocated) and a 100.00 invoice 40 days past due."""
    first = Member.objects.count()
    for index in range(first, first + count):
        member = Member.objects.create(name=f"Member {index:03d}", email=f"m{index}@space.example")
        payment_create_standalone(member=member, actor=staff, amount=Money("10.00", "EUR"), kind="cash")
        invoice_issued(member=member, amount="100.00", issued_days_ago=50, due_days_ago=40, actor=staff, today=today)


@pytest.mark.parametrize(
    "url", [PAYMENTS_URL, f"{PAYMENTS_URL}?format=csv", AGING_URL, CREDIT_URL, f"{CREDIT_URL}?format=csv"]
)
def test_each_report_costs_the_same_queries_for_2_and_20_rows(
    staff_client, staff, today, django_assert_num_queries, url
):
    members_with_credit(2, staff=staff, today=today)
    with_2 = page_queries(staff_client, url)
    members_with_credit(18, staff=staff, today=today)

    with django_assert_num_queries(with_2):
        response = staff_client.get(url)

    assert response.status_code == 200
    assert "Member 000" in response.content.decode()
    assert "Member 019" in response.content.decode()
