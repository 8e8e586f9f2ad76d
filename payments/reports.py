"""The billing reports (payments, accounts receivable aging, member credit): reads only.

Every figure is summed in the database, grouped (`values` + `Sum`), so a report costs the same few queries
whatever the number of rows; the pages show one page of rows at a time (`ReportPage`), the CSV exports every row.
Sums are rounded back to the currency's minor unit: SQLite adds decimals as floats.
"""

import csv
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TextIO

from django.db import connections
from django.db.models import Count, DateField, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import Invoice, InvoiceStatus, MoneyBalanceEntry
from billing.money import minor_unit
from members.models import Member
from payments.models import ExternalKind, Payment, PaymentMethodKind, PaymentStatus

ZERO = Decimal(0)


def amount_at_scale(value: Decimal | float | int | None, currency: str) -> Decimal:
    if isinstance(value, float | int):  # a sum read with raw SQL on SQLite (an integer when every amount is whole)
        value = Decimal(str(value))
    return (value or ZERO).quantize(minor_unit(currency))


@dataclass(frozen=True)
class ReportPage:
    """Which rows of a report a page shows: `number` from 1, `size` rows. The page reads one row more than it
    shows, to know whether a next page exists without counting every row."""

    number: int = 1
    size: int = 100

    @classmethod
    def parse(cls, value, *, size: int) -> "ReportPage":
        """The page a request asks for (`?page=3`); the first for anything that is not a page number."""
        text = str(value or "").strip()
        number = int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else 1
        return cls(number=max(number, 1), size=size)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def limit(self) -> int:
        return self.size + 1

    def split(self, rows: list) -> tuple[list, bool]:
        """The rows to show, and whether there are more."""
        return rows[: self.size], len(rows) > self.size


def _external_label(kind_label) -> str:
    return _("External (%(kind)s)") % {"kind": str(kind_label).lower()}


def method_label(method: str, external_kind: str) -> str:
    if method == PaymentMethodKind.EXTERNAL:
        return _external_label(ExternalKind(external_kind).label) if external_kind else _("External")
    return str(PaymentMethodKind(method).label)


# Payments ------------------------------------------------------------------------------------------------------

# What the method filter offers: card, any external payment, or one kind of external payment (labels in the
# language of the page that shows them).
PAYMENT_METHOD_CHOICES = [
    (PaymentMethodKind.CARD.value, gettext_lazy("Card")),
    (PaymentMethodKind.EXTERNAL.value, gettext_lazy("External (all kinds)")),
    *((kind, lazy(_external_label, str)(label)) for kind, label in ExternalKind.choices),
]

PAYMENT_AMOUNT_COLUMNS = ("amount", "amount_allocated", "amount_refunded", "amount_unallocated")
# The statuses the totals show apart: money received, then payments that brought in nothing (kept).
PAYMENT_TOTAL_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.VOID, PaymentStatus.FAILED)
# The period the payments report covers when the request names no dates: the last 30 days, today included.
PAYMENTS_REPORT_DEFAULT_DAYS = 30


@dataclass(frozen=True)
class PaymentReportFilters:
    """The payment's date is the day it was received (external payments), else the day it was created."""

    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    method: str = ""
    status: str = ""
    currency: str = ""


