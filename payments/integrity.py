"""The invariants of the spec's section 10, checked over the whole database.

Each check yields one line per violation. Each invariant is one set-based pass over the database: the rows are
joined to their sums (grouped once per table, joined by key, never sent back as lists of ids), or anti-joined with
NOT EXISTS, and read through server-side cursors, so the time grows linearly with the data and the memory does not.
No query relies on a model's default ordering (none sorts what it does not need to).
"""

from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import BigIntegerField, Count, Exists, F, IntegerField, Max, Min, OuterRef, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Substr

from bank.integrity import bank_transaction_violations
from billing.models import (
    Activity,
    CreditNote,
    CreditNoteStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    MoneyBalanceEntry,
    NumberSequence,
)
from billing.money import DECIMAL_PLACES
from billing.numbering import ALLOCATION, CREDIT_NOTE, GAPLESS_SERIES, INVOICE, PAYMENT
from payments.models import (
    IN_FLIGHT_STATUSES,
    Allocation,
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentMethodKind,
    PaymentStatus,
    PaymentTarget,
    Refund,
    RefundStatus,
)

ZERO = Decimal(0)
STORED_PLACES = Decimal(1).scaleb(-DECIMAL_PLACES)
# Rows fetched per round trip from a server-side cursor.
CHUNK_SIZE = 2000


def _stored(total: Decimal | None) -> Decimal:
    """A sum at the storage scale. SQLite adds decimals as floats (0.30 - 0.10 - 0.20 is -2.8E-17 there), so
    sums are rounded back to the stored decimal places before they are compared."""
    return (total or ZERO).quantize(STORED_PLACES)


def _decimal(value) -> Decimal | None:
    """A money value read by raw SQL, as the ORM reads it: a Decimal at the storage scale (SQLite hands back
    floats and integers). None (no row to sum) stays None."""
    if value is None:
        return None
    return _stored(value if isinstance(value, Decimal) else Decimal(str(value)))


def _sum_or_zero(value) -> Decimal:
    """A grouped sum joined to its row: at the storage scale, or a plain zero when there was nothing to sum."""
    return ZERO if value is None else _decimal(value)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _rows(sql: str, params: Iterable) -> Iterator[tuple]:
    """The rows of one query, read through a server-side cursor (chunks of CHUNK_SIZE) where the database has them."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, list(params))
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield from rows


def _grouped_sum(model, key: str, *, where: str = "", alias: str, columns=(("amount", "total"),)) -> str:
    """A subquery: the sums of `columns` of `model`'s rows (filtered by `where`) per `key`, to join by key."""
    sums = ", ".join(f"SUM({_column(model, column)}) AS {name}" for column, name in columns)
    key_column = _column(model, key)
    return f"LEFT JOIN (SELECT {key_column} AS grouped_key, {sums} FROM {_table(model)} {where} GROUP BY {key_column}) {alias} "


INVOICE_MONEY_COLUMNS = (
    "subtotal",
    "tax_total",
    "total",
    "amount_credited",
    "amount_balance_applied",
    "amount_paid",
    "amount_remaining",
)


def _invoice_rows() -> Iterator[dict]:
    """Every invoice with the sums of its lines, active allocations, money balance entries and issued credit
    notes, in one pass."""
    fields = ["id", "number", "status", "currency", *INVOICE_MONEY_COLUMNS]
    fields += [f"{column}_currency" for column in INVOICE_MONEY_COLUMNS]
    selected = ", ".join(f"i.{_column(Invoice, field)}" for field in fields)
    sql = (
        f"SELECT {selected}, lines.amount, lines.tax, paid.total, balance.total, credited.total "
        f"FROM {_table(Invoice)} i "
        + _grouped_sum(InvoiceLine, "invoice", alias="lines", columns=(("amount", "amount"), ("tax", "tax")))
        + "ON lines.grouped_key = i.id "
        + _grouped_sum(Allocation, "invoice", where=f"WHERE {_column(Allocation, 'status')} = %s", alias="paid")
        + "ON paid.grouped_key = i.id "
        + _grouped_sum(
            MoneyBalanceEntry,
            "invoice",
            where=f"WHERE {_column(MoneyBalanceEntry, 'invoice')} IS NOT NULL",
            alias="balance",
        )
        + "ON balance.grouped_key = i.id "
        + _grouped_sum(CreditNote, "invoice", where=f"WHERE {_column(CreditNote, 'status')} = %s", alias="credited")
        + "ON credited.grouped_key = i.id"
    )
    params = [Allocation.Status.ACTIVE, CreditNoteStatus.ISSUED]
    if _exact_sums():
        sql, params = _invoice_suspects(sql, params)
    names = [*fields, "line_amounts", "line_taxes", "paid", "balance", "credited"]
    for values in _rows(sql, params):
        row = dict(zip(names, values, strict=True))
        for column in INVOICE_MONEY_COLUMNS:
            row[column] = _decimal(row[column])
        yield row


