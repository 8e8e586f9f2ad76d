"""Checks shared by the payment services, run on locked rows. Each raises a BillingError a person can act on."""

import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.errors import BillingError, InvalidState
from billing.models import Invoice, InvoiceStatus
from payments.models import ExternalKind, Payment, PaymentStatus


def invoice_check_accepts_payment(invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.DRAFT:
        raise InvalidState(_("%(invoice)s is a draft: issue it before recording payments.") % {"invoice": invoice})
    if invoice.status == InvoiceStatus.VOID:
        raise InvalidState(_("%(invoice)s is void and cannot be paid.") % {"invoice": invoice})
    if invoice.status == InvoiceStatus.PAID or invoice.amount_remaining.amount == 0:
        raise InvalidState(
            _("%(invoice)s is already paid in full. Record a standalone payment to keep money as the member's credit.")
            % {"invoice": invoice}
        )


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
