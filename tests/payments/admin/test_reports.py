"""The billing reports in the admin: exact figures, filters, CSV, permission and a constant number of queries."""

import csv
import datetime
import io

import pytest
from djmoney.money import Money

from members.models import Member
from payments.models import Payment, PaymentStatus
from payments.services.payment_card import payment_create_card
from payments.services.payment_external import payment_create_standalone
from payments.services.payment_void import payment_void
from tests.factories import saved_card
from tests.payments.admin.helpers import page_queries
from tests.payments.report_books import TOTALS_HEADER, days_ago, invoice_issued, report_books_create

PAYMENTS_URL = "/admin/reports/payments/"
AGING_URL = "/admin/reports/aging/"
CREDIT_URL = "/admin/reports/member-credit/"
REPORTS_PERMISSION = "payments.view_billing_reports"
DECLINING_CARD = "4000000000000341"


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
        (total.currency, total.count, str(total.received), str(total.allocated), str(total.refunded))
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
        [],
        TOTALS_HEADER,
        ["Total", "EUR", "3", "3", "280.00", "40.00", "240.00", "130.00", "110.00", "0", "0.00", "0", "0.00"],
        ["Total", "JPY", "1", "1", "3000", "0", "3000", "3000", "0", "0", "0", "0", "0"],
    ]


def test_payments_report_filters_by_date_range_method_and_status(staff_client, books):
    today = books.today
    in_range = {"date_from": iso(days_ago(today, 16)), "date_to": iso(days_ago(today, 3))}

    rows = csv_rows(staff_client.get(PAYMENTS_URL, {**in_range, "format": "csv"}))
    assert [row[:1] for row in rows[1:]] == [
        [books.bob_deposit.number],
        [books.alice_cash.number],
        [],
        ["Totals per currency"],
        ["Total"],
    ]
    assert rows[-1] == ["Total", "EUR", "2", "2", "200.00", "40.00", "160.00", "50.00", "110.00", "0", "0.00", "0"] + [
        "0.00"
    ]

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


def void_and_failed_payments(*, books, actor, committed):
    """A 70.00 EUR transfer of Bob's, voided (the money never arrived), and a 35.00 EUR card payment of Alice's,
    declined by the sandbox: both dated today."""
    void = payment_create_standalone(
        member=books.bob, actor=actor, amount=Money("70.00", "EUR"), kind="bank_transfer", reference="BOUNCED"
    )
    void = payment_void(payment=void, actor=actor, reason="Bounced")
    invoice = invoice_issued(
        member=books.alice, amount="35.00", issued_days_ago=1, due_days_ago=-13, actor=actor, today=books.today
    )
    card = saved_card(books.alice, DECLINING_CARD)
    with committed():
        failed = payment_create_card(invoice=invoice, actor=actor, payment_method=card)
    void, failed = Payment.objects.get(pk=void.pk), Payment.objects.get(pk=failed.pk)
    assert (void.status, failed.status) == (PaymentStatus.VOID, PaymentStatus.FAILED)
    return void, failed


def test_void_and_failed_payments_are_shown_apart_and_not_counted_as_received(staff_client, staff, books, committed):
    void, failed = void_and_failed_payments(books=books, actor=staff, committed=committed)

    response = staff_client.get(PAYMENTS_URL)

    totals = [
        (total.currency, total.count, total.received_count, str(total.received), str(total.refunded))
        + (str(total.net), str(total.allocated), str(total.unallocated), total.void_count, str(total.void))
        + (total.failed_count, str(total.failed))
        for total in response.context["totals"]
    ]
    assert totals == [
        ("EUR", 5, 3, "280.00", "40.00", "240.00", "130.00", "110.00", 1, "70.00", 1, "35.00"),
        ("JPY", 1, 1, "3000", "0", "3000", "3000", "0", 0, "0", 0, "0"),
    ]
    assert [row.number for row in response.context["rows"]][-2:] == sorted([void.number, failed.number])
    content = response.content.decode()
    # Amounts with their currency, in the space's locale (en).
    assert "<td>€280.00</td><td>€40.00</td><td>€240.00</td>" in content
    assert "<td>1</td><td>€70.00</td><td>1</td><td>€35.00</td>" in content
    assert "<td>¥3,000</td>" in content


