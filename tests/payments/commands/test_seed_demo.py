"""What seed_demo makes on an empty database: the demo space's members, invoices, payments, cards, refunds, credit
notes and logins, and its output. The tests only read it, so the demo space is seeded once for the module
(`demo_space`); the tests that run seed_demo on other databases or with options are in test_seed_demo_runs.py."""

from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase, override_settings
from djmoney.money import Money

from billing.models import Activity, Invoice, InvoiceLine, InvoiceStatus, MoneyBalanceEntry
from billing.selectors import member_money_balance
from coworking_billing.celery import app as celery_app
from members.models import Member
from payments.admin.payments import payment_shown_status
from payments.management.commands.seed_demo import DEMO_MEMBERS, MEMBER_PASSWORD, NORTHWIND_CREDIT_MEMO
from payments.models import (
    Allocation,
    AttemptStatus,
    ExternalKind,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from payments.sandbox.models import SandboxCard, SandboxCharge, SandboxRefund
from tests.payments.commands.seeding import PORTAL_EMAILS, database_snapshot, seed


@pytest.fixture(scope="module")
def demo_space(django_db_setup, django_db_blocker) -> str:
    """seed_demo run once for the module on an empty database: its output. The demo data stays for the module's
    tests in a transaction rolled back after the last one, as Django's TestCase keeps what `setUpTestData` makes;
    each test runs in a savepoint of it (pytest-django's `db`), so nothing a test writes reaches the next. Tasks run
    in-process and passwords are hashed with the suite's fast hasher, as the function-scoped fixtures of
    tests/conftest.py do for each test."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with django_db_blocker.unblock():
            atomics = TestCase._enter_atomics()
            try:
                with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
                    output = seed()
                with django_db_blocker.block():
                    yield output
            finally:
                TestCase._rollback_atomics(atomics)
    finally:
        celery_app.conf.task_always_eager = eager


def test_seed_demo_creates_every_shown_status(demo_space, db, today):
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


def test_seed_demo_creates_every_external_kind(demo_space, db):
    kinds = Counter(Payment.objects.filter(method="external").values_list("external_kind", flat=True))
    assert kinds == {ExternalKind.CASH: 2, ExternalKind.CHECK: 1, ExternalKind.BANK_TRANSFER: 4, ExternalKind.OTHER: 1}
    check = Payment.objects.get(external_kind=ExternalKind.CHECK)
    assert check.reference == "Check no. 0004512"
    assert all(Payment.objects.filter(external_kind=ExternalKind.BANK_TRANSFER).values_list("reference", flat=True))


def test_seed_demo_members_are_persons_and_companies_in_three_currencies(demo_space, db):
    members = Member.objects.all()
    assert {member.email for member in members} == {demo.email for demo in DEMO_MEMBERS}
    assert Counter(member.kind for member in members) == {"person": 3, "company": 3}
    assert Counter(member.default_currency for member in members) == {"EUR": 4, "JPY": 1, "GBP": 1}
    assert all(member.billing_address for member in members)
    assert set(Invoice.objects.values_list("currency", flat=True)) == {"EUR", "JPY", "GBP"}
    assert InvoiceLine.objects.filter(tax_rate=20).count() == InvoiceLine.objects.count()


def test_seed_demo_payment_stories(demo_space, db):
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


def test_seed_demo_saves_sandbox_cards_through_the_service(demo_space, db):
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


def test_seed_demo_card_payments_one_succeeded_one_declined(demo_space, db, today):
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


def test_seed_demo_money_balance_credits_and_credit_applied_at_issue(demo_space, db):
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


def test_seed_demo_creates_the_logins_and_prints_them(demo_space, db):
    output = demo_space

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


def test_seed_demo_acts_as_the_admin(demo_space, db):
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


def test_seed_demo_twice_creates_nothing_new(demo_space, db):
    before = database_snapshot()

    output = seed()

    assert database_snapshot() == before
    assert "nothing created" in output
    assert "username: admin   password: admin" in output
    for email in PORTAL_EMAILS:
        assert email in output


def test_seed_demo_then_integrity_check_finds_nothing(demo_space, db):
    out = StringIO()

    call_command("check_billing_integrity", stdout=out)

    assert out.getvalue().strip() == "No violations: 15 invoices, 10 payments checked."


def test_seed_demo_refund_stories(demo_space, db):
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


def test_seed_demo_creates_a_front_desk_and_an_accountant_login(demo_space, db):
    output = demo_space

    User = get_user_model()
    for username, group in (("frontdesk", "Front desk"), ("accountant", "Accountants")):
        user = User.objects.get(username=username)
        assert user.is_staff and not user.is_superuser
        assert user.check_password(username)
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert f"username: {username}   password: {username}   ({group})" in output
    assert User.objects.get(username="frontdesk").has_perm("payments.record_external_payment")
    assert not User.objects.get(username="frontdesk").has_perm("payments.refund_payment")
    assert User.objects.get(username="accountant").has_perm("billing.issue_credit_note")
    assert User.objects.get(username="accountant").has_perm("payments.view_billing_reports")


def test_seed_demo_invoices_carry_rf_references_and_the_summary_names_the_bank_account(demo_space, db):
    from billing.payment_references import payment_reference_for

    issued = Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
    assert issued.exists()
    assert all(invoice.payment_reference == payment_reference_for(invoice.number) for invoice in issued)
    assert not Invoice.objects.filter(status=InvoiceStatus.DRAFT, payment_reference__isnull=False).exists()
    assert f"IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX: {issued.count()} invoices with an RF reference" in (
        demo_space
    )
