"""Propose what a bank transaction pays (automatically or by hand), propose again, or ignore it. Nothing here
records a payment: `bank_transaction_record` does, once an administrator confirms."""

from django.db import transaction
from django.utils.translation import gettext as _
from djmoney.money import Money

from bank.activity import bank_transaction_activity
from bank.lock_objects import bank_transaction_lock
from bank.matching import bank_transaction_propose, oldest_first
from bank.models import MATCH_CONFIDENCE, BankTransaction, MatchRule, ProposedAllocation
from bank.rules import BANK_TRANSACTION_IGNORE_REFUSALS, BANK_TRANSACTION_MATCH_REFUSALS
from billing.activity import Actor, activities_save
from billing.errors import BillingError
from billing.intents import intent_claim
from billing.lock_objects import member_lock
from billing.models import Invoice, invoice_accepts_payment
from billing.money import money_check_entered, money_sum
from billing.rules import transition_check
from members.models import Member


def proposal_apply(
    *,
    bank_transaction: BankTransaction,
    member: Member,
    invoices: list[tuple[Invoice, Money | None]],
    rule: str,
    actor: Actor,
    activities: list,
) -> None:
    """Store the proposal on the transaction (the caller holds its lock, or just created it) and move it to matched.
    `invoices`: each with the amount set for it, or None (oldest first from what is left)."""
    status_before = bank_transaction.status
    bank_transaction.member = member
    bank_transaction.match_rule = rule
    bank_transaction.confidence = MATCH_CONFIDENCE[rule]
    transition_check(bank_transaction.match, BANK_TRANSACTION_MATCH_REFUSALS)
    bank_transaction.match()
    bank_transaction.save(update_fields=["member", "match_rule", "confidence", "status"])
    ProposedAllocation.objects.filter(bank_transaction=bank_transaction).delete()
    ProposedAllocation.objects.bulk_create(
        ProposedAllocation(bank_transaction=bank_transaction, invoice=invoice, amount=amount)
        for invoice, amount in invoices
    )
    activities.append(
        bank_transaction_activity(
            bank_transaction,
            actor=actor,
            verb="bank_transaction.matched",
            member=member,
            status_before=status_before,
            data={
                "rule": rule,
                "confidence": bank_transaction.confidence,
                "invoices": {
                    str(invoice): (str(amount.amount) if amount is not None else None) for invoice, amount in invoices
                },
            },
        )
    )


def _invoices_check(
    bank_transaction: BankTransaction, member: Member, invoices: list[tuple[Invoice, Money | None]]
) -> list[tuple[Invoice, Money | None]]:
    seen = set()
    checked = []
    for invoice, amount in invoices:
        if invoice.pk in seen:
            raise BillingError(_("Each invoice can appear only once."))
        seen.add(invoice.pk)
        if invoice.member_id != member.pk:
            raise BillingError(
                _("%(invoice)s belongs to another member than %(member)s.") % {"invoice": invoice, "member": member}
            )
        if invoice.currency != bank_transaction.currency:
            raise BillingError(
                _("%(invoice)s is in %(invoice_currency)s; the transfer is in %(currency)s.")
                % {"invoice": invoice, "invoice_currency": invoice.currency, "currency": bank_transaction.currency}
            )
        if not invoice_accepts_payment(invoice):
            raise BillingError(_("%(invoice)s takes no payment (nothing remains on it).") % {"invoice": invoice})
        if amount is not None:
            amount = money_check_entered(amount, currency=invoice.currency)
            if amount > invoice.amount_remaining:
                raise BillingError(
                    _("%(amount)s is more than what remains on %(invoice)s (%(remaining)s).")
                    % {"amount": amount, "invoice": invoice, "remaining": invoice.amount_remaining}
                )
        checked.append((invoice, amount))
    set_total = money_sum((amount for _invoice, amount in checked if amount is not None), bank_transaction.currency)
    if set_total > bank_transaction.amount:
        raise BillingError(
            _("The amounts set (%(total)s) are more than the transfer (%(amount)s).")
            % {"total": set_total, "amount": bank_transaction.amount}
        )
    order = {invoice.pk: index for index, invoice in enumerate(oldest_first(invoice for invoice, _a in checked))}
    return sorted(checked, key=lambda pair: order[pair[0].pk])


def bank_transaction_match(
    *,
    bank_transaction: BankTransaction,
    member: Member,
    invoices: list[tuple[Invoice, Money | None]],
    actor: Actor,
) -> BankTransaction:
    """An administrator picks the member (and invoices, optionally with the amount for each) by hand. Nothing is
    recorded yet."""
    actor.require_permission("bank.change_banktransaction", _("match bank transactions"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(member.pk)
        bank_transaction = bank_transaction_lock(bank_transaction.pk)
        invoices = [(Invoice.objects.get(pk=invoice.pk), amount) for invoice, amount in invoices]
        bank_transaction.member = member
        transition_check(bank_transaction.match, BANK_TRANSACTION_MATCH_REFUSALS)
        invoices = _invoices_check(bank_transaction, member, invoices)
        activities = []
        proposal_apply(
            bank_transaction=bank_transaction,
            member=member,
            invoices=invoices,
            rule=MatchRule.BY_HAND,
            actor=actor,
            activities=activities,
        )
        activities_save(activities)
    return bank_transaction


def bank_transaction_propose_again(*, bank_transaction: BankTransaction, actor: Actor) -> bool:
    """Run the matching rules again on an unmatched (or automatically matched) transaction, say after an invoice
    was issued or an IBAN learned. A match chosen by hand is kept. Returns whether a proposal was made."""
    actor.require_permission("bank.change_banktransaction", _("match bank transactions"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        bank_transaction = bank_transaction_lock(bank_transaction.pk)
        if bank_transaction.match_rule == MatchRule.BY_HAND and bank_transaction.status == "matched":
            return False
        if bank_transaction.status not in ("unmatched", "matched"):
            return False
        proposal = bank_transaction_propose(bank_transaction)
        if proposal is None:
            return False
        activities = []
        proposal_apply(
            bank_transaction=bank_transaction,
            member=proposal.member,
            invoices=[(invoice, None) for invoice in proposal.invoices],
            rule=proposal.rule,
            actor=actor,
            activities=activities,
        )
        activities_save(activities)
    return True


def bank_transaction_ignore(*, bank_transaction: BankTransaction, actor: Actor, reason: str) -> BankTransaction:
    """Not a member's payment (bank fees, a supplier's refund, a debit): kept, listed, never matched."""
    actor.require_permission("bank.change_banktransaction", _("ignore bank transactions"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        bank_transaction = bank_transaction_lock(bank_transaction.pk)
        status_before = bank_transaction.status
        bank_transaction.ignored_reason = (reason or "").strip()[:1000]
        transition_check(bank_transaction.ignore, BANK_TRANSACTION_IGNORE_REFUSALS)
        bank_transaction.ignore()
        bank_transaction.save(update_fields=["ignored_reason", "status"])
        activities = [
            bank_transaction_activity(
                bank_transaction,
                actor=actor,
                verb="bank_transaction.ignored",
                member=bank_transaction.member,
                status_before=status_before,
                message=bank_transaction.ignored_reason,
            )
        ]
        activities_save(activities)
    return bank_transaction
