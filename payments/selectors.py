"""Reads of the payments app (the admin's pages and, later, the portal)."""

from django.db.models import QuerySet, Sum
from djmoney.money import Money

from billing.models import Invoice, InvoiceStatus
from billing.money import money_from_db
from members.models import Member
from payments.models import Allocation, Payment, PaymentStatus

PAYABLE_INVOICE_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)


def member_payments(*, member: Member) -> QuerySet[Payment]:
    """The member's payments, newest first."""
    return Payment.objects.filter(member=member).select_related("member").order_by("-id")


def member_payments_with_unallocated(*, member: Member, currency: str) -> QuerySet[Payment]:
    """The member's received payments with money left to apply in `currency`, oldest first (the order in which
    issuing an invoice uses them)."""
    return Payment.objects.filter(
        member=member, currency=currency, status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0
    ).order_by("created_at", "pk")


def member_unallocated_by_currency(*, member: Member) -> dict[str, Money]:
    """The member's unallocated payment money (their credit held as payments), per currency."""
    rows = (
        Payment.objects.filter(member=member, status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0)
        .values("currency")
        .annotate(total=Sum("amount_unallocated"))
        .order_by("currency")
    )
    return {row["currency"]: money_from_db(row["total"], row["currency"]) for row in rows}


def member_invoices_payable(*, member: Member, currency: str) -> QuerySet[Invoice]:
    """The member's invoices that still ask for money in `currency`, oldest due first."""
    return Invoice.objects.filter(
        member=member, currency=currency, status__in=PAYABLE_INVOICE_STATUSES, amount_remaining__gt=0
    ).order_by("due_date", "pk")


def invoice_allocations(*, invoice: Invoice) -> QuerySet[Allocation]:
    """Every allocation to the invoice, removed ones included, with its payment."""
    return Allocation.objects.filter(invoice=invoice).select_related("payment").order_by("created_at", "pk")


def payment_allocations(*, payment: Payment) -> QuerySet[Allocation]:
    """Every allocation of the payment, removed ones included, with its invoice."""
    return Allocation.objects.filter(payment=payment).select_related("invoice").order_by("created_at", "pk")


def payment_void_reopens(*, payment: Payment) -> QuerySet[Allocation]:
    """The active allocations a void of the payment removes: each names an invoice that gets the amount back
    as remaining (and reopens if it was paid)."""
    return (
        Allocation.objects.filter(payment=payment, status=Allocation.Status.ACTIVE)
        .select_related("invoice")
        .order_by("invoice_id", "pk")
    )
