"""The round trips of each money service, pinned (tests/support/queries.py counts them): a service that reads a
locked row again, re-aggregates what it could move by the delta, or writes its rows one by one shows up here."""

from djmoney.money import Money

from billing.models import Invoice
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.money_balance_adjust import money_balance_adjust
from tests.factories import MemberFactory, draft_invoice, eur, open_invoice, standalone_payment
from tests.support.queries import round_trips


def fresh(invoice: Invoice) -> Invoice:
    """The invoice as a page passes it to a service: read by id, nothing related cached."""
    return Invoice.objects.get(pk=invoice.pk)


def test_issuing_an_invoice_with_the_member_s_credit(db, staff):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("20.00"), is_credit=True, note="Goodwill", actor=staff)
    standalone_payment(member=member, amount="30.00")
    standalone_payment(member=member, amount="30.00")
    open_invoice(member=member, amounts=["1.00"])  # this year's INV counter exists, as it does after the first
    draft = fresh(draft_invoice(member=member, amounts=["100.00"]))

    # member and invoice locks, the invoice's lines, the INV counter (lock, UPDATE), the money balance, its
    # entry, the payments with credit and their locks, both ALC numbers, the allocations in one INSERT, one UPDATE
    # per payment, invoice UPDATE, the activity records, the mail's outbox row
    with round_trips(16):
        invoice_issue(invoice=draft, actor=staff, apply_credit=True)

    assert Invoice.objects.get(pk=draft.pk).amount_remaining == eur("20.00")


def test_issuing_an_invoice_without_credit(db, staff):
    open_invoice(amounts=["1.00"])
    draft = fresh(draft_invoice(amounts=["100.00"]))

    # member and invoice locks, the invoice's lines, the INV counter (lock, UPDATE), invoice UPDATE, activity
    # record, the mail's outbox row
    with round_trips(8):
        invoice_issue(invoice=draft, actor=staff, apply_credit=False)


def test_applying_money_balance_to_an_invoice(db, staff):
    invoice = fresh(open_invoice(amounts=["100.00"]))
    money_balance_adjust(member=invoice.member, amount=eur("30.00"), is_credit=True, note="Goodwill", actor=staff)

    # member and invoice locks, the money balance, its entry, invoice UPDATE, the activity record
    with round_trips(6):
        invoice_apply_money_balance(invoice=invoice, actor=staff)


def test_adjusting_a_money_balance(db, staff):
    member = MemberFactory()

    # member lock, the money balance, its entry, the activity record
    with round_trips(4):
        money_balance_adjust(member=member, amount=eur("30.00"), is_credit=True, note="Goodwill", actor=staff)
    with round_trips(4):
        money_balance_adjust(member=member, amount=Money("10.00", "EUR"), is_credit=False, note="Fix", actor=staff)
