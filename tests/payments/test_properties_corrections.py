"""Random sequences of corrections and card payments keep the invariants of the spec's section 10.

The machine runs the books of two members, in EUR and some JPY: invoices (random lines, some with a zero total,
credit applied at issue or not), external payments (partial, full, over) and standalone payments, card payments
through the sandbox (4242 succeeds, ...0341 is declined), charged right after the commit or left in flight and
charged later, one card payment for several invoices, retries and cancellations of failed card payments, saving
cards, applying and unallocating, voiding payments and invoices, money balance, and above all the corrections:
refunds (any amount, the three ways of handling the invoices, external and card payments, a gateway that refuses
refunds, card refunds left pending and answered later) and credit notes (an amount or per-line amounts, up to and
over the cap, the paid part split between refund, credit and out of band from the preview, or deliberately not
adding up). Some steps act as the second member through the portal instead of staff.

There is no reference model (`test_properties.py` keeps one for the foundation operations): before each operation
its outcome is derived from the current rows by the spec's rules (refused or not, and what it must change), and
afterwards the rows must show exactly that change. A refused operation must raise a BillingError and leave the
books, refunds, credit notes, attempts, targets and the sandbox's rows exactly as they were. After every step that
changed something the books pass `billing_integrity_violations()` and direct checks of the invariants.

Each step draws an operation and the objects it works on from pools (objects on which it succeeds, or is refused
for a given reason); when the books have nothing on which it can succeed, it makes a fresh object first (a new
invoice, payment, card payment...), so that every operation is both done and refused in every run, which the test
checks at the end together with the paths of PATHS.

Each example runs inside a savepoint of the test's transaction and rolls back at teardown. Work queued for after
commit (the Celery tasks, eager here, that charge cards and refund them) runs through
`django_capture_on_commit_callbacks(execute=True)`, or is left queued to stay in flight until a later step runs it.
"""

import contextlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import transaction
from djmoney.money import Money
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from billing.activity import Actor
from billing.errors import BillingError
from billing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    MoneyBalanceEntry,
)
from billing.services.credit_note_issue import credit_note_issue, credit_note_preview
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.gateways import gateway_override
from payments.integrity import billing_integrity_violations
from payments.models import (
    IN_FLIGHT_STATUSES,
    Allocation,
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    PaymentTarget,
    Refund,
    RefundAllocation,
    RefundStatus,
)
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxCharge, SandboxRefund
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_card import invoices_pay_with_card, payment_cancel, payment_create_card, payment_retry
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_method import member_gateway_customer_ensure, payment_method_add
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund, payment_refundable, refund_plan
from payments.tasks import attempt_execute_task, refund_execute_task
from tests.factories import SYSTEM, MemberFactory, UserFactory, books_snapshot, saved_card
from tests.payments.machine_amounts import draft_invoice_of_units, draw_amount, invalid_amounts, money, to_units

ZERO = Decimal(0)
DRAFT, OPEN, PAID, VOID, UNCOLLECTIBLE = (
    InvoiceStatus.DRAFT,
    InvoiceStatus.OPEN,
    InvoiceStatus.PAID,
    InvoiceStatus.VOID,
    InvoiceStatus.UNCOLLECTIBLE,
)
ACCEPTS_PAYMENT = (OPEN, UNCOLLECTIBLE)
SUCCEEDS, DECLINES = "4242424242424242", "4000000000000341"
DECLINED_AT_ATTACH = "4000000000000002"
CURRENCIES = st.sampled_from(["EUR", "EUR", "EUR", "JPY"])
MEMBER_INDEXES = st.sampled_from([0, 1])
TAX_RATES = st.sampled_from(["0", "20", "7.7"])
REFUND_REASONS = [reason for reason in Refund.Reason.values if reason != Refund.Reason.CREDIT_NOTE]
# When the gateway answers a card refund: right after the commit, later (left pending), or right after the commit
# with a gateway that refuses refunds.
REFUND_MODES = st.sampled_from(["now", "now", "later", "failing"])
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
# operation was both done and refused, and that the paths of PATHS were taken, so the machine really reaches them.
OUTCOMES: Counter = Counter()
OPERATIONS = (
    "issue_invoice",
    "record_external_payment",
    "record_standalone_payment",
    "charge_card",
    "pay_invoices_with_card",
    "retry_payment",
    "cancel_payment",
    "apply_payment",
    "unallocate",
    "void_payment",
    "adjust_money_balance",
    "apply_money_balance",
    "void_invoice",
    "mark_uncollectible",
    "save_card",
    "refund",
    "credit_note",
)
PATHS = (
    ("card payment", "succeeded"),
    ("card payment", "declined"),
    ("card payment", "left in flight"),
    ("pay_invoices_with_card", "several invoices paid"),
    ("retry_payment", "succeeded"),
    ("cancel_payment", "pending payment canceled"),
    ("gateway", "queued charge run"),
    ("gateway", "charge overpaid an invoice paid meanwhile"),
    ("gateway", "pending refund answered"),
    ("refund", "from unallocated money only"),
    ("refund", "invoice reopened"),
    ("refund", "invoice reduced by credit note"),
    ("card refund", "succeeded"),
    ("card refund", "left pending"),
    ("card refund", "failed"),
    ("credit_note", "pre-payment only"),
    ("credit_note", "per line"),
    ("credit_note", "refund part"),
    ("credit_note", "credit part"),
    ("credit_note", "out-of-band part"),
    ("credit_note", "money balance returned"),
    ("credit_note", "paid invoice stays paid"),
)


# Reading the books -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceRow:
    pk: int
    member: int
    currency: str
    status: str
    total: Decimal
    credited: Decimal
    balance_applied: Decimal
    paid: Decimal
    remaining: Decimal
    reserved: Decimal

    @property
    def accepts_payment(self) -> bool:
        return self.status in ACCEPTS_PAYMENT and self.remaining > 0

    @property
    def available(self) -> Decimal:
        """What a card may still be charged for it."""
        return self.remaining - self.reserved

    @property
    def creditable(self) -> Decimal:
        return self.total - self.credited


@dataclass(frozen=True)
class PaymentRow:
    pk: int
    member: int
    currency: str
    method: str
    status: str
    amount: Decimal
    allocated: Decimal
    refunded: Decimal
    refund_pending: Decimal
    unallocated: Decimal
    payment_method: int | None

    @property
    def refundable(self) -> Decimal:
        return self.amount - self.refunded - self.refund_pending


def invoice_rows() -> dict[int, InvoiceRow]:
    reserved = defaultdict(Decimal)
    in_flight = PaymentTarget.objects.filter(payment__status__in=IN_FLIGHT_STATUSES)
    for invoice_id, amount in in_flight.values_list("invoice_id", "amount"):
        reserved[invoice_id] += amount
    rows = Invoice.objects.order_by("pk").values_list(
        "pk",
        "member_id",
        "currency",
        "status",
        "total",
        "amount_credited",
        "amount_balance_applied",
        "amount_paid",
        "amount_remaining",
    )
    return {row[0]: InvoiceRow(*row, reserved=reserved[row[0]]) for row in rows}


def payment_rows() -> dict[int, PaymentRow]:
    rows = Payment.objects.order_by("pk").values_list(
        "pk",
        "member_id",
        "currency",
        "method",
        "status",
        "amount",
        "amount_allocated",
        "amount_refunded",
        "amount_refund_pending",
        "amount_unallocated",
        "payment_method_id",
    )
    return {row[0]: PaymentRow(*row) for row in rows}


def active_allocations(**filters) -> list[tuple[int, int, int, Decimal]]:
    """(pk, payment, invoice, amount) of the active allocations, newest first (the order refunds and credit notes
    take them in)."""
    rows = Allocation.objects.filter(status=Allocation.Status.ACTIVE, **filters).order_by("-created_at", "-pk")
    return list(rows.values_list("pk", "payment_id", "invoice_id", "amount"))


def balances() -> dict[tuple[int, str], Decimal]:
    totals = defaultdict(Decimal)
    for member, currency, amount in MoneyBalanceEntry.objects.values_list("member_id", "amount_currency", "amount"):
        totals[member, currency] += amount
    return totals


def take_newest_first(allocations, amount: Decimal) -> list[tuple[int, int, int, Decimal]]:
    """(allocation, payment, invoice, take) of `amount` taken from the allocations (given newest first)."""
    takes, left = [], amount
    for pk, payment, invoice, allocated in allocations:
        if left <= 0:
            break
        take = min(allocated, left)
        takes.append((pk, payment, invoice, take))
        left -= take
    assert left <= 0, "the allocations cannot cover the amount"
    return takes


def line_creditable(invoice: int) -> dict[int, Decimal]:
    credited = defaultdict(Decimal)
    rows = CreditNoteLine.objects.filter(invoice_line__invoice_id=invoice).values_list("invoice_line_id", "amount")
    for line, amount in rows:
        credited[line] += amount
    lines = InvoiceLine.objects.filter(invoice_id=invoice).order_by("pk").values_list("pk", "amount", "tax")
    return {pk: amount + tax - credited[pk] for pk, amount, tax in lines}


