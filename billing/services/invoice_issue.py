"""Issue a draft invoice. Issuing applies the member's credit in the same transaction: money balance first, then
unallocated payments, oldest first, through payments' allocation helpers (the README's "Operations that touch
invoices and payments")."""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.activity import Actor, activity_record
from billing.errors import BillingError
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice, InvoiceStatus, invoice_has_lines
from billing.numbering import INVOICE, number_next
from billing.rules import Refusal, in_source, transition_check
from billing.selectors import member_money_balance
from billing.services.invoice_money_balance import balance_apply_locked
from members.models import Member
from payments.allocations import allocation_create
from payments.amounts import invoice_refresh_amounts, payment_refresh_amounts
from payments.lock_objects import payments_lock
from payments.models import Payment, PaymentStatus
from payments.outbox import outbox_mail_add

# Why `Invoice.issue` is refused.
INVOICE_ISSUE_REFUSALS = (
    Refusal(in_source("issue"), lambda invoice: _("%(invoice)s is already issued.") % {"invoice": invoice}),
    Refusal(invoice_has_lines, lambda invoice: _("Add at least one line before issuing the invoice."), BillingError),
)


def invoice_issue(*, invoice: Invoice, actor: Actor, apply_credit: bool | None = None) -> Invoice:
    """Give the draft its number and make it open (paid at once when its total is zero).

    `apply_credit` defaults to the BILLING_APPLY_CREDIT_AT_ISSUE setting.
    """
    actor.require_permission("billing.issue_invoice", _("issue invoices"))
    if apply_credit is None:
        apply_credit = settings.BILLING_APPLY_CREDIT_AT_ISSUE
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        invoice_issue_locked(member=member, invoice=invoice, actor=actor, apply_credit=apply_credit)
    return invoice


def invoice_issue_locked(*, member: Member, invoice: Invoice, actor: Actor, apply_credit: bool) -> Invoice:
    """Issue the draft; the caller holds the member and invoice locks inside its transaction."""
    transition_check(invoice.issue, INVOICE_ISSUE_REFUSALS)
    today = timezone.localdate()
    invoice.issue_date = invoice.issue_date or today
    invoice.due_date = invoice.due_date or invoice.issue_date + datetime.timedelta(
        days=settings.BILLING_DEFAULT_DUE_DAYS
    )
    if invoice.due_date < invoice.issue_date:
        raise BillingError(
            _("The due date %(due_date)s is before the issue date %(issue_date)s.")
            % {"due_date": invoice.due_date, "issue_date": invoice.issue_date}
        )
    invoice.number = number_next(series=INVOICE, year=invoice.issue_date.year)
    invoice.issue()
    invoice.issued_at = timezone.now()
    invoice.save()
    activity_record(
        actor=actor,
        verb="invoice.issued",
        member=member,
        invoice=invoice,
        target=invoice,
        amount=invoice.total,
        status_before=InvoiceStatus.DRAFT,
        status_after=InvoiceStatus.OPEN,
    )
    invoice_refresh_amounts(invoice, actor=actor)
    if apply_credit and invoice.amount_remaining.amount > 0:
        _credit_apply_locked(member=member, invoice=invoice, actor=actor)
        invoice_refresh_amounts(invoice, actor=actor)
    outbox_mail_add(notification="invoice_issued", invoice_id=invoice.pk)
    return invoice


def _credit_apply_locked(*, member: Member, invoice: Invoice, actor: Actor) -> None:
    balance = member_money_balance(member=member, currency=invoice.currency)
    if balance.amount > 0:
        amount = min(balance, invoice.amount_remaining)
        balance_apply_locked(member=member, invoice=invoice, amount=amount, actor=actor)
        invoice.amount_remaining -= amount
    candidates = Payment.objects.filter(
        member=member, currency=invoice.currency, status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0
    ).values_list("pk", flat=True)
    payments = payments_lock(candidates)
    for payment in sorted(payments, key=lambda payment: (payment.received_on or payment.created_at.date(), payment.pk)):
        if invoice.amount_remaining.amount <= 0:
            break
        amount = min(payment.amount_unallocated, invoice.amount_remaining)
        allocation_create(payment=payment, invoice=invoice, amount=amount, actor=actor)
        payment_refresh_amounts(payment)
        invoice.amount_remaining -= amount
