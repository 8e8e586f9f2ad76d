"""Checks shared by the payment services, run on locked rows. Each raises a BillingError a person can act on.

The words of the payment transitions' rules live here too (see `billing.rules`): the rules are the predicates in
`payments.models` that the transitions name as `conditions=`."""

import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
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
    return _("%(payment)s is not a card payment.") % {"payment": payment}


# Why `Payment.void` is refused, in the order a person should hear it.
PAYMENT_VOID_REFUSALS = (
    Refusal(
        payment_is_external,
        lambda payment: _("%(payment)s was collected by card: refund it instead of voiding it.") % {"payment": payment},
    ),
    Refusal(state_is_not(PaymentStatus.VOID), lambda payment: _("%(payment)s is already void.") % {"payment": payment}),
    Refusal(
        in_source("void"),
        lambda payment: (
            _("%(payment)s is %(status)s and cannot be voided.") % {"payment": payment, "status": _status(payment)}
        ),
    ),
    Refusal(
        payment_has_no_refund,
        lambda payment: _("%(payment)s has refunds; a refunded payment cannot be voided.") % {"payment": payment},
    ),
)

# Why `Payment.retry` is refused.
PAYMENT_RETRY_REFUSALS = (
    Refusal(payment_is_card, _not_a_card_payment),
    Refusal(
        in_source("retry"),
        lambda payment: (
            _("%(payment)s is %(status)s; only a failed payment is retried.")
            % {"payment": payment, "status": _status(payment)}
        ),
    ),
)

# Why `Payment.cancel` is refused.
PAYMENT_CANCEL_REFUSALS = (
    Refusal(
        in_source("cancel"),
        lambda payment: (
            _("%(payment)s is %(status)s; only a pending or failed payment can be canceled.")
            % {"payment": payment, "status": _status(payment)}
        ),
    ),
    Refusal(payment_is_card, _not_a_card_payment),
)

# Why an invoice takes no payment.
INVOICE_PAYMENT_REFUSALS = (
    Refusal(
        state_is_not(InvoiceStatus.DRAFT),
        lambda invoice: _("%(invoice)s is a draft: issue it before recording payments.") % {"invoice": invoice},
    ),
    Refusal(
        state_is_not(InvoiceStatus.VOID),
        lambda invoice: _("%(invoice)s is void and cannot be paid.") % {"invoice": invoice},
    ),
    Refusal(
        invoice_accepts_payment,
        lambda invoice: (
            _("%(invoice)s is already paid in full. Record a standalone payment to keep money as the member's credit.")
            % {"invoice": invoice}
        ),
    ),
)


def invoice_check_accepts_payment(invoice: Invoice) -> None:
    error = refusal_of(invoice, INVOICE_PAYMENT_REFUSALS)
    if error is not None:
        raise error


def payment_check_same_member(payment: Payment, invoice: Invoice) -> None:
    if payment.member_id != invoice.member_id:
        raise BillingError(
            _("%(payment)s belongs to another member than %(invoice)s.") % {"payment": payment, "invoice": invoice}
        )


def payment_check_succeeded(payment: Payment) -> None:
    if payment.status != PaymentStatus.SUCCEEDED:
        raise InvalidState(
            _("%(payment)s is %(status)s; only received money can be applied.")
            % {"payment": payment, "status": payment.get_status_display().lower()}
        )


def amount_check_at_most(amount: Money, limit: Money, *, what: str) -> None:
    """`what`: the limit's name, as the end of "... is more than" ("what remains on INV-2026-00001")."""
    if amount > limit:
        raise BillingError(
            _("%(amount)s is more than %(what)s (%(limit)s).") % {"amount": amount, "what": what, "limit": limit}
        )


def external_kind_check(kind: str) -> str:
    if kind not in ExternalKind.values:
        choices = ", ".join(label.lower() for label in ExternalKind.labels)
        raise BillingError(_("Choose how the money was received: %(choices)s.") % {"choices": choices})
    return kind


def received_on_check(received_on: datetime.date | None) -> datetime.date:
    today = timezone.localdate()
    if received_on is None:
        return today
    if not isinstance(received_on, datetime.date):
        raise BillingError(_("The date received must be a date."))
    if received_on > today:
        raise BillingError(
            _("The date received (%(date)s) cannot be in the future.") % {"date": received_on.isoformat()}
        )
    earliest = settings.BILLING_EARLIEST_RECEIVED_DATE
    if received_on < earliest:
        raise BillingError(
            _(
                "The date received (%(date)s) is before %(earliest)s, the earliest date this space accepts; check the "
                "year."
            )
            % {"date": received_on.isoformat(), "earliest": earliest.isoformat()}
        )
    return received_on