def issued_credit_notes() -> set[int]:
    return set(CreditNote.objects.values_list("pk", flat=True))


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


class CorrectionsMachine(RuleBasedStateMachine):
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

    # Helpers

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

    def fresh_allocation_payment(self, data) -> int:
        return Allocation.objects.get(pk=self.fresh_allocation(data)).payment_id

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

    def good_card(self, data, member: int) -> int | None:
        good = sorted(card for card, (owner, succeeds) in self.cards.items() if owner == member and succeeds)
        return data.draw(st.sampled_from(good), label="good card") if good else None

    @staticmethod
    def more_than_remains(data, row: InvoiceRow) -> Decimal:
        """An amount between what remains and what is left to credit (so that a credit note has a paid part)."""
        remaining, creditable = to_units(row.remaining, row.currency), to_units(row.creditable, row.currency)
        if remaining >= creditable:
            return row.creditable
        return money(data.draw(st.integers(remaining + 1, creditable), label="more than remains"), row.currency).amount

    def card_add(self, member: int, number: str) -> None:
        card = saved_card(Member.objects.get(pk=member), number)
        self.cards[card.pk] = (member, number == SUCCEEDS)

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

    def card_succeeds(self, card: int) -> bool:
        return self.cards[card][1]

    def invoice_create(self, member: int, currency: str, line_units: list[int], tax_rate: str) -> int:
        self.changed = True
        return draft_invoice_of_units(member, currency, line_units, tax_rate)[0]

    def fresh_invoice(self, data, *, member: int | None = None, currency: str | None = None) -> int:
        """A new open invoice (nothing applied to it), for operations that need one when the books have none left."""
        member = member or self.members[data.draw(MEMBER_INDEXES, label="member of the new invoice")]
        currency = currency or data.draw(CURRENCIES, label="currency of the new invoice")
        line_units = data.draw(st.lists(st.integers(1, 30_000), min_size=1, max_size=3), label="new invoice's lines")
        pk = self.invoice_create(member, currency, line_units, "0")
        self.issue(pk, apply_credit=False)
        return pk

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

    def issue(self, pk: int, *, apply_credit: bool, as_member: bool = False) -> None:
        invoices, payments, member_balances = invoice_rows(), payment_rows(), balances()
        row = invoices[pk]
        refusal = None if row.status == DRAFT else f"the invoice is {row.status}"
        done = self.run(
            "issue_invoice",
            refusal,
            lambda actor: invoice_issue(invoice=Invoice.objects.get(pk=pk), actor=actor, apply_credit=apply_credit),
            as_member=as_member,
        )
        if done is None:
            return
        after = invoice_rows()[pk]
        balance = max(member_balances[row.member, row.currency], ZERO)
        unallocated = sum(
            (
                p.unallocated
                for p in payments.values()
                if p.member == row.member and p.currency == row.currency and p.status == PaymentStatus.SUCCEEDED
            ),
            ZERO,
        )
        from_balance = min(balance, row.total) if apply_credit else ZERO
        from_payments = min(unallocated, row.total - from_balance) if apply_credit else ZERO
        assert (after.balance_applied, after.paid, after.remaining) == (
            from_balance,
            from_payments,
            row.total - from_balance - from_payments,
        )
        assert after.status == (PAID if after.remaining == 0 else OPEN)
        assert balances()[row.member, row.currency] == member_balances[row.member, row.currency] - from_balance
        OUTCOMES["issue_invoice", "paid at once (zero total)"] += row.total == 0
        OUTCOMES["issue_invoice", "credit applied"] += from_balance + from_payments > 0

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

    # Invoices

    @operation(
        member=MEMBER_INDEXES,
        currency=CURRENCIES,
        line_units=st.lists(st.integers(1, 30_000), min_size=1, max_size=3),
        tax_rate=TAX_RATES,
        zero_total=st.booleans(),
        issue=st.sampled_from([True, True, True, False]),
        apply_credit=st.booleans(),
        data=st.data(),
    )
    def issue_invoice(self, member, currency, line_units, tax_rate, zero_total, issue, apply_credit, data):
        """A new invoice (a draft, or issued at once), or an existing one issued (refused unless a draft)."""
        if data.draw(st.sampled_from(["new", "new", "existing"]), label="invoice") == "existing":
            invoices = invoice_rows()
            drafts = [pk for pk, row in invoices.items() if row.status == DRAFT]
            self.issue(self.pick(data, invoices, drafts=drafts), apply_credit=apply_credit, as_member=self.as_member)
            return
        pk = self.invoice_create(
            self.members[member], currency, [0] * len(line_units) if zero_total else line_units, tax_rate
        )
        if issue:
            self.issue(pk, apply_credit=apply_credit, as_member=self.as_member)

    @operation(data=st.data())
    def void_invoice(self, data):
        invoices = invoice_rows()
        allocated_to = {invoice for _, _, invoice, _ in active_allocations()}
        voidable = [
            pk
            for pk, row in invoices.items()
            if row.status in ACCEPTS_PAYMENT and pk not in allocated_to and row.reserved == 0 and row.credited == 0
        ]
        pk = self.pick(
            data,
            invoices,
            fresh=lambda: self.fresh_invoice(data),
            voidable=voidable,
            voidable_too=voidable,
            paid_by_payments=[pk for pk in allocated_to if invoices[pk].status in ACCEPTS_PAYMENT],
            in_flight=[pk for pk, row in invoices.items() if row.reserved],
            credited=[pk for pk, row in invoices.items() if row.credited and row.status in ACCEPTS_PAYMENT],
            not_voidable=[pk for pk in invoices if pk not in voidable],
        )
        invoices = invoice_rows()
        allocated_to = {invoice for _, _, invoice, _ in active_allocations()}
        row = invoices[pk]
        if row.status not in ACCEPTS_PAYMENT:
            refusal = f"the invoice is {row.status}"
        elif pk in allocated_to:
            refusal = "payments are allocated to it"
        elif row.reserved:
            refusal = "a card payment is in flight"
        elif row.credited:
            refusal = "it has credit notes"
        else:
            refusal = None
        before = balances()
        done = self.run(
            "void_invoice",
            refusal,
            lambda actor: invoice_void(invoice=Invoice.objects.get(pk=pk), actor=actor),
            as_member=self.as_member,
        )
        if done is None:
            return
        after = invoice_rows()[pk]
        assert (after.status, after.balance_applied, after.remaining) == (VOID, ZERO, row.total)
        assert balances()[row.member, row.currency] == before[row.member, row.currency] + row.balance_applied

    @operation(data=st.data())
    def mark_uncollectible(self, data):
        invoices = invoice_rows()
        markable = [pk for pk, row in invoices.items() if row.status == OPEN and row.reserved == 0]
        pk = self.pick(
            data,
            invoices,
            fresh=lambda: self.fresh_invoice(data),
            markable=markable,
            in_flight=[pk for pk, row in invoices.items() if row.reserved],
            not_open=[pk for pk, row in invoices.items() if row.status != OPEN],
        )
        row = invoice_rows()[pk]
        refusal = None
        if row.status != OPEN:
            refusal = f"the invoice is {row.status}"
        elif row.reserved:
            refusal = "a card payment is in flight"
        done = self.run(
            "mark_uncollectible",
            refusal,
            lambda actor: invoice_mark_uncollectible(invoice=Invoice.objects.get(pk=pk), actor=actor),
            as_member=self.as_member,
        )
        if done is not None:
            assert invoice_rows()[pk] == InvoiceRow(**{**row.__dict__, "status": UNCOLLECTIBLE})

    # External payments, applying and unallocating

    @operation(data=st.data())
    def record_external_payment(self, data):
        invoices = invoice_rows()
        pk = self.pick(
            data,
            invoices,
            fresh=lambda: self.fresh_invoice(data),
            payable=[pk for pk, row in invoices.items() if row.accepts_payment],
            in_flight=[pk for pk, row in invoices.items() if row.accepts_payment and row.reserved],
            not_payable=[pk for pk, row in invoices.items() if not row.accepts_payment],
        )
        row = invoice_rows()[pk]
        amount, valid = draw_amount(
            data,
            currency=row.currency,
            fit=row.remaining,
            kinds=("default", "fit", "part", "part", "over", "over", "over", "any", "invalid"),
            label="amount",
        )
        refusal = "invalid amount" if not valid else None if row.accepts_payment else f"the invoice is {row.status}"
        payment = self.run(
            "record_external_payment",
            refusal,
            lambda actor: payment_create_external(
                invoice=Invoice.objects.get(pk=pk), actor=actor, kind="check", amount=amount
            ),
            as_member=self.as_member,
        )
        if payment is None:
            return
        received = row.remaining if amount is None else amount.amount
        applied = min(received, row.remaining)
        after = payment_rows()[payment.pk]
        assert (after.amount, after.allocated, after.unallocated) == (received, applied, received - applied)
        assert invoice_rows()[pk].remaining == row.remaining - applied
        OUTCOMES["record_external_payment", "overpaid"] += received > applied

    @operation(member=MEMBER_INDEXES, currency=CURRENCIES, valid=st.sampled_from([True, False, False]), data=st.data())
    def record_standalone_payment(self, member, currency, valid, data):
        if valid:
            amount = money(data.draw(st.integers(1, 50_000), label="units"), currency)
        else:
            amount = data.draw(
                st.sampled_from(
                    [Money(0, currency), Money(-5, currency), Money("10.005", "EUR"), Money("10.5", "JPY")]
                ),
                label="invalid amount",
            )
        payment = self.run(
            "record_standalone_payment",
            None if valid else "invalid amount",
            lambda actor: payment_create_standalone(
                member=Member.objects.get(pk=self.members[member]), actor=actor, amount=amount, kind="bank_transfer"
            ),
            as_member=self.as_member,
        )
        if payment is not None:
            assert payment_rows()[payment.pk].unallocated == amount.amount

    @operation(data=st.data())
    def apply_payment(self, data):
        invoices, payments = invoice_rows(), payment_rows()
        pairs = [
            (invoice, payment)
            for invoice, row in invoices.items()
            if row.accepts_payment
            for payment, p in payments.items()
            if p.member == row.member and p.currency == row.currency and p.unallocated > 0
        ]
        choice = data.draw(st.sampled_from(["a pair that fits", "a pair that fits", "any pair"]), label="pair")
        if choice != "any pair" and not pairs:  # A new payment for a new invoice of its member.
            invoice = self.fresh_invoice(data)
            row = invoice_rows()[invoice]
            pairs = [(invoice, self.fresh_standalone_payment(data, member=row.member, currency=row.currency))]
            invoices, payments = invoice_rows(), payment_rows()
        if choice != "any pair":
            invoice, payment = data.draw(st.sampled_from(pairs), label="pair")
        else:
            invoice = data.draw(st.sampled_from(sorted(invoices)), label="invoice")
            payment = data.draw(st.sampled_from(sorted(payments)), label="payment")
        row, p = invoices[invoice], payments[payment]
        fit = min(row.remaining, p.unallocated) if p.currency == row.currency else ZERO
        amount, valid = draw_amount(
            data, currency=row.currency, fit=fit, kinds=("fit", "fit", "part", "over", "any", "invalid"), label="amount"
        )
        if not valid:
            refusal = "invalid amount"
        elif not row.accepts_payment:
            refusal = f"the invoice is {row.status} with {row.remaining} remaining"
        elif (p.member, p.currency, p.status) != (row.member, row.currency, PaymentStatus.SUCCEEDED):
            refusal = "another member's, another currency or not received"
        elif amount.amount > min(row.remaining, p.unallocated):
            refusal = "more than remains or than is unallocated"
        else:
            refusal = None
        done = self.run(
            "apply_payment",
            refusal,
            lambda actor: payment_apply(
                invoice=Invoice.objects.get(pk=invoice),
                applications=[(Payment.objects.get(pk=payment), amount)],
                actor=actor,
            ),
            as_member=self.as_member,
        )
        if done is not None:
            assert invoice_rows()[invoice].remaining == row.remaining - amount.amount
            assert payment_rows()[payment].unallocated == p.unallocated - amount.amount

    @operation(data=st.data())
    def unallocate(self, data):
        """Unallocate an allocation: an active one, a removed one, or an active one twice."""
        rows = dict(Allocation.objects.values_list("pk", "status"))
        pool, pk = self.pick_from_pool(
            data,
            rows,
            fresh=lambda: self.fresh_allocation(data),
            active=(active := [pk for pk, status in rows.items() if status == Allocation.Status.ACTIVE]),
            removed=[pk for pk, status in rows.items() if status != Allocation.Status.ACTIVE],
            active_twice=active,
        )
        self.allocation_remove_expecting(pk)
        if pool == "active_twice":
            self.allocation_remove_expecting(pk)

    def allocation_remove_expecting(self, pk: int) -> None:
        allocation = Allocation.objects.get(pk=pk)
        invoice_before = invoice_rows()[allocation.invoice_id]
        refusal = None if allocation.status == Allocation.Status.ACTIVE else "already removed"
        done = self.run(
            "unallocate",
            refusal,
            lambda actor: allocation_remove(allocation=allocation, actor=actor),
            as_member=self.as_member,
        )
        if done is not None:
            after = invoice_rows()[allocation.invoice_id]
            assert after.remaining == invoice_before.remaining + allocation.amount.amount
            assert after.status == (OPEN if invoice_before.status == PAID else invoice_before.status)

    @operation(data=st.data())
    def void_payment(self, data):
        payments = payment_rows()
        voidable = [
            pk
            for pk, p in payments.items()
            if p.method == PaymentMethodKind.EXTERNAL
            and p.status == PaymentStatus.SUCCEEDED
            and p.refundable == p.amount
        ]
        pk = self.pick(
            data,
            payments,
            fresh=lambda: self.fresh_standalone_payment(data),
            voidable=voidable,
            voidable_too=voidable,
            card=[pk for pk, p in payments.items() if p.method == PaymentMethodKind.CARD],
            refunded=[pk for pk, p in payments.items() if p.refunded or p.refund_pending],
            not_voidable=[pk for pk in payments if pk not in voidable],
        )
        p = payment_rows()[pk]
        if p.method != PaymentMethodKind.EXTERNAL:
            refusal = "a card payment"
        elif p.status != PaymentStatus.SUCCEEDED:
            refusal = f"the payment is {p.status}"
        elif p.refunded or p.refund_pending:
            refusal = "it has refunds"
        else:
            refusal = None
        allocations = active_allocations(payment_id=pk)
        invoices = invoice_rows()
        done = self.run(
            "void_payment",
            refusal,
            lambda actor: payment_void(payment=Payment.objects.get(pk=pk), actor=actor, reason="The check bounced"),
            as_member=self.as_member,
        )
        if done is None:
            return
        released = defaultdict(Decimal)
        for _, _, invoice, amount in allocations:
            released[invoice] += amount
        after = invoice_rows()
        for invoice, row in invoices.items():
            assert after[invoice].remaining == row.remaining + released[invoice]
        assert payment_rows()[pk].status == PaymentStatus.VOID

    # Money balance

    @operation(member=MEMBER_INDEXES, currency=CURRENCIES, is_credit=st.booleans(), data=st.data())
    def adjust_money_balance(self, member, currency, is_credit, data):
        member_pk = self.members[member]
        balance = balances()[member_pk, currency]
        amount, valid = draw_amount(
            data, currency=currency, fit=balance, kinds=("any", "fit", "part", "over", "invalid"), label="amount"
        )
        if amount.currency.code != currency:
            valid = True  # An amount in the other currency is valid: it goes to the balance in that currency.
        if not valid:
            refusal = "invalid amount"
        elif not is_credit and amount.amount > balances()[member_pk, amount.currency.code]:
            refusal = "the debit would take the balance below zero"
        else:
            refusal = None
        self.run(
            "adjust_money_balance",
            refusal,
            lambda actor: money_balance_adjust(
                member=Member.objects.get(pk=member_pk),
                amount=amount,
                is_credit=is_credit,
                note="Goodwill for the broken heating",
                actor=actor,
            ),
            as_member=self.as_member,
        )

    @operation(eligible=lambda self: any(total > 0 for total in balances().values()), data=st.data())
    def apply_money_balance(self, data):
        invoices, member_balances = invoice_rows(), balances()
        payable = [
            pk for pk, row in invoices.items() if row.accepts_payment and member_balances[row.member, row.currency] > 0
        ]
        with_balance = sorted(key for key, total in member_balances.items() if total > 0)

        def fresh_invoice_of_a_member_with_balance() -> int:
            member, currency = data.draw(st.sampled_from(with_balance), label="member and currency with balance")
            return self.fresh_invoice(data, member=member, currency=currency)

        pk = self.pick(
            data, invoices, fresh=fresh_invoice_of_a_member_with_balance, payable=payable, payable_too=payable
        )
        row = invoice_rows()[pk]
        available = member_balances[row.member, row.currency]
        amount, valid = draw_amount(
            data,
            currency=row.currency,
            fit=min(available, row.remaining),
            kinds=("default", "fit", "part", "over", "invalid"),
            label="amount",
        )
        applied = min(available, row.remaining) if amount is None else amount.amount if valid else None
        if not valid:
            refusal = "invalid amount"
        elif not row.accepts_payment:
            refusal = f"the invoice is {row.status} with {row.remaining} remaining"
        elif available <= 0:
            refusal = "no money balance"
        elif applied > min(available, row.remaining):
            refusal = "more than the balance or than remains"
        else:
            refusal = None
        done = self.run(
            "apply_money_balance",
            refusal,
            lambda actor: invoice_apply_money_balance(invoice=Invoice.objects.get(pk=pk), actor=actor, amount=amount),
            as_member=self.as_member,
        )
        if done is not None:
            assert invoice_rows()[pk].remaining == row.remaining - applied
            assert balances()[row.member, row.currency] == available - applied

    # Card payments

    @operation(
        member=MEMBER_INDEXES,
        number=st.sampled_from([SUCCEEDS, DECLINES, DECLINED_AT_ATTACH, DECLINED_AT_ATTACH]),
    )
    def save_card(self, member, number):
        """Save a card (the member's failed card payments are retried with it at once), or fail to."""
        member_pk = self.members[member]
        if len(self.cards) >= 6:  # Enough cards: only try one the gateway declines.
            number = DECLINED_AT_ATTACH
        refusal = "the card is declined when attached" if number == DECLINED_AT_ATTACH else None
        if self.as_member and member_pk != self.members[1]:
            refusal = "a member saves only their own cards"
        card = self.run(
            "save_card",
            refusal,
            lambda actor: payment_method_add(member=Member.objects.get(pk=member_pk), card_token=number, actor=actor),
            as_member=self.as_member,
            staff_only=False,
        )
        if card is not None:
            self.cards[card.pk] = (member_pk, number == SUCCEEDS)

    def charge_expect(self, row: InvoiceRow) -> str | None:
        if not row.accepts_payment:
            return f"the invoice is {row.status} with {row.remaining} remaining"
        if row.available <= 0:
            return "all that remains is being charged already"
        return None

    @operation(later=st.sampled_from([False, False, False, True]), data=st.data())
    def charge_card(self, later, data):
        invoices = invoice_rows()
        chargeable = [pk for pk, row in invoices.items() if self.charge_expect(row) is None]
        pk = self.pick(
            data, invoices, fresh=lambda: self.fresh_invoice(data), chargeable=chargeable, chargeable_too=chargeable
        )
        invoices = invoice_rows()
        row = invoices[pk]
        passed, charged, refusal = self.draw_card(data, row.member)
        amount, valid = draw_amount(
            data,
            currency=row.currency,
            fit=row.available,
            kinds=("default", "default", "fit", "part", "over", "invalid"),
            label="amount",
        )
        if not valid:
            refusal = "invalid amount"
        refusal = refusal or self.charge_expect(row)
        if refusal is None and amount is not None and amount.amount > row.available:
            refusal = "more than can be charged"
        if self.as_member:
            refusal = refusal or self.member_payment_refusal(row, amount)
        payment = self.run(
            "charge_card",
            refusal,
            lambda actor: payment_create_card(
                invoice=Invoice.objects.get(pk=pk),
                actor=actor,
                amount=amount,
                payment_method=PaymentMethod.objects.get(pk=passed) if passed else None,
            ),
            later=later,
            as_member=self.as_member,
            staff_only=False,
        )
        if payment is None:
            return
        charged_amount = row.available if amount is None else amount.amount
        self.charged_check(payment.pk, charged, [(pk, charged_amount)], invoices, later=later)

    def member_payment_refusal(self, row: InvoiceRow, amount: Money | None) -> str | None:
        """What the portal refuses a member: another member's invoice, or a partial payment unless the space takes
        them (at least the minimum)."""
        if row.member != self.members[1]:
            return "a member pays only their own invoices"
        if amount is None or amount.amount == row.available:
            return None
        if not django_settings.BILLING_PORTAL_PARTIAL_PAYMENTS:
            return "the space takes no partial payments online"
        if amount.amount < Decimal(django_settings.BILLING_PORTAL_PARTIAL_MINIMUM):
            return "less than the minimum partial payment"
        return None

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
        expected = in_flight if later else PaymentStatus.SUCCEEDED if self.card_succeeds(card) else PaymentStatus.FAILED
        assert p.status == expected, (p.status, expected)

    @operation(member=MEMBER_INDEXES, later=st.sampled_from([False, False, False, True]), data=st.data())
    def pay_invoices_with_card(self, member, later, data):
        member_pk = self.members[member]
        invoices = invoice_rows()
        own = [pk for pk, row in invoices.items() if row.member == member_pk]
        chargeable = [pk for pk in own if self.charge_expect(invoices[pk]) is None]
        currency = data.draw(st.sampled_from(sorted({invoices[pk].currency for pk in chargeable}) or ["EUR"]))
        chargeable = [pk for pk in chargeable if invoices[pk].currency == currency]
        choice = data.draw(st.sampled_from(["several", "several", "one or more", "any"]), label="invoices")
        if choice == "several" and len(chargeable) < 2:
            chargeable += [self.fresh_invoice(data, member=member_pk, currency=currency) for _ in chargeable or (1, 2)]
        if choice == "several":
            chosen = data.draw(st.lists(st.sampled_from(chargeable), min_size=2, max_size=3, unique=True))
        elif choice != "any" and chargeable:
            chosen = data.draw(st.lists(st.sampled_from(chargeable), min_size=1, max_size=3, unique=True))
        else:
            chosen = data.draw(st.lists(st.sampled_from(sorted(invoices)), max_size=3, unique=True))
        passed, charged, refusal = self.draw_card(data, member_pk)
        if choice == "several" and (good := self.good_card(data, member_pk)):
            passed = charged = good
            refusal = None
        self.pay_with_card_expecting(member_pk, chosen, passed, charged, refusal, later=later)

    def pay_with_card_expecting(self, member_pk, chosen, passed, charged, refusal, *, later: bool) -> None:
        invoices = invoice_rows()
        rows = [invoices[pk] for pk in chosen]
        if not chosen:
            refusal = "no invoice"
        elif any(row.member != member_pk for row in rows):
            refusal = "another member's invoice"
        refusal = refusal or next(filter(None, (self.charge_expect(row) for row in rows)), None)
        if refusal is None and len({row.currency for row in rows}) > 1:
            refusal = "several currencies"
        if self.as_member and member_pk != self.members[1]:
            refusal = refusal or "a member pays only their own invoices"
        payment = self.run(
            "pay_invoices_with_card",
            refusal,
            lambda actor: invoices_pay_with_card(
                member=Member.objects.get(pk=member_pk),
                invoices=[Invoice.objects.get(pk=pk) for pk in chosen],
                actor=actor,
                payment_method=PaymentMethod.objects.get(pk=passed) if passed else None,
            ),
            later=later,
            as_member=self.as_member,
            staff_only=False,
        )
        if payment is None:
            return
        self.charged_check(payment.pk, charged, [(row.pk, row.available) for row in rows], invoices, later=later)
        OUTCOMES["pay_invoices_with_card", "several invoices paid"] += (
            len(rows) > 1 and not later and self.card_succeeds(charged)
        )

    def retry_expect(self, p: PaymentRow, amount: Decimal | None, invoices) -> tuple[str | None, list]:
        """(refusal, [(invoice, amount)] the retry charges), by the rules of a manual retry."""
        if p.method != PaymentMethodKind.CARD:
            return "not a card payment", []
        if p.status != PaymentStatus.FAILED:
            return f"the payment is {p.status}", []
        targets = list(PaymentTarget.objects.filter(payment_id=p.pk).values_list("invoice_id", "amount"))
        if amount is not None and len(targets) > 1:
            return "an amount for a payment of several invoices", []
        planned = []
        for invoice, target in targets:
            row = invoices[invoice]
            limit = min(target, row.available)
            if row.status not in ACCEPTS_PAYMENT or limit <= 0:
                continue
            if amount is not None and amount > limit:
                return "more than the retry can charge", []
            planned.append((invoice, limit if amount is None else amount))
        return (None, planned) if planned else ("nothing to charge", [])

    @operation(later=st.sampled_from([False, False, False, False, True]), data=st.data())
    def retry_payment(self, later, data):
        invoices, payments = invoice_rows(), payment_rows()
        failed = [pk for pk, p in payments.items() if self.retry_expect(p, None, invoices)[0] is None]
        card = [pk for pk, p in payments.items() if p.method == PaymentMethodKind.CARD]
        pk = self.pick(
            data,
            payments,
            fresh=lambda: self.fresh_card_payment(data, succeeds=False),
            failed=failed,
            failed_too=failed,
            not_retryable=[pk for pk in card if pk not in failed],
        )
        invoices, p = invoice_rows(), payment_rows()[pk]
        passed, charged, card_refusal = None, p.payment_method, None
        card_choice = data.draw(
            st.sampled_from(["a good card", "a good card", "a good card", "the same card", "any card"]), label="card"
        )
        if card_choice == "a good card" and p.method == PaymentMethodKind.CARD:
            passed = self.good_card(data, p.member)
            charged = passed or p.payment_method
        elif card_choice == "any card":
            passed, charged, card_refusal = self.draw_card(data, p.member)
            if passed is None:  # No card given: the retry charges the payment's card again.
                charged, card_refusal = p.payment_method, None
        fit = max((amount for _, amount in self.retry_expect(p, None, invoices)[1]), default=ZERO)
        amount, valid = draw_amount(
            data,
            currency=p.currency,
            fit=fit,
            kinds=("default", "default", "default", "fit", "part", "over", "invalid"),
            label="amount",
        )
        self.retry_expecting(pk, amount, valid, passed, charged, card_refusal, later=later)

    @operation(data=st.data())
    def retry_a_failed_payment_with_a_good_card(self, data):
        """Retry a failed card payment (a new one when there is none) with a card that succeeds."""
        invoices = invoice_rows()
        failed = [pk for pk, p in payment_rows().items() if self.retry_expect(p, None, invoices)[0] is None]
        if failed and data.draw(st.booleans(), label="an existing failed payment"):
            pk = data.draw(st.sampled_from(failed), label="failed payment")
        else:
            pk = self.fresh_card_payment(data, succeeds=False)
        p = payment_rows()[pk]
        passed = self.good_card(data, p.member)
        self.retry_expecting(pk, None, True, passed, passed or p.payment_method, None, later=False)

    def retry_expecting(self, pk, amount, valid, passed, charged, card_refusal, *, later: bool) -> None:
        invoices, p = invoice_rows(), payment_rows()[pk]
        if valid:
            refusal, planned = self.retry_expect(p, None if amount is None else amount.amount, invoices)
            refusal = refusal or card_refusal
        else:
            refusal, planned = "invalid amount", []
        attempt = self.run(
            "retry_payment",
            refusal,
            lambda actor: payment_retry(
                payment=Payment.objects.get(pk=pk),
                actor=actor,
                amount=amount,
                payment_method=PaymentMethod.objects.get(pk=passed) if passed else None,
            ),
            later=later,
            as_member=self.as_member,
        )
        if attempt is None:
            return
        self.charged_check(pk, charged, planned, invoices, later=later, in_flight=PaymentStatus.PROCESSING)
        assert attempt.payment_method_id == charged and attempt.amount.amount == sum(amount for _, amount in planned)
        OUTCOMES["retry_payment", "succeeded"] += payment_rows()[pk].status == PaymentStatus.SUCCEEDED

    @operation(data=st.data())
    def cancel_payment(self, data):
        payments = payment_rows()
        cancelable = [pk for pk, p in payments.items() if p.status in (PaymentStatus.PENDING, PaymentStatus.FAILED)]
        not_cancelable = [
            pk for pk, p in payments.items() if p.method == PaymentMethodKind.CARD and pk not in cancelable
        ]
        pending = [pk for pk in cancelable if payments[pk].status == PaymentStatus.PENDING]
        pk = self.pick(
            data,
            payments,
            fresh=lambda: self.fresh_card_payment(data, succeeds=True, later=True),
            pending=pending,
            pending_too=pending,
            failed=[pk for pk in cancelable if pk not in pending],
            not_cancelable=not_cancelable,
        )
        p = payment_rows()[pk]
        refusal = None if p.status in (PaymentStatus.PENDING, PaymentStatus.FAILED) else f"the payment is {p.status}"
        invoices = invoice_rows()
        done = self.run(
            "cancel_payment",
            refusal,
            lambda actor: payment_cancel(payment=Payment.objects.get(pk=pk), actor=actor),
            as_member=self.as_member,
        )
        if done is None:
            return
        assert payment_rows()[pk].status == PaymentStatus.CANCELED
        assert not PaymentAttempt.objects.filter(payment_id=pk, status=AttemptStatus.QUEUED).exists()
        after = invoice_rows()
        for invoice, amount in PaymentTarget.objects.filter(payment_id=pk).values_list("invoice_id", "amount"):
            released = amount if p.status == PaymentStatus.PENDING else ZERO
            assert after[invoice].reserved == invoices[invoice].reserved - released
        OUTCOMES["cancel_payment", "pending payment canceled"] += p.status == PaymentStatus.PENDING

    @operation(data=st.data())
    def gateway_runs_a_queued_charge(self, data):
        """The worker charges a card payment left in flight (one left so by an earlier step, or a new one); its
        invoices may have been paid or credited since, or are paid now by other means (an external payment of all
        that remains), so the excess stays unallocated."""
        queued = list(PaymentAttempt.objects.filter(status=AttemptStatus.QUEUED).values_list("pk", flat=True))
        pk = self.pick(data, [], fresh=lambda: self.fresh_queued_attempt(data), queued=queued)
        attempt = PaymentAttempt.objects.get(pk=pk)
        invoices = invoice_rows()
        payable = sorted(
            invoice
            for invoice in PaymentTarget.objects.filter(payment=attempt.payment_id).values_list("invoice_id", flat=True)
            if invoices[invoice].accepts_payment
        )
        if payable and data.draw(st.booleans(), label="paid by other means first"):
            invoice = data.draw(st.sampled_from(payable), label="invoice paid by other means")
            payment = self.run(
                "record_external_payment",
                None,
                lambda actor: payment_create_external(
                    invoice=Invoice.objects.get(pk=invoice), actor=actor, kind="cash"
                ),
            )
            assert payment.amount.amount == invoices[invoice].remaining and invoice_rows()[invoice].remaining == 0
        self.charge_run(attempt)

    def fresh_queued_attempt(self, data) -> int:
        succeeds = data.draw(st.sampled_from([True, True, True, False]), label="succeeds")
        payment = self.fresh_card_payment(data, succeeds=succeeds, later=True)
        return PaymentAttempt.objects.get(payment=payment, status=AttemptStatus.QUEUED).pk

    def charge_run(self, attempt: PaymentAttempt) -> None:
        invoices = invoice_rows()
        targets = list(PaymentTarget.objects.filter(payment_id=attempt.payment_id).values_list("invoice_id", "amount"))
        with self.capture_on_commit(execute=True):
            attempt_execute_task.apply(args=[attempt.pk])
        self.changed = True
        OUTCOMES["gateway", "queued charge run"] += 1
        succeeded = self.card_succeeds(attempt.payment_method_id)
        p = payment_rows()[attempt.payment_id]
        assert p.status == (PaymentStatus.SUCCEEDED if succeeded else PaymentStatus.FAILED)
        after = invoice_rows()
        applied_total = ZERO
        for invoice, amount in targets:
            row = invoices[invoice]
            applied = min(amount, row.remaining) if succeeded and row.status in ACCEPTS_PAYMENT else ZERO
            applied_total += applied
            assert after[invoice].remaining == row.remaining - applied
            assert after[invoice].reserved == row.reserved - amount
            OUTCOMES["gateway", "charge overpaid an invoice paid meanwhile"] += succeeded and applied < amount
        if succeeded:
            assert (p.allocated, p.unallocated) == (applied_total, p.amount - applied_total)

    # Refunds

    @operation(
        handling=st.sampled_from(["", "reopen", "reopen", "credit_note", "credit_note"]),
        mode=REFUND_MODES,
        reason=st.sampled_from([*REFUND_REASONS, Refund.Reason.CREDIT_NOTE]),
        data=st.data(),
    )
    def refund(self, handling, mode, reason, data):
        payments = payment_rows()
        refundable = [pk for pk, p in payments.items() if p.status == PaymentStatus.SUCCEEDED and p.refundable > 0]
        pk = self.pick(
            data,
            payments,
            fresh=lambda: self.fresh_allocation_payment(data),
            refundable=refundable,
            with_allocations=[pk for pk in refundable if payments[pk].allocated > 0],
            card=[pk for pk in refundable if payments[pk].method == PaymentMethodKind.CARD],
        )
        if reason == Refund.Reason.CREDIT_NOTE and data.draw(st.booleans(), label="keep the invalid reason"):
            reason = Refund.Reason.OTHER
        self.refund_expecting(pk, handling=handling, mode=mode, reason=reason, data=data, as_member=self.as_member)

    @operation(handling=st.sampled_from(["reopen", "credit_note", ""]), mode=REFUND_MODES, data=st.data())
    def refund_a_card_payment(self, handling, mode, data):
        payments = payment_rows()
        card = [
            pk
            for pk, p in payments.items()
            if p.method == PaymentMethodKind.CARD and p.status == PaymentStatus.SUCCEEDED
        ]
        pk = self.pick(
            data,
            card or [0],
            refundable=[pk for pk in card if payments[pk].refundable > 0],
            with_allocations=[pk for pk in card if payments[pk].allocated > 0],
            new=[] if any(payments[pk].refundable > 0 for pk in card) else [0],
        )
        if pk == 0:
            pk = self.fresh_card_payment(data, succeeds=True)
        self.refund_expecting(
            pk,
            handling=handling,
            mode=mode,
            reason=Refund.Reason.REQUESTED_BY_MEMBER,
            data=data,
            as_member=self.as_member,
        )

    def refund_expecting(
        self,
        pk: int,
        *,
        handling: str,
        mode: str,
        reason: str,
        data,
        as_member: bool = False,
        kinds=("fit", "fit", "unallocated", "part", "part", "over", "any", "invalid"),
    ) -> None:
        """Refund some of the payment, an amount of one of `kinds`, with that handling of its invoices; check what
        changed."""
        payments, invoices = payment_rows(), invoice_rows()
        p = payments[pk]
        unallocated_units, refundable_units = to_units(p.unallocated, p.currency), to_units(p.refundable, p.currency)
        takes_allocated = (
            money(data.draw(st.integers(unallocated_units + 1, refundable_units), label="units"), p.currency).amount
            if refundable_units > unallocated_units
            else p.refundable
        )
        amount, valid = draw_amount(
            data,
            currency=p.currency,
            fit=p.refundable,
            kinds=kinds,
            exact={"unallocated": p.unallocated, "takes allocated money": takes_allocated},
            label="amount",
        )
        if reason not in REFUND_REASONS:
            refusal = "a reason staff cannot choose"
        elif not valid:
            refusal = "invalid amount"
        elif p.status != PaymentStatus.SUCCEEDED:
            refusal = f"the payment is {p.status}"
        elif amount.amount > p.refundable:
            refusal = "more than is left to refund"
        elif amount.amount > p.unallocated and not handling:
            refusal = "takes allocated money without saying what happens to the invoices"
        else:
            refusal = None
        takes = []
        if refusal is None:
            takes = take_newest_first(
                active_allocations(payment_id=pk), amount.amount - min(amount.amount, p.unallocated)
            )
            plan = refund_plan(payment=Payment.objects.get(pk=pk), amount=amount)
            assert plan.refundable.amount == payment_refundable(Payment.objects.get(pk=pk)).amount == p.refundable
            assert plan.from_unallocated.amount == min(amount.amount, p.unallocated)
            assert [(allocation.pk, take.amount) for allocation, take in plan.from_invoices] == [
                (allocation, take) for allocation, _, _, take in takes
            ]
        card = p.method == PaymentMethodKind.CARD
        credit_notes = issued_credit_notes()
        refund = self.run(
            "refund",
            refusal,
            lambda actor: payment_refund(
                payment=Payment.objects.get(pk=pk),
                amount=amount,
                reason=reason,
                actor=actor,
                note="Asked at the front desk",
                invoice_handling=handling,
            ),
            later=mode == "later",
            failing_refunds=mode == "failing",
            as_member=as_member,
        )
        if refund is None:
            return
        taken = sum((take for *_, take in takes), ZERO)
        status = RefundStatus.SUCCEEDED
        if card and mode != "now":
            status = RefundStatus.PENDING if mode == "later" else RefundStatus.FAILED
        refund.refresh_from_db()
        assert (refund.amount.amount, refund.status) == (amount.amount, status)
        after = payment_rows()[pk]
        expected_refunded = p.refunded + amount.amount * (status == RefundStatus.SUCCEEDED)
        expected_pending = p.refund_pending + amount.amount * (status == RefundStatus.PENDING)
        expected_unallocated = p.unallocated - min(amount.amount, p.unallocated)
        if status == RefundStatus.FAILED:
            expected_unallocated += amount.amount
        assert (after.allocated, after.refunded, after.refund_pending, after.unallocated) == (
            p.allocated - taken,
            expected_refunded,
            expected_pending,
            expected_unallocated,
        )
        taken_from = defaultdict(Decimal)
        for _, _, invoice, take in takes:
            taken_from[invoice] += take
        invoices_after = invoice_rows()
        for invoice, row in invoices.items():
            now = invoices_after[invoice]
            take = taken_from[invoice]
            if handling == "reopen":
                assert now.remaining == row.remaining + take
                assert now.status == (OPEN if take and row.status == PAID else row.status)
            else:
                assert (now.remaining, now.status) == (row.remaining, row.status), "a refund changed an invoice"
                assert now.credited == row.credited + (take if handling == "credit_note" else ZERO)
        new_notes = CreditNote.objects.exclude(pk__in=credit_notes)
        expected_notes = sorted(take for *_, take in takes) if handling == "credit_note" else []
        assert sorted(new_notes.values_list("amount", flat=True)) == expected_notes
        for note_amount, pre, refund_part, credit_part in new_notes.values_list(
            "amount", "pre_payment_amount", "refund_amount", "credit_amount"
        ):
            assert pre == 0
            assert (refund_part, credit_part) == (
                (ZERO, note_amount) if mode == "failing" and card else (note_amount, ZERO)
            )
        if not takes:
            OUTCOMES["refund", "from unallocated money only"] += 1
        elif handling == "reopen":
            OUTCOMES["refund", "invoice reopened"] += 1
        else:
            OUTCOMES["refund", "invoice reduced by credit note"] += 1
        if card:
            OUTCOMES["card refund", {"now": "succeeded", "later": "left pending"}.get(mode, "failed")] += 1

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

    @operation(handling=st.sampled_from(["reopen", "credit_note"]), mode=REFUND_MODES, data=st.data())
    def refund_paid_invoices(self, handling, mode, data):
        """A refund that takes allocated money: the invoices it paid reopen, or are reduced by credit notes."""
        payments = payment_rows()
        allocated = [
            pk for pk, p in payments.items() if p.status == PaymentStatus.SUCCEEDED and p.refundable > p.unallocated
        ]
        pk = self.pick(data, [], fresh=lambda: self.fresh_allocation_payment(data), allocated=allocated)
        self.refund_expecting(
            pk,
            handling=handling,
            mode=mode,
            reason=Refund.Reason.REQUESTED_BY_MEMBER,
            data=data,
            as_member=self.as_member,
            kinds=("fit", "takes allocated money"),
        )

    @operation(failing=st.booleans(), data=st.data())
    def gateway_answers_a_pending_refund(self, failing, data):
        """The gateway answers a card refund left pending (by an earlier step, or a new one): it succeeds, or fails
        and the money goes back to the payment."""
        pending = list(Refund.objects.filter(status=RefundStatus.PENDING).values_list("pk", flat=True))
        refund = Refund.objects.get(
            pk=self.pick(data, [], fresh=lambda: self.fresh_pending_refund(data), pending=pending)
        )
        p = payment_rows()[refund.payment_id]
        parts = dict(CreditNote.objects.values_list("pk", "credit_amount"))
        if failing:
            gateway_override(SandboxGateway(fail_refunds=True))
        try:
            with self.capture_on_commit(execute=True):
                refund_execute_task.apply(args=[refund.pk])
        finally:
            gateway_override(None)
        self.changed = True
        OUTCOMES["gateway", "pending refund answered"] += 1
        OUTCOMES["card refund", "failed" if failing else "succeeded"] += 1
        refund.refresh_from_db()
        amount = refund.amount.amount
        assert refund.status == (RefundStatus.FAILED if failing else RefundStatus.SUCCEEDED)
        after = payment_rows()[refund.payment_id]
        assert (after.refund_pending, after.refunded, after.unallocated) == (
            p.refund_pending - amount,
            p.refunded + (ZERO if failing else amount),
            p.unallocated + (amount if failing else ZERO),
        )
        # A failed refund leaves its money with the member: the credit notes it settled are settled by credit.
        moved = defaultdict(Decimal)
        if failing:
            if refund.credit_note_id:
                moved[refund.credit_note_id] += amount
            for credit_note, take in refund.takes.exclude(credit_note=None).values_list("credit_note_id", "amount"):
                moved[credit_note] += take
        for pk, credit in CreditNote.objects.values_list("pk", "credit_amount"):
            assert credit == parts[pk] + moved[pk]

    # Credit notes

    @operation(mode=REFUND_MODES, data=st.data())
    def credit_note(self, mode, data):
        """A credit note of any amount (up to and over the cap), with any split of its paid part, on any invoice."""
        invoices = invoice_rows()
        creditable = [pk for pk, row in invoices.items() if row.status not in (DRAFT, VOID) and row.creditable > 0]
        pk = self.pick(
            data, invoices, fresh=lambda: self.fresh_invoice(data), creditable=creditable, creditable_too=creditable
        )
        kinds = ("remaining", "part", "fit", "post", "over", "any", "invalid")
        self.credit_note_expecting(pk, mode=mode, data=data, kinds=kinds)

    @operation(mode=REFUND_MODES, data=st.data())
    def credit_note_on_a_paid_invoice(self, mode, data):
        """A credit note for more than remains on an invoice paid by payments, by card (all of the paid part
        refunded to the card) or with money balance, its paid part split exactly."""
        invoices = invoice_rows()
        creditable = [pk for pk, row in invoices.items() if row.status not in (DRAFT, VOID) and row.creditable > 0]
        paid_by_card = set(
            Allocation.objects.filter(
                status=Allocation.Status.ACTIVE, payment__method=PaymentMethodKind.CARD
            ).values_list("invoice_id", flat=True)
        )
        pools = {
            "paid_by_payments": ([pk for pk in creditable if invoices[pk].paid], self.fresh_allocation_invoice),
            "paid_by_card": ([pk for pk in creditable if pk in paid_by_card], self.fresh_card_paid_invoice),
            "balance_applied": (
                [pk for pk in creditable if invoices[pk].balance_applied],
                self.fresh_invoice_paid_with_money_balance,
            ),
        }
        pool = data.draw(st.sampled_from(sorted(pools)), label="paid")
        existing, fresh = pools[pool]
        if existing and data.draw(st.booleans(), label="an existing invoice"):
            pk = data.draw(st.sampled_from(existing), label="invoice")
        else:
            pk = fresh(data)
        if pool == "paid_by_card":
            mode = data.draw(st.sampled_from(["now", "later", "failing"]), label="card refund")
        self.credit_note_expecting(
            pk,
            mode=mode,
            data=data,
            kinds=("fit",) if pool == "balance_applied" else ("fit", "post"),
            refund_all=pool == "paid_by_card",
            exact_split=True,
        )

    def fresh_allocation_invoice(self, data) -> int:
        return Allocation.objects.get(pk=self.fresh_allocation(data)).invoice_id

    def fresh_card_paid_invoice(self, data) -> int:
        return Payment.objects.get(pk=self.fresh_card_payment(data, succeeds=True)).invoice_id

    @operation(mode=REFUND_MODES, data=st.data())
    def credit_note_per_line(self, mode, data):
        invoices = invoice_rows()
        creditable = [pk for pk, row in invoices.items() if row.status not in (DRAFT, VOID) and row.creditable > 0]
        pk = self.pick(
            data, invoices, fresh=lambda: self.fresh_invoice(data), creditable=creditable, creditable_too=creditable
        )
        self.credit_note_expecting(pk, mode=mode, data=data, by_line=True)

    def credit_note_expecting(
        self,
        pk: int,
        *,
        mode: str,
        data,
        kinds=(),
        by_line: bool = False,
        refund_all: bool = False,
        exact_split: bool = False,
    ) -> None:
        """A credit note on the invoice, of an amount of one of `kinds` or per line, with any split of its paid
        part (or all of it refunded); check what changed."""
        invoices, payments, member_balances = invoice_rows(), payment_rows(), balances()
        row = invoices[pk]
        currency = row.currency
        refusal = None
        amount, line_amounts = None, None
        if by_line:
            lines = line_creditable(pk)
            line_amounts = {}
            for line, left in lines.items():
                kind = data.draw(st.sampled_from(["all", "part", "skip"]), label=f"line {line}")
                line_units = to_units(left, currency)
                if kind == "all" and line_units > 0:
                    line_amounts[line] = money(line_units, currency)
                elif kind == "part" and line_units > 1:
                    line_amounts[line] = money(data.draw(st.integers(1, line_units - 1)), currency)
            mistake = data.draw(
                st.sampled_from(["none"] * 7 + ["over", "invalid", "no lines", "an amount too", "another's line"]),
                label="mistake",
            )
            line = data.draw(st.sampled_from(sorted(lines)), label="line") if lines else None
            other_line = InvoiceLine.objects.exclude(invoice_id=pk).values_list("pk", flat=True).first()
            if mistake == "over" and line:
                line_amounts[line] = money(max(to_units(lines[line], currency), 0) + 1, currency)
                refusal = "more than a line has left to credit"
            elif mistake == "invalid" and line:
                line_amounts[line] = data.draw(invalid_amounts(currency), label="line amount")
                refusal = "an invalid line amount"
            elif mistake == "no lines":
                line_amounts = {}
            elif mistake == "another's line" and other_line:
                line_amounts[other_line] = money(1, currency)
                refusal = "a line of another invoice"
            if not line_amounts:
                refusal = "no amount and no lines"
            elif mistake == "an amount too":
                amount = money(1, currency)
                refusal = "an amount and lines"
            requested = sum((value.amount for value in line_amounts.values()), ZERO) if refusal is None else None
        else:
            amount, valid = draw_amount(
                data,
                currency=currency,
                fit=row.creditable,
                kinds=kinds,
                exact={"remaining": row.remaining, "post": self.more_than_remains(data, row)},
                label="amount",
            )
            refusal = None if valid else "invalid amount"
            requested = amount.amount if valid else None
        if refusal is None and row.status in (DRAFT, VOID):
            refusal = f"the invoice is {row.status}"
        if refusal is None and requested > row.creditable:
            refusal = "over the cap"
        pre = min(requested, row.remaining) if requested is not None else ZERO
        post = requested - pre if requested is not None else ZERO
        refundable = min(post, row.paid)
        from_balance = post - refundable
        # The split of the post-payment part, from the preview.
        if refusal is None:
            preview = credit_note_preview(invoice=Invoice.objects.get(pk=pk), amount=Money(requested, currency))
            assert (preview.pre_payment_amount.amount, preview.post_payment_amount.amount) == (pre, post)
            assert preview.refundable.amount == refundable
            assert (preview.from_balance.amount if preview.from_balance is not None else ZERO) == from_balance
            post_units, cash_units = to_units(post, currency), to_units(refundable, currency)
            refund_units = cash_units if refund_all else data.draw(st.integers(0, cash_units), label="refund units")
            out_of_band_units = data.draw(st.integers(0, cash_units - refund_units), label="out-of-band units")
            split = [refund_units, post_units - refund_units - out_of_band_units, out_of_band_units]
            wrong = "no"
            if not refund_all and not exact_split:
                wrong = data.draw(st.sampled_from(["no"] * 6 + ["off by one", "too much cash"]), label="wrong split")
            if wrong == "off by one":
                index = data.draw(st.integers(0, 2), label="part off by one")
                split[index] += 1 if split[index] == 0 or data.draw(st.booleans(), label="up") else -1
                refusal = "the parts do not add up"
            elif wrong == "too much cash" and post_units > cash_units:
                # Move credit to refund until more is paid back than the payments paid.
                excess = data.draw(st.integers(cash_units - split[0] - split[2] + 1, split[1]), label="excess")
                split = [split[0] + excess, split[1] - excess, split[2]]
                refusal = "more cash back than the payments paid"
            explicit = data.draw(st.booleans(), label="zero parts given")
            refund_amount, credit_amount, out_of_band_amount = (
                money(units, currency) if units or explicit else None for units in split
            )
        else:
            split = [0, 0, 0]
            refund_amount = credit_amount = out_of_band_amount = None
        refunds_before = set(Refund.objects.values_list("pk", flat=True))
        allocations = active_allocations(invoice_id=pk)
        credit_note = self.run(
            "credit_note",
            refusal,
            lambda actor: credit_note_issue(
                invoice=Invoice.objects.get(pk=pk),
                actor=actor,
                reason=CreditNoteReason.ORDER_CHANGE,
                amount=amount,
                line_amounts=line_amounts,
                memo="Desk booked twice",
                refund_amount=refund_amount,
                credit_amount=credit_amount,
                out_of_band_amount=out_of_band_amount,
            ),
            later=mode == "later",
            failing_refunds=mode == "failing",
            as_member=self.as_member,
        )
        if credit_note is None:
            return
        after = invoice_rows()[pk]
        assert after.remaining == row.remaining - pre, "a credit note reduces remaining by min(amount, remaining)"
        assert (after.credited, after.paid, after.balance_applied) == (
            row.credited + requested,
            row.paid - refundable,
            row.balance_applied - from_balance,
        )
        assert after.status == (PAID if after.remaining == 0 else row.status)
        assert balances()[row.member, currency] == member_balances[row.member, currency] + from_balance
        for other, other_row in invoice_rows().items():
            assert other == pk or other_row == invoices[other]
        # The refunds it made: the refund part, then out of band, from its payments newest first.
        refunds = Refund.objects.exclude(pk__in=refunds_before)
        assert all(refund.credit_note_id == credit_note.pk for refund in refunds)
        out_of_band = sum((r.amount.amount for r in refunds if r.kind == Refund.Kind.OUT_OF_BAND), ZERO)
        refunded = sum((r.amount.amount for r in refunds if r.kind != Refund.Kind.OUT_OF_BAND), ZERO)
        failed = sum((r.amount.amount for r in refunds if r.status == RefundStatus.FAILED), ZERO)
        units = [money(value, currency).amount for value in split]
        assert (refunded, out_of_band) == (units[0], units[2])
        credit_note.refresh_from_db()
        assert (
            credit_note.amount.amount,
            credit_note.pre_payment_amount.amount,
            credit_note.refund_amount.amount,
            credit_note.credit_amount.amount,
            credit_note.out_of_band_amount.amount,
        ) == (requested, pre, units[0] - failed, units[1] + failed, units[2])
        released = defaultdict(Decimal)
        for _, payment, _, take in take_newest_first(allocations, refundable):
            released[payment] += take
        payments_after = payment_rows()
        for payment, p in payments.items():
            cash = sum(
                (r.amount.amount for r in refunds if r.payment_id == payment and r.status != RefundStatus.FAILED), ZERO
            )
            assert payments_after[payment].allocated == p.allocated - released[payment]
            assert payments_after[payment].unallocated == p.unallocated + released[payment] - cash
        OUTCOMES["credit_note", "pre-payment only"] += post == 0
        OUTCOMES["credit_note", "per line"] += line_amounts is not None
        OUTCOMES["credit_note", "refund part"] += split[0] > 0
        OUTCOMES["credit_note", "credit part"] += split[1] > 0
        OUTCOMES["credit_note", "out-of-band part"] += split[2] > 0
        OUTCOMES["credit_note", "money balance returned"] += from_balance > 0
        for status in {refund.status for refund in refunds if refund.kind == Refund.Kind.GATEWAY}:
            OUTCOMES["card refund", {"pending": "left pending"}.get(status, status)] += 1
        OUTCOMES["credit_note", "paid invoice stays paid"] += row.status == PAID

    # The rule

    @rule(data=st.data())
    def do_operation(self, data):
        """One step: an operation among those that can run now, drawn with its arguments."""
        names = [name for name, (_, eligible, _) in OPERATION_STEPS.items() if eligible is None or eligible(self)]
        name = data.draw(st.sampled_from(names), label="step")
        method, _, strategies = OPERATION_STEPS[name]
        self.as_member = data.draw(st.sampled_from([False] * 7 + [True]), label="as the member, not staff")
        arguments = {key: data.draw(strategy, label=key) for key, strategy in strategies.items() if key != "data"}
        note(
            f"step {name}({', '.join(f'{key}={value!r}' for key, value in arguments.items())})"
            + (" as the member" if self.as_member else "")
        )
        method(self, **arguments, **({"data": data} if "data" in strategies else {}))

    # Invariants

    @invariant()
    def books_keep_the_invariants(self):
        """Checked after every step that may have changed the books (a refusal is checked to change nothing)."""
        if not self.changed:
            return
        assert billing_integrity_violations() == []
        self.invoice_amounts_and_statuses_agree()
        self.payment_amounts_add_up()
        self.credit_notes_add_up_and_agree_with_their_refunds()
        self.money_balances_are_not_negative()
        self.gateway_agrees_with_the_books()
        self.changed = False

    def invoice_amounts_and_statuses_agree(self):
        paid, credited, applied = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal)
        for _, _, invoice, amount in active_allocations():
            paid[invoice] += amount
        for invoice, amount in CreditNote.objects.values_list("invoice_id", "amount"):
            credited[invoice] += amount
        for invoice, amount in MoneyBalanceEntry.objects.exclude(invoice=None).values_list("invoice_id", "amount"):
            applied[invoice] -= amount
        for pk, row in invoice_rows().items():
            if row.status == DRAFT:
                assert (paid[pk], credited[pk], applied[pk]) == (ZERO, ZERO, ZERO)
                continue
            assert (row.paid, row.credited, row.balance_applied) == (paid[pk], credited[pk], applied[pk])
            assert row.remaining == row.total - row.credited - row.balance_applied - row.paid >= 0
            assert row.credited <= row.total
            if row.status == VOID:
                assert row.paid == row.credited == row.balance_applied == 0
                assert row.reserved == 0, "a void invoice has a card payment in flight"
            else:
                assert (row.status == PAID) == (row.remaining == 0), f"invoice {pk} is {row.status}: {row}"
        line_credited = defaultdict(Decimal)
        for line, amount in CreditNoteLine.objects.values_list("invoice_line_id", "amount"):
            line_credited[line] += amount
        for line, amount, tax in InvoiceLine.objects.values_list("pk", "amount", "tax"):
            assert line_credited[line] <= amount + tax

    def payment_amounts_add_up(self):
        instances = {payment.pk: payment for payment in Payment.objects.all()}
        for pk, p in payment_rows().items():
            assert min(p.allocated, p.refunded, p.refund_pending, p.unallocated) >= 0
            if p.status == PaymentStatus.SUCCEEDED:
                assert p.allocated + p.refunded + p.refund_pending + p.unallocated == p.amount
                assert payment_refundable(instances[pk]).amount == p.refundable >= 0
            else:
                assert p.allocated == p.refunded == p.refund_pending == p.unallocated == 0
        in_flight = PaymentAttempt.objects.filter(status__in=[AttemptStatus.QUEUED, AttemptStatus.PROCESSING])
        assert sorted(in_flight.values_list("payment_id", flat=True)) == sorted(
            Payment.objects.filter(status__in=IN_FLIGHT_STATUSES).values_list("pk", flat=True)
        )

    def credit_notes_add_up_and_agree_with_their_refunds(self):
        cash, out_of_band = defaultdict(Decimal), defaultdict(Decimal)
        for credit_note, kind, amount in (
            Refund.objects.exclude(credit_note=None)
            .exclude(status=RefundStatus.FAILED)
            .values_list("credit_note_id", "kind", "amount")
        ):
            (out_of_band if kind == Refund.Kind.OUT_OF_BAND else cash)[credit_note] += amount
        takes = RefundAllocation.objects.exclude(credit_note=None).exclude(refund=None)
        for credit_note, amount in takes.exclude(refund__status=RefundStatus.FAILED).values_list(
            "credit_note_id", "amount"
        ):
            cash[credit_note] += amount
        rows = CreditNote.objects.values_list(
            "pk", "amount", "pre_payment_amount", "refund_amount", "credit_amount", "out_of_band_amount"
        )
        for pk, amount, pre, refund, credit, oob in rows:
            assert min(pre, refund, credit, oob) >= 0 and amount > 0
            assert pre + refund + credit + oob == amount
            assert (refund, oob) == (cash[pk], out_of_band[pk]), f"credit note {pk} disagrees with its refunds"

    def money_balances_are_not_negative(self):
        assert all(total >= 0 for total in balances().values())

    def gateway_agrees_with_the_books(self):
        """Every charge the sandbox made is one succeeded attempt for its payment's amount; what it refunded on
        it is what the payment's succeeded card refunds add up to."""
        charges = dict(
            SandboxCharge.objects.filter(status=SandboxCharge.Status.SUCCEEDED).values_list("pk", "amount_minor")
        )
        refunded = defaultdict(int)
        for charge, units in SandboxRefund.objects.filter(status="succeeded").values_list("charge_id", "amount_minor"):
            refunded[charge] += units
        ours = defaultdict(Decimal)
        card_refunds = Refund.objects.filter(kind=Refund.Kind.GATEWAY, status=RefundStatus.SUCCEEDED)
        for payment, amount in card_refunds.values_list("payment_id", "amount"):
            ours[payment] += amount
        attempts = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED).values_list(
            "gateway_payment_id", "payment_id", "payment__amount", "payment__currency"
        )
        assert sorted(charge for charge, *_ in attempts) == sorted(charges)
        for charge, payment, amount, currency in attempts:
            assert charges[charge] == to_units(amount, currency)
            assert refunded[charge] == to_units(ours[payment], currency)