def _invoice_violations() -> Iterator[str]:
    money_columns = INVOICE_MONEY_COLUMNS
    for row in _invoice_rows():
        name = row["number"] or f"Draft #{row['id']}"
        line_amounts, line_taxes = _sum_or_zero(row["line_amounts"]), _sum_or_zero(row["line_taxes"])
        for column in money_columns:
            if row[f"{column}_currency"] != row["currency"]:
                yield f"{name}: {column} is in {row[f'{column}_currency']}, the invoice in {row['currency']}."
        if row["subtotal"] != line_amounts:
            yield f"{name}: subtotal {row['subtotal']} is not the sum of its lines {line_amounts}."
        if row["tax_total"] != line_taxes:
            yield f"{name}: tax {row['tax_total']} is not the sum of its lines' taxes."
        if row["total"] != row["subtotal"] + row["tax_total"]:
            yield f"{name}: total {row['total']} is not subtotal + tax."
        paid, balance, credited = (_decimal(row[key]) for key in ("paid", "balance", "credited"))
        if row["status"] == InvoiceStatus.DRAFT:
            if paid or balance or credited:
                yield f"{name}: a draft has payments, money balance applied or credit notes."
            continue
        expected = {
            "amount_paid": paid if paid is not None else ZERO,
            "amount_balance_applied": -(balance if balance is not None else ZERO),
            "amount_credited": credited if credited is not None else ZERO,
        }
        for column, value in expected.items():
            if row[column] != value:
                yield f"{name}: {column} is {row[column]} but its rows add up to {value}."
        remaining = (
            row["total"] - expected["amount_credited"] - expected["amount_balance_applied"] - expected["amount_paid"]
        )
        if remaining < 0:
            yield f"{name}: total - credited - balance applied - paid is {remaining}, below zero."
        if row["amount_remaining"] != remaining:
            yield f"{name}: amount_remaining is {row['amount_remaining']}, expected {remaining}."
        if expected["amount_balance_applied"] < 0:
            yield f"{name}: more money balance returned than was applied."
        status = row["status"]
        if status == InvoiceStatus.PAID and remaining != 0:
            yield f"{name}: status paid but {remaining} remains."
        if status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE) and remaining == 0:
            yield f"{name}: status {status} but nothing remains; it should be paid."
        if status == InvoiceStatus.VOID and (
            expected["amount_paid"] or expected["amount_balance_applied"] or expected["amount_credited"]
        ):
            yield f"{name}: void but still has payments, money balance applied or credit notes."
        if expected["amount_credited"] > row["total"]:
            yield f"{name}: its credit notes ({expected['amount_credited']}) exceed its total."


PAYMENT_COLUMNS = ("amount", "amount_allocated", "amount_refunded", "amount_refund_pending", "amount_unallocated")


