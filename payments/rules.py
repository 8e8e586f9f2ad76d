"""Checks shared by the payment services, run on locked rows. Each raises a BillingError a person can act on.

The words of the payment transitions' rules live here too (see `billing.rules`): the rules are the predicates in
`payments.models` that the transitions name as `conditions=`."""

import datetime

from django.conf import settings
from django.utils import timezone
from djmoney.money import Money

from billing.errors import BillingError, InvalidState
from billing.models import Invoice, InvoiceStatus, invoice_accepts_payment
from billing.rules import Refusal, in_source, refusal_of, state_is_not
from payments.models import (
    ExternalKind,
    Payment,
    PaymentStatus,
    payment_has_no_refund,
    payment_is_card,
    payment_is_external,
)


def _status(payment: Payment) -> str:
    return payment.get_status_display().lower()


def _not_a_card_payment(payment: Payment) -> str:
    return f"{payment} is not a card payment."


# Why `Payment.void` is refused, in the order a person should hear it.
PAYMENT_VOID_REFUSALS = (
    Refusal(payment_is_external, lambda payment: f"{payment} was collected by card: refund it instead of voiding it."),
    Refusal(state_is_not(PaymentStatus.VOID), lambda payment: f"{payment} is already void."),
    Refusal(in_source("void"), lambda payment: f"{payment} is {_status(payment)} and cannot be voided."),
    Refusal(payment_has_no_refund, lambda payment: f"{payment} has refunds; a refunded payment cannot be voided."),
)

# Why `Payment.retry` is refused.
PAYMENT_RETRY_REFUSALS = (
    Refusal(payment_is_card, _not_a_card_payment),
    Refusal(in_source("retry"), lambda payment: f"{payment} is {_status(payment)}; only a failed payment is retried."),
)

# Why `Payment.cancel` is refused.
PAYMENT_CANCEL_REFUSALS = (
    Refusal(
        in_source("cancel"),
        lambda payment: f"{payment} is {_status(payment)}; only a pending or failed payment can be canceled.",
    ),
    Refusal(payment_is_card, _not_a_card_payment),
)

# Why an invoice takes no payment.
INVOICE_PAYMENT_REFUSALS = (
    Refusal(
        state_is_not(InvoiceStatus.DRAFT), lambda invoice: f"{invoice} is a draft: issue it before recording payments."
    ),
    Refusal(state_is_not(InvoiceStatus.VOID), lambda invoice: f"{invoice} is void and cannot be paid."),
    Refusal(
        invoice_accepts_payment,
        lambda invoice: (
            f"{invoice} is already paid in full. Record a standalone payment to keep money as the member's credit."
        ),
    ),
)


def invoice_check_accepts_payment(invoice: Invoice) -> None:
    error = refusal_of(invoice, INVOICE_PAYMENT_REFUSALS)
    if error is not None:
        raise error


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
