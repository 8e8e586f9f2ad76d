"""The portal's reads. Each takes the member and reads only their rows: an id of another member's object (or of a
draft invoice) answers 404, so no portal view fetches anything by id alone."""

from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import Http404
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.models import Invoice, InvoiceStatus, invoice_accepts_payment
from members.models import Member
from payments.models import (
    Payment,
    PaymentAttempt,
    PaymentMethod,
    Refund,
)
from payments.selectors import (
    invoice_card_payments_unsettled,
    invoices_available_to_charge,
)


def portal_member(user: AbstractBaseUser | AnonymousUser) -> Member | None:
    """The member whose portal login this is; None for anonymous users, logins without a member, and staff (the
    portal is for members; staff use the admin)."""
    if not user.is_authenticated or user.is_staff or user.is_superuser:
        return None
    return Member.objects.filter(user=user).first()


def _get_or_404(queryset: QuerySet, pk: int):
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404(_("No such %(name)s for you.") % {"name": queryset.model._meta.verbose_name}) from None


# Invoices ----------------------------------------------------------------------------------------------------------


def member_portal_invoices(*, member: Member) -> QuerySet[Invoice]:
    """The member's issued invoices (never drafts): the open ones first, oldest due first, then the rest newest
    first."""
    return (
        Invoice.objects.issued()
        .filter(member=member)
        .annotate(
            open_first=Case(
                When(status=InvoiceStatus.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by(
            "open_first",
            Case(When(status=InvoiceStatus.OPEN, then=F("due_date"))).asc(nulls_last=True),
            F("issue_date").desc(nulls_last=True),
            "-pk",
        )
    )


def invoice_get_for_member(*, member: Member, pk: int) -> Invoice:
    """One of the member's issued invoices; 404 for a draft or another member's invoice."""
    return _get_or_404(Invoice.objects.issued().filter(member=member).select_related("member"), pk)


def invoice_card_payments_in_progress(*, invoice: Invoice) -> QuerySet[Payment]:
    """The card payments the member still waits on for the invoice (at the gateway, or failed and retried):
    only on an open invoice. A paid, void or uncollectible invoice has none in progress for the member; its failed
    payments' retries were canceled when it got there."""
    if invoice.status != InvoiceStatus.OPEN:
        return Payment.objects.none()
    return invoice_card_payments_unsettled(invoice=invoice)


@dataclass(frozen=True)
class InvoiceAmounts:
    """An invoice as the member sees it: its shown status, what card payments in flight reserve on it, and what
    the member can pay now (remaining - reserved)."""

    invoice: Invoice
    shown_status: str
    reserved: Money
    available: Money

    @property
    def payable(self) -> bool:
        return invoice_accepts_payment(self.invoice) and self.available.amount > 0

    @property
    def shown_status_label(self) -> str:
        return self.invoice.get_shown_status_display()


def invoices_amounts(invoices: list[Invoice]) -> list[InvoiceAmounts]:
    charge = invoices_available_to_charge(invoices)
    return [
        InvoiceAmounts(invoice, invoice.shown_status(), charge[invoice.pk].reserved, charge[invoice.pk].available)
        for invoice in invoices
    ]


def invoice_amounts(invoice: Invoice) -> InvoiceAmounts:
    return invoices_amounts([invoice])[0]


def member_payable_by_currency(*, member: Member) -> dict[str, list[InvoiceAmounts]]:
    """The member's invoices that can be paid now, per currency, oldest first (the order in which one payment of
    several invoices is allocated)."""
    invoices = list(Invoice.objects.filter(member=member).accepting_payment().order_by("issue_date", "pk"))
    payable = defaultdict(list)
    for row in invoices_amounts(invoices):
        if row.payable:
            payable[row.invoice.currency].append(row)
    return dict(sorted(payable.items()))


def invoice_refunds(*, invoice: Invoice) -> QuerySet[Refund]:
    """Refunds of money that was paid on the invoice, or made for one of its credit notes."""
    return (
        Refund.objects.filter(Q(takes__allocation__invoice=invoice) | Q(credit_note__invoice=invoice))
        .distinct()
        .select_related("payment", "credit_note")
        .order_by("created_at", "pk")
    )


# Payments and receipts ---------------------------------------------------------------------------------------------


def member_portal_payments(*, member: Member) -> QuerySet[Payment]:
    """Every payment of the member, newest first, with its card."""
    return Payment.objects.filter(member=member).select_related("payment_method").order_by("-created_at", "-pk")


def payment_get_for_member(*, member: Member, pk: int) -> Payment:
    """One of the member's payments; 404 for another member's."""
    return _get_or_404(Payment.objects.filter(member=member).select_related("payment_method", "invoice"), pk)


def payment_invoices(*, payment: Payment) -> list[Invoice]:
    """The invoices a payment is for: its targets (a card payment) or its allocations, in order."""
    targets = list(payment.targets.select_related("invoice").order_by("position", "pk"))
    if targets:
        return [target.invoice for target in targets]
    seen = {}
    for allocation in payment.allocations.select_related("invoice").order_by("created_at", "pk"):
        seen.setdefault(allocation.invoice_id, allocation.invoice)
    return list(seen.values())


def payment_retried_with_card(*, member: Member, invoice: Invoice, payment_method: PaymentMethod) -> Payment | None:
    """A failed payment of the invoice that saving `payment_method` retried with it (a new card retries the
    member's failed payments at once): the member follows that payment instead of paying a second time."""
    return (
        Payment.objects.filter(
            member=member,
            targets__invoice=invoice,
            attempts__payment_method=payment_method,
            attempts__trigger=PaymentAttempt.Trigger.NEW_CARD,
        )
        .order_by("-pk")
        .first()
    )


# Cards -------------------------------------------------------------------------------------------------------------


def payment_method_get_for_member(*, member: Member, pk: int) -> PaymentMethod:
    """One of the member's saved cards still in use; 404 for a removed card or another member's."""
    return _get_or_404(PaymentMethod.objects.filter(member=member, removed_at__isnull=True), pk)