def payments_report_default_period(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day of the period the report covers when asked for no dates: the last
    `PAYMENTS_REPORT_DEFAULT_DAYS` days, today included. The totals then sum one period's payments, whatever the
    number of payments ever received (the report date's index finds them)."""
    return today - datetime.timedelta(days=PAYMENTS_REPORT_DEFAULT_DAYS - 1), today


def payments_report_queryset(filters: PaymentReportFilters) -> QuerySet[Payment]:
    queryset = Payment.objects.annotate(
        report_date=Coalesce("received_on", TruncDate("created_at"), output_field=DateField())
    )
    if filters.date_from:
        queryset = queryset.filter(report_date__gte=filters.date_from)
    if filters.date_to:
        queryset = queryset.filter(report_date__lte=filters.date_to)
    if filters.method in PaymentMethodKind.values:
        queryset = queryset.filter(method=filters.method)
    elif filters.method in ExternalKind.values:
        queryset = queryset.filter(method=PaymentMethodKind.EXTERNAL, external_kind=filters.method)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.currency:
        queryset = queryset.filter(currency=filters.currency)
    return queryset


@dataclass(frozen=True)
class PaymentReportRow:
    number: str
    date: datetime.date
    member: str
    method: str
    currency: str
    amount: Decimal
    allocated: Decimal
    refunded: Decimal
    unallocated: Decimal
    status: str


@dataclass(frozen=True)
class PaymentReportTotal:
    """What the filtered payments of one currency add up to. Money received is what succeeded payments brought in
    (allocated to invoices, refunded, or still unallocated); void and failed payments are counted apart and never
    add to it; pending, processing and canceled ones count only in `count`."""

    currency: str
    count: int
    received_count: int
    received: Decimal
    allocated: Decimal
    refunded: Decimal
    unallocated: Decimal
    void_count: int
    void: Decimal
    failed_count: int
    failed: Decimal

    @property
    def net(self) -> Decimal:
        """Received less refunded: the money kept."""
        return self.received - self.refunded


def payments_report_rows(queryset: QuerySet[Payment]) -> list[PaymentReportRow]:
    """The rows of the (ordered, possibly sliced) queryset: one query."""
    return list(payments_report_row_iterator(queryset, chunked=False))


def payments_report_row_iterator(queryset: QuerySet[Payment], *, chunked: bool = True) -> Iterator[PaymentReportRow]:
    """The rows one by one; `chunked` reads them from the database in chunks (a long export)."""
    values = queryset.values(
        "number",
        "report_date",
        "member__name",
        "method",
        "external_kind",
        "currency",
        "status",
        *PAYMENT_AMOUNT_COLUMNS,
    )
    if chunked:
        values = values.iterator(chunk_size=2000)
    for row in values:
        yield PaymentReportRow(
            number=row["number"],
            date=row["report_date"],
            member=row["member__name"],
            method=method_label(row["method"], row["external_kind"]),
            currency=row["currency"],
            amount=amount_at_scale(row["amount"], row["currency"]),
            allocated=amount_at_scale(row["amount_allocated"], row["currency"]),
            refunded=amount_at_scale(row["amount_refunded"], row["currency"]),
            unallocated=amount_at_scale(row["amount_unallocated"], row["currency"]),
            status=str(PaymentStatus(row["status"]).label),
        )


def payments_report_ordered(queryset: QuerySet[Payment]) -> QuerySet[Payment]:
    return queryset.order_by("report_date", "number")


def payments_report_totals(queryset: QuerySet[Payment]) -> list[PaymentReportTotal]:
    """Totals per currency of the filtered payments, received (succeeded) apart from void and failed: one grouped
    query, per currency and status, added up per currency here (whole numbers and exact decimals).

    Each payment of the period is read once, from the report date's index alone (it carries the currency, status
    and amounts: an index-only scan, no table row read), and counted in one group by plain `COUNT(*)` and sums, no
    FILTER evaluated per aggregate: the cost per payment is what grows with the period's payments at scale."""
    rows = (
        queryset.order_by()
        .values("currency", "status")
        .annotate(
            count=Count("*"),
            amount=Sum("amount"),
            allocated=Sum("amount_allocated"),
            refunded=Sum("amount_refunded"),
            unallocated=Sum("amount_unallocated"),
        )
    )
    by_currency: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], {})[row["status"]] = row
    return [_payments_total(currency, by_currency[currency]) for currency in sorted(by_currency)]


def _payments_total(currency: str, by_status: dict[str, dict]) -> PaymentReportTotal:
    empty = {"count": 0, "amount": None, "allocated": None, "refunded": None, "unallocated": None}
    succeeded, void, failed = (by_status.get(status, empty) for status in PAYMENT_TOTAL_STATUSES)
    return PaymentReportTotal(
        currency=currency,
        count=sum(row["count"] for row in by_status.values()),
        received_count=succeeded["count"],
        received=amount_at_scale(succeeded["amount"], currency),
        allocated=amount_at_scale(succeeded["allocated"], currency),
        refunded=amount_at_scale(succeeded["refunded"], currency),
        unallocated=amount_at_scale(succeeded["unallocated"], currency),
        void_count=void["count"],
        void=amount_at_scale(void["amount"], currency),
        failed_count=failed["count"],
        failed=amount_at_scale(failed["amount"], currency),
    )


