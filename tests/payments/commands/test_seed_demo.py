from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from djmoney.money import Money

from billing.models import (
    Activity,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    MoneyBalanceEntry,
    NumberSequence,
)
from billing.selectors import member_money_balance
from members.models import Member
from payments.admin.payments import payment_shown_status
from payments.management.commands.seed_demo import DEMO_MEMBERS, MEMBER_PASSWORD, NORTHWIND_CREDIT_MEMO
from payments.management.commands.seed_demo import Command as SeedDemo
from payments.models import (
    Allocation,
    AttemptStatus,
    ExternalKind,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundAllocation,
    RefundStatus,
)
from payments.sandbox.models import SandboxCard, SandboxCharge, SandboxRefund

PORTAL_EMAILS = ["lea.martin@example.com", "accounts@northwind-studio.example"]


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def database_snapshot() -> dict:
    return {
        "users": get_user_model().objects.count(),
        "members": Member.objects.count(),
        "invoices": Invoice.objects.count(),
        "lines": InvoiceLine.objects.count(),
        "payments": Payment.objects.count(),
        "allocations": Allocation.objects.count(),
        "balance_entries": MoneyBalanceEntry.objects.count(),
        "activities": Activity.objects.count(),
        "cards": PaymentMethod.objects.count(),
        "attempts": PaymentAttempt.objects.count(),
        "sandbox_cards": SandboxCard.objects.count(),
        "sandbox_charges": SandboxCharge.objects.count(),
        "sandbox_refunds": SandboxRefund.objects.count(),
        "refunds": Refund.objects.count(),
        "refund_allocations": RefundAllocation.objects.count(),
        "credit_notes": CreditNote.objects.count(),
        "credit_note_lines": CreditNoteLine.objects.count(),
        "sequences": sorted(NumberSequence.objects.values_list("series", "year", "last_value")),
    }


def test_seed_demo_creates_every_shown_status(db, today):
    seed()

    shown = Counter(invoice.shown_status(today=today) for invoice in Invoice.objects.all())
    assert shown == {
        "draft": 1,
        "open": 2,
        "partially_paid": 2,
        "overdue": 1,
        "paid": 7,
        "void": 1,
        "uncollectible": 1,
    }
    for status in ("open", "partially_paid", "overdue"):
        assert Invoice.objects.with_shown_status(status, today=today).count() == shown[status]


def test_seed_demo_creates_every_external_kind(db):
    seed()

    kinds = Counter(Payment.objects.filter(method="external").values_list("external_kind", flat=True))
    assert kinds == {ExternalKind.CASH: 2, ExternalKind.CHECK: 1, ExternalKind.BANK_TRANSFER: 4, ExternalKind.OTHER: 1}
    check = Payment.objects.get(external_kind=ExternalKind.CHECK)
    assert check.reference == "Check no. 0004512"
    assert all(Payment.objects.filter(external_kind=ExternalKind.BANK_TRANSFER).values_list("reference", flat=True))


def test_seed_demo_members_are_persons_and_companies_in_three_currencies(db):
    seed()

    members = Member.objects.all()
    assert {member.email for member in members} == {demo.email for demo in DEMO_MEMBERS}
    assert Counter(member.kind for member in members) == {"person": 3, "company": 3}
    assert Counter(member.default_currency for member in members) == {"EUR": 4, "JPY": 1, "GBP": 1}
    assert all(member.billing_address for member in members)
    assert set(Invoice.objects.values_list("currency", flat=True)) == {"EUR", "JPY", "GBP"}
    assert InvoiceLine.objects.filter(tax_rate=20).count() == InvoiceLine.objects.count()


