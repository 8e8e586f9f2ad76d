"""The reports' totals, summed in the database grouped by currency and status (payments) or by currency and bucket
(aging), and read from covering indexes, are what a plain Python sum over every row gives, to the cent: a few
hundred payments of three currencies, succeeded (some partly refunded, some with money unallocated), failed, void
and a few pending, processing and canceled, over several periods and filters."""

import datetime
from collections import defaultdict
from decimal import Decimal

import pytest
from django.utils import timezone

from bench.dataset import dataset_build
from billing.models import Invoice, InvoiceStatus, MoneyBalanceEntry
from billing.money import minor_unit
from payments.models import Payment, PaymentStatus
from payments.reports import (
    AGING_BUCKETS,
    PaymentReportFilters,
    aging_report_queryset,
    aging_report_totals,
    member_credit_totals,
    payments_report_default_period,
    payments_report_queryset,
    payments_report_totals,
)

FIELDS = ("received", "allocated", "refunded", "unallocated", "void", "failed")


@pytest.fixture
def books(db):
    dataset_build(members=30, invoices=90, payments=400, activities=800)
    # A few payments in the statuses the totals only count (their amounts are never summed).
    for status, count in ((PaymentStatus.PENDING, 3), (PaymentStatus.PROCESSING, 2), (PaymentStatus.CANCELED, 2)):
        ids = list(Payment.objects.filter(status=PaymentStatus.FAILED).order_by("-pk").values_list("pk", flat=True))
        Payment.objects.filter(pk__in=ids[:count]).update(status=status)


def report_date(payment: Payment) -> datetime.date:
    return payment.received_on or timezone.localtime(payment.created_at).date()


def at_scale(value: Decimal, currency: str) -> Decimal:
    return value.quantize(minor_unit(currency))


def expected_payment_totals(filters: PaymentReportFilters) -> dict[str, dict]:
    """The totals per currency, summed in Python over every payment the filters keep."""
    totals: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for payment in Payment.objects.all():
        date = report_date(payment)
        if filters.date_from and date < filters.date_from or filters.date_to and date > filters.date_to:
            continue
        if (
            filters.status
            and payment.status != filters.status
            or filters.currency
            and payment.currency != filters.currency
        ):
            continue
        total = totals[payment.currency]
        total["count"] += 1
        amount = payment.amount.amount
        if payment.status == PaymentStatus.SUCCEEDED:
            total["received_count"] += 1
            total["received"] += amount
            total["allocated"] += payment.amount_allocated.amount
            total["refunded"] += payment.amount_refunded.amount
            total["unallocated"] += payment.amount_unallocated.amount
        elif payment.status == PaymentStatus.VOID:
            total["void_count"] += 1
            total["void"] += amount
        elif payment.status == PaymentStatus.FAILED:
            total["failed_count"] += 1
            total["failed"] += amount
    return {
        currency: {
            **{key: total[key] for key in ("count", "received_count", "void_count", "failed_count")},
            **{field: at_scale(Decimal(total[field]), currency) for field in FIELDS},
        }
        for currency, total in totals.items()
    }


def payment_totals(filters: PaymentReportFilters) -> dict[str, dict]:
    return {
        total.currency: {
            **{key: getattr(total, key) for key in ("count", "received_count", "void_count", "failed_count")},
            **{field: getattr(total, field) for field in FIELDS},
        }
        for total in payments_report_totals(payments_report_queryset(filters))
    }


def test_the_books_have_what_the_totals_tell_apart(books):
    payments = Payment.objects.all()
    assert {payment.currency for payment in payments} >= {"EUR", "CHF", "GBP"}
    assert {payment.status for payment in payments} >= {
        PaymentStatus.SUCCEEDED,
        PaymentStatus.FAILED,
        PaymentStatus.VOID,
        PaymentStatus.PENDING,
        PaymentStatus.PROCESSING,
        PaymentStatus.CANCELED,
    }
    assert payments.filter(status=PaymentStatus.SUCCEEDED, amount_refunded__gt=0).exists()
    assert payments.filter(status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0).exists()
    assert len({report_date(payment) for payment in payments}) > 30