def _payment_violations() -> Iterator[str]:
    columns = PAYMENT_COLUMNS
    fields = ["id", "number", "status", "currency", *columns, *(f"{c}_currency" for c in columns)]
    selected = ", ".join(f"p.{_column(Payment, field)}" for field in fields)
    refund_status = _column(Refund, "status")
    sql = (
        f"SELECT {selected}, allocated.total, refunded.total, refund_pending.total FROM {_table(Payment)} p "
        + _grouped_sum(Allocation, "payment", where=f"WHERE {_column(Allocation, 'status')} = %s", alias="allocated")
        + "ON allocated.grouped_key = p.id "
        + _grouped_sum(Refund, "payment", where=f"WHERE {refund_status} = %s", alias="refunded")
        + "ON refunded.grouped_key = p.id "
        + _grouped_sum(Refund, "payment", where=f"WHERE {refund_status} = %s", alias="refund_pending")
        + "ON refund_pending.grouped_key = p.id"
    )
    params = [Allocation.Status.ACTIVE, RefundStatus.SUCCEEDED, RefundStatus.PENDING]
    if _exact_sums():
        sql, params = _payment_suspects(sql, params)
    names = [*fields, "allocated", "refunded", "refund_pending"]
    for values in _rows(sql, params):
        row = dict(zip(names, values, strict=True))
        for column in columns:
            row[column] = _decimal(row[column])
        name = row["number"]
        for column in columns:
            if row[f"{column}_currency"] != row["currency"]:
                yield f"{name}: {column} is in {row[f'{column}_currency']}, the payment in {row['currency']}."
        allocated = _sum_or_zero(row["allocated"])
        if row["amount_allocated"] != allocated:
            yield (f"{name}: amount_allocated is {row['amount_allocated']} but its allocations add up to {allocated}.")
        for column, key in (("amount_refunded", "refunded"), ("amount_refund_pending", "refund_pending")):
            total = _sum_or_zero(row[key])
            if row[column] != total:
                yield f"{name}: {column} is {row[column]} but its refunds add up to {total}."
        terms = [row[column] for column in columns[1:]]
        if any(term < 0 for term in terms):
            yield f"{name}: a negative amount among allocated, refunded, refunds in flight, unallocated."
        if row["status"] == PaymentStatus.SUCCEEDED:
            if sum(terms) != row["amount"]:
                yield f"{name}: allocated + refunded + in flight + unallocated = {sum(terms)}, not {row['amount']}."
        elif any(terms):
            yield f"{name}: {row['status']} but has allocations, refunds or unallocated money."


def _allocation_violations() -> Iterator[str]:
    rows = Allocation.objects.filter(status=Allocation.Status.ACTIVE).exclude(payment__currency=F("invoice__currency"))
    for number in rows.order_by().values_list("number", flat=True).iterator(chunk_size=CHUNK_SIZE):
        yield f"{number}: the payment's currency differs from the invoice's."
    mismatched_member = Allocation.objects.exclude(payment__member_id=F("invoice__member_id"))
    for number in mismatched_member.order_by().values_list("number", flat=True).iterator(chunk_size=CHUNK_SIZE):
        yield f"{number}: allocates one member's payment to another member's invoice."


