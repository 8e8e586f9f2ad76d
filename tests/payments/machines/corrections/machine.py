"""The corrections machine's plumbing, under its rules (`rules.py`): the opening books, running a service as staff or
as a member (a refused one must change nothing), picking the objects an operation works on from pools, and making
fresh objects when the books have none in the state an operation needs.

Each example runs inside a savepoint of the test's transaction and rolls back at teardown. Work queued for after
commit (the Celery tasks, eager here, that charge cards and refund them) runs through
`django_capture_on_commit_callbacks(execute=True)`, or is left queued to stay in flight until a later step runs it.
"""

import contextlib
from collections import Counter
from decimal import Decimal

from django.db import transaction
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize

from billing.activity import Actor
from billing.errors import BillingError
from billing.models import CreditNote, CreditNoteLine, Invoice
from billing.services.invoice_issue import invoice_issue
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.gateways import gateway_override
from payments.models import (
    Allocation,
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentStatus,
    PaymentTarget,
    Refund,
    RefundAllocation,
)
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxCharge, SandboxRefund
from payments.services.payment_card import payment_create_card
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_method import member_gateway_customer_ensure
from payments.services.refund import payment_refund
from tests.factories import SYSTEM, MemberFactory, UserFactory, books_snapshot, saved_card
from tests.payments.machines.amounts import draft_invoice_of_units, money, to_units
from tests.payments.machines.corrections import oracle
from tests.payments.machines.corrections.books import (
    OPEN,
    PAID,
    InvoiceRow,
    balances,
    invoice_rows,
    payment_rows,
)
from tests.payments.machines.corrections.oracle import DECLINES, SUCCEEDS

CURRENCIES = st.sampled_from(["EUR", "EUR", "EUR", "JPY"])
MEMBER_INDEXES = st.sampled_from([0, 1])
# The rows a refused operation must leave as they were, besides the books (`books_snapshot`).
EXTRA_MODELS = (
    Refund,
    RefundAllocation,
    CreditNote,
    CreditNoteLine,
    PaymentAttempt,
    PaymentTarget,
    PaymentMethod,
    SandboxCharge,
    SandboxRefund,
)

# (operation, outcome) -> how often it happened over the whole run (printed at the end). The test checks that every
# operation was both done and refused, and that the paths of PATHS (rules.py) were taken, so the machine really
# reaches them.
OUTCOMES: Counter = Counter()

# The operations a step of the machine can be: name -> (method, eligible(machine) or None, argument strategies).
OPERATION_STEPS: dict[str, tuple] = {}


def operation(*, eligible=None, **strategies):
    """Register a method of the machine as one kind of step. The machine has a single rule that draws which
    operation each step runs, instead of one rule per operation: Hypothesis leaves out a random part of the rules
    in each example (swarm testing), which made how often each operation ran, and so the check that every one was
    both done and refused, vary too much between runs."""

    def register(method):
        OPERATION_STEPS[method.__name__] = (method, eligible, strategies)
        return method

    return register


