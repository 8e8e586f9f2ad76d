"""Issue a draft invoice. Issuing applies the member's credit in the same transaction: money balance first, then
unallocated payments, oldest first, through payments' allocation helpers (the README's "Operations that touch
invoices and payments")."""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activities_save, activity_build
from billing.errors import BillingError
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice, InvoiceStatus, invoice_has_lines
from billing.money import money_sum
from billing.numbering import INVOICE, number_next
from billing.payment_references import payment_reference_for
from billing.rules import Refusal, in_source, transition_check
from billing.selectors import invoice_draft_version, member_money_balance
from billing.services.invoice_money_balance import balance_apply_locked
from members.models import Member
from payments.allocations import allocations_create
from payments.amounts import invoice_amounts_move, payment_amounts_move
from payments.lock_objects import payments_lock
from payments.models import Payment, PaymentStatus
from payments.outbox import outbox_mail_add

# Why `Invoice.issue` is refused.
INVOICE_ISSUE_REFUSALS = (
    Refusal(in_source("issue"), lambda invoice: _("%(invoice)s is already issued.") % {"invoice": invoice}),
    Refusal(invoice_has_lines, lambda invoice: _("Add at least one line before issuing the invoice."), BillingError),
)


def invoice_issue(
    *, invoice: Invoice, actor: Actor, apply_credit: bool | None = None, expected_version: str | None = None
) -> Invoice:
    """Give the draft its number and make it open (paid at once when its total is zero).

    `apply_credit` defaults to the BILLING_APPLY_CREDIT_AT_ISSUE setting. `expected_version`: the draft's
    `invoice_draft_version` as a confirmation showed it; a draft that changed since is refused.
    """
    actor.require_permission("billing.issue_invoice", _("issue invoices"))
    if apply_credit is None:
        apply_credit = settings.BILLING_APPLY_CREDIT_AT_ISSUE
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        invoice_issue_locked(
            member=member, invoice=invoice, actor=actor, apply_credit=apply_credit, expected_version=expected_version
        )
    return invoice


def invoice_issue_locked(
    *, member: Member, invoice: Invoice, actor: Actor, apply_credit: bool, expected_version: str | None = None
) -> Invoice:
    """Issue the draft; the caller holds the member and invoice locks inside its transaction."""
    # Its lines, read once: the refusals and the transition's condition ask whether it has any.
    prefetch_related_objects([invoice], "lines")
    transition_check(invoice.issue, INVOICE_ISSUE_REFUSALS)
    if expected_version is not None and invoice_draft_version(invoice) != expected_version:
        raise BillingError(
            _(
                "%(invoice)s changed since you confirmed it (%(total)s now); check it and confirm again. Nothing was "
                "issued."
            )
            % {"invoice": invoice, "total": invoice.total}
        )
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
    invoice.payment_reference = payment_reference_for(invoice.number)
    invoice.issue()
    invoice.issued_at = timezone.now()
    invoice.member = member
    activities = [
        activity_build(
            actor=actor,
            verb="invoice.issued",
            member=member,
            invoice=invoice,
            target=invoice,
            amount=invoice.total,
            status_before=InvoiceStatus.DRAFT,
            status_after=InvoiceStatus.OPEN,
        )
    ]
    balance_applied = paid = Money(0, invoice.currency)
    if apply_credit:
        balance_applied, paid = _credit_apply_locked(member=member, invoice=invoice, actor=actor, activities=activities)
    invoice_amounts_move(
        invoice,
        actor=actor,
        paid=paid,
        balance_applied=balance_applied,
        activities=activities,
        fields=("number", "payment_reference", "issue_date", "due_date", "issued_at"),
    )
    activities_save(activities)
    outbox_mail_add(notification="invoice_issued", invoice_id=invoice.pk)
    return invoice


def _credit_apply_locked(*, member: Member, invoice: Invoice, actor: Actor, activities: list) -> tuple[Money, Money]:
    """Apply the member's money balance, then their unallocated payments oldest first, to what remains on the
    invoice being issued; return the balance applied and the payments allocated (the caller moves the invoice's
    amounts by them). The activity records join `activities`."""
    candidates = _credit_payments(member=member, currency=invoice.currency).values_list("pk", flat=True)
    balance_applied, applications = _credit_plan(
        invoice=invoice,
        balance=member_money_balance(member=member, currency=invoice.currency),
        payments=lambda: payments_lock(candidates),
    )
    if balance_applied.amount > 0:
        balance_apply_locked(member=member, invoice=invoice, amount=balance_applied, actor=actor, activities=activities)
    if applications:
        allocations_create(invoice=invoice, applications=applications, actor=actor, activities=activities)
        for payment, amount in applications:
            payment_amounts_move(payment, allocated=amount)
    return balance_applied, money_sum([amount for _payment, amount in applications], invoice.currency)


def _credit_payments(*, member: Member, currency: str):
    return Payment.objects.filter(
        member=member, currency=currency, status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0
    )


def _credit_plan(*, invoice: Invoice, balance: Money, payments) -> tuple[Money, list[tuple[Payment, Money]]]:
    """What issuing applies to the invoice: money balance first (up to `balance`), then the payments (`payments()`,
    asked only when something remains) oldest first, each up to its unallocated money."""
    remaining = invoice.total - invoice.amount_credited - invoice.amount_balance_applied - invoice.amount_paid
    balance_applied = Money(0, invoice.currency)
    applications = []
    if remaining.amount <= 0:
        return balance_applied, applications
    if balance.amount > 0:
        balance_applied = min(balance, remaining)
        remaining -= balance_applied
    if remaining.amount > 0:
        for payment in sorted(
            payments(), key=lambda payment: (payment.received_on or payment.created_at.date(), payment.pk)
        ):
            if remaining.amount <= 0:
                break
            amount = min(payment.amount_unallocated, remaining)
            applications.append((payment, amount))
            remaining -= amount
    return balance_applied, applications


def invoice_issue_credit_preview(*, invoice: Invoice) -> tuple[Money, list[tuple[Payment, Money]]]:
    """What issuing the draft would apply now, by the same rule (read without locks, for the confirmation page): the
    money balance, and each unallocated payment with its amount. Nothing when the setting does not apply credit."""
    if not settings.BILLING_APPLY_CREDIT_AT_ISSUE:
        return Money(0, invoice.currency), []
    return _credit_plan(
        invoice=invoice,
        balance=member_money_balance(member=invoice.member, currency=invoice.currency),
        payments=lambda: list(_credit_payments(member=invoice.member, currency=invoice.currency)),
    )
