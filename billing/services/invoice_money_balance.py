from django.db import transaction
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activities_save, activity_build, activity_record
from billing.errors import BillingError
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice, MoneyBalanceEntry
from billing.money import money_check_entered
from billing.selectors import member_money_balance
from members.models import Member
from payments.amounts import invoice_amounts_move
from payments.rules import amount_check_at_most, invoice_check_accepts_payment


def balance_apply_locked(
    *,
    member: Member,
    invoice: Invoice,
    amount: Money,
    actor: Actor,
    note: str = "",
    data: dict | None = None,
    activities: list | None = None,
) -> MoneyBalanceEntry:
    """Apply money balance to the invoice. The caller holds the member and invoice locks and refreshes or moves its
    amounts. The activity record joins `activities` when given (the caller saves them), else it is written at
    once."""
    entry = MoneyBalanceEntry.objects.create(
        member=member,
        amount=-amount,
        kind=MoneyBalanceEntry.Kind.APPLIED,
        invoice=invoice,
        note=note or f"Applied to {invoice}",
        actor_label=actor.label,
        created_by=actor.user,
    )
    activity = activity_build(
        actor=actor, verb="balance.applied", member=member, invoice=invoice, target=entry, amount=amount, data=data
    )
    if activities is None:
        activity.save(force_insert=True)
    else:
        activities.append(activity)
    return entry


def balance_return_locked(
    *, member: Member, invoice: Invoice, amount: Money, actor: Actor, note: str, data: dict | None = None
) -> MoneyBalanceEntry:
    """Give money balance applied to the invoice back to the member (the invoice voided, or reduced by a credit
    note). The caller holds the member and invoice locks and refreshes."""
    entry = MoneyBalanceEntry.objects.create(
        member=member,
        amount=amount,
        kind=MoneyBalanceEntry.Kind.RETURNED,
        invoice=invoice,
        note=note,
        actor_label=actor.label,
        created_by=actor.user,
    )
    activity_record(
        actor=actor, verb="balance.returned", member=member, invoice=invoice, target=entry, amount=amount, data=data
    )
    return entry


def invoice_apply_money_balance(*, invoice: Invoice, actor: Actor, amount: Money | None = None) -> Invoice:
    """Apply the member's money balance to the invoice, up to what remains (all that fits when no amount)."""
    actor.require_permission("billing.adjust_money_balance", _("apply money balances"))
    if amount is not None:
        amount = money_check_entered(amount, currency=invoice.currency)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        invoice.member = member
        invoice_check_accepts_payment(invoice)
        available = member_money_balance(member=member, currency=invoice.currency)
        if available.amount <= 0:
            raise BillingError(
                _("%(member)s has no money balance in %(currency)s to apply.")
                % {"member": member, "currency": invoice.currency}
            )
        if amount is None:
            amount = min(available, invoice.amount_remaining)
        amount_check_at_most(amount, available, what=_("%(member)s's money balance") % {"member": member})
        amount_check_at_most(
            amount, invoice.amount_remaining, what=_("what remains on %(invoice)s") % {"invoice": invoice}
        )
        activities = []
        balance_apply_locked(member=member, invoice=invoice, amount=amount, actor=actor, activities=activities)
        invoice_amounts_move(invoice, actor=actor, balance_applied=amount, activities=activities)
        activities_save(activities)
    return invoice