def _balance_violations() -> Iterator[str]:
    rows = (
        MoneyBalanceEntry.objects.values("member_id", "member__name", "amount_currency")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        if _stored(row["total"]) < 0:
            yield f"{row['member__name']}: money balance {row['total']} {row['amount_currency']} is below zero."
    mixed = MoneyBalanceEntry.objects.filter(invoice__isnull=False).exclude(amount_currency=F("invoice__currency"))
    for entry_id in mixed.order_by().values_list("pk", flat=True).iterator(chunk_size=CHUNK_SIZE):
        yield f"Money balance entry {entry_id}: its currency differs from its invoice's."


def _first_missing(values: Iterable[int], *, limit: int = 10) -> list[int]:
    """The first `limit` numbers from 1 up to the highest value that `values` (ascending) lacks."""
    missing = []
    expected = 1
    for value in values:
        if value < expected:
            continue  # A value seen already (another spelling of the same number), or zero.
        while expected < value and len(missing) < limit:
            missing.append(expected)
            expected += 1
        if len(missing) >= limit:
            break
        expected = value + 1
    return missing


def _number_violations() -> Iterator[str]:
    series_rows = {
        INVOICE: Invoice.objects.exclude(number__isnull=True),
        PAYMENT: Payment.objects.all(),
        ALLOCATION: Allocation.objects.all(),
        CREDIT_NOTE: CreditNote.objects.all(),
    }
    last_values = {(s.series, s.year): s.last_value for s in NumberSequence.objects.order_by()}
    for series, rows in series_rows.items():
        shape = rf"^{series}-[0-9]{{4}}-[0-9]{{5,}}$"
        wrong = rows.exclude(number__regex=shape).order_by().values_list("number", flat=True)
        for number in wrong.iterator(chunk_size=CHUNK_SIZE):
            yield f"{number}: not a {series} number."
        if series not in GAPLESS_SERIES:
            continue  # Payment and allocation numbers may skip a value; a unique constraint keeps them apart.
        numbered = rows.filter(number__regex=shape).annotate(
            year=Cast(Substr("number", len(series) + 2, 4), IntegerField()),
            value=Cast(Substr("number", len(series) + 7), BigIntegerField()),
        )
        groups = {
            group["year"]: group
            for group in numbered.values("year")
            .annotate(
                used=Count("pk"), distinct_values=Count("value", distinct=True), low=Min("value"), high=Max("value")
            )
            .order_by()
        }
        # A year whose sequence handed out numbers that are all gone has no rows left: check it too.
        years = set(groups) | {year for sequence_series, year in last_values if sequence_series == series}
        for year in sorted(years):
            group = groups.get(year)
            used = group["used"] if group else 0
            if group and not (group["distinct_values"] == used and group["low"] >= 1 and group["high"] == used):
                values = numbered.filter(year=year).order_by("value").values_list("value", flat=True)
                missing = _first_missing(values.iterator(chunk_size=CHUNK_SIZE))
                yield f"{series}-{year}: numbers are not gapless (missing {missing})."
            if last_values.get((series, year)) != used:
                yield f"{series}-{year}: the sequence is at {last_values.get((series, year))}, {used} used."


def _activity_violations() -> Iterator[str]:
    payment_type = ContentType.objects.get_for_model(Payment)
    entry_type = ContentType.objects.get_for_model(MoneyBalanceEntry)
    activities = Activity.objects.order_by()
    received = activities.filter(verb="payment.received", target_type=payment_type, target_id=OuterRef("pk"))
    unrecorded = Payment.objects.filter(method="external").filter(~Exists(received)).order_by()
    for number in unrecorded.values_list("number", flat=True).iterator(chunk_size=CHUNK_SIZE):
        yield f"{number}: no activity records how it was received."
    allocated = activities.filter(verb="payment.allocated").annotate(
        allocation_number=KeyTextTransform("allocation", "data")
    )
    if connection.vendor == "postgresql":  # An anti-join, hashed on the number.
        unrecorded = Allocation.objects.filter(~Exists(allocated.filter(allocation_number=OuterRef("number"))))
    else:
        # SQLite runs NOT EXISTS once per row, and no index serves a key of the JSON: NOT IN a subquery (never a
        # list of values) makes it build a temporary index of the numbers once.
        numbers = allocated.filter(allocation_number__isnull=False).values("allocation_number")
        unrecorded = Allocation.objects.exclude(number__in=numbers)
    unrecorded = unrecorded.order_by()
    for number in unrecorded.values_list("number", flat=True).iterator(chunk_size=CHUNK_SIZE):
        yield f"{number}: no activity records the allocation."
    recorded_entry = activities.filter(target_type=entry_type, target_id=OuterRef("pk"))
    unrecorded = MoneyBalanceEntry.objects.filter(~Exists(recorded_entry)).order_by()
    for entry_id in unrecorded.values_list("pk", flat=True).iterator(chunk_size=CHUNK_SIZE):
        yield f"Money balance entry {entry_id}: no activity records it."
    issued = activities.filter(verb="invoice.issued", invoice_id=OuterRef("pk"))
    unrecorded = Invoice.objects.issued().filter(~Exists(issued)).order_by()
    for number in unrecorded.values_list("number", flat=True).iterator(chunk_size=CHUNK_SIZE):
        yield f"{number}: no activity records its issue."


def _credit_note_violations() -> Iterator[str]:
    parts = ("pre_payment_amount", "refund_amount", "credit_amount", "out_of_band_amount")
    fields = ["number", "currency", "invoice__currency", "amount", *parts, *(f"{p}_currency" for p in parts)]
    for row in CreditNote.objects.values(*fields).order_by().iterator(chunk_size=CHUNK_SIZE):
        if row["currency"] != row["invoice__currency"] or any(row[f"{p}_currency"] != row["currency"] for p in parts):
            yield f"{row['number']}: not in its invoice's currency."
        if any(row[p] < 0 for p in parts) or sum(row[p] for p in parts) != row["amount"]:
            yield f"{row['number']}: pre-payment + refund + credit + out of band do not add up to {row['amount']}."


def _card_charge_violations() -> Iterator[str]:
    """Every succeeded card payment has exactly one succeeded attempt, with its gateway id; no other has one."""
    attempt_status, attempt_payment = _column(PaymentAttempt, "status"), _column(PaymentAttempt, "payment")
    sql = (
        f"SELECT p.{_column(Payment, 'number')}, p.{_column(Payment, 'status')}, charges.succeeded "
        f"FROM {_table(Payment)} p "
        f"LEFT JOIN (SELECT {attempt_payment} AS grouped_key, COUNT(*) AS succeeded FROM {_table(PaymentAttempt)} "
        f"WHERE {attempt_status} = %s GROUP BY {attempt_payment}) charges ON charges.grouped_key = p.id "
        f"WHERE p.{_column(Payment, 'method')} = %s"
    )
    for number, status, succeeded in _rows(sql, [AttemptStatus.SUCCEEDED, PaymentMethodKind.CARD]):
        expected = 1 if status in (PaymentStatus.SUCCEEDED,) else 0
        if (succeeded or 0) != expected:
            yield f"{number}: {status} with {succeeded or 0} succeeded gateway charges."
    succeeded = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED).order_by()
    without_id = succeeded.filter(gateway_payment_id="").values_list("payment__number", flat=True)
    for number in without_id.iterator(chunk_size=CHUNK_SIZE):
        yield f"{number}: a succeeded charge without the gateway's id."
    statuses = ", ".join(["%s"] * len(IN_FLIGHT_STATUSES))
    sql = (
        f"SELECT p.{_column(Payment, 'number')}, p.{_column(Payment, 'amount')}, targeted.total "
        f"FROM {_table(Payment)} p "
        + _grouped_sum(PaymentTarget, "payment", alias="targeted")
        + f"ON targeted.grouped_key = p.id WHERE p.{_column(Payment, 'method')} = %s "
        f"AND p.{_column(Payment, 'status')} IN ({statuses})"
    )
    for number, amount, targeted in _rows(sql, [PaymentMethodKind.CARD, *IN_FLIGHT_STATUSES]):
        amount, targeted = _decimal(amount), _sum_or_zero(targeted)
        if targeted != amount:
            yield f"{number}: in flight for {amount} but reserves {targeted} on its invoices."
    duplicated = succeeded.values("gateway", "gateway_payment_id").annotate(n=Count("pk")).filter(n__gt=1)
    for row in duplicated.order_by().iterator(chunk_size=CHUNK_SIZE):
        yield f"Gateway charge {row['gateway_payment_id']} is recorded {row['n']} times."


