"""Checks shared by the payment services, run on locked rows. Each raises a BillingError a person can act on."""

import datetime

from django.conf import settings
from django.utils import timezone
from djmoney.money import Money

from billing.errors import BillingError, InvalidState
from billing.models import Invoice, InvoiceStatus
from payments.models import ExternalKind, Payment, PaymentStatus


def invoice_check_accepts_payment(invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.DRAFT:
        raise InvalidState(f"{invoice} is a draft: issue it before recording payments.")
    if invoice.status == InvoiceStatus.VOID:
        raise InvalidState(f"{invoice} is void and cannot be paid.")
    if invoice.status == InvoiceStatus.PAID or invoice.amount_remaining.amount == 0:
        raise InvalidState(
            f"{invoice} is already paid in full. Record a standalone payment to keep money as the member's credit."
        )


def payment_check_same_member(payment: Payment, invoice: Invoice) -> None:
    if payment.member_id != invoice.member_id:
        raise BillingError(f"{payment} belongs to another member than {invoice}.")


def payment_check_succeeded(payment: Payment) -> None:
    if payment.status != PaymentStatus.SUCCEEDED:
        raise InvalidState(f"{payment} is {payment.get_status_display().lower()}; only received money can be applied.")


def amount_check_at_most(amount: Money, limit: Money, *, what: str) -> None:
    if amount > limit:
        raise BillingError(f"{amount} is more than {what} ({limit}).")


def external_kind_check(kind: str) -> str:
    if kind not in ExternalKind.values:
        choices = ", ".join(label.lower() for label in ExternalKind.labels)
        raise BillingError(f"Choose how the money was received: {choices}.")
    return kind


def received_on_check(received_on: datetime.date | None) -> datetime.date:
    today = timezone.localdate()
    if received_on is None:
        return today
    if not isinstance(received_on, datetime.date):
        raise BillingError("The date received must be a date.")
    if received_on > today:
        raise BillingError(f"The date received ({received_on.isoformat()}) cannot be in the future.")
    earliest = settings.BILLING_EARLIEST_RECEIVED_DATE
    if received_on < earliest:
        raise BillingError(
            f"The date received ({received_on.isoformat()}) is before {earliest.isoformat()}, the earliest date this "
            "space accepts; check the year."
        )
    return received_on
