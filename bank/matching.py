"""What a bank transaction is probably for: reads only. The rules, most confident first (spec 12):

1. an RF creditor reference or an invoice number in the remittance text (the invoices it names, of one member);
2. the counterparty's IBAN known on exactly one member, and then: an open invoice of that member with exactly the
   amount remaining; several open invoices adding up to the amount (the oldest that do); else the member alone
   (the money goes to their open invoices oldest first, any excess stays as credit).

A proposal is never recorded by itself: an administrator confirms it (`bank_transaction_record`)."""

import itertools
import re
from dataclasses import dataclass, field

from django.db.models import Q
from djmoney.money import Money

from bank.models import MATCH_CONFIDENCE, BankTransaction, MatchRule, MemberBankAccount, bank_transaction_is_matchable
from billing.models import Invoice, invoice_accepts_payment
from billing.payment_references import payment_reference_find
from members.models import Member

INVOICE_NUMBER = re.compile(r"\bINV[-\s]?(\d{4})[-\s]?(\d{5})\b", re.IGNORECASE)
# Subsets of open invoices tried for a sum, at most this many invoices (the oldest).
SUM_SEARCH_LIMIT = 12


@dataclass(frozen=True)
class Proposal:
    member: Member
    rule: str
    invoices: list[Invoice] = field(default_factory=list)

    @property
    def confidence(self) -> int:
        return MATCH_CONFIDENCE[self.rule]

    def get_rule_display(self) -> str:
        return str(MatchRule(self.rule).label)


def invoice_numbers_find(text: str) -> list[str]:
    return [f"INV-{year}-{serial}" for year, serial in INVOICE_NUMBER.findall(text or "")]


def oldest_first(invoices) -> list[Invoice]:
    return sorted(invoices, key=lambda invoice: (invoice.issue_date, invoice.number or "", invoice.pk))


def open_invoices(member_id: int, currency: str) -> list[Invoice]:
    return oldest_first(Invoice.objects.accepting_payment().filter(member_id=member_id, currency=currency))


def _by_reference(bank_transaction: BankTransaction) -> Proposal | None:
    text = bank_transaction.remittance
    references = payment_reference_find(text)
    numbers = invoice_numbers_find(text)
    if not references and not numbers:
        return None
    named = list(
        Invoice.objects.issued()
        .filter(currency=bank_transaction.currency)
        .filter(Q(payment_reference__in=references) | Q(number__in=numbers))
        .select_related("member")
    )
    members = {invoice.member_id for invoice in named}
    if len(members) != 1:
        return None
    member = named[0].member
    payable = [invoice for invoice in named if invoice_accepts_payment(invoice)]
    if not payable:
        # The invoices it names are paid already: the money is the member's, as credit, for a person to review.
        return Proposal(member=member, rule=MatchRule.IBAN)
    return Proposal(member=member, rule=MatchRule.REFERENCE, invoices=oldest_first(payable))


def invoices_adding_up(invoices: list[Invoice], amount: Money) -> list[Invoice] | None:
    """The open invoices (oldest first) whose remaining amounts add up to exactly `amount`: the oldest ones in a
    row when they do, else the smallest set of the oldest SUM_SEARCH_LIMIT, preferring older invoices."""
    total = Money(0, amount.currency)
    for count, invoice in enumerate(invoices, start=1):
        total += invoice.amount_remaining
        if total == amount and count > 1:
            return invoices[:count]
        if total > amount:
            break
    candidates = invoices[:SUM_SEARCH_LIMIT]
    for size in range(2, len(candidates) + 1):
        for combination in itertools.combinations(candidates, size):
            if sum((invoice.amount_remaining for invoice in combination), Money(0, amount.currency)) == amount:
                return list(combination)
    return None


def _by_iban(bank_transaction: BankTransaction) -> list[Proposal]:
    """The candidates of the member whose known IBAN paid, most confident first: the invoice with exactly that
    remaining, the invoices adding up to it, the member with their open invoices (oldest first)."""
    if not bank_transaction.counterparty_iban:
        return []
    member_ids = set(
        MemberBankAccount.objects.filter(iban=bank_transaction.counterparty_iban).values_list("member_id", flat=True)
    )
    if len(member_ids) != 1:
        return []
    member = Member.objects.get(pk=member_ids.pop())
    invoices = open_invoices(member.pk, bank_transaction.currency)
    candidates = []
    exact = [invoice for invoice in invoices if invoice.amount_remaining == bank_transaction.amount]
    if exact:
        candidates.append(Proposal(member=member, rule=MatchRule.IBAN_EXACT, invoices=exact[:1]))
    adding_up = invoices_adding_up(invoices, bank_transaction.amount)
    if adding_up:
        candidates.append(Proposal(member=member, rule=MatchRule.IBAN_SUM, invoices=adding_up))
    candidates.append(Proposal(member=member, rule=MatchRule.IBAN, invoices=invoices))
    return candidates


def bank_transaction_candidates(bank_transaction: BankTransaction) -> list[Proposal]:
    """Every candidate for the transaction, most confident first (none for debits and other currencies)."""
    if not bank_transaction_is_matchable(bank_transaction):
        return []
    by_reference = _by_reference(bank_transaction)
    candidates = ([by_reference] if by_reference else []) + _by_iban(bank_transaction)
    unique = {}
    for candidate in candidates:
        unique.setdefault((candidate.member.pk, tuple(invoice.pk for invoice in candidate.invoices)), candidate)
    return list(unique.values())


def bank_transaction_propose(bank_transaction: BankTransaction) -> Proposal | None:
    """The most confident candidate for the transaction, or None (debits, other currencies, nothing found)."""
    candidates = bank_transaction_candidates(bank_transaction)
    return candidates[0] if candidates else None


def allocation_plan(
    amount: Money, invoices: list[Invoice], amounts: dict[int, Money | None]
) -> tuple[list[tuple[Invoice, Money]], Money]:
    """How `amount` is split: first the amounts an administrator set per invoice, then what is left to the other
    invoices oldest first, each up to what remains on it. Returns [(invoice, amount)] (none of zero) and the excess,
    which stays unallocated as credit. Reads only; `bank_transaction_record` checks the set amounts."""
    left = amount
    plan = {}
    for invoice in invoices:
        set_amount = amounts.get(invoice.pk)
        if set_amount is not None:
            plan[invoice.pk] = set_amount
            left -= set_amount
    for invoice in oldest_first(invoices):
        if invoice.pk in plan or left.amount <= 0:
            continue
        take = min(invoice.amount_remaining, left)
        if take.amount > 0:
            plan[invoice.pk] = take
            left -= take
    applications = [(invoice, plan[invoice.pk]) for invoice in oldest_first(invoices) if invoice.pk in plan]
    return [(invoice, applied) for invoice, applied in applications if applied.amount > 0], left