def _exact_sums() -> bool:
    """Whether the database adds decimals exactly (PostgreSQL's numeric), so that a WHERE clause can pick the rows
    that may break a rule: the rules below are then checked on those rows only. SQLite adds them as floats; there
    every row is read and checked."""
    return connection.vendor == "postgresql"


def _invoice_suspects(sql: str, params: list) -> tuple[str, list]:
    """The invoice query narrowed to the rows for which one of `_invoice_violations`'s rules may fail: the same
    rules, in SQL (a superset: each row is checked again in Python)."""
    column = {field: f"i.{_column(Invoice, field)}" for field in ["status", "currency", *INVOICE_MONEY_COLUMNS]}
    paid, balance, credited = "COALESCE(paid.total, 0)", "COALESCE(balance.total, 0)", "COALESCE(credited.total, 0)"
    remaining = f"({column['total']} - {credited} + {balance} - {paid})"
    has_money = f"({paid} <> 0 OR {balance} <> 0 OR {credited} <> 0)"
    currencies = " OR ".join(
        f"i.{_column(Invoice, f'{name}_currency')} <> {column['currency']}" for name in INVOICE_MONEY_COLUMNS
    )
    conditions = [
        currencies,
        f"{column['subtotal']} <> COALESCE(lines.amount, 0)",
        f"{column['tax_total']} <> COALESCE(lines.tax, 0)",
        f"{column['total']} <> {column['subtotal']} + {column['tax_total']}",
        f"({column['status']} = %s AND {has_money})",
        f"({column['status']} <> %s AND ("
        f"{column['amount_paid']} <> {paid} OR {column['amount_balance_applied']} <> -{balance} "
        f"OR {column['amount_credited']} <> {credited} OR {remaining} < 0 "
        f"OR {column['amount_remaining']} <> {remaining} OR {balance} > 0 "
        f"OR ({column['status']} = %s AND {remaining} <> 0) "
        f"OR ({column['status']} IN (%s, %s) AND {remaining} = 0) "
        f"OR ({column['status']} = %s AND {has_money}) "
        f"OR {credited} > {column['total']}))",
    ]
    statuses = [
        InvoiceStatus.DRAFT,
        InvoiceStatus.DRAFT,
        InvoiceStatus.PAID,
        InvoiceStatus.OPEN,
        InvoiceStatus.UNCOLLECTIBLE,
        InvoiceStatus.VOID,
    ]
    return f"{sql} WHERE " + " OR ".join(conditions), [*params, *statuses]


