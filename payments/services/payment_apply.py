"""Apply a member's unallocated payments to an invoice, and take an allocation back off (unallocate)."""

from django.db import transaction
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activities_save
from billing.errors import BillingError, InvalidState
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice
from billing.money import money_check_entered, money_sum
from payments.allocations import allocation_release, allocations_create
from payments.amounts import invoice_amounts_move, payment_amounts_move
from payments.lock_objects import payments_lock
from payments.models import Allocation, Payment
from payments.rules import (
    amount_check_at_most,
    invoice_check_accepts_payment,
    payment_check_same_member,
    payment_check_succeeded,
)


def payment_apply(*, invoice: Invoice, applications: list[tuple[Payment, Money]], actor: Actor) -> list[Allocation]:
    """Apply each (payment, amount) to the invoice: one allocation, with its own number, per application."""
    actor.require_permission("payments.allocate_payment", _("apply payments"))
    if not applications:
        raise BillingError(_("Enter an amount for at least one payment."))
    payment_ids = [payment.pk for payment, _amount in applications]
    if len(set(payment_ids)) != len(payment_ids):
        raise BillingError(_("Each payment can appear only once."))
    amounts = [money_check_entered(amount, currency=invoice.currency) for _payment, amount in applications]
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        invoice.member = member
        payments = {payment.pk: payment for payment in payments_lock(payment_ids)}
        activities = []
        allocations = payment_apply_locked(
            invoice=invoice,
            applications=[
                (payments[payment_id], amount) for payment_id, amount in zip(payment_ids, amounts, strict=True)
            ],
            actor=actor,
            activities=activities,
        )
        activities_save(activities)
    return allocations


def payment_apply_locked(
    *, invoice: Invoice, applications: list[tuple[Payment, Money]], actor: Actor, activities: list
) -> list[Allocation]:
    """Apply each (payment, amount) to the invoice; the caller holds the member, invoice and payment locks inside
    its transaction and saves `activities`. The amounts are checked entered already; the rules are checked here, on
    the locked rows."""
    invoice_check_accepts_payment(invoice)
    requested = money_sum([amount for _payment, amount in applications], invoice.currency)
    amount_check_at_most(
        requested, invoice.amount_remaining, what=_("what remains on %(invoice)s") % {"invoice": invoice}
    )
    for payment, amount in applications:
        payment_check_same_member(payment, invoice)
        payment_check_succeeded(payment)
        if payment.currency != invoice.currency:
            raise BillingError(
                _("%(payment)s is in %(payment_currency)s; %(invoice)s is in %(invoice_currency)s.")
                % {
                    "payment": payment,
                    "payment_currency": payment.currency,
                    "invoice": invoice,
                    "invoice_currency": invoice.currency,
                }
            )
        amount_check_at_most(
            amount,
            payment.amount_unallocated,
            what=_("the unallocated money of %(payment)s") % {"payment": payment},
        )
    allocations = allocations_create(invoice=invoice, applications=applications, actor=actor, activities=activities)
    for payment, amount in applications:
        payment_amounts_move(payment, allocated=amount)
    invoice_amounts_move(invoice, actor=actor, paid=requested, activities=activities)
    return allocations


def allocation_remove(*, allocation: Allocation, actor: Actor) -> Allocation:
    """Unallocate: the money goes back to unallocated on its payment and the invoice reopens."""
    actor.require_permission("payments.allocate_payment", _("unallocate payments"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(allocation.invoice.member_id)
        invoice = invoice_lock(allocation.invoice_id)
        invoice.member = member
        payment = payments_lock([allocation.payment_id])[0]
        allocation = Allocation.objects.select_for_update().get(pk=allocation.pk)
        if allocation.status != Allocation.Status.ACTIVE:
            raise InvalidState(_("Allocation %(allocation)s was already removed.") % {"allocation": allocation})
        allocation.invoice, allocation.payment = invoice, payment
        activities = []
        released = allocation_release(
            allocation=allocation, actor=actor, reason=_("Unallocated by staff"), activities=activities
        )
        payment_amounts_move(payment, allocated=-released)
        invoice_amounts_move(invoice, actor=actor, paid=-released, activities=activities)
        activities_save(activities)
    return allocation
