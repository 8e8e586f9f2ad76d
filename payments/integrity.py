"""The invariants of the spec's section 10, checked over the whole database.

Each check yields one line per violation. Sums are taken in the database, grouped, so the whole check costs a
fixed number of queries plus one pass over invoices and payments.
"""

import re
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, F, Sum

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


def _stored(total: Decimal | None) -> Decimal:
    """A sum at the storage scale. SQLite adds decimals as floats (0.30 - 0.10 - 0.20 is -2.8E-17 there), so
    sums are rounded back to the stored decimal places before they are compared."""
    return (total or ZERO).quantize(STORED_PLACES)


def _sums(queryset, key: str, value: str = "amount") -> dict:
    return {row[key]: _stored(row["total"]) for row in queryset.values(key).annotate(total=Sum(value)).order_by()}


def _invoice_violations() -> Iterator[str]:
    paid = _sums(Allocation.objects.filter(status=Allocation.Status.ACTIVE), "invoice_id")
    balance = _sums(MoneyBalanceEntry.objects.filter(invoice__isnull=False), "invoice_id")
    credited = _sums(CreditNote.objects.filter(status=CreditNoteStatus.ISSUED), "invoice_id")
    line_amounts = _sums(InvoiceLine.objects.all(), "invoice_id")
    line_taxes = _sums(InvoiceLine.objects.all(), "invoice_id", "tax")
    money_columns = (
        "subtotal",
        "tax_total",
        "total",
        "amount_credited",
        "amount_balance_applied",
        "amount_paid",
        "amount_remaining",
    )
    fields = ["pk", "number", "status", "currency", *money_columns, *(f"{c}_currency" for c in money_columns)]
    for row in Invoice.objects.values(*fields).iterator():
        name = row["number"] or f"Draft #{row['pk']}"
        for column in money_columns:
            if row[f"{column}_currency"] != row["currency"]:
                yield f"{name}: {column} is in {row[f'{column}_currency']}, the invoice in {row['currency']}."
        if row["subtotal"] != line_amounts.get(row["pk"], ZERO):
            yield f"{name}: subtotal {row['subtotal']} is not the sum of its lines {line_amounts.get(row['pk'], ZERO)}."
        if row["tax_total"] != line_taxes.get(row["pk"], ZERO):
            yield f"{name}: tax {row['tax_total']} is not the sum of its lines' taxes."
        if row["total"] != row["subtotal"] + row["tax_total"]:
            yield f"{name}: total {row['total']} is not subtotal + tax."
        if row["status"] == InvoiceStatus.DRAFT:
            if paid.get(row["pk"]) or balance.get(row["pk"]) or credited.get(row["pk"]):
                yield f"{name}: a draft has payments, money balance applied or credit notes."
            continue
        expected = {
            "amount_paid": paid.get(row["pk"], ZERO),
            "amount_balance_applied": -balance.get(row["pk"], ZERO),
            "amount_credited": credited.get(row["pk"], ZERO),
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


def _payment_violations() -> Iterator[str]:
    allocated = _sums(Allocation.objects.filter(status=Allocation.Status.ACTIVE), "payment_id")
    refunded = _sums(Refund.objects.filter(status=RefundStatus.SUCCEEDED), "payment_id")
    refund_pending = _sums(Refund.objects.filter(status=RefundStatus.PENDING), "payment_id")
    columns = ("amount", "amount_allocated", "amount_refunded", "amount_refund_pending", "amount_unallocated")
    fields = ["pk", "number", "status", "currency", *columns, *(f"{c}_currency" for c in columns)]
    for row in Payment.objects.values(*fields).iterator():
        name = row["number"]
        for column in columns:
            if row[f"{column}_currency"] != row["currency"]:
                yield f"{name}: {column} is in {row[f'{column}_currency']}, the payment in {row['currency']}."
        if row["amount_allocated"] != allocated.get(row["pk"], ZERO):
            yield (
                f"{name}: amount_allocated is {row['amount_allocated']} but its allocations add up to "
                f"{allocated.get(row['pk'], ZERO)}."
            )
        for column, sums in (("amount_refunded", refunded), ("amount_refund_pending", refund_pending)):
            if row[column] != sums.get(row["pk"], ZERO):
                yield f"{name}: {column} is {row[column]} but its refunds add up to {sums.get(row['pk'], ZERO)}."
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
    for number in rows.values_list("number", flat=True):
        yield f"{number}: the payment's currency differs from the invoice's."
    mismatched_member = Allocation.objects.exclude(payment__member_id=F("invoice__member_id"))
    for number in mismatched_member.values_list("number", flat=True):
        yield f"{number}: allocates one member's payment to another member's invoice."


def _balance_violations() -> Iterator[str]:
    rows = (
        MoneyBalanceEntry.objects.values("member_id", "member__name", "amount_currency")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in rows:
        if _stored(row["total"]) < 0:
            yield f"{row['member__name']}: money balance {row['total']} {row['amount_currency']} is below zero."
    mixed = MoneyBalanceEntry.objects.filter(invoice__isnull=False).exclude(amount_currency=F("invoice__currency"))
    for entry_id in mixed.values_list("pk", flat=True):
        yield f"Money balance entry {entry_id}: its currency differs from its invoice's."


def _number_violations() -> Iterator[str]:
    series_rows = {
        INVOICE: Invoice.objects.exclude(number__isnull=True).values_list("number", flat=True),
        PAYMENT: Payment.objects.values_list("number", flat=True),
        ALLOCATION: Allocation.objects.values_list("number", flat=True),
        CREDIT_NOTE: CreditNote.objects.values_list("number", flat=True),
    }
    last_values = {(s.series, s.year): s.last_value for s in NumberSequence.objects.all()}
    for series, numbers in series_rows.items():
        by_year = defaultdict(list)
        pattern = re.compile(rf"^{series}-(\d{{4}})-(\d{{5,}})$")
        for number in numbers:
            match = pattern.match(number)
            if not match:
                yield f"{number}: not a {series} number."
                continue
            by_year[int(match.group(1))].append(int(match.group(2)))
        if series not in GAPLESS_SERIES:
            continue  # Payment and allocation numbers may skip a value; a unique constraint keeps them apart.
        # A year whose sequence handed out numbers that are all gone has no rows left: check it too.
        years = set(by_year) | {year for sequence_series, year in last_values if sequence_series == series}
        for year in sorted(years):
            values = sorted(by_year[year])
            if values != list(range(1, len(values) + 1)):
                missing = sorted(set(range(1, max(values) + 1)) - set(values))[:10]
                yield f"{series}-{year}: numbers are not gapless (missing {missing})."
            if last_values.get((series, year)) != len(values):
                yield f"{series}-{year}: the sequence is at {last_values.get((series, year))}, {len(values)} used."


def _activity_violations() -> Iterator[str]:
    payment_type = ContentType.objects.get_for_model(Payment)
    entry_type = ContentType.objects.get_for_model(MoneyBalanceEntry)
    received = set(
        Activity.objects.filter(verb="payment.received", target_type=payment_type).values_list("target_id", flat=True)
    )
    for number in Payment.objects.exclude(pk__in=received).filter(method="external").values_list("number", flat=True):
        yield f"{number}: no activity records how it was received."
    allocated = set(Activity.objects.filter(verb="payment.allocated").values_list("data__allocation", flat=True))
    for number in Allocation.objects.exclude(number__in=allocated).values_list("number", flat=True):
        yield f"{number}: no activity records the allocation."
    recorded_entries = set(Activity.objects.filter(target_type=entry_type).values_list("target_id", flat=True))
    for entry_id in MoneyBalanceEntry.objects.exclude(pk__in=recorded_entries).values_list("pk", flat=True):
        yield f"Money balance entry {entry_id}: no activity records it."
    issued = set(Activity.objects.filter(verb="invoice.issued").values_list("invoice_id", flat=True))
    for number in Invoice.objects.issued().exclude(pk__in=issued).values_list("number", flat=True):
        yield f"{number}: no activity records its issue."


def _credit_note_violations() -> Iterator[str]:
    parts = ("pre_payment_amount", "refund_amount", "credit_amount", "out_of_band_amount")
    fields = ["number", "currency", "invoice__currency", "amount", *parts, *(f"{p}_currency" for p in parts)]
    for row in CreditNote.objects.values(*fields).iterator():
        if row["currency"] != row["invoice__currency"] or any(row[f"{p}_currency"] != row["currency"] for p in parts):
            yield f"{row['number']}: not in its invoice's currency."
        if any(row[p] < 0 for p in parts) or sum(row[p] for p in parts) != row["amount"]:
            yield f"{row['number']}: pre-payment + refund + credit + out of band do not add up to {row['amount']}."


def _card_charge_violations() -> Iterator[str]:
    """Every succeeded card payment has exactly one succeeded attempt, with its gateway id; no other has one."""
    succeeded = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED)
    counts = {row["payment_id"]: row["n"] for row in succeeded.values("payment_id").annotate(n=Count("pk")).order_by()}
    card_payments = Payment.objects.filter(method=PaymentMethodKind.CARD).values_list("pk", "number", "status")
    for pk, number, status in card_payments.iterator():
        expected = 1 if status in (PaymentStatus.SUCCEEDED,) else 0
        if counts.get(pk, 0) != expected:
            yield f"{number}: {status} with {counts.get(pk, 0)} succeeded gateway charges."
    for number in succeeded.filter(gateway_payment_id="").values_list("payment__number", flat=True):
        yield f"{number}: a succeeded charge without the gateway's id."
    targeted = _sums(PaymentTarget.objects.all(), "payment_id")
    in_flight = Payment.objects.filter(method=PaymentMethodKind.CARD, status__in=IN_FLIGHT_STATUSES)
    for pk, number, amount in in_flight.values_list("pk", "number", "amount").iterator():
        if targeted.get(pk, ZERO) != amount:
            yield f"{number}: in flight for {amount} but reserves {targeted.get(pk, ZERO)} on its invoices."
    duplicated = succeeded.values("gateway", "gateway_payment_id").annotate(n=Count("pk")).filter(n__gt=1)
    for row in duplicated:
        yield f"Gateway charge {row['gateway_payment_id']} is recorded {row['n']} times."


CHECKS = (
    ("invoices", _invoice_violations),
    ("payments", _payment_violations),
    ("credit notes", _credit_note_violations),
    ("card charges", _card_charge_violations),
    ("allocations", _allocation_violations),
    ("money balances", _balance_violations),
    ("numbers", _number_violations),
    ("activity", _activity_violations),
)


def billing_integrity_violations(*, progress=None) -> list[str]:
    """Every violation of the invariants, one line each; empty when the books are consistent. `progress` is
    called with each check's name once it is done."""
    violations = []
    for name, check in CHECKS:
        violations.extend(check())
        if progress:
            progress(name)
    return violations