def test_seed_demo_payment_stories(db):
    seed()

    # A bounced check: void, its allocation removed, its invoice open again and then partly paid in cash (and
    # reduced by a credit note, see the refund stories).
    check = Payment.objects.get(external_kind=ExternalKind.CHECK)
    assert check.status == PaymentStatus.VOID
    assert check.allocations.get().status == Allocation.Status.REMOVED
    assert check.invoice.status == InvoiceStatus.OPEN
    assert check.invoice.amount_paid == Money("150.00", "EUR")
    assert check.invoice.amount_remaining == Money("152.40", "EUR")
    assert Activity.objects.filter(verb="invoice.reopened", invoice=check.invoice).exists()

    # An overpayment in JPY: the excess stays unallocated and an invoice.overpaid activity records it.
    overpayment = Payment.objects.get(currency="JPY")
    assert overpayment.amount == Money("70000", "JPY")
    assert overpayment.amount_allocated == Money("68400", "JPY")
    assert overpayment.amount_unallocated == Money("1600", "JPY")
    assert overpayment.invoice.status == InvoiceStatus.PAID
    overpaid = Activity.objects.get(verb="invoice.overpaid")
    assert overpaid.invoice == overpayment.invoice
    assert overpaid.amount == Money("1600", "JPY")

    # One transfer paying two invoices (and, since a credit note released some of it, part of a third).
    two_invoices = Payment.objects.get(reference__startswith="SEPA NWST INV-")
    allocations = two_invoices.allocations.filter(status=Allocation.Status.ACTIVE).exclude(
        invoice__memo=NORTHWIND_CREDIT_MEMO
    )
    assert allocations.count() == 2
    assert {allocation.invoice.status for allocation in allocations} == {InvoiceStatus.PAID}
    assert two_invoices.amount_unallocated == Money("0.00", "EUR")

    # A payment recorded on the wrong invoice, unallocated, then applied to the right one; the wrong one is void.
    moved = Payment.objects.get(reference="SEPA TRF 7781-BP-1025")
    removed, active = moved.allocations.order_by("pk")
    assert removed.status == Allocation.Status.REMOVED
    assert removed.invoice.status == InvoiceStatus.VOID
    assert active.status == Allocation.Status.ACTIVE
    assert active.invoice.status == InvoiceStatus.PAID
    assert active.amount == moved.amount

    # A standalone payment (a deposit), partly refunded, the rest kept as credit and used by a later invoice.
    deposit = Payment.objects.get(reference="SEPA NWST DEPOSIT")
    assert deposit.invoice is None
    assert (deposit.amount, deposit.amount_refunded, deposit.amount_allocated, deposit.amount_unallocated) == (
        Money("500.00", "EUR"),
        Money("200.00", "EUR"),
        Money("300.00", "EUR"),
        Money("0.00", "EUR"),
    )

    # Uncollectible, and every payment but the bounced check and the declined card charge succeeded.
    assert Invoice.objects.get(status=InvoiceStatus.UNCOLLECTIBLE).currency == "GBP"
    assert list(Payment.objects.exclude(status=PaymentStatus.SUCCEEDED).values_list("status", flat=True)) == [
        PaymentStatus.FAILED,
        PaymentStatus.VOID,
    ]


def test_seed_demo_saves_sandbox_cards_through_the_service(db):
    seed()

    cards = {card.member.email: card for card in PaymentMethod.objects.select_related("member")}
    assert set(cards) == {demo.email for demo in DEMO_MEMBERS if demo.card}
    assert "oliver.bennett@example.co.uk" not in cards
    assert {email: card.last4 for email, card in cards.items()} == {
        "lea.martin@example.com": "4242",
        "accounts@northwind-studio.example": "4242",
        "jonas.weber@example.com": "4242",
        "finance@brightpixel.example": "0341",
        "keiri@sakura-design.example": "4242",
    }
    assert all(card.is_default and card.gateway == "sandbox" for card in cards.values())
    assert all(member.gateway_customer_id for member in Member.objects.filter(payment_methods__isnull=False))
    assert Activity.objects.filter(verb="payment_method.added").count() == 5
    assert SandboxCard.objects.count() == 5


def test_seed_demo_card_payments_one_succeeded_one_declined(db, today):
    seed()

    succeeded = Payment.objects.get(method="card", status=PaymentStatus.SUCCEEDED)
    assert succeeded.member.email == "lea.martin@example.com"
    assert succeeded.amount == Money("120.00", "EUR")
    assert succeeded.invoice.status == InvoiceStatus.PAID
    assert succeeded.invoice.issue_date == today
    assert succeeded.allocations.get().original_amount == Money("120.00", "EUR")
    assert succeeded.attempts.get().status == AttemptStatus.SUCCEEDED

    declined = Payment.objects.get(method="card", status=PaymentStatus.FAILED)
    assert declined.member.email == "finance@brightpixel.example"
    assert declined.payment_method.last4 == "0341"
    assert (declined.failure_code, declined.failure_message) == ("generic_decline", "Your card was declined.")
    assert declined.next_retry_at is not None
    assert declined.amount == declined.invoice.amount_remaining == Money("1206.00", "EUR")
    assert declined.invoice.shown_status(today=today) == "open"
    attempt = declined.attempts.get()
    assert (attempt.status, attempt.decline_code) == (AttemptStatus.FAILED, "generic_decline")
    assert SandboxCharge.objects.count() == 2


