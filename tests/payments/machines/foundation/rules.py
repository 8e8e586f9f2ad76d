"""The foundation machine: random sequences of the billing operations, each compared with the reference model.

Each rule draws an operation and the objects and amounts it works on, asks the model (`model.py`) whether the
rules refuse it, and runs the service: a refused operation must raise a BillingError and leave the books exactly as
they were; an allowed one must succeed and do what the model says. After every step the books must pass the checks
of `checks.py`.

Each example runs inside a savepoint of the test's transaction and rolls back at teardown, so every example
starts from empty books (and number series start at 1 again).
"""

from collections import Counter
from decimal import Decimal

from django.db import transaction
from djmoney.money import Money
from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from billing.errors import BillingError
from billing.models import Activity, Invoice, InvoiceStatus
from billing.money import money_from_minor_units
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.models import Allocation, Payment
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_void import payment_void
from tests.factories import SYSTEM, MemberFactory, books_snapshot
from tests.payments.machines.amounts import draft_invoice_of_units, draw_amount, invalid_amounts, to_units
from tests.payments.machines.foundation.checks import books_check
from tests.payments.machines.foundation.model import ZERO, BooksModel

CURRENCIES = ("EUR", "JPY")
MEMBER_INDEXES = st.sampled_from([0, 1])
TAX_RATES = st.sampled_from(["0", "20", "7.7"])

# (operation, outcome) -> how often it happened over the whole run. The test checks that every operation was both
# done and refused, and that the paths in PATHS were taken, so the machine really reaches them.
OUTCOMES: Counter = Counter()
OPERATIONS = (
    "issue_invoice",
    "record_external_payment",
    "record_standalone_payment",
    "apply_payment",
    "unallocate",
    "void_payment",
    "adjust_money_balance",
    "apply_money_balance",
    "void_invoice",
    "mark_uncollectible",
)
PATHS = (
    ("issue_invoice", "paid at once (zero total)"),
    ("issue_invoice", "credit applied"),
    ("record_external_payment", "overpaid"),
    ("apply_payment", "two payments"),
    ("apply_money_balance", "paid in full"),
    ("unallocate", "invoice reopened"),
    ("void_payment", "invoice reopened"),
    ("void_invoice", "money balance returned"),
)