EXPECTED_OUTCOMES = [(operation, outcome) for operation in OPERATIONS for outcome in ("done", "refused")] + list(PATHS)


def test_random_corrections_and_card_payments_keep_the_books_consistent(db, django_capture_on_commit_callbacks):
    """Runs the machine on fixed examples (the same on every run of this source with this Hypothesis), then checks
    that every operation was both done and refused and that every path in PATHS was taken. If an edit of the
    machine or a new Hypothesis makes the fixed examples miss a path, random examples follow until it is taken (at
    most three runs in all), so the check stays thorough without becoming flaky."""
    OUTCOMES.clear()
    CorrectionsMachine.capture_on_commit = staticmethod(django_capture_on_commit_callbacks)
    for run in range(3):
        try:
            run_state_machine_as_test(
                CorrectionsMachine,
                settings=settings(
                    max_examples=50,
                    stateful_step_count=25,
                    deadline=None,
                    derandomize=run == 0,
                    suppress_health_check=[
                        HealthCheck.too_slow,
                        HealthCheck.filter_too_much,
                        HealthCheck.data_too_large,
                    ],
                ),
            )
        finally:
            gateway_override(None)
        missed = [
            f"{operation}: never {outcome}"
            for operation, outcome in EXPECTED_OUTCOMES
            if not OUTCOMES[operation, outcome]
        ]
        if not missed:
            break
    print("\n".join(f"{operation}: {outcome}: {count}" for (operation, outcome), count in sorted(OUTCOMES.items())))
    assert missed == []