def test_seed_demo_money_balance_credits_and_credit_applied_at_issue(db):
    seed()

    adjustments = MoneyBalanceEntry.objects.filter(kind=MoneyBalanceEntry.Kind.ADJUSTMENT)
    assert sorted(entry.amount for entry in adjustments) == [Money("25.00", "EUR"), Money("50.00", "EUR")]
    jonas = Member.objects.get(email="jonas.weber@example.com")
    northwind = Member.objects.get(email="accounts@northwind-studio.example")
    applied = MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.APPLIED, member=jonas)
    assert applied.amount == Money("-25.00", "EUR")
    assert applied.invoice.amount_balance_applied == Money("25.00", "EUR")
    assert applied.invoice.amount_remaining == Money("203.00", "EUR")
    assert applied.invoice.shown_status() == "open"
    assert MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.APPLIED, member=northwind).amount == Money(
        "-50.00", "EUR"
    )
    assert member_money_balance(member=jonas, currency="EUR") == Money("0.00", "EUR")
    assert member_money_balance(member=northwind, currency="EUR") == Money("0.00", "EUR")


def test_seed_demo_creates_the_logins_and_prints_them(db):
    output = seed()

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password("admin")
    for email in PORTAL_EMAILS:
        member = Member.objects.get(email=email)
        assert member.user.username == email
        assert member.user.check_password(MEMBER_PASSWORD)
        assert not member.user.is_staff and not member.user.is_superuser
    assert Member.objects.filter(user__isnull=False).count() == 2

    assert "http://127.0.0.1:8000/admin/" in output
    assert "username: admin   password: admin" in output
    for email in PORTAL_EMAILS:
        assert f"email: {email}   password: {MEMBER_PASSWORD}" in output
    assert "Invoices: 15 (draft 1, open 2, partially paid 2, overdue 1, paid 7, void 1, uncollectible 1)" in output
    assert (
        "Payments: 10 (bank transfer 4, card 2, cash 2, check 1, other 1; 1 void, 1 failed, 1 with unallocated money)"
        in output
    )
    assert "Refunds: 3 (1 to a card, 2 recorded), credit notes: 3" in output
    assert "Saved cards: 5" in output
    declined = Payment.objects.get(status=PaymentStatus.FAILED)
    card = declined.payment_method
    assert (
        f"Declining card: Bright Pixel GmbH has {card} (sandbox test card 4000 0000 0000 0341), which is saved but "
        f"declined on every charge; {declined.number} failed with decline code generic_decline: Your card was "
        "declined."
    ) in output


def test_seed_demo_reads_the_admin_password_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-longer-secret")

    output = seed()

    assert get_user_model().objects.get(username="admin").check_password("a-longer-secret")
    assert "password: a-longer-secret" in output


def test_seed_demo_acts_as_the_admin(db):
    seed()

    admin = get_user_model().objects.get(username="admin")
    by_staff = Activity.objects.filter(actor_kind="staff")
    assert set(by_staff.values_list("actor_user", flat=True)) == {admin.pk}
    # Only what the gateway answered is recorded by the system, as the charge and refund tasks record it.
    by_system = Activity.objects.exclude(actor_kind="staff")
    assert set(by_system.values_list("actor_kind", "actor_label")) == {
        ("system", "card payments"),
        ("system", "refunds"),
    }
    assert sorted(by_system.values_list("verb", flat=True)) == [
        "invoice.paid",
        "payment.allocated",
        "payment.failed",
        "payment.succeeded",
        "refund.succeeded",
    ]


def test_seed_demo_twice_creates_nothing_new(db):
    seed()
    before = database_snapshot()

    output = seed()

    assert database_snapshot() == before
    assert "nothing created" in output
    assert "username: admin   password: admin" in output
    for email in PORTAL_EMAILS:
        assert email in output


def test_seed_demo_keeps_an_existing_admin_password(db):
    get_user_model().objects.create_superuser("admin", "admin@space.example", "chosen-by-the-operator")

    output = seed()

    assert get_user_model().objects.get(username="admin").check_password("chosen-by-the-operator")
    assert "password: (unchanged; this account already existed)" in output


def test_seed_demo_refuses_partial_demo_data(db):
    Member.objects.create(name="Léa Martin", email="lea.martin@example.com")

    with pytest.raises(CommandError, match="part of the demo data"):
        seed()

    assert Member.objects.count() == 1
    assert Invoice.objects.count() == 0
    assert Payment.objects.count() == 0
    assert PaymentMethod.objects.count() == 0


def test_seed_demo_adds_the_cards_to_a_space_seeded_before_cards_existed(db, monkeypatch):
    """A database seeded by an earlier version (the story without cards) gets the cards and card payments once."""
    with monkeypatch.context() as patch:
        patch.setattr(SeedDemo, "_cards_ensure", lambda command: False)
        seed()
    assert PaymentMethod.objects.count() == 0

    output = seed()
    after = database_snapshot()

    assert "Demo coworking space created." in output
    assert (after["cards"], after["payments"], after["attempts"], after["refunds"]) == (5, 10, 2, 3)
    assert "nothing created" in seed()
    assert database_snapshot() == after
    out = StringIO()
    call_command("check_billing_integrity", stdout=out)
    assert out.getvalue().strip() == "No violations: 15 invoices, 10 payments checked."


