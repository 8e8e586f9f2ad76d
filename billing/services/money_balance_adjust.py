from django.db import transaction
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.errors import BillingError
from billing.intents import intent_claim
from billing.lock_objects import member_lock
from billing.models import MoneyBalanceEntry
from billing.money import currency_check, money_check_entered
from billing.selectors import member_money_balance
from members.models import Member


def money_balance_adjust(
    *, member: Member, amount: Money, is_credit: bool, note: str, actor: Actor
) -> MoneyBalanceEntry:
    """Credit (goodwill, correction) or debit the member's money balance. A debit may not take the balance below
    zero: what a member owes is invoiced, not hidden in the balance."""
    actor.require_permission("billing.adjust_money_balance", _("adjust money balances"))
    note = (note or "").strip()
    if not note:
        raise BillingError(_("Write a note that says why the balance changes."))
    amount = money_check_entered(amount)
    currency = currency_check(amount.currency.code)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(member.pk)
        balance = member_money_balance(member=member, currency=currency)
        if not is_credit and amount > balance:
            raise BillingError(
                _("%(member)s has %(balance)s of money balance; a debit of %(amount)s would take it below zero.")
                % {"member": member, "balance": balance, "amount": amount}
            )
        entry = MoneyBalanceEntry.objects.create(
            member=member,
            amount=amount if is_credit else -amount,
            kind=MoneyBalanceEntry.Kind.ADJUSTMENT,
            note=note,
            actor_label=actor.label,
            created_by=actor.user,
        )
        activity_record(
            actor=actor,
            verb="balance.credited" if is_credit else "balance.debited",
            member=member,
            target=entry,
            amount=amount,
            message=note,
            data={"balance_after": str((balance + entry.amount).amount)},
        )
    return entry