# Accounts receivable aging ---------------------------------------------------------------------------------------

# (key, label, smallest and largest number of days past due; None for no bound).
AGING_BUCKETS = (
    ("current", gettext_lazy("Current"), None, 0),
    ("days_1_30", gettext_lazy("1-30 days"), 1, 30),
    ("days_31_60", gettext_lazy("31-60 days"), 31, 60),
    ("days_61_90", gettext_lazy("61-90 days"), 61, 90),
    ("over_90", gettext_lazy("Over 90 days"), 91, None),
)


def _aging_bucket_due_dates(
    as_of: datetime.date, low: int | None, high: int | None
) -> tuple[datetime.date | None, datetime.date | None]:
    """The due dates of a bucket, (latest, earliest), None where it is open. Days past due = as_of - due_date: `low`
    days past due means due on as_of - low at the latest."""
    return (
        None if low is None else as_of - datetime.timedelta(days=low),
        None if high is None else as_of - datetime.timedelta(days=high),
    )


def _aging_bucket_filter(as_of: datetime.date, low: int | None, high: int | None) -> Q:
    latest, earliest = _aging_bucket_due_dates(as_of, low, high)
    condition = Q()
    if latest is not None:
        condition &= Q(due_date__lte=latest)
    if earliest is not None:
        condition &= Q(due_date__gte=earliest)
    return condition


@dataclass(frozen=True)
class AgingRow:
    member: str
    currency: str
    buckets: dict[str, Decimal]
    total: Decimal

    @property
    def bucket_values(self) -> list[Decimal]:
        return [self.buckets[key] for key, *_ in AGING_BUCKETS]


def aging_report_queryset(*, as_of: datetime.date, currency: str = "") -> QuerySet[Invoice]:
    """What is still owed on issued invoices (open or uncollectible) issued on `as_of` at the latest. The amounts
    are what remains today; `as_of` moves the buckets (and leaves out invoices issued later)."""
    queryset = Invoice.objects.filter(
        status__in=(InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE), amount_remaining__gt=0, issue_date__lte=as_of
    )
    if currency:
        queryset = queryset.filter(currency=currency)
    return queryset


def _aging_rows(queryset: QuerySet[Invoice], group: tuple[str, ...], *, as_of: datetime.date) -> list[dict]:
    sums = {
        key: Sum("amount_remaining", filter=_aging_bucket_filter(as_of, low, high))
        for key, _label, low, high in AGING_BUCKETS
    }
    return list(queryset.values(*group).annotate(total=Sum("amount_remaining"), **sums).order_by(*group))


def _aging_row(row: dict, *, member: str) -> AgingRow:
    currency = row["currency"]
    return AgingRow(
        member=member,
        currency=currency,
        buckets={key: amount_at_scale(row[key], currency) for key, *_ in AGING_BUCKETS},
        total=amount_at_scale(row["total"], currency),
    )


def aging_report(*, as_of: datetime.date, currency: str = "") -> tuple[list[AgingRow], list[AgingRow]]:
    """Rows per member and currency (by member name), then totals per currency: two grouped queries."""
    queryset = aging_report_queryset(as_of=as_of, currency=currency)
    rows = [
        _aging_row(row, member=row["member__name"])
        for row in _aging_rows(queryset, ("member__name", "member_id", "currency"), as_of=as_of)
    ]
    return rows, aging_report_totals(queryset, as_of=as_of)


