"""The roles of spec section 9 (the groups a migration creates) and the services that honor them: billing managers
do everything, the front desk records external payments, accountants issue credit notes; every other money action is
refused with what the person may not do, and nothing is written."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from billing.activity import Actor
from billing.errors import NotPermitted
from billing.models import CreditNote, Invoice, MoneyBalanceEntry
from billing.services.credit_note_issue import credit_note_issue
from billing.services.invoice_draft import (
    LineInput,
    invoice_details_update,
    invoice_draft_create,
    invoice_draft_delete,
    invoice_draft_update,
)
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.models import Allocation, Payment, PaymentAttempt, PaymentMethod, PaymentTarget, Refund
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_card import invoice_issue_and_charge, payment_cancel, payment_create_card, payment_retry
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_method import payment_method_add, payment_method_remove, payment_method_set_default
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund
from tests.factories import (
    SYSTEM,
    MemberFactory,
    UserFactory,
    books_snapshot,
    card_payment,
    draft_invoice,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    saved_card,
    standalone_payment,
)

BILLING_MANAGERS = "Billing managers"
FRONT_DESK = "Front desk"
ACCOUNTANTS = "Accountants"

OTHER_ROWS = (CreditNote, Refund, PaymentAttempt, PaymentMethod, PaymentTarget)


@dataclass
class Books:
    """A member with a saved card and some credit, a draft, an open invoice partly paid in cash, an unpaid open
    invoice, a standalone payment and a failed card payment: something for every money action to act on."""

    member: Member
    card: PaymentMethod
    draft: Invoice
    invoice: Invoice
    cash: Payment
    allocation: Allocation
    unpaid: Invoice
    standalone: Payment
    failed: Payment


@pytest.fixture
def books(db) -> Books:
    member = MemberFactory(default_currency="EUR")
    card = saved_card(member)
    invoice = open_invoice(member=member, amounts=["100.00"])
    cash = external_payment(invoice=invoice, amount="30.00")
    unpaid = open_invoice(member=member, amounts=["50.00"])
    failed = card_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="10.00", status="failed")
    money_balance_adjust(member=member, amount=eur("10.00"), is_credit=True, note="Goodwill", actor=SYSTEM)
    return Books(
        member=member,
        card=card,
        draft=draft_invoice(member=member, amounts=["40.00"]),
        invoice=invoice,
        cash=cash,
        allocation=cash.allocations.get(),
        unpaid=unpaid,
        standalone=standalone_payment(member=member, amount="20.00"),
        failed=failed,
    )


# Each money action: what the refusal says the person may not do, and the call.
ACTIONS = {
    "record external payment": (
        "record external payments",
        lambda actor, b: payment_create_external(invoice=b.invoice, actor=actor, kind="cash", amount=eur("10.00")),
    ),
    "record standalone payment": (
        "record external payments",
        lambda actor, b: payment_create_standalone(member=b.member, actor=actor, amount=eur("5.00"), kind="check"),
    ),
    "charge": (
        "charge cards",
        lambda actor, b: payment_create_card(invoice=b.unpaid, actor=actor, amount=eur("10.00")),
    ),
    "issue and charge": (
        "issue and charge invoices",
        lambda actor, b: invoice_issue_and_charge(invoice=b.draft, actor=actor),
    ),
    "retry": ("retry payments", lambda actor, b: payment_retry(payment=b.failed, actor=actor)),
    "cancel": ("cancel payments", lambda actor, b: payment_cancel(payment=b.failed, actor=actor)),
    "refund": (
        "refund payments",
        lambda actor, b: payment_refund(
            payment=b.standalone, amount=eur("5.00"), reason="requested_by_member", actor=actor
        ),
    ),
    "void payment": ("void payments", lambda actor, b: payment_void(payment=b.standalone, actor=actor)),
    "apply payment": (
        "apply payments",
        lambda actor, b: payment_apply(invoice=b.invoice, applications=[(b.standalone, eur("5.00"))], actor=actor),
    ),
    "unallocate": ("unallocate payments", lambda actor, b: allocation_remove(allocation=b.allocation, actor=actor)),
    "credit note": (
        "issue credit notes",
        lambda actor, b: credit_note_issue(invoice=b.invoice, actor=actor, reason="order_change", amount=eur("10.00")),
    ),
    "void invoice": ("void invoices", lambda actor, b: invoice_void(invoice=b.unpaid, actor=actor)),
    "mark uncollectible": (
        "mark invoices uncollectible",
        lambda actor, b: invoice_mark_uncollectible(invoice=b.unpaid, actor=actor),
    ),
    "adjust money balance": (
        "adjust money balances",
        lambda actor, b: money_balance_adjust(
            member=b.member, amount=eur("5.00"), is_credit=True, note="Welcome", actor=actor
        ),
    ),
    "apply money balance": (
        "apply money balances",
        lambda actor, b: invoice_apply_money_balance(invoice=b.unpaid, actor=actor),
    ),
    "issue invoice": ("issue invoices", lambda actor, b: invoice_issue(invoice=b.draft, actor=actor)),
    "create draft": (
        "create invoices",
        lambda actor, b: invoice_draft_create(
            member=b.member,
            actor=actor,
            lines=[LineInput(description="Desk", quantity=Decimal(1), unit_amount=eur("25.00"), tax_rate=Decimal(0))],
        ),
    ),
    "edit draft": ("edit invoices", lambda actor, b: invoice_draft_update(invoice=b.draft, actor=actor, memo="May")),
    "edit issued invoice": (
        "edit invoices",
        lambda actor, b: invoice_details_update(
            invoice=b.invoice, actor=actor, due_date=b.invoice.due_date, memo="Late"
        ),
    ),
    "delete draft": ("delete invoices", lambda actor, b: invoice_draft_delete(invoice=b.draft, actor=actor)),
    "save card": (
        "manage saved cards",
        lambda actor, b: payment_method_add(member=b.member, card_token="4242424242424242", actor=actor),
    ),
    "set default card": (
        "manage saved cards",
        lambda actor, b: payment_method_set_default(payment_method=b.failed.payment_method, actor=actor),
    ),
    "remove card": ("manage saved cards", lambda actor, b: payment_method_remove(payment_method=b.card, actor=actor)),
}

ALLOWED = {
    BILLING_MANAGERS: set(ACTIONS),
    FRONT_DESK: {"record external payment", "record standalone payment"},
    ACCOUNTANTS: {"credit note"},
}

CASES = [(role, action, action in ALLOWED[role]) for role in ALLOWED for action in ACTIONS]


def role_user(role: str):
    user = UserFactory(is_staff=True)
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def role_actor(role: str) -> Actor:
    return Actor.staff(role_user(role))


@pytest.mark.parametrize(
    ("role", "action", "allowed"), CASES, ids=[f"{role}-{action}-{allowed}" for role, action, allowed in CASES]
)
def test_each_role_may_do_only_its_money_actions(books, role, action, allowed):
    what, call = ACTIONS[action]
    actor = role_actor(role)

    if allowed:
        before = books_snapshot(extra_models=OTHER_ROWS)
        call(actor, books)
        assert books_snapshot(extra_models=OTHER_ROWS) != before
    else:
        with refused(f"^You do not have permission to {what}\\.$", extra_models=(*OTHER_ROWS, MoneyBalanceEntry)):
            call(actor, books)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_staff_user_without_a_role_may_do_no_money_action(books, action):
    what, call = ACTIONS[action]
    user = UserFactory(is_staff=True)
    user.save()

    with refused(f"^You do not have permission to {what}\\.$", extra_models=OTHER_ROWS):
        call(Actor.staff(user), books)


def test_a_role_does_nothing_for_an_inactive_user(books):
    user = role_user(BILLING_MANAGERS)
    user.is_active = False
    user.save()

    with refused("^You do not have permission to refund payments\\.$", extra_models=OTHER_ROWS):
        ACTIONS["refund"][1](Actor.staff(user), books)


def test_front_desk_records_the_payment_in_full(books):
    payment = ACTIONS["record external payment"][1](role_actor(FRONT_DESK), books)

    assert payment.amount == eur("10.00")
    assert payment.allocations.get().amount == eur("10.00")
    books.invoice.refresh_from_db()
    assert books.invoice.amount_remaining == eur("60.00")


def test_an_accountant_issues_a_credit_note(books):
    credit_note = ACTIONS["credit note"][1](role_actor(ACCOUNTANTS), books)

    assert credit_note.amount == eur("10.00")
    assert credit_note.pre_payment_amount == eur("10.00")


@pytest.mark.parametrize("part", ["refund_amount", "out_of_band_amount"])
def test_an_accountant_may_not_send_money_back_with_a_credit_note(books, part):
    """80.00 on the invoice of 100.00 with 70.00 remaining: 10.00 of it was paid in cash."""
    with refused(
        "^You do not have permission to send money back with a credit note\\.$",
        extra_models=(*OTHER_ROWS, MoneyBalanceEntry),
    ):
        credit_note_issue(
            invoice=books.invoice,
            actor=role_actor(ACCOUNTANTS),
            reason="order_change",
            amount=eur("80.00"),
            **{part: eur("10.00")},
        )


def test_an_accountant_keeps_the_paid_part_of_a_credit_note_as_member_credit(books):
    credit_note = credit_note_issue(
        invoice=books.invoice,
        actor=role_actor(ACCOUNTANTS),
        reason="order_change",
        amount=eur("80.00"),
        refund_amount=eur("0.00"),
        credit_amount=eur("10.00"),
    )

    assert (credit_note.refund_amount, credit_note.credit_amount) == (eur("0.00"), eur("10.00"))
    assert not Refund.objects.filter(credit_note=credit_note).exists()


def test_a_billing_manager_refunds_the_paid_part_of_a_credit_note(books):
    credit_note = credit_note_issue(
        invoice=books.invoice,
        actor=role_actor(BILLING_MANAGERS),
        reason="order_change",
        amount=eur("80.00"),
        refund_amount=eur("10.00"),
    )

    assert credit_note.refund_amount == eur("10.00")
    assert Refund.objects.get(credit_note=credit_note).payment == books.cash


def test_the_system_needs_no_permission():
    Actor.system("retries").require_permission("payments.charge_payment", "retry payments")


def test_the_gateway_never_starts_a_money_action():
    with pytest.raises(NotPermitted, match="^Only the space's staff can refund payments\\.$"):
        Actor.gateway().require_permission("payments.refund_payment", "refund payments")


def test_a_superuser_has_every_permission(db, staff):
    staff.require_permission("payments.view_billing_reports", "view billing reports")
    staff.require_permission("payments.refund_payment", "refund payments")


def test_a_member_is_never_staff(db):
    with pytest.raises(NotPermitted, match="^Only the space's staff can refund payments\\.$"):
        member_actor(MemberFactory()).require_permission("payments.refund_payment", "refund payments")


def test_members_still_manage_their_own_cards(books):
    actor = member_actor(books.member)
    member = Member.objects.get(pk=books.member.pk)

    payment_method = payment_method_add(member=member, card_token="4242424242424242", actor=actor)

    assert payment_method.member == member