def test_seed_demo_then_integrity_check_finds_nothing(db):
    seed()
    out = StringIO()

    call_command("check_billing_integrity", stdout=out)

    assert out.getvalue().strip() == "No violations: 15 invoices, 10 payments checked."


def test_seed_demo_generates_extra_members(db):
    seed("--members", "9")
    before = database_snapshot()

    seed("--members", "9")

    assert database_snapshot() == before
    assert before["members"] == 9
    generated = Member.objects.filter(email__endswith="@members.example")
    assert generated.count() == 3
    for member in generated:
        statuses = sorted(member.invoices.values_list("status", flat=True))
        assert statuses == [InvoiceStatus.OPEN, InvoiceStatus.PAID]
    out = StringIO()
    call_command("check_billing_integrity", stdout=out)
    assert out.getvalue().strip() == "No violations: 21 invoices, 13 payments checked."


def test_seed_demo_refuses_fewer_members_than_the_story(db):
    with pytest.raises(CommandError, match="at least 6"):
        seed("--members", "3")

    assert Member.objects.count() == 0


def test_seed_demo_refund_stories(db):
    seed()

    # Part of a card payment refunded to the card, the workshop invoice reduced by a credit note so it stays paid.
    card = Payment.objects.get(method="card", status=PaymentStatus.SUCCEEDED)
    refund = card.refunds.get()
    assert (refund.amount, refund.kind, refund.status, refund.invoice_handling) == (
        Money("25.00", "EUR"),
        Refund.Kind.GATEWAY,
        RefundStatus.SUCCEEDED,
        Refund.InvoiceHandling.CREDIT_NOTE,
    )
    assert refund.gateway_refund_id == SandboxRefund.objects.get().pk
    assert (card.amount_refunded, card.amount_allocated) == (Money("25.00", "EUR"), Money("95.00", "EUR"))
    assert payment_shown_status(card) == ("partially_refunded", "Partially refunded")
    workshop_note = card.invoice.credit_notes.get()
    assert (workshop_note.amount, workshop_note.refund_amount) == (Money("25.00", "EUR"), Money("25.00", "EUR"))
    assert card.invoice.status == InvoiceStatus.PAID

    # An external payment's refund, recorded at once.
    deposit = Payment.objects.get(reference="SEPA NWST DEPOSIT")
    deposit_refund = deposit.refunds.get()
    assert (deposit_refund.amount, deposit_refund.kind, deposit_refund.status) == (
        Money("200.00", "EUR"),
        Refund.Kind.RECORDED,
        RefundStatus.SUCCEEDED,
    )

    # A credit note on a partially paid invoice, per line: it reduces what remains.
    partly = Payment.objects.get(external_kind=ExternalKind.CHECK).invoice
    partly_note = partly.credit_notes.get()
    assert (partly_note.amount, partly_note.pre_payment_amount) == (Money("30.00", "EUR"), Money("30.00", "EUR"))
    assert [(line.invoice_line.description, line.amount) for line in partly_note.lines.all()] == [
        ("Meeting room, hours", Money("30.00", "EUR"))
    ]
    assert partly.shown_status() == "partially_paid"

    # A credit note on a paid invoice, split between a refund and the member's credit.
    northwind = Member.objects.get(email="accounts@northwind-studio.example")
    september = Invoice.objects.filter(member=northwind).order_by("issue_date", "pk").first()
    split_note = september.credit_notes.get()
    assert (
        split_note.amount,
        split_note.pre_payment_amount,
        split_note.refund_amount,
        split_note.credit_amount,
        split_note.out_of_band_amount,
    ) == (
        Money("240.00", "EUR"),
        Money("0.00", "EUR"),
        Money("100.00", "EUR"),
        Money("140.00", "EUR"),
        Money("0.00", "EUR"),
    )
    assert (september.status, september.amount_paid) == (InvoiceStatus.PAID, Money("1680.00", "EUR"))
    assert split_note.refunds.get().amount == Money("100.00", "EUR")

    # Member credit used by a later invoice at issue: money balance first, then unallocated payments, oldest first.
    later = Invoice.objects.get(member=northwind, memo=NORTHWIND_CREDIT_MEMO)
    assert later.amount_balance_applied == Money("50.00", "EUR")
    assert sorted(
        (allocation.payment.reference, allocation.amount) for allocation in later.allocations.select_related("payment")
    ) == [
        ("SEPA NWST DEPOSIT", Money("300.00", "EUR")),
        (two_invoices_reference(), Money("140.00", "EUR")),
    ]
    assert (later.total, later.amount_remaining) == (Money("1860.00", "EUR"), Money("1370.00", "EUR"))
    assert later.shown_status() == "partially_paid"


def two_invoices_reference() -> str:
    return Payment.objects.get(reference__startswith="SEPA NWST INV-").reference