def aging_report_totals(queryset: QuerySet[Invoice], *, as_of: datetime.date) -> list[AgingRow]:
    """Totals per currency of every owed invoice: one query. What is owed is summed per currency and due date first
    (in the order of the `invoice_owed_by_due_date` index: one sum per invoice, no hash, no bucket tested per
    invoice), then those sums per currency and bucket (a few hundred due dates); the buckets are added up per
    currency here, exactly (decimals)."""
    by_due_date = queryset.order_by().values("currency", "due_date").annotate(total=Sum("amount_remaining"))
    connection = connections[by_due_date.db]
    inner_sql, inner_params = by_due_date.query.sql_with_params()
    # The buckets do not overlap, so their order in the CASE changes nothing: the oldest first.
    whens, case_params = [], []
    for index, (_key, _label, low, high) in reversed(list(enumerate(AGING_BUCKETS))):
        conditions = []
        latest, earliest = _aging_bucket_due_dates(as_of, low, high)
        if latest is not None:
            conditions.append("by_due_date.due_date <= %s")
            case_params.append(connection.ops.adapt_datefield_value(latest))
        if earliest is not None:
            conditions.append("by_due_date.due_date >= %s")
            case_params.append(connection.ops.adapt_datefield_value(earliest))
        whens.append(f"WHEN {' AND '.join(conditions)} THEN {index}")
    # An owed invoice without a due date falls in no bucket (NULL): it counts in the total only, as before.
    sql = (
        f"SELECT by_due_date.currency, CASE {' '.join(whens)} END AS bucket, SUM(by_due_date.total) "
        f"FROM ({inner_sql}) AS by_due_date GROUP BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*case_params, *inner_params])
        rows = cursor.fetchall()
    sums: dict[str, list[Decimal]] = {}
    for currency, bucket, total in rows:
        buckets = sums.setdefault(currency, [amount_at_scale(ZERO, currency)] * (len(AGING_BUCKETS) + 1))
        buckets[len(AGING_BUCKETS) if bucket is None else bucket] = amount_at_scale(total, currency)
    return [
        AgingRow(
            member=_("Total"),
            currency=currency,
            buckets={key: sums[currency][index] for index, (key, *_rest) in enumerate(AGING_BUCKETS)},
            total=sum(sums[currency], ZERO),
        )
        for currency in sorted(sums)
    ]


def aging_members(*, as_of: datetime.date, currency: str = "") -> QuerySet[Member]:
    """The members who owe something, by name: the order of the report, walked along the members' name index."""
    owed = aging_report_queryset(as_of=as_of, currency=currency).filter(member=OuterRef("pk"))
    return Member.objects.filter(Exists(owed)).order_by("name", "id")


def aging_report_page(
    *, as_of: datetime.date, currency: str = "", page: ReportPage
) -> tuple[list[AgingRow], list[AgingRow], bool]:
    """The rows of one page of members (by name, a row per currency), the totals per currency of every member, and
    whether a next page exists: three queries, whatever the number of members."""
    queryset = aging_report_queryset(as_of=as_of, currency=currency)
    members = list(
        aging_members(as_of=as_of, currency=currency).values_list("pk", flat=True)[
            page.offset : page.offset + page.limit
        ]
    )
    member_ids, has_next = page.split(members)
    grouped = (
        _aging_rows(queryset.filter(member_id__in=member_ids), ("member__name", "member_id", "currency"), as_of=as_of)
        if member_ids
        else []
    )
    rows = [_aging_row(row, member=row["member__name"]) for row in grouped]
    return rows, aging_report_totals(queryset, as_of=as_of), has_next


# Member credit -------------------------------------------------------------------------------------------------


@dataclass
class CreditAmounts:
    """A member's credit in one currency: unallocated money of succeeded payments, and money balance."""

    currency: str
    unallocated: Decimal = ZERO
    money_balance: Decimal = ZERO

    def __post_init__(self):
        # At the currency's scale, zeros too ("0.00").
        self.unallocated = amount_at_scale(self.unallocated, self.currency)
        self.money_balance = amount_at_scale(self.money_balance, self.currency)

    @property
    def total(self) -> Decimal:
        return self.unallocated + self.money_balance


@dataclass
class CreditRow(CreditAmounts):
    member: str = ""


@dataclass
class CreditTotal(CreditAmounts):
    pass


def _credit_payments(currency: str) -> QuerySet[Payment]:
    payments = Payment.objects.filter(status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0)
    return payments.filter(currency=currency) if currency else payments


def _credit_entries(currency: str) -> QuerySet[MoneyBalanceEntry]:
    entries = MoneyBalanceEntry.objects.all()
    return entries.filter(amount_currency=currency) if currency else entries


def credit_members(*, currency: str = "") -> QuerySet[Member]:
    """The members with credit (unallocated money of succeeded payments, or a money balance other than zero), by
    name: the order of the report, walked along the members' name index. A member's credit payment is looked up as
    a scalar subquery (its first one, or NULL), not an EXISTS: PostgreSQL turns an EXISTS inside an OR into one hash
    of every member's credit payments (all of them read for each page), while the subquery probes the partial
    credit index once per member walked (a page reads a page of members)."""
    first_credit_payment = _credit_payments(currency).filter(member=OuterRef("pk")).order_by().values("member_id")[:1]
    balances = (
        _credit_entries(currency)
        .filter(member=OuterRef("pk"))
        .values("amount_currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    return (
        Member.objects.annotate(first_credit_payment=Subquery(first_credit_payment))
        .filter(Q(first_credit_payment__isnull=False) | Exists(balances))
        .order_by("name", "id")
    )


def _credit_rows(member_ids: list[int] | None, *, currency: str) -> dict[tuple[int, str], CreditRow]:
    """The credit rows of these members (all members when None), by member and currency: two grouped queries."""
    payments, entries = _credit_payments(currency), _credit_entries(currency)
    if member_ids is not None:
        payments, entries = payments.filter(member_id__in=member_ids), entries.filter(member_id__in=member_ids)
    rows: dict[tuple[int, str], CreditRow] = {}
    for row in (
        payments.values("member_id", "member__name", "currency").annotate(total=Sum("amount_unallocated")).order_by()
    ):
        key = (row["member_id"], row["currency"])
        rows.setdefault(key, CreditRow(row["currency"], member=row["member__name"])).unallocated = amount_at_scale(
            row["total"], row["currency"]
        )
    balances = entries.values("member_id", "member__name", "amount_currency").annotate(total=Sum("amount")).order_by()
    for row in balances:
        balance = amount_at_scale(row["total"], row["amount_currency"])
        if balance == 0:
            continue
        key = (row["member_id"], row["amount_currency"])
        rows.setdefault(key, CreditRow(row["amount_currency"], member=row["member__name"])).money_balance = balance
    return rows


def _credit_rows_ordered(rows: dict[tuple[int, str], CreditRow], member_ids: list[int]) -> list[CreditRow]:
    position = {member_id: index for index, member_id in enumerate(member_ids)}
    return [rows[key] for key in sorted(rows, key=lambda key: (position[key[0]], key[1]))]


def member_credit_totals(*, currency: str = "") -> list[CreditTotal]:
    """Totals per currency of every member's credit: two grouped queries (a money balance of zero adds nothing)."""
    totals: dict[str, CreditTotal] = {}
    for row in _credit_payments(currency).values("currency").annotate(total=Sum("amount_unallocated")).order_by():
        totals.setdefault(row["currency"], CreditTotal(row["currency"])).unallocated = amount_at_scale(
            row["total"], row["currency"]
        )
    for row in _credit_entries(currency).values("amount_currency").annotate(total=Sum("amount")).order_by():
        balance = amount_at_scale(row["total"], row["amount_currency"])
        if balance != 0 or row["amount_currency"] in totals:
            totals.setdefault(row["amount_currency"], CreditTotal(row["amount_currency"])).money_balance = balance
    return [totals[code] for code in sorted(totals)]


def member_credit_report(*, currency: str = "") -> tuple[list[CreditRow], list[CreditTotal]]:
    """Per member and currency, the unallocated money of succeeded payments and the money balance; members with
    neither are left out. Every row (the CSV), by member name, then totals per currency: five queries."""
    member_ids = list(credit_members(currency=currency).values_list("pk", flat=True))
    rows = _credit_rows(None, currency=currency)
    return _credit_rows_ordered(rows, member_ids), member_credit_totals(currency=currency)


def member_credit_report_page(
    *, currency: str = "", page: ReportPage
) -> tuple[list[CreditRow], list[CreditTotal], bool]:
    """The rows of one page of members (by name), the totals per currency of every member, and whether a next page
    exists: five queries, whatever the number of members."""
    members = list(
        credit_members(currency=currency).values_list("pk", flat=True)[page.offset : page.offset + page.limit]
    )
    member_ids, has_next = page.split(members)
    rows = _credit_rows(member_ids, currency=currency) if member_ids else {}
    return _credit_rows_ordered(rows, member_ids), member_credit_totals(currency=currency), has_next


# CSV -----------------------------------------------------------------------------------------------------------

# What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list), or hide where it starts.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value):
    """A cell that a spreadsheet shows as it is: text starting like a formula ("=HYPERLINK(...)", "+1+1", "-2",
    "@SUM(A1)", a tab or a line break, also after spaces) gets a leading single quote, as OWASP advises; numbers
    (amounts, negative ones too) stay numbers."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_TRIGGERS):
        return f"'{value}"
    return value


class CsvWriter:
    """The CSV writer of every export: text cells quoted and neutralised with `csv_cell`, numbers written plain."""

    def __init__(self, output: TextIO):
        self._writer = csv.writer(output, quoting=csv.QUOTE_NONNUMERIC)

    def writerow(self, row) -> None:
        self._writer.writerow([csv_cell(str(value) if isinstance(value, Promise) else value) for value in row])


PAYMENTS_CSV_HEADER = (
    gettext_lazy("Number"),
    gettext_lazy("Date"),
    gettext_lazy("Member"),
    gettext_lazy("Method"),
    gettext_lazy("Status"),
    gettext_lazy("Currency"),
    gettext_lazy("Amount"),
    gettext_lazy("Allocated"),
    gettext_lazy("Refunded"),
    gettext_lazy("Unallocated"),
)


PAYMENTS_CSV_TOTALS_HEADER = (
    gettext_lazy("Totals per currency"),
    gettext_lazy("Currency"),
    gettext_lazy("Payments"),
    gettext_lazy("Succeeded payments"),
    gettext_lazy("Received"),
    gettext_lazy("Refunded"),
    gettext_lazy("Net"),
    gettext_lazy("Allocated"),
    gettext_lazy("Unallocated"),
    gettext_lazy("Void payments"),
    gettext_lazy("Void amount"),
    gettext_lazy("Failed payments"),
    gettext_lazy("Failed amount"),
)


def payments_total_cells(total: PaymentReportTotal) -> list:
    """The figures of a total in the order of the totals' columns (the page's table and the CSV)."""
    return [
        total.currency,
        total.count,
        total.received_count,
        total.received,
        total.refunded,
        total.net,
        total.allocated,
        total.unallocated,
        total.void_count,
        total.void,
        total.failed_count,
        total.failed,
    ]


def payments_csv_write(
    output: TextIO, rows: Iterator[PaymentReportRow], totals: list[PaymentReportTotal], *, progress=None
) -> int:
    """The header, one line per payment, then (when there are payments) an empty line and the totals per currency
    under their own header, as on the page: received apart from void and failed. Returns the number of payments."""
    writer = CsvWriter(output)
    writer.writerow(PAYMENTS_CSV_HEADER)
    count = 0
    for row in rows:
        writer.writerow(
            [
                row.number,
                row.date.isoformat(),
                row.member,
                row.method,
                row.status,
                row.currency,
                row.amount,
                row.allocated,
                row.refunded,
                row.unallocated,
            ]
        )
        count += 1
        if progress:
            progress(row.number)
    if totals:
        writer.writerow([])
        writer.writerow(PAYMENTS_CSV_TOTALS_HEADER)
    for total in totals:
        writer.writerow([_("Total"), *payments_total_cells(total)])
    return count


AGING_CSV_HEADER = (
    gettext_lazy("Member"),
    gettext_lazy("Currency"),
    *(label for _key, label, *_bounds in AGING_BUCKETS),
    gettext_lazy("Total"),
)


def aging_csv_write(output: TextIO, rows: list[AgingRow], totals: list[AgingRow]) -> None:
    writer = CsvWriter(output)
    writer.writerow(AGING_CSV_HEADER)
    for row in [*rows, *totals]:
        writer.writerow([row.member, row.currency, *row.bucket_values, row.total])


CREDIT_CSV_HEADER = (
    gettext_lazy("Member"),
    gettext_lazy("Currency"),
    gettext_lazy("Unallocated payments"),
    gettext_lazy("Money balance"),
    gettext_lazy("Total credit"),
)


def member_credit_csv_write(output: TextIO, rows: list[CreditRow], totals: list[CreditTotal]) -> None:
    writer = CsvWriter(output)
    writer.writerow(CREDIT_CSV_HEADER)
    for row in rows:
        writer.writerow([row.member, row.currency, row.unallocated, row.money_balance, row.total])
    for total in totals:
        writer.writerow([_("Total"), total.currency, total.unallocated, total.money_balance, total.total])