def test_the_csv_totals_break_received_money_down_as_the_page_does_in_plain_numbers(
    staff_client, staff, books, committed
):
    void_and_failed_payments(books=books, actor=staff, committed=committed)

    rows = csv_rows(staff_client.get(PAYMENTS_URL, {"currency": "EUR", "format": "csv"}))

    assert rows[-3:] == [
        [],
        TOTALS_HEADER,
        ["Total", "EUR", "5", "3", "280.00", "40.00", "240.00", "130.00", "110.00", "1", "70.00", "1", "35.00"],
    ]
    assert [(row[4], row[6]) for row in rows[1:-3]][-2:] == [("Void", "70.00"), ("Failed", "35.00")]


def test_only_failed_payments_receive_nothing(staff_client, staff, books, committed):
    void_and_failed_payments(books=books, actor=staff, committed=committed)

    totals = staff_client.get(PAYMENTS_URL, {"status": "failed"}).context["totals"]

    assert [(t.currency, t.count, t.received_count, str(t.received), str(t.net), t.failed_count) for t in totals] == [
        ("EUR", 1, 0, "0.00", "0.00", 1)
    ]


# The default period --------------------------------------------------------------------------------------------


def test_without_dates_the_report_covers_the_last_30_days_and_shows_them_in_the_form(staff_client, staff, books):
    today = books.today
    old = payment_create_standalone(
        member=books.bob, actor=staff, amount=Money("20.00", "EUR"), kind="cash", received_on=days_ago(today, 30)
    )
    edge = payment_create_standalone(
        member=books.bob, actor=staff, amount=Money("10.00", "EUR"), kind="cash", received_on=days_ago(today, 29)
    )

    response = staff_client.get(PAYMENTS_URL)

    form = response.context["form"]
    assert (form["date_from"].value(), form["date_to"].value()) == (iso(days_ago(today, 29)), iso(today))
    content = response.content.decode()
    assert f'name="date_from" value="{iso(days_ago(today, 29))}"' in content
    assert f"Payments from {iso(days_ago(today, 29))} to {iso(today)}." in content
    numbers = [row.number for row in response.context["rows"]]
    assert edge.number in numbers and old.number not in numbers
    assert [(total.currency, str(total.received)) for total in response.context["totals"]][0] == ("EUR", "290.00")
    # The CSV link exports the same period, even if it is followed after midnight.
    assert f"date_from={iso(days_ago(today, 29))}&amp;date_to={iso(today)}" in content
    csv_numbers = [row[0] for row in csv_rows(staff_client.get(PAYMENTS_URL, {"format": "csv"}))[1:] if row]
    assert edge.number in csv_numbers and old.number not in csv_numbers


def test_empty_dates_mean_all_time_and_one_date_is_kept_as_asked(staff_client, staff, books):
    today = books.today
    old = payment_create_standalone(
        member=books.bob, actor=staff, amount=Money("20.00", "EUR"), kind="cash", received_on=days_ago(today, 400)
    )

    every = staff_client.get(PAYMENTS_URL, {"date_from": "", "date_to": ""})
    since = staff_client.get(PAYMENTS_URL, {"date_from": iso(days_ago(today, 500))})
    until = staff_client.get(PAYMENTS_URL, {"date_to": iso(days_ago(today, 100))})

    assert old.number in [row.number for row in every.context["rows"]]
    assert "Payments of all time." in every.content.decode()
    assert [row.number for row in since.context["rows"]][0] == old.number
    assert since.context["form"]["date_to"].value() is None
    assert [row.number for row in until.context["rows"]] == [old.number]


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
