"""The foundation machine's invariants, checked after every step that may have changed the books: the books pass `billing_integrity_violations()`,
invariants 1, 2 and 4 of the spec's section 10 hold on the rows directly, and every row agrees with the model."""

from decimal import Decimal

from django.db.models import Sum

from billing.models import Invoice, InvoiceStatus, MoneyBalanceEntry
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Payment, PaymentStatus
from tests.payments.machines.foundation.model import ZERO, BooksModel

STORED = Decimal("0.001")


def books_check(model: BooksModel) -> None:
    integrity_check_passes()
    invoice_amounts_add_up(model)
    payment_amounts_add_up(model)
    money_balances_are_not_negative(model)


def sums_by(queryset, *keys: str) -> dict:
    """Sums of `amount` grouped by `keys`, at the storage scale (SQLite adds decimals as floats)."""
    rows = queryset.values_list(*keys).annotate(total=Sum("amount")).order_by()
    return {row[:-1] if len(keys) > 1 else row[0]: (row[-1] or ZERO).quantize(STORED) for row in rows}


def integrity_check_passes() -> None:
    assert billing_integrity_violations() == []


def invoice_amounts_add_up(model: BooksModel) -> None:
    paid = sums_by(Allocation.objects.filter(status=Allocation.Status.ACTIVE), "invoice_id")
    balance_applied = sums_by(MoneyBalanceEntry.objects.filter(invoice__isnull=False), "invoice_id")
    rows = Invoice.objects.values_list(
        "pk", "status", "total", "amount_credited", "amount_balance_applied", "amount_paid", "amount_remaining"
    )
    assert len(rows) == len(model.invoices)
    for pk, status, total, credited, applied, invoice_paid, remaining in rows:
        if status != InvoiceStatus.DRAFT:
            assert invoice_paid == paid.get(pk, ZERO)
            assert applied == -balance_applied.get(pk, ZERO)
            assert remaining == total - credited - applied - invoice_paid
            assert remaining >= 0
        invoice = model.invoices[pk]
        assert (status, total, credited, applied, invoice_paid, remaining) == (
            invoice.status,
            invoice.total,
            ZERO,
            invoice.balance_applied,
            invoice.paid,
            invoice.remaining,
        ), f"invoice {pk} differs from the model"


def payment_amounts_add_up(model: BooksModel) -> None:
    rows = Payment.objects.values_list(
        "pk",
        "status",
        "amount",
        "amount_allocated",
        "amount_refunded",
        "amount_refund_pending",
        "amount_unallocated",
    )
    assert len(rows) == len(model.payments)
    for pk, status, amount, allocated, refunded, refund_pending, unallocated in rows:
        assert min(allocated, refunded, refund_pending, unallocated) >= 0
        if status == PaymentStatus.SUCCEEDED:
            assert allocated + refunded + refund_pending + unallocated == amount
        payment = model.payments[pk]
        assert (status, amount, allocated, unallocated) == (
            payment.status,
            payment.amount,
            payment.allocated,
            payment.unallocated,
        ), f"payment {pk} differs from the model"
    allocations = {
        pk: (status == Allocation.Status.ACTIVE, amount)
        for pk, status, amount in Allocation.objects.values_list("pk", "status", "amount")
    }
    assert allocations == {
        pk: (allocation.active, allocation.amount if allocation.active else ZERO)
        for pk, allocation in model.allocations.items()
    }


def money_balances_are_not_negative(model: BooksModel) -> None:
    balances = sums_by(MoneyBalanceEntry.objects.all(), "member_id", "amount_currency")
    assert all(total >= 0 for total in balances.values()), balances
    expected = {key: value for key, value in model.balances.items() if key in balances or value != 0}
    assert balances == expected
