"""Reading the books for the corrections machine: the rows of invoices and payments as plain values, the active
allocations, money balances and what is left to credit per line. The oracle (`oracle.py`) derives each operation's
outcome from them, and the machine (`rules.py`) compares them before and after each operation."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from billing.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, InvoiceStatus, MoneyBalanceEntry
from payments.models import IN_FLIGHT_STATUSES, Allocation, Payment, PaymentTarget

ZERO = Decimal(0)
DRAFT, OPEN, PAID, VOID, UNCOLLECTIBLE = (
    InvoiceStatus.DRAFT,
    InvoiceStatus.OPEN,
    InvoiceStatus.PAID,
    InvoiceStatus.VOID,
    InvoiceStatus.UNCOLLECTIBLE,
)
ACCEPTS_PAYMENT = (OPEN, UNCOLLECTIBLE)


@dataclass(frozen=True)
class InvoiceRow:
    pk: int
    member: int
    currency: str
    status: str
    total: Decimal
    credited: Decimal
    balance_applied: Decimal
    paid: Decimal
    remaining: Decimal
    reserved: Decimal

    @property
    def accepts_payment(self) -> bool:
        return self.status in ACCEPTS_PAYMENT and self.remaining > 0

    @property
    def available(self) -> Decimal:
        """What a card may still be charged for it."""
        return self.remaining - self.reserved

    @property
    def creditable(self) -> Decimal:
        return self.total - self.credited


@dataclass(frozen=True)
class PaymentRow:
    pk: int
    member: int
    currency: str
    method: str
    status: str
    amount: Decimal
    allocated: Decimal
    refunded: Decimal
    refund_pending: Decimal
    unallocated: Decimal
    payment_method: int | None

    @property
    def refundable(self) -> Decimal:
        return self.amount - self.refunded - self.refund_pending


def invoice_rows() -> dict[int, InvoiceRow]:
    reserved = defaultdict(Decimal)
    in_flight = PaymentTarget.objects.filter(payment__status__in=IN_FLIGHT_STATUSES)
    for invoice_id, amount in in_flight.values_list("invoice_id", "amount"):
        reserved[invoice_id] += amount
    rows = Invoice.objects.order_by("pk").values_list(
        "pk",
        "member_id",
        "currency",
        "status",
        "total",
        "amount_credited",
        "amount_balance_applied",
        "amount_paid",
        "amount_remaining",
    )
    return {row[0]: InvoiceRow(*row, reserved=reserved[row[0]]) for row in rows}


def payment_rows() -> dict[int, PaymentRow]:
    rows = Payment.objects.order_by("pk").values_list(
        "pk",
        "member_id",
        "currency",
        "method",
        "status",
        "amount",
        "amount_allocated",
        "amount_refunded",
        "amount_refund_pending",
        "amount_unallocated",
        "payment_method_id",
    )
    return {row[0]: PaymentRow(*row) for row in rows}


def active_allocations(**filters) -> list[tuple[int, int, int, Decimal]]:
    """(pk, payment, invoice, amount) of the active allocations, newest first (the order refunds and credit notes
    take them in)."""
    rows = Allocation.objects.filter(status=Allocation.Status.ACTIVE, **filters).order_by("-created_at", "-pk")
    return list(rows.values_list("pk", "payment_id", "invoice_id", "amount"))


def balances() -> dict[tuple[int, str], Decimal]:
    totals = defaultdict(Decimal)
    for member, currency, amount in MoneyBalanceEntry.objects.values_list("member_id", "amount_currency", "amount"):
        totals[member, currency] += amount
    return totals


def line_creditable(invoice: int) -> dict[int, Decimal]:
    credited = defaultdict(Decimal)
    rows = CreditNoteLine.objects.filter(invoice_line__invoice_id=invoice).values_list("invoice_line_id", "amount")
    for line, amount in rows:
        credited[line] += amount
    lines = InvoiceLine.objects.filter(invoice_id=invoice).order_by("pk").values_list("pk", "amount", "tax")
    return {pk: amount + tax - credited[pk] for pk, amount, tax in lines}


def issued_credit_notes() -> set[int]:
    return set(CreditNote.objects.values_list("pk", flat=True))


def targets_of(payment: int) -> list[tuple[int, Decimal]]:
    """(invoice, amount) a card payment is for."""
    return list(PaymentTarget.objects.filter(payment_id=payment).values_list("invoice_id", "amount"))