class CorrectionsMachineBase(RuleBasedStateMachine):
    # Set by the test: `django_capture_on_commit_callbacks`, to run what a service queued for after its commit.
    capture_on_commit = None

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.members = [MemberFactory().pk for _ in range(2)]
        # The second member logs in to the portal: as an actor, they may pay their own invoices and save their own
        # cards, and nothing that only staff may do.
        user = UserFactory()
        Member.objects.filter(pk=self.members[1]).update(user=user)
        self.member_actor = Actor.member(user)
        # Whether this step acts as that member instead of staff (drawn by the rule for each step).
        self.as_member = False
        # Saved card -> (member, whether its charges succeed).
        self.cards: dict[int, tuple[int, bool]] = {}
        # Whether the books may have changed since the invariants were last checked (a refusal changes nothing).
        self.changed = True

    def teardown(self):
        gateway_override(None)
        transaction.savepoint_rollback(self.savepoint)

    @property
    def portal_member(self) -> int | None:
        """The member this step acts as in the portal, or None when staff act."""
        return self.members[1] if self.as_member else None

    # The opening books: a member with a card that succeeds and one that is declined, another with one card or none
    # yet (a customer at the gateway already, so that saving a card is all or nothing); an open invoice each, a
    # money balance and a standalone payment.

    @initialize(
        currency=CURRENCIES,
        line_units=st.lists(st.integers(1, 30_000), min_size=1, max_size=3),
        credit_units=st.integers(1, 20_000),
        payment_units=st.integers(1, 50_000),
        second_card=st.sampled_from([SUCCEEDS, DECLINES, None]),
    )
    def opening(self, currency, line_units, credit_units, payment_units, second_card):
        first, second = (Member.objects.get(pk=pk) for pk in self.members)
        self.card_add(first.pk, SUCCEEDS)
        self.card_add(first.pk, DECLINES)
        member_gateway_customer_ensure(member=second)
        if second_card:
            self.card_add(second.pk, second_card)
        money_balance_adjust(
            member=first, amount=money(credit_units, currency), is_credit=True, note="Opening balance", actor=SYSTEM
        )
        payment_create_standalone(member=first, actor=SYSTEM, amount=money(payment_units, currency), kind="cash")
        for member in (first, second):
            invoice_issue(
                invoice=Invoice.objects.get(pk=self.invoice_create(member.pk, currency, line_units, "0")),
                actor=SYSTEM,
                apply_credit=False,
            )

    # Running a service

    def run(
        self,
        operation: str,
        refusal: str | None,
        call,
        *,
        later: bool = False,
        failing_refunds: bool = False,
        as_member: bool = False,
        staff_only: bool = True,
    ):
        """Run `call(actor)` (a service), and what it queued for after its commit unless `later`. The actor is the
        system (staff), or with `as_member` the second member through the portal, whom staff-only services refuse.
        If the rules refuse the operation, it must raise BillingError and change nothing; otherwise it must
        succeed. Returns the service's result, or None when refused."""
        if as_member and staff_only:
            refusal = refusal or "only staff can do it"
        before = books_snapshot(extra_models=EXTRA_MODELS) if refusal is not None else None
        if failing_refunds:
            gateway_override(SandboxGateway(fail_refunds=True))
        try:
            with contextlib.nullcontext() if later else self.capture_on_commit(execute=True):
                result = call(self.member_actor if as_member else SYSTEM)
        except BillingError as error:
            note(f"{operation}: refused ({error})")
            assert refusal is not None, f"{operation} was refused, but the rules allow it: {error}"
            assert books_snapshot(extra_models=EXTRA_MODELS) == before, f"{operation} was refused but wrote rows"
            OUTCOMES[operation, "refused"] += 1
            return None
        finally:
            gateway_override(None)
        note(f"{operation}: done")
        self.changed = True
        assert refusal is None, f"{operation} succeeded, but the rules refuse it: {refusal}"
        OUTCOMES[operation, "done"] += 1
        return result

    # Picking what an operation works on

    def pick(self, data, every, *, fresh=None, **pools):
        """One of a pool (objects on which the operation takes one path: succeeds, or is refused for one reason),
        or any of `every`, each as often, so that every path is walked, not only the most common ones. When the
        first pool (the one on which the operation succeeds) is empty, `fresh()` may make a new object for it."""
        return self.pick_from_pool(data, every, fresh=fresh, **pools)[1]

    def pick_from_pool(self, data, every, *, fresh=None, **pools) -> tuple[str, int]:
        first = next(iter(pools), None)
        # "fresh" takes the place of an empty first pool: Hypothesis draws the first choice more often than the others.
        names = ["fresh"] if fresh is not None and not pools.get(first) else []
        names += [name for name, pks in pools.items() if pks]
        name = data.draw(st.sampled_from([*names, "any"] if every else names), label="pool")
        if name == "fresh":
            return first, fresh()
        return name, data.draw(st.sampled_from(sorted(pools.get(name) or every)), label=name)

    @staticmethod
    def more_than_remains(data, row: InvoiceRow) -> Decimal:
        """An amount between what remains and what is left to credit (so that a credit note has a paid part)."""
        remaining, creditable = to_units(row.remaining, row.currency), to_units(row.creditable, row.currency)
        if remaining >= creditable:
            return row.creditable
        return money(data.draw(st.integers(remaining + 1, creditable), label="more than remains"), row.currency).amount

    # Cards

    def card_add(self, member: int, number: str) -> None:
        card = saved_card(Member.objects.get(pk=member), number)
        self.cards[card.pk] = (member, number == SUCCEEDS)

    def card_succeeds(self, card: int) -> bool:
        return self.cards[card][1]

    def good_card(self, data, member: int) -> int | None:
        good = sorted(card for card, (owner, succeeds) in self.cards.items() if owner == member and succeeds)
        return data.draw(st.sampled_from(good), label="good card") if good else None

    def draw_card(self, data, member: int) -> tuple[int | None, int | None, str | None]:
        """(card passed to the service, card charged, refusal). None passed means the member's default card."""
        own = sorted(pk for pk, (owner, _) in self.cards.items() if owner == member)
        others = sorted(pk for pk, (owner, _) in self.cards.items() if owner != member)
        choice = data.draw(
            st.sampled_from(["default", "succeeds", "declines", "declines", "other member's"]), label="which card"
        )
        if choice == "other member's" and others:
            card = data.draw(st.sampled_from(others), label="card")
            return card, card, "another member's card"
        wanted = [pk for pk in own if self.cards[pk][1] == (choice == "succeeds")]
        if choice in ("succeeds", "declines") and wanted:
            card = data.draw(st.sampled_from(wanted), label="card")
            return card, card, None
        default = (
            PaymentMethod.objects.filter(member_id=member, removed_at__isnull=True)
            .order_by("-is_default", "-id")
            .values_list("pk", flat=True)
            .first()
        )
        return None, default, None if default is not None else "the member has no saved card"

    # Steps shared by the operations and the fresh objects

    def invoice_create(self, member: int, currency: str, line_units: list[int], tax_rate: str) -> int:
        self.changed = True
        return draft_invoice_of_units(member, currency, line_units, tax_rate)[0]

    def issue(self, pk: int, *, apply_credit: bool, as_member: bool = False) -> None:
        invoices, payments, member_balances = invoice_rows(), payment_rows(), balances()
        row = invoices[pk]
        done = self.run(
            "issue_invoice",
            oracle.issue_refusal(row),
            lambda actor: invoice_issue(invoice=Invoice.objects.get(pk=pk), actor=actor, apply_credit=apply_credit),
            as_member=as_member,
        )
        if done is None:
            return
        after = invoice_rows()[pk]
        issued = oracle.issue_applies(row, payments, member_balances, apply_credit=apply_credit)
        assert (after.balance_applied, after.paid, after.remaining) == (
            issued.from_balance,
            issued.from_payments,
            issued.remaining,
        )
        assert after.status == (PAID if after.remaining == 0 else OPEN)
        assert balances()[row.member, row.currency] == member_balances[row.member, row.currency] - issued.from_balance
        OUTCOMES["issue_invoice", "paid at once (zero total)"] += row.total == 0
        OUTCOMES["issue_invoice", "credit applied"] += issued.from_balance + issued.from_payments > 0

    def charged_check(
        self, payment: int, card: int, targets, invoices, *, later: bool, in_flight=PaymentStatus.PENDING
    ):
        """A card payment for `targets` [(invoice, amount)]: in flight, or charged to `card` right away."""
        p = payment_rows()[payment]
        assert p.amount == sum(amount for _, amount in targets) and p.payment_method == card
        assert sorted(PaymentTarget.objects.filter(payment_id=payment).values_list("invoice_id", "amount")) == sorted(
            targets
        )
        after = invoice_rows()
        for invoice, amount in targets:
            if later:
                OUTCOMES["card payment", "left in flight"] += 1
                assert after[invoice].reserved == invoices[invoice].reserved + amount
            elif self.card_succeeds(card):
                OUTCOMES["card payment", "succeeded"] += 1
                assert after[invoice].remaining == invoices[invoice].remaining - amount
            else:
                OUTCOMES["card payment", "declined"] += 1
                assert after[invoice] == invoices[invoice]
        expected = oracle.card_payment_status(later=later, succeeds=self.card_succeeds(card), in_flight=in_flight)
        assert p.status == expected, (p.status, expected)

    # Fresh objects, for operations that need one in a state the books have none in

    def fresh_invoice(self, data, *, member: int | None = None, currency: str | None = None) -> int:
        """A new open invoice (nothing applied to it), for operations that need one when the books have none left."""
        member = member or self.members[data.draw(MEMBER_INDEXES, label="member of the new invoice")]
        currency = currency or data.draw(CURRENCIES, label="currency of the new invoice")
        line_units = data.draw(st.lists(st.integers(1, 30_000), min_size=1, max_size=3), label="new invoice's lines")
        pk = self.invoice_create(member, currency, line_units, "0")
        self.issue(pk, apply_credit=False)
        return pk

    def fresh_standalone_payment(self, data, *, member: int | None = None, currency: str | None = None) -> int:
        member = member or self.members[data.draw(MEMBER_INDEXES, label="member of the new payment")]
        currency = currency or data.draw(CURRENCIES, label="currency of the new payment")
        amount = money(data.draw(st.integers(1, 50_000), label="new payment's units"), currency)
        payment = self.run(
            "record_standalone_payment",
            None,
            lambda actor: payment_create_standalone(
                member=Member.objects.get(pk=member), actor=actor, amount=amount, kind="bank_transfer"
            ),
        )
        return payment.pk

    def fresh_allocation(self, data) -> int:
        """A new invoice paid in part or in full by a new external payment: its allocation."""
        invoice = self.fresh_invoice(data)
        row = invoice_rows()[invoice]
        paid = money(data.draw(st.integers(1, to_units(row.remaining, row.currency)), label="paid units"), row.currency)
        payment = self.run(
            "record_external_payment",
            None,
            lambda actor: payment_create_external(
                invoice=Invoice.objects.get(pk=invoice), actor=actor, kind="cash", amount=paid
            ),
        )
        return Allocation.objects.get(payment=payment).pk

    def fresh_allocation_payment(self, data) -> int:
        return Allocation.objects.get(pk=self.fresh_allocation(data)).payment_id

    def fresh_allocation_invoice(self, data) -> int:
        return Allocation.objects.get(pk=self.fresh_allocation(data)).invoice_id

    def fresh_card_payment(self, data, *, succeeds: bool, later: bool = False) -> int:
        """A new invoice of the first member (who has a card that succeeds and one that is declined), charged to one
        of them: for operations on card payments when the books have none in the state they need."""
        member = self.members[0]
        invoice = self.fresh_invoice(data, member=member)
        card = min(pk for pk, (owner, good) in self.cards.items() if owner == member and good == succeeds)
        invoices = invoice_rows()
        payment = self.run(
            "charge_card",
            None,
            lambda actor: payment_create_card(
                invoice=Invoice.objects.get(pk=invoice), actor=actor, payment_method=PaymentMethod.objects.get(pk=card)
            ),
            later=later,
        )
        self.charged_check(payment.pk, card, [(invoice, invoices[invoice].available)], invoices, later=later)
        return payment.pk

    def fresh_card_paid_invoice(self, data) -> int:
        return Payment.objects.get(pk=self.fresh_card_payment(data, succeeds=True)).invoice_id

    def fresh_invoice_paid_with_money_balance(self, data) -> int:
        """A goodwill credit, then a new invoice issued with credit applied: paid (in part) by money balance."""
        member = self.members[data.draw(MEMBER_INDEXES, label="member")]
        currency = data.draw(CURRENCIES, label="currency")
        credit = money(data.draw(st.integers(1, 30_000), label="goodwill units"), currency)
        self.run(
            "adjust_money_balance",
            None,
            lambda actor: money_balance_adjust(
                member=Member.objects.get(pk=member), amount=credit, is_credit=True, note="Goodwill", actor=actor
            ),
        )
        line_units = data.draw(st.lists(st.integers(1, 30_000), min_size=1, max_size=3), label="new invoice's lines")
        pk = self.invoice_create(member, currency, line_units, "0")
        self.issue(pk, apply_credit=True)
        return pk

    def fresh_queued_attempt(self, data) -> int:
        succeeds = data.draw(st.sampled_from([True, True, True, False]), label="succeeds")
        payment = self.fresh_card_payment(data, succeeds=succeeds, later=True)
        return PaymentAttempt.objects.get(payment=payment, status=AttemptStatus.QUEUED).pk

    def fresh_pending_refund(self, data) -> int:
        """All of a new card payment refunded (its invoice reopened), the gateway's answer still to come."""
        payment = Payment.objects.get(pk=self.fresh_card_payment(data, succeeds=True))
        refund = self.run(
            "refund",
            None,
            lambda actor: payment_refund(
                payment=payment,
                amount=payment.amount,
                reason=Refund.Reason.OTHER,
                actor=actor,
                invoice_handling="reopen",
            ),
            later=True,
        )
        return refund.pk