class FoundationMachine(RuleBasedStateMachine):
    invoices = Bundle("invoices")
    payments = Bundle("payments")

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.members = [MemberFactory().pk for _ in range(2)]
        self.model = BooksModel()
        self.opening: tuple[int, str] | None = None
        # Whether the books may have changed since the invariants were last checked (a refusal changes nothing).
        self.changed = True

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    # Helpers

    def attempt(self, operation: str, refusal: str | None, call):
        """Run a service. If the model expects a refusal, it must raise BillingError and change nothing;
        otherwise it must succeed. Returns the service's result, or None when refused."""
        before = books_snapshot() if refusal is not None else None
        try:
            result = call()
        except BillingError as error:
            note(f"{operation}: refused ({error})")
            assert refusal is not None, f"{operation} was refused, but the rules allow it: {error}"
            assert books_snapshot() == before, f"{operation} was refused but changed the books"
            self.path(operation, "refused")
            return None
        note(f"{operation}: done")
        self.changed = True
        assert refusal is None, f"{operation} succeeded, but the rules refuse it: {refusal}"
        self.path(operation, "done")
        return result

    @staticmethod
    def path(operation: str, outcome: str, *, taken: bool = True) -> None:
        """Count an outcome for the coverage check at the end of the test (and note it as a Hypothesis event)."""
        if taken:
            OUTCOMES[operation, outcome] += 1
            event(f"{operation}: {outcome}")

    def prefer(self, data, picked: int, candidates, *, label: str) -> int:
        """Swap the bundle's pick, about half of the time, for one on which the operation can succeed, so that the
        successful paths are walked as often as the refusals. Hypothesis favours the simplest draws (False, the
        first choice), so those lead to success."""
        candidates = sorted(candidates)
        if candidates and not data.draw(st.booleans(), label=f"keep the pick instead of {label}"):
            return data.draw(st.sampled_from(candidates), label=label)
        return picked

    def issue(self, pk: int, *, apply_credit: bool) -> None:
        model = self.model.invoices[pk]
        refusal = self.model.issue_refusal(pk)
        from_balance, applications = (
            self.model.credit_at_issue(model) if apply_credit and refusal is None else (ZERO, [])
        )
        invoice = self.attempt(
            "issue_invoice",
            refusal,
            lambda: invoice_issue(invoice=Invoice.objects.get(pk=pk), actor=SYSTEM, apply_credit=apply_credit),
        )
        if invoice is None:
            return
        created = list(
            Allocation.objects.filter(invoice_id=pk).order_by("pk").values_list("pk", "payment_id", "amount")
        )
        assert [(payment, amount) for _, payment, amount in created] == applications
        self.model.issue_done(pk, from_balance=from_balance, allocations=created)
        if model.total == 0:
            assert invoice.status == InvoiceStatus.PAID
            self.path("issue_invoice", "paid at once (zero total)")
        if from_balance or applications:
            self.path("issue_invoice", "credit applied")

    # The opening books: every example starts with an open invoice, two payments and a money balance of one
    # member in one currency, so that the rules on existing objects can run, and succeed, from the first step.

    @initialize(
        target=invoices,
        member=MEMBER_INDEXES,
        currency=st.sampled_from(CURRENCIES),
        line_units=st.lists(st.integers(1, 30_000), min_size=1, max_size=3),
        credit_units=st.integers(1, 50_000),
    )
    def opening_invoice(self, member, currency, line_units, credit_units):
        self.opening = (self.members[member], currency)
        self.balance_adjust(
            self.members[member],
            money_from_minor_units(credit_units, currency),
            is_credit=True,
            note_text="Opening balance",
            refusal=None,
        )
        return self.invoice_create(
            self.members[member], currency, line_units, tax_rate="0", issue=True, apply_credit=False
        )

    @initialize(
        target=payments,
        member=MEMBER_INDEXES,
        currency=st.sampled_from(CURRENCIES),
        units=st.lists(st.integers(1, 50_000), min_size=2, max_size=2),
    )
    def opening_payments(self, member, currency, units):
        member_pk, currency = self.opening or (self.members[member], currency)
        return multiple(
            *(
                self.standalone_record(member_pk, money_from_minor_units(value, currency), refusal=None)
                for value in units
            )
        )

    # Invoices

    @rule(
        target=invoices,
        member=MEMBER_INDEXES,
        currency=st.sampled_from(CURRENCIES),
        line_units=st.lists(st.integers(0, 30_000), min_size=1, max_size=3),
        tax_rate=TAX_RATES,
        zero_total=st.sampled_from([False, False, False, True]),
        issue=st.sampled_from([True, True, True, False]),
        apply_credit=st.sampled_from([True, False]),
    )
    def create_invoice(self, member, currency, line_units, tax_rate, zero_total, issue, apply_credit):
        if zero_total:
            line_units = [0] * len(line_units)
        return self.invoice_create(
            self.members[member], currency, line_units, tax_rate=tax_rate, issue=issue, apply_credit=apply_credit
        )

    def invoice_create(
        self, member_pk: int, currency: str, line_units: list[int], *, tax_rate: str, issue: bool, apply_credit: bool
    ) -> int:
        pk, total = draft_invoice_of_units(member_pk, currency, line_units, tax_rate)
        self.changed = True
        self.model.invoice_added(pk, member=member_pk, currency=currency, total=total)
        if issue:
            self.issue(pk, apply_credit=apply_credit)
        return pk

    @rule(invoice=invoices, apply_credit=st.sampled_from([True, False]), data=st.data())
    def issue_invoice(self, invoice, apply_credit, data):
        self.issue(self.prefer(data, invoice, self.model.drafts(), label="a draft"), apply_credit=apply_credit)

    @precondition(lambda self: self.model.drafts_with_credit())
    @rule(data=st.data())
    def issue_draft_of_a_member_with_credit(self, data):
        self.issue(data.draw(st.sampled_from(self.model.drafts_with_credit()), label="draft"), apply_credit=True)

    # Payments

    @rule(target=payments, invoice=invoices, data=st.data())
    def record_external_payment(self, invoice, data):
        invoice = self.prefer(data, invoice, self.model.payable_invoices(), label="a payable invoice")
        model = self.model.invoices[invoice]
        amount, valid = draw_amount(
            data,
            currency=model.currency,
            fit=model.remaining,
            label="amount",
            kinds=("fit", "default", "part", "part", "over", "over", "any", "invalid"),
        )
        refusal = "invalid amount" if not valid else model.payment_refusal()
        remaining = model.remaining
        payment = self.attempt(
            "record_external_payment",
            refusal,
            lambda: payment_create_external(
                invoice=Invoice.objects.get(pk=invoice), actor=SYSTEM, kind="check", amount=amount
            ),
        )
        if payment is None:
            return multiple()
        received = amount.amount if amount is not None else remaining
        applied = min(received, remaining)
        assert payment.amount.amount == received
        self.model.payment_added(payment.pk, member=model.member, currency=model.currency, amount=received)
        allocation = Allocation.objects.get(payment=payment)
        assert allocation.amount.amount == applied
        self.model.allocation_add(allocation.pk, payment=payment.pk, invoice=invoice, amount=applied)
        model.settle()
        overpaid = Activity.objects.filter(verb="invoice.overpaid", target_id=payment.pk, invoice_id=invoice)
        assert [activity.amount.amount for activity in overpaid] == ([received - applied] if received > applied else [])
        self.path("record_external_payment", "overpaid", taken=received > applied)
        return payment.pk

    @rule(target=payments, member=MEMBER_INDEXES, currency=st.sampled_from(CURRENCIES), data=st.data())
    def record_standalone_payment(self, member, currency, data):
        member_pk = self.members[member]
        if data.draw(st.sampled_from([True, True, True, False]), label="valid"):
            amount = money_from_minor_units(data.draw(st.integers(1, 50_000), label="units"), currency)
            refusal = None
        else:
            amount = data.draw(invalid_amounts(currency, other_currency_is_invalid=False), label="amount")
            refusal = "invalid amount"
        return self.standalone_record(member_pk, amount, refusal=refusal)

    def standalone_record(self, member_pk: int, amount: Money, *, refusal: str | None):
        payment = self.attempt(
            "record_standalone_payment",
            refusal,
            lambda: payment_create_standalone(
                member=Member.objects.get(pk=member_pk),
                actor=SYSTEM,
                amount=amount,
                kind="bank_transfer",
            ),
        )
        if payment is None:
            return multiple()
        assert payment.amount_unallocated == amount
        self.model.payment_added(payment.pk, member=member_pk, currency=amount.currency.code, amount=amount.amount)
        return payment.pk

    # Applying and unallocating

    @rule(invoice=invoices, payment=payments, two=st.sampled_from([False, False, True]), data=st.data())
    def apply_payment(self, invoice, payment, two, data):
        """Any invoice and any payments (often ones that can pay it), amounts that fit or not."""
        invoice = self.prefer(
            data, invoice, self.model.invoices_payable_from("payments"), label="an invoice the member has payments for"
        )
        model = self.model.invoices[invoice]
        matching = self.model.payments_with_unallocated(invoice)
        chosen = [self.prefer(data, payment, matching, label="a payment with unallocated money")]
        if two:
            others = [pk for pk in matching if pk != chosen[0]] or sorted(self.model.payments)
            chosen.append(data.draw(st.sampled_from(others), label="second payment"))
        applications, amounts, left = [], [], model.remaining
        for pk in chosen:
            candidate = self.model.payments[pk]
            fit = min(candidate.unallocated, left) if candidate.currency == model.currency else ZERO
            amount, valid = draw_amount(
                data,
                currency=model.currency,
                fit=fit,
                label=f"amount from {pk}",
                kinds=("fit", "fit", "part", "part", "over", "any", "invalid"),
            )
            applications.append((pk, amount))
            amounts.append((pk, amount.amount if valid else None))
            left -= min(amount.amount, left) if valid else ZERO
        self.payment_apply_expecting(invoice, applications, refusal=self.model.payment_apply_refusal(invoice, amounts))

    @precondition(lambda self: self.model.invoices_payable_from("payments"))
    @rule(data=st.data())
    def apply_payment_that_fits(self, data):
        """The successful path, drawn among what can succeed: one of the member's payments, applying at most its
        unallocated money and what remains."""
        invoice = data.draw(st.sampled_from(self.model.invoices_payable_from("payments")), label="invoice")
        payment = data.draw(st.sampled_from(self.model.payments_with_unallocated(invoice)), label="payment")
        self.payment_apply_expecting(invoice, self.fitting_applications(data, invoice, [payment]), refusal=None)

    @precondition(lambda self: self.model.invoices_payable_from("two payments"))
    @rule(data=st.data())
    def apply_two_payments_that_fit(self, data):
        invoice = data.draw(st.sampled_from(self.model.invoices_payable_from("two payments")), label="invoice")
        payments = data.draw(
            st.lists(
                st.sampled_from(self.model.payments_with_unallocated(invoice)), min_size=2, max_size=2, unique=True
            ),
            label="payments",
        )
        self.payment_apply_expecting(invoice, self.fitting_applications(data, invoice, payments), refusal=None)

    def fitting_applications(self, data, invoice: int, payments: list[int]) -> list[tuple[int, Money]]:
        """All or part of what each payment can give; each leaves at least a minor unit for the next."""
        model = self.model.invoices[invoice]
        applications, left_units = [], to_units(model.remaining, model.currency)
        for index, pk in enumerate(payments):
            leave = len(payments) - index - 1
            fit_units = min(to_units(self.model.payments[pk].unallocated, model.currency), left_units - leave)
            units = fit_units
            if data.draw(st.booleans(), label="apply only a part"):
                units = data.draw(st.integers(1, fit_units), label="units")
            applications.append((pk, money_from_minor_units(units, model.currency)))
            left_units -= units
        return applications

    def payment_apply_expecting(self, invoice: int, applications: list[tuple[int, Money]], *, refusal: str | None):
        allocations = self.attempt(
            "apply_payment",
            refusal,
            lambda: payment_apply(
                invoice=Invoice.objects.get(pk=invoice),
                applications=[(Payment.objects.get(pk=pk), amount) for pk, amount in applications],
                actor=SYSTEM,
            ),
        )
        if allocations is None:
            return
        assert [(allocation.payment_id, allocation.amount) for allocation in allocations] == applications
        for allocation in allocations:
            self.model.allocation_add(
                allocation.pk, payment=allocation.payment_id, invoice=invoice, amount=allocation.amount.amount
            )
        self.model.invoices[invoice].settle()
        self.path("apply_payment", "two payments", taken=len(allocations) == 2)

    @precondition(lambda self: self.model.allocations)
    @rule(data=st.data())
    def unallocate(self, data):
        pk = self.prefer(
            data,
            data.draw(st.sampled_from(sorted(self.model.allocations)), label="allocation"),
            self.model.active_allocations(),
            label="an active allocation",
        )
        done = self.attempt(
            "unallocate",
            self.model.allocation_remove_refusal(pk),
            lambda: allocation_remove(allocation=Allocation.objects.get(pk=pk), actor=SYSTEM),
        )
        if done is None:
            return
        self.path("unallocate", "invoice reopened", taken=self.model.allocation_remove_done(pk))

    @rule(payment=payments, data=st.data())
    def void_payment(self, payment, data):
        self.payment_void_expecting(
            self.prefer(data, payment, self.model.received_payments(), label="a received payment")
        )

    @precondition(lambda self: self.model.payments_of_paid_invoices())
    @rule(data=st.data())
    def void_payment_of_a_paid_invoice(self, data):
        self.payment_void_expecting(data.draw(st.sampled_from(self.model.payments_of_paid_invoices()), label="payment"))

    def payment_void_expecting(self, payment: int) -> None:
        done = self.attempt(
            "void_payment",
            self.model.payment_void_refusal(payment),
            lambda: payment_void(payment=Payment.objects.get(pk=payment), actor=SYSTEM, reason="The check bounced"),
        )
        if done is None:
            return
        for reopened in self.model.payment_void_done(payment):
            self.path("void_payment", "invoice reopened", taken=reopened)

    # Money balance

    @rule(
        member=MEMBER_INDEXES,
        currency=st.sampled_from(CURRENCIES),
        is_credit=st.sampled_from([True, False]),
        data=st.data(),
    )
    def adjust_money_balance(self, member, currency, is_credit, data):
        member_pk = self.members[member]
        amount, valid = draw_amount(
            data,
            currency=currency,
            fit=self.model.balance(member_pk, currency),
            label="amount",
            kinds=("any", "fit", "part", "part", "over", "invalid"),
            currency_is_fixed=False,
        )
        note_text = data.draw(st.sampled_from(["Goodwill for the broken heating"] * 4 + ["  "]), label="note")
        refusal = self.model.balance_adjust_refusal(member_pk, amount, valid=valid, is_credit=is_credit, note=note_text)
        self.balance_adjust(member_pk, amount, is_credit=is_credit, note_text=note_text, refusal=refusal)

    def balance_adjust(self, member_pk: int, amount: Money, *, is_credit: bool, note_text: str, refusal: str | None):
        entry = self.attempt(
            "adjust_money_balance",
            refusal,
            lambda: money_balance_adjust(
                member=Member.objects.get(pk=member_pk),
                amount=amount,
                is_credit=is_credit,
                note=note_text,
                actor=SYSTEM,
            ),
        )
        if entry is None:
            return
        self.model.balance_change(member_pk, amount.currency.code, amount.amount if is_credit else -amount.amount)

    @rule(invoice=invoices, data=st.data())
    def apply_money_balance(self, invoice, data):
        invoice = self.prefer(
            data,
            invoice,
            self.model.invoices_payable_from("balance"),
            label="an invoice the member has money balance for",
        )
        model = self.model.invoices[invoice]
        amount, valid = draw_amount(
            data,
            currency=model.currency,
            fit=min(self.model.balance(model.member, model.currency), model.remaining),
            label="amount",
            kinds=("default", "fit", "fit", "part", "part", "over", "any", "invalid"),
        )
        applied, refusal = self.model.balance_apply(invoice, amount, valid=valid)
        self.money_balance_apply_expecting(invoice, amount, applied, refusal=refusal)

    @precondition(lambda self: self.model.invoices_payable_from("balance"))
    @rule(data=st.data())
    def apply_money_balance_that_fits(self, data):
        """The successful path: a payable invoice of a member with money balance, all that fits or less."""
        invoice = data.draw(st.sampled_from(self.model.invoices_payable_from("balance")), label="invoice")
        model = self.model.invoices[invoice]
        fit = min(self.model.balance(model.member, model.currency), model.remaining)
        amount = None
        if data.draw(st.booleans(), label="enter an amount"):
            amount = money_from_minor_units(
                data.draw(st.integers(1, to_units(fit, model.currency)), label="units"), model.currency
            )
        self.money_balance_apply_expecting(invoice, amount, fit if amount is None else amount.amount, refusal=None)

    def money_balance_apply_expecting(
        self, invoice: int, amount: Money | None, applied: Decimal | None, *, refusal: str | None
    ) -> None:
        done = self.attempt(
            "apply_money_balance",
            refusal,
            lambda: invoice_apply_money_balance(invoice=Invoice.objects.get(pk=invoice), actor=SYSTEM, amount=amount),
        )
        if done is None:
            return
        self.model.balance_apply_done(invoice, applied)
        self.path(
            "apply_money_balance", "paid in full", taken=self.model.invoices[invoice].status == InvoiceStatus.PAID
        )

    # Voiding and writing off invoices

    @rule(invoice=invoices, data=st.data())
    def void_invoice(self, invoice, data):
        self.invoice_void_expecting(
            self.prefer(data, invoice, self.model.voidable_invoices(), label="a voidable invoice")
        )

    @precondition(lambda self: self.model.voidable_invoices_with_money_balance())
    @rule(data=st.data())
    def void_invoice_with_money_balance_applied(self, data):
        self.invoice_void_expecting(
            data.draw(st.sampled_from(self.model.voidable_invoices_with_money_balance()), label="invoice")
        )

    def invoice_void_expecting(self, invoice: int) -> None:
        balance_applied = self.model.invoices[invoice].balance_applied
        done = self.attempt(
            "void_invoice",
            self.model.invoice_void_refusal(invoice),
            lambda: invoice_void(invoice=Invoice.objects.get(pk=invoice), actor=SYSTEM),
        )
        if done is None:
            return
        self.path("void_invoice", "money balance returned", taken=balance_applied > 0)
        self.model.invoice_void_done(invoice)

    @rule(invoice=invoices, data=st.data())
    def mark_uncollectible(self, invoice, data):
        invoice = self.prefer(
            data, invoice, self.model.payable_invoices(status=InvoiceStatus.OPEN), label="an open invoice"
        )
        done = self.attempt(
            "mark_uncollectible",
            self.model.mark_uncollectible_refusal(invoice),
            lambda: invoice_mark_uncollectible(invoice=Invoice.objects.get(pk=invoice), actor=SYSTEM),
        )
        if done is None:
            return
        self.model.mark_uncollectible_done(invoice)

    # Invariants

    @invariant()
    def books_agree_with_the_model(self):
        """Checked after every step that may have changed the books (a refusal is checked to change nothing)."""
        if not self.changed:
            return
        books_check(self.model)
        self.changed = False
