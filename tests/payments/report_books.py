"""A small set of books for the report tests, made through the services: two EUR members and a JPY one, invoices
in each aging bucket (due dates in the past), a partly paid invoice, an uncollectible one, a paid one, a partly
refunded standalone payment and a money balance credit."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from djmoney.money import Money

from billing.activity import Actor
from billing.models import Invoice
from billing.services.invoice_draft import LineInput, invoice_draft_create
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_void import invoice_mark_uncollectible
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.models import Payment, Refund
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.refund import payment_refund


@dataclass
class ReportBooks:
    today: datetime.date
    alice: Member
    bob: Member
    chiyo: Member
    alice_cash: Payment  # 50.00 EUR on Alice's invoice, received 3 days ago
    bob_transfer: Payment  # 80.00 EUR paying Bob's small invoice, received 20 days ago
    chiyo_cash: Payment  # 3000 JPY, received 2 days ago
    bob_deposit: Payment  # 150.00 EUR standalone, 40.00 refunded, received 15 days ago


def days_ago(today: datetime.date, days: int) -> datetime.date:
    return today - datetime.timedelta(days=days)


def invoice_issued(
    *,
    member: Member,
    amount: str,
    issued_days_ago: int,
    due_days_ago: int,
    actor: Actor,
    today: datetime.date,
    currency: str = "EUR",
) -> Invoice:
    draft = invoice_draft_create(
        member=member,
        actor=actor,
        lines=[LineInput(description="Desk", quantity=Decimal(1), unit_amount=Money(amount, currency), tax_rate=0)],
        currency=currency,
        issue_date=days_ago(today, issued_days_ago),
        due_date=days_ago(today, due_days_ago),
    )
    return invoice_issue(invoice=draft, actor=actor, apply_credit=False)


def report_books_create(*, actor: Actor, today: datetime.date) -> ReportBooks:
    alice = Member.objects.create(name="Alice Archer", email="alice@space.example", default_currency="EUR")
    bob = Member.objects.create(name="Bob Baker", email="bob@space.example", default_currency="EUR")
    chiyo = Member.objects.create(name="Chiyo Sato", email="chiyo@space.example", default_currency="JPY")

    def issue(member, amount, issued, due, currency="EUR"):
        return invoice_issued(
            member=member,
            amount=amount,
            issued_days_ago=issued,
            due_days_ago=due,
            actor=actor,
            today=today,
            currency=currency,
        )

    issue(alice, "100.00", 10, -5)  # current: due in 5 days
    alice_late = issue(alice, "200.00", 40, 10)  # 10 days past due, 50.00 paid: 150.00 in 1-30
    issue(alice, "300.00", 60, 45)  # 31-60
    bob_uncollectible = issue(bob, "400.00", 100, 75)  # 61-90, uncollectible
    issue(bob, "500.00", 150, 120)  # over 90
    bob_small = issue(bob, "80.00", 25, 20)  # paid in full
    chiyo_invoice = issue(chiyo, "10000", 20, 5, currency="JPY")  # 5 days past due, 3000 paid: 7000 in 1-30

    invoice_mark_uncollectible(invoice=bob_uncollectible, actor=actor)
    bob_transfer = payment_create_external(
        invoice=bob_small, actor=actor, kind="bank_transfer", received_on=days_ago(today, 20)
    )
    bob_deposit = payment_create_standalone(
        member=bob,
        actor=actor,
        amount=Money("150.00", "EUR"),
        kind="bank_transfer",
        reference="DEPOSIT",
        received_on=days_ago(today, 15),
    )
    payment_refund(
        payment=bob_deposit, amount=Money("40.00", "EUR"), reason=Refund.Reason.REQUESTED_BY_MEMBER, actor=actor
    )
    alice_cash = payment_create_external(
        invoice=alice_late, actor=actor, kind="cash", amount=Money("50.00", "EUR"), received_on=days_ago(today, 3)
    )
    chiyo_cash = payment_create_external(
        invoice=chiyo_invoice, actor=actor, kind="cash", amount=Money("3000", "JPY"), received_on=days_ago(today, 2)
    )
    money_balance_adjust(member=alice, amount=Money("25.00", "EUR"), is_credit=True, note="Goodwill.", actor=actor)
    return ReportBooks(
        today=today,
        alice=alice,
        bob=bob,
        chiyo=chiyo,
        alice_cash=Payment.objects.get(pk=alice_cash.pk),
        bob_transfer=Payment.objects.get(pk=bob_transfer.pk),
        chiyo_cash=Payment.objects.get(pk=chiyo_cash.pk),
        bob_deposit=Payment.objects.get(pk=bob_deposit.pk),
    )


# The header of the CSV totals block of the payments report (and of export_payments).
TOTALS_HEADER = ["Totals per currency", "Currency", "Payments", "Succeeded payments", "Received", "Refunded", "Net"] + [
    "Allocated",
    "Unallocated",
    "Void payments",
    "Void amount",
    "Failed payments",
    "Failed amount",
]
