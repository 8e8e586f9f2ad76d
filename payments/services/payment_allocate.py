"""Allocate a member's unallocated money to several of their open invoices in one action (from a payment's page, or
from the member's page across their payments): the split is proposed oldest invoice first, the administrator may
exclude invoices or change the amounts, a preview shows the result, and confirming applies it through
`payment_apply_locked`, in one transaction.

Invoices are taken oldest first (issue date, then number); each invoice's amount comes from the payments oldest
first (date received, then created), the order in which issuing an invoice uses them."""

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activities_save
from billing.errors import BillingError
from billing.intents import intent_claim
from billing.lock_objects import invoices_lock, member_lock
from billing.models import Invoice
from billing.money import money_check_entered, money_sum
from members.models import Member
from payments.lock_objects import payments_lock
from payments.models import Allocation, Payment
from payments.rules import amount_check_at_most, invoice_check_accepts_payment, payment_check_succeeded
from payments.services.payment_apply import payment_apply_locked


@dataclass(frozen=True)
class AllocationStep:
    """One allocation of a plan: `amount` of `payment` to `invoice`."""

    invoice: Invoice
    payment: Payment
    amount: Money


def invoice_age_key(invoice: Invoice) -> tuple:
    return (invoice.issue_date or datetime.date.max, invoice.pk)


def payment_age_key(payment: Payment) -> tuple:
    return (payment.received_on or payment.created_at.date(), payment.created_at, payment.pk)


def allocation_split(*, available: Money, invoices: list[Invoice]) -> list[tuple[Invoice, Money]]:
    """The proposed split of `available` over the invoices, oldest first, each up to what remains on it; invoices
    the money does not reach get nothing (they are listed with zero)."""
    split = []
    for invoice in sorted(invoices, key=invoice_age_key):
        amount = min(available, invoice.amount_remaining) if available.amount > 0 else Money(0, available.currency)
        split.append((invoice, amount))
        available -= amount
    return split


def allocation_plan(*, payments: list[Payment], amounts: list[tuple[Invoice, Money]]) -> list[AllocationStep]:
    """Each invoice's amount (oldest invoice first) taken from the payments' unallocated money, oldest payment
    first. Refuses, naming the limit, an amount over what remains on its invoice or more in all than the payments
    hold unallocated. Reads the amounts of the rows given: the service calls it on locked rows, the preview on the
    rows as they are now."""
    if not amounts:
        raise BillingError(_("Choose at least one invoice and an amount for it."))
    for invoice, amount in amounts:
        amount_check_at_most(
            amount, invoice.amount_remaining, what=_("what remains on %(invoice)s") % {"invoice": invoice}
        )
    payments = sorted(payments, key=payment_age_key)
    currency = amounts[0][1].currency.code
    requested = money_sum([amount for _invoice, amount in amounts], currency)
    available = money_sum([payment.amount_unallocated for payment in payments], currency)
    if len(payments) == 1:
        what = _("the unallocated money of %(payment)s") % {"payment": payments[0]}
    else:
        what = _("the unallocated money of the member's payments in %(currency)s") % {"currency": currency}
    amount_check_at_most(requested, available, what=what)
    left = {payment.pk: payment.amount_unallocated for payment in payments}
    steps = []
    for invoice, amount in sorted(amounts, key=lambda pair: invoice_age_key(pair[0])):
        for payment in payments:
            if amount.amount <= 0:
                break
            taken = min(amount, left[payment.pk])
            if taken.amount > 0:
                steps.append(AllocationStep(invoice=invoice, payment=payment, amount=taken))
                left[payment.pk] -= taken
                amount -= taken
    return steps


def payments_allocate(
    *, member: Member, payments: list[Payment], amounts: list[tuple[Invoice, Money]], actor: Actor
) -> list[Allocation]:
    """Allocate `amounts` (invoice, amount) of the member's open invoices from the unallocated money of `payments`
    (one from a payment's page, all the member's in the currency from the member's page), oldest invoice and oldest
    payment first: one allocation, with its own number and activity, per invoice and payment. One transaction,
    locks in the README's order (the form's key, the member, the invoices by id, the payments by id); on a refusal
    nothing is written."""
    actor.require_permission("payments.allocate_payment", _("apply payments"))
    amounts = [(invoice, amount) for invoice, amount in amounts if amount is not None]
    if not amounts:
        raise BillingError(_("Choose at least one invoice and an amount for it."))
    if not payments:
        raise BillingError(_("The member has no unallocated payment to allocate."))
    invoice_ids = [invoice.pk for invoice, _amount in amounts]
    if len(set(invoice_ids)) != len(invoice_ids):
        raise BillingError(_("Each invoice can appear only once."))
    currency = amounts[0][0].currency
    entered = {invoice.pk: money_check_entered(amount, currency=invoice.currency) for invoice, amount in amounts}
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(member.pk)
        invoices = {invoice.pk: invoice for invoice in invoices_lock(invoice_ids)}
        locked_payments = payments_lock([payment.pk for payment in payments])
        for invoice in invoices.values():
            if invoice.member_id != member.pk:
                raise BillingError(
                    _("%(invoice)s belongs to another member than %(member)s.") % {"invoice": invoice, "member": member}
                )
            invoice.member = member
            if invoice.currency != currency:
                raise BillingError(_("Allocate to invoices in one currency at a time."))
            invoice_check_accepts_payment(invoice)
        for payment in locked_payments:
            if payment.member_id != member.pk:
                raise BillingError(
                    _("%(payment)s belongs to another member than %(member)s.") % {"payment": payment, "member": member}
                )
            payment_check_succeeded(payment)
            if payment.currency != currency:
                raise BillingError(
                    _("%(payment)s is in %(payment_currency)s; the invoices are in %(currency)s.")
                    % {"payment": payment, "payment_currency": payment.currency, "currency": currency}
                )
        steps = allocation_plan(
            payments=locked_payments, amounts=[(invoices[pk], amount) for pk, amount in entered.items()]
        )
        activities = []
        allocations = []
        for invoice_id in sorted({step.invoice.pk for step in steps}, key=lambda pk: invoice_age_key(invoices[pk])):
            applications = [(step.payment, step.amount) for step in steps if step.invoice.pk == invoice_id]
            allocations += payment_apply_locked(
                invoice=invoices[invoice_id], applications=applications, actor=actor, activities=activities
            )
        activities_save(activities)
    return allocations