def periods() -> list[tuple[datetime.date | None, datetime.date | None]]:
    today = timezone.localdate()
    return [
        (None, None),
        payments_report_default_period(today),
        (today - datetime.timedelta(days=400), today - datetime.timedelta(days=200)),
        (today - datetime.timedelta(days=90), None),
        (None, today - datetime.timedelta(days=300)),
    ]


@pytest.mark.parametrize("period", range(5))
@pytest.mark.parametrize(
    ("status", "currency"), [("", ""), ("", "CHF"), (PaymentStatus.SUCCEEDED, ""), (PaymentStatus.VOID, "EUR")]
)
def test_payment_totals_are_the_sums_of_the_rows_to_the_cent(books, period, status, currency):
    date_from, date_to = periods()[period]
    filters = PaymentReportFilters(date_from=date_from, date_to=date_to, status=status, currency=currency)

    expected = expected_payment_totals(filters)

    assert payment_totals(filters) == expected
    assert [total.currency for total in payments_report_totals(payments_report_queryset(filters))] == sorted(expected)


def test_the_totals_of_every_payment_count_each_payment_once(books):
    totals = payments_report_totals(payments_report_queryset(PaymentReportFilters()))

    assert sum(total.count for total in totals) == Payment.objects.count()
    for total in totals:
        # Rounded to the currency's minor unit, zeros too.
        assert all(
            getattr(total, field).as_tuple().exponent == minor_unit(total.currency).as_tuple().exponent
            for field in FIELDS
        )


@pytest.mark.parametrize("days_back", [0, 45, 200])
def test_aging_totals_are_the_sums_of_the_owed_invoices_to_the_cent(books, days_back):
    as_of = timezone.localdate() - datetime.timedelta(days=days_back)
    expected: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    owed = Invoice.objects.filter(
        status__in=(InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE), amount_remaining__gt=0, issue_date__lte=as_of
    )
    for invoice in owed:
        days = (as_of - invoice.due_date).days
        key = next(
            key
            for key, _label, low, high in AGING_BUCKETS
            if (low is None or days >= low) and (high is None or days <= high)
        )
        remaining = invoice.amount_remaining.amount
        expected[invoice.currency][key] += remaining
        expected[invoice.currency]["total"] += remaining
    assert expected

    totals = aging_report_totals(aging_report_queryset(as_of=as_of), as_of=as_of)

    assert [row.currency for row in totals] == sorted(expected)
    for row in totals:
        sums = expected[row.currency]
        assert row.member == "Total"
        assert row.buckets == {key: at_scale(sums[key], row.currency) for key, *_ in AGING_BUCKETS}
        assert row.total == at_scale(sums["total"], row.currency)
        assert all(
            value.as_tuple().exponent == minor_unit(row.currency).as_tuple().exponent for value in row.bucket_values
        )


def test_member_credit_totals_are_the_sums_of_unallocated_money_and_balances(books):
    unallocated: dict[str, Decimal] = defaultdict(Decimal)
    for payment in Payment.objects.filter(status=PaymentStatus.SUCCEEDED):
        unallocated[payment.currency] += payment.amount_unallocated.amount
    balances: dict[str, Decimal] = defaultdict(Decimal)
    for entry in MoneyBalanceEntry.objects.all():
        balances[entry.amount.currency.code] += entry.amount.amount
    assert any(unallocated.values())

    totals = {total.currency: (total.unallocated, total.money_balance) for total in member_credit_totals()}

    currencies = {code for code, value in unallocated.items() if value} | {
        code for code, value in balances.items() if value
    }
    assert set(totals) == currencies
    for code, (total_unallocated, money_balance) in totals.items():
        assert total_unallocated == at_scale(unallocated[code], code)
        assert money_balance == at_scale(balances[code], code)
