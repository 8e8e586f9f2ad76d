"""Reads of the payments app (the admin's pages and the portal)."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum
from djmoney.money import Money

from billing.models import CreditNote, Invoice, invoice_accepts_payment
from billing.money import money_from_db, zero
from members.models import Member
from payments.models import (
    IN_FLIGHT_STATUSES,
    Allocation,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    PaymentTarget,
    Refund,
    RefundAllocation,
)

# Card payments that are not settled yet: at the gateway (pending, processing) or failed and waiting for a retry.
CARD_UNSETTLED_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.FAILED)


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


def member_payments_with_credit(*, member: Member) -> QuerySet[Payment]:
    """The member's received payments with unallocated money (their credit held as payments), in every currency,
    by currency then oldest first."""
    return Payment.objects.filter(member=member, status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0).order_by(
        "currency", "created_at", "pk"
    )


def member_invoices_payable(*, member: Member, currency: str) -> QuerySet[Invoice]:
    """The member's invoices that still ask for money in `currency`, oldest due first."""
    return Invoice.objects.filter(member=member, currency=currency).accepting_payment().order_by("due_date", "pk")


def invoices_reserved(invoices: Iterable[Invoice]) -> dict[int, Money]:
    """What card payments still in flight at the gateway reserve on each invoice, in one query."""
    invoices = list(invoices)
    rows = (
        PaymentTarget.objects.filter(
            invoice__in=[invoice.pk for invoice in invoices], payment__status__in=IN_FLIGHT_STATUSES
        )
        .values("invoice_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    totals = {row["invoice_id"]: row["total"] for row in rows}
    return {invoice.pk: money_from_db(totals.get(invoice.pk), invoice.currency) for invoice in invoices}


@dataclass(frozen=True)
class ChargeAvailability:
    """What card payments in flight at the gateway reserve on an invoice (`reserved`), and what can still be charged
    on it by card (`available`): what remains less that, never below zero, and nothing on an invoice that takes no
    payment (a draft, a void or a paid one)."""

    reserved: Money
    available: Money


def invoices_available_to_charge(invoices: Iterable[Invoice]) -> dict[int, ChargeAvailability]:
    """`invoice_available_to_charge` of each invoice, by id, in one query."""
    invoices = list(invoices)
    reserved = invoices_reserved(invoices)
    availability = {}
    for invoice in invoices:
        available = zero(invoice.currency)
        if invoice_accepts_payment(invoice):
            left = invoice.amount_remaining - reserved[invoice.pk]
            available = money_from_db(max(left.amount, 0), invoice.currency)
        availability[invoice.pk] = ChargeAvailability(reserved=reserved[invoice.pk], available=available)
    return availability


def invoice_available_to_charge(invoice: Invoice) -> ChargeAvailability:
    """What can still be charged on the invoice by card, and what card payments in flight already reserve on it:
    the one rule of the card service (checked again on the locked rows), the admin's pages, the portal and the
    retries."""
    return invoices_available_to_charge([invoice])[invoice.pk]


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


def member_payment_methods(*, member: Member) -> QuerySet[PaymentMethod]:
    """The member's saved cards, removed ones included (they stay for the history of their payments): the cards
    in use first (the default, then the newest), then the removed ones, last removed first."""
    return PaymentMethod.objects.filter(member=member).order_by(
        F("removed_at").desc(nulls_first=True), "-is_default", "-created_at", "-pk"
    )


def member_active_payment_methods(*, member: Member) -> QuerySet[PaymentMethod]:
    """The member's cards that can be charged: the default first, then the newest."""
    return PaymentMethod.objects.filter(member=member, removed_at__isnull=True).order_by(
        "-is_default", "-created_at", "-pk"
    )


def invoice_card_payments_unsettled(*, invoice: Invoice) -> QuerySet[Payment]:
    """The invoice's card payments still at the gateway or failed: they have no allocation yet, so the invoice
    page lists them beside its allocations."""
    return (
        Payment.objects.filter(
            targets__invoice=invoice, method=PaymentMethodKind.CARD, status__in=CARD_UNSETTLED_STATUSES
        )
        .select_related("payment_method")
        .order_by("created_at", "pk")
    )


def payment_attempts(*, payment: Payment) -> QuerySet[PaymentAttempt]:
    """Every try at the gateway for the payment, oldest first, with its card."""
    return PaymentAttempt.objects.filter(payment=payment).select_related("payment_method").order_by("created_at", "pk")


def payments_with_review_flag(queryset: QuerySet[Payment]) -> QuerySet[Payment]:
    """Annotate `needs_review`: an attempt or a refund of the payment has an outcome that reconciliation could not
    settle."""
    return queryset.annotate(
        needs_review=Exists(PaymentAttempt.objects.filter(payment=OuterRef("pk"), needs_review=True))
        | Exists(Refund.objects.filter(payment=OuterRef("pk"), needs_review=True))
    )


def payment_refunds(*, payment: Payment) -> QuerySet[Refund]:
    """Every refund of the payment, oldest first, with the credit note it settles and what it took off each
    invoice (`takes`, with their invoices and credit notes)."""
    return (
        Refund.objects.filter(payment=payment)
        .select_related("credit_note")
        .prefetch_related(
            Prefetch(
                "takes",
                queryset=RefundAllocation.objects.select_related("allocation__invoice", "credit_note").order_by("pk"),
            )
        )
        .order_by("created_at", "pk")
    )


def invoice_credit_notes(*, invoice: Invoice) -> QuerySet[CreditNote]:
    """The invoice's credit notes, oldest first."""
    return CreditNote.objects.filter(invoice=invoice).order_by("created_at", "pk")


def credit_note_refunds(*, credit_note: CreditNote) -> QuerySet[Refund]:
    """The refunds that settle the credit note: made for it (its refund and out-of-band parts), or a payment's
    refund that reduced the invoice with it."""
    return (
        Refund.objects.filter(Q(credit_note=credit_note) | Q(takes__credit_note=credit_note))
        .distinct()
        .select_related("payment")
        .order_by("created_at", "pk")
    )


def credit_note_allocation_takes(*, credit_note: CreditNote) -> QuerySet[RefundAllocation]:
    """What the credit note released from the invoice's allocations, with their payments."""
    return (
        RefundAllocation.objects.filter(credit_note=credit_note)
        .select_related("allocation__payment", "refund")
        .order_by("pk")
    )