def _payment_suspects(sql: str, params: list) -> tuple[str, list]:
    """The payment query narrowed to the rows for which one of `_payment_violations`'s rules may fail (a superset:
    each row is checked again in Python)."""
    column = {field: f"p.{_column(Payment, field)}" for field in ["status", "currency", *PAYMENT_COLUMNS]}
    currencies = " OR ".join(
        f"p.{_column(Payment, f'{name}_currency')} <> {column['currency']}" for name in PAYMENT_COLUMNS
    )
    terms = [column[name] for name in PAYMENT_COLUMNS[1:]]
    conditions = [
        currencies,
        f"{column['amount_allocated']} <> COALESCE(allocated.total, 0)",
        f"{column['amount_refunded']} <> COALESCE(refunded.total, 0)",
        f"{column['amount_refund_pending']} <> COALESCE(refund_pending.total, 0)",
        " OR ".join(f"{term} < 0" for term in terms),
        f"({column['status']} = %s AND {' + '.join(terms)} <> {column['amount']})",
        f"({column['status']} <> %s AND (" + " OR ".join(f"{term} <> 0" for term in terms) + "))",
    ]
    return f"{sql} WHERE " + " OR ".join(conditions), [*params, PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED]


CHECKS = (
    ("invoices", _invoice_violations),
    ("payments", _payment_violations),
    ("credit notes", _credit_note_violations),
    ("card charges", _card_charge_violations),
    ("allocations", _allocation_violations),
    ("money balances", _balance_violations),
    ("numbers", _number_violations),
    ("activity", _activity_violations),
    ("bank transactions", bank_transaction_violations),
)


def billing_integrity_violations_stream(*, progress=None) -> Iterator[str]:
    """Every violation of the invariants, one line each, as the checks find them. `progress` is called with each
    check's name once it is done."""
    for name, check in CHECKS:
        yield from check()
        if progress:
            progress(name)


def billing_integrity_violations(*, progress=None) -> list[str]:
    """Every violation of the invariants, one line each; empty when the books are consistent. `progress` is
    called with each check's name once it is done."""
    return list(billing_integrity_violations_stream(progress=progress))
