from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from djmoney.money import Money

from billing.models import Activity, Invoice, InvoiceLine, InvoiceStatus, MoneyBalanceEntry, NumberSequence
from billing.selectors import member_money_balance
from members.models import Member
from payments.gateways.sandbox_models import SandboxCard, SandboxCharge
from payments.management.commands.seed_demo import DEMO_MEMBERS, MEMBER_PASSWORD
from payments.management.commands.seed_demo import Command as SeedDemo
from payments.models import (
    Allocation,
    AttemptStatus,
    ExternalKind,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentStatus,
)

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
        "sequences": sorted(NumberSequence.objects.values_list("series", "year", "last_value")),
    }


def test_seed_demo_creates_every_shown_status(db, today):
    seed()

    shown = Counter(invoice.shown_status(today=today) for invoice in Invoice.objects.all())
    assert shown == {
        "draft": 1,
        "open": 2,
        "partially_paid": 1,
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

    # A bounced check: void, its allocation removed, its invoice open again and then partly paid in cash.
    check = Payment.objects.get(external_kind=ExternalKind.CHECK)
    assert check.status == PaymentStatus.VOID
    assert check.allocations.get().status == Allocation.Status.REMOVED
    assert check.invoice.status == InvoiceStatus.OPEN
    assert check.invoice.amount_paid == Money("150.00", "EUR")
    assert check.invoice.amount_remaining == Money("182.40", "EUR")
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

    # One transfer paying two invoices.
    two_invoices = Payment.objects.get(reference__startswith="SEPA NWST INV-")
    allocations = two_invoices.allocations.filter(status=Allocation.Status.ACTIVE)
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

    # A standalone payment left unallocated.
    standalone = Payment.objects.get(invoice__isnull=True, amount_allocated=Money(0, "EUR"))
    assert standalone.amount_unallocated == standalone.amount == Money("500.00", "EUR")

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
    assert succeeded.allocations.get().amount == Money("120.00", "EUR")
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
    applied = MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.APPLIED)
    assert applied.amount == Money("-25.00", "EUR")
    assert applied.invoice.amount_balance_applied == Money("25.00", "EUR")
    assert applied.invoice.amount_remaining == Money("203.00", "EUR")
    assert applied.invoice.shown_status() == "open"
    jonas = Member.objects.get(email="jonas.weber@example.com")
    northwind = Member.objects.get(email="accounts@northwind-studio.example")
    assert member_money_balance(member=jonas, currency="EUR") == Money("0.00", "EUR")
    assert member_money_balance(member=northwind, currency="EUR") == Money("50.00", "EUR")


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
    assert "Invoices: 14 (draft 1, open 2, partially paid 1, overdue 1, paid 7, void 1, uncollectible 1)" in output
    assert (
        "Payments: 10 (bank transfer 4, card 2, cash 2, check 1, other 1; 1 void, 1 failed, 2 with unallocated money)"
        in output
    )
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
    # Only what the gateway answered is recorded by the system, as the charge task records it.
    by_system = Activity.objects.exclude(actor_kind="staff")
    assert set(by_system.values_list("actor_kind", "actor_label")) == {("system", "card payments")}
    assert sorted(by_system.values_list("verb", flat=True)) == [
        "invoice.paid",
        "payment.allocated",
        "payment.failed",
        "payment.succeeded",
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
    assert (after["cards"], after["payments"], after["attempts"]) == (5, 10, 2)
    assert "nothing created" in seed()
    assert database_snapshot() == after
    out = StringIO()
    call_command("check_billing_integrity", stdout=out)
    assert out.getvalue().strip() == "No violations: 14 invoices, 10 payments checked."


def test_seed_demo_then_integrity_check_finds_nothing(db):
    seed()
    out = StringIO()

    call_command("check_billing_integrity", stdout=out)

    assert out.getvalue().strip() == "No violations: 14 invoices, 10 payments checked."


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
    assert out.getvalue().strip() == "No violations: 20 invoices, 13 payments checked."


def test_seed_demo_refuses_fewer_members_than_the_story(db):
    with pytest.raises(CommandError, match="at least 6"):
        seed("--members", "3")

    assert Member.objects.count() == 0
