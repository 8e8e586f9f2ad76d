"""The corrections machine's rules: random sequences of corrections and card payments, each compared with what the
oracle (`oracle.py`) derives from the current rows.

The machine runs the books of two members, in EUR and some JPY: invoices (random lines, some with a zero total,
credit applied at issue or not), external payments (partial, full, over) and standalone payments, card payments
through the sandbox (4242 succeeds, ...0341 is declined), charged right after the commit or left in flight and
charged later, one card payment for several invoices, retries and cancellations of failed card payments, saving
cards, applying and unallocating, voiding payments and invoices, money balance, and above all the corrections:
refunds (any amount, the three ways of handling the invoices, external and card payments, a gateway that refuses
refunds, card refunds left pending and answered later) and credit notes (an amount or per-line amounts, up to and
over the cap, the paid part split between refund, credit and out of band from the preview, or deliberately not
adding up). Some steps act as the second member through the portal instead of staff.

Each step draws an operation and the objects it works on from pools (objects on which it succeeds, or is refused
for a given reason); when the books have nothing on which it can succeed, it makes a fresh object first (a new
invoice, payment, card payment...), so that every operation is both done and refused in every run, which the test
checks at the end together with the paths of PATHS. Before each operation the oracle says whether the rules refuse
it and what it must change; afterwards the rows must show exactly that change. A refused operation must raise a
BillingError and leave the books, refunds, credit notes, attempts, targets and the sandbox's rows exactly as they
were (`machine.py` runs the services). After every step that changed something the books pass the checks of
`checks.py`.
"""

from collections import defaultdict
from decimal import Decimal

from djmoney.money import Money
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from billing.models import CreditNote, CreditNoteReason, Invoice, InvoiceLine
from billing.services.credit_note_issue import credit_note_issue, credit_note_preview
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.gateways import gateway_override
from payments.models import (
    Allocation,
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    PaymentTarget,
    Refund,
    RefundStatus,
)
from payments.sandbox.gateway import SandboxGateway
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_card import invoices_pay_with_card, payment_cancel, payment_create_card, payment_retry
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_method import payment_method_add
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund, payment_refundable, refund_plan
from payments.tasks import attempt_execute_task, refund_execute_task
from tests.payments.machines.amounts import draw_amount, invalid_amounts, money, to_units
from tests.payments.machines.corrections import oracle
from tests.payments.machines.corrections.books import (
    ACCEPTS_PAYMENT,
    DRAFT,
    OPEN,
    PAID,
    VOID,
    ZERO,
    active_allocations,
    balances,
    invoice_rows,
    issued_credit_notes,
    line_creditable,
    payment_rows,
    targets_of,
)
from tests.payments.machines.corrections.checks import books_check
from tests.payments.machines.corrections.machine import (
    CURRENCIES,
    MEMBER_INDEXES,
    OPERATION_STEPS,
    OUTCOMES,
    CorrectionsMachineBase,
    operation,
)
from tests.payments.machines.corrections.oracle import DECLINED_AT_ATTACH, DECLINES, REFUND_REASONS, SUCCEEDS

TAX_RATES = st.sampled_from(["0", "20", "7.7"])
# When the gateway answers a card refund: right after the commit, later (left pending), or right after the commit
# with a gateway that refuses refunds.
REFUND_MODES = st.sampled_from(["now", "now", "later", "failing"])

# Every operation must be both done and refused in a run, and every path of PATHS taken (counted in OUTCOMES).
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


class CorrectionsMachine(CorrectionsMachineBase):
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

    # The invariants

    @invariant()
    def books_keep_the_invariants(self):
        """Checked after every step that may have changed the books (a refusal is checked to change nothing)."""
        if not self.changed:
            return
        books_check()
        self.changed = False

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
            pk for pk, row in invoices.items() if oracle.invoice_void_refusal(row, allocated=pk in allocated_to) is None
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
        before = balances()
        done = self.run(
            "void_invoice",
            oracle.invoice_void_refusal(row, allocated=pk in allocated_to),
            lambda actor: invoice_void(invoice=Invoice.objects.get(pk=pk), actor=actor),
            as_member=self.as_member,
        )
        if done is None:
            return
        after = invoice_rows()[pk]
        assert (after.status, after.balance_applied, after.remaining) == oracle.invoice_void_expected(row)
        assert balances()[row.member, row.currency] == before[row.member, row.currency] + row.balance_applied

    @operation(data=st.data())
    def mark_uncollectible(self, data):
        invoices = invoice_rows()
        pk = self.pick(
            data,
            invoices,
            fresh=lambda: self.fresh_invoice(data),
            markable=[pk for pk, row in invoices.items() if oracle.mark_uncollectible_refusal(row) is None],
            in_flight=[pk for pk, row in invoices.items() if row.reserved],
            not_open=[pk for pk, row in invoices.items() if row.status != OPEN],
        )
        row = invoice_rows()[pk]
        done = self.run(
            "mark_uncollectible",
            oracle.mark_uncollectible_refusal(row),
            lambda actor: invoice_mark_uncollectible(invoice=Invoice.objects.get(pk=pk), actor=actor),
            as_member=self.as_member,
        )
        if done is not None:
            assert invoice_rows()[pk] == oracle.mark_uncollectible_expected(row)

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
        payment = self.run(
            "record_external_payment",
            oracle.external_payment_refusal(row, valid=valid),
            lambda actor: payment_create_external(
                invoice=Invoice.objects.get(pk=pk), actor=actor, kind="check", amount=amount
            ),
            as_member=self.as_member,
        )
        if payment is None:
            return
        received, applied = oracle.external_payment_applies(row, amount)
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
        done = self.run(
            "apply_payment",
            oracle.payment_apply_refusal(row, p, amount, valid=valid),
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
        done = self.run(
            "unallocate",
            oracle.allocation_remove_refusal(allocation.status),
            lambda actor: allocation_remove(allocation=allocation, actor=actor),
            as_member=self.as_member,
        )
        if done is not None:
            after = invoice_rows()[allocation.invoice_id]
            assert (after.remaining, after.status) == oracle.allocation_remove_expected(
                invoice_before, allocation.amount.amount
            )

    @operation(data=st.data())
    def void_payment(self, data):
        payments = payment_rows()
        voidable = [pk for pk, p in payments.items() if oracle.payment_void_refusal(p) is None]
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
        allocations = active_allocations(payment_id=pk)
        invoices = invoice_rows()
        done = self.run(
            "void_payment",
            oracle.payment_void_refusal(p),
            lambda actor: payment_void(payment=Payment.objects.get(pk=pk), actor=actor, reason="The check bounced"),
            as_member=self.as_member,
        )
        if done is None:
            return
        remaining = oracle.payment_void_expected(invoices, allocations)
        after = invoice_rows()
        for invoice in invoices:
            assert after[invoice].remaining == remaining[invoice]
        assert payment_rows()[pk].status == PaymentStatus.VOID

    # Money balance

    @operation(member=MEMBER_INDEXES, currency=CURRENCIES, is_credit=st.booleans(), data=st.data())
    def adjust_money_balance(self, member, currency, is_credit, data):
        member_pk = self.members[member]
        amount, valid = draw_amount(
            data,
            currency=currency,
            fit=balances()[member_pk, currency],
            kinds=("any", "fit", "part", "over", "invalid"),
            label="amount",
        )
        refusal = oracle.balance_adjust_refusal(
            amount,
            valid=valid,
            currency=currency,
            is_credit=is_credit,
            balance=balances()[member_pk, amount.currency.code],
        )
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
        applied, refusal = oracle.balance_apply(row, available, amount, valid=valid)
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
        card = self.run(
            "save_card",
            oracle.save_card_refusal(number, for_another_member=self.as_member and member_pk != self.members[1]),
            lambda actor: payment_method_add(member=Member.objects.get(pk=member_pk), card_token=number, actor=actor),
            as_member=self.as_member,
            staff_only=False,
        )
        if card is not None:
            self.cards[card.pk] = (member_pk, number == SUCCEEDS)

    @operation(later=st.sampled_from([False, False, False, True]), data=st.data())
    def charge_card(self, later, data):
        invoices = invoice_rows()
        chargeable = [pk for pk, row in invoices.items() if oracle.charge_refusal(row) is None]
        pk = self.pick(
            data, invoices, fresh=lambda: self.fresh_invoice(data), chargeable=chargeable, chargeable_too=chargeable
        )
        invoices = invoice_rows()
        row = invoices[pk]
        passed, charged, card_refusal = self.draw_card(data, row.member)
        amount, valid = draw_amount(
            data,
            currency=row.currency,
            fit=row.available,
            kinds=("default", "default", "fit", "part", "over", "invalid"),
            label="amount",
        )
        refusal = oracle.card_charge_refusal(
            row, amount, valid=valid, card_refusal=card_refusal, portal_member=self.portal_member
        )
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

    @operation(member=MEMBER_INDEXES, later=st.sampled_from([False, False, False, True]), data=st.data())
    def pay_invoices_with_card(self, member, later, data):
        member_pk = self.members[member]
        invoices = invoice_rows()
        own = [pk for pk, row in invoices.items() if row.member == member_pk]
        chargeable = [pk for pk in own if oracle.charge_refusal(invoices[pk]) is None]
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
        passed, charged, card_refusal = self.draw_card(data, member_pk)
        if choice == "several" and (good := self.good_card(data, member_pk)):
            passed = charged = good
            card_refusal = None
        self.pay_with_card_expecting(member_pk, chosen, passed, charged, card_refusal, later=later)

    def pay_with_card_expecting(self, member_pk, chosen, passed, charged, card_refusal, *, later: bool) -> None:
        invoices = invoice_rows()
        rows = [invoices[pk] for pk in chosen]
        payment = self.run(
            "pay_invoices_with_card",
            oracle.pay_with_card_refusal(member_pk, rows, card_refusal=card_refusal, portal_member=self.portal_member),
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

    @operation(later=st.sampled_from([False, False, False, False, True]), data=st.data())
    def retry_payment(self, later, data):
        invoices, payments = invoice_rows(), payment_rows()
        failed = [pk for pk, p in payments.items() if oracle.retry_plan(p, None, invoices)[0] is None]
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
        fit = max((amount for _, amount in oracle.retry_plan(p, None, invoices)[1]), default=ZERO)
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
        failed = [pk for pk, p in payment_rows().items() if oracle.retry_plan(p, None, invoices)[0] is None]
        if failed and data.draw(st.booleans(), label="an existing failed payment"):
            pk = data.draw(st.sampled_from(failed), label="failed payment")
        else:
            pk = self.fresh_card_payment(data, succeeds=False)
        p = payment_rows()[pk]
        passed = self.good_card(data, p.member)
        self.retry_expecting(pk, None, True, passed, passed or p.payment_method, None, later=False)

    def retry_expecting(self, pk, amount, valid, passed, charged, card_refusal, *, later: bool) -> None:
        invoices, p = invoice_rows(), payment_rows()[pk]
        refusal, planned = oracle.retry(p, amount, invoices, valid=valid, card_refusal=card_refusal)
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
        cancelable = [pk for pk, p in payments.items() if oracle.cancel_refusal(p) is None]
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
        invoices = invoice_rows()
        done = self.run(
            "cancel_payment",
            oracle.cancel_refusal(p),
            lambda actor: payment_cancel(payment=Payment.objects.get(pk=pk), actor=actor),
            as_member=self.as_member,
        )
        if done is None:
            return
        assert payment_rows()[pk].status == PaymentStatus.CANCELED
        assert not PaymentAttempt.objects.filter(payment_id=pk, status=AttemptStatus.QUEUED).exists()
        after = invoice_rows()
        for invoice, amount in targets_of(pk):
            assert after[invoice].reserved == invoices[invoice].reserved - oracle.cancel_releases(p, amount)
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

    def charge_run(self, attempt: PaymentAttempt) -> None:
        invoices = invoice_rows()
        targets = targets_of(attempt.payment_id)
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
            applied = oracle.queued_charge_applies(row, amount, succeeded=succeeded)
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
        refusal = oracle.refund_refusal(p, amount, valid=valid, reason=reason, handling=handling)
        takes = []
        if refusal is None:
            takes = oracle.refund_takes(p, amount.amount, active_allocations(payment_id=pk))
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
        status = oracle.refund_status(card=card, mode=mode)
        refund.refresh_from_db()
        assert (refund.amount.amount, refund.status) == (amount.amount, status)
        after = payment_rows()[pk]
        assert (after.allocated, after.refunded, after.refund_pending, after.unallocated) == (
            oracle.refund_payment_expected(p, amount.amount, taken=taken, status=status)
        )
        taken_from = defaultdict(Decimal)
        for _, _, invoice, take in takes:
            taken_from[invoice] += take
        invoices_after = invoice_rows()
        for invoice, row in invoices.items():
            now = invoices_after[invoice]
            assert (now.remaining, now.status, now.credited) == oracle.refund_invoice_expected(
                row, taken_from[invoice], handling=handling
            ), "a refund changed an invoice otherwise than its handling says"
        new_notes = CreditNote.objects.exclude(pk__in=credit_notes)
        assert sorted(new_notes.values_list("amount", flat=True)) == oracle.refund_credit_notes_expected(
            takes, handling=handling
        )
        for note_amount, pre, refund_part, credit_part in new_notes.values_list(
            "amount", "pre_payment_amount", "refund_amount", "credit_amount"
        ):
            assert pre == 0
            assert (refund_part, credit_part) == oracle.refund_credit_note_parts(note_amount, card=card, mode=mode)
        if not takes:
            OUTCOMES["refund", "from unallocated money only"] += 1
        elif handling == "reopen":
            OUTCOMES["refund", "invoice reopened"] += 1
        else:
            OUTCOMES["refund", "invoice reduced by credit note"] += 1
        if card:
            OUTCOMES["card refund", {"now": "succeeded", "later": "left pending"}.get(mode, "failed")] += 1

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
        assert (after.refund_pending, after.refunded, after.unallocated) == oracle.pending_refund_answer_expected(
            p, amount, failing=failing
        )
        moved = oracle.failed_refund_moves(refund) if failing else {}
        for pk, credit in CreditNote.objects.values_list("pk", "credit_amount"):
            assert credit == parts[pk] + moved.get(pk, ZERO)

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
        if by_line:
            amount, line_amounts, refusal = self.draw_credit_note_lines(data, row)
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
            line_amounts, refusal = None, None if valid else "invalid amount"
            requested = amount.amount if valid else None
        refusal = refusal or oracle.credit_note_refusal(row, requested)
        split = oracle.credit_note_split(row, requested)
        parts, given = [0, 0, 0], [None, None, None]
        if refusal is None:
            # The split of the post-payment part, from the preview.
            preview = credit_note_preview(invoice=Invoice.objects.get(pk=pk), amount=Money(requested, currency))
            assert (preview.pre_payment_amount.amount, preview.post_payment_amount.amount) == (split.pre, split.post)
            assert preview.refundable.amount == split.refundable
            assert (preview.from_balance.amount if preview.from_balance is not None else ZERO) == split.from_balance
            parts, given, refusal = self.draw_credit_note_parts(
                data, split, currency, refund_all=refund_all, exact_split=exact_split
            )
        refund_amount, credit_amount, out_of_band_amount = given
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
        remaining, credited, paid, balance_applied = oracle.credit_note_invoice_expected(row, split)
        assert after.remaining == remaining, "a credit note reduces remaining by min(amount, remaining)"
        assert (after.credited, after.paid, after.balance_applied) == (credited, paid, balance_applied)
        assert after.status == (PAID if after.remaining == 0 else row.status)
        assert balances()[row.member, currency] == member_balances[row.member, currency] + split.from_balance
        for other, other_row in invoice_rows().items():
            assert other == pk or other_row == invoices[other]
        # The refunds it made: the refund part, then out of band, from its payments newest first.
        refunds = Refund.objects.exclude(pk__in=refunds_before)
        assert all(refund.credit_note_id == credit_note.pk for refund in refunds)
        out_of_band = sum((r.amount.amount for r in refunds if r.kind == Refund.Kind.OUT_OF_BAND), ZERO)
        refunded = sum((r.amount.amount for r in refunds if r.kind != Refund.Kind.OUT_OF_BAND), ZERO)
        failed = sum((r.amount.amount for r in refunds if r.status == RefundStatus.FAILED), ZERO)
        part_amounts = [money(units, currency).amount for units in parts]
        assert (refunded, out_of_band) == (part_amounts[0], part_amounts[2])
        credit_note.refresh_from_db()
        assert (
            credit_note.amount.amount,
            credit_note.pre_payment_amount.amount,
            credit_note.refund_amount.amount,
            credit_note.credit_amount.amount,
            credit_note.out_of_band_amount.amount,
        ) == oracle.credit_note_parts_expected(split, part_amounts, failed=failed)
        released = oracle.credit_note_releases(allocations, split)
        payments_after = payment_rows()
        for payment, p in payments.items():
            cash = sum(
                (r.amount.amount for r in refunds if r.payment_id == payment and r.status != RefundStatus.FAILED), ZERO
            )
            assert payments_after[payment].allocated == p.allocated - released[payment]
            assert payments_after[payment].unallocated == p.unallocated + released[payment] - cash
        OUTCOMES["credit_note", "pre-payment only"] += split.post == 0
        OUTCOMES["credit_note", "per line"] += line_amounts is not None
        OUTCOMES["credit_note", "refund part"] += parts[0] > 0
        OUTCOMES["credit_note", "credit part"] += parts[1] > 0
        OUTCOMES["credit_note", "out-of-band part"] += parts[2] > 0
        OUTCOMES["credit_note", "money balance returned"] += split.from_balance > 0
        for status in {refund.status for refund in refunds if refund.kind == Refund.Kind.GATEWAY}:
            OUTCOMES["card refund", {"pending": "left pending"}.get(status, status)] += 1
        OUTCOMES["credit_note", "paid invoice stays paid"] += row.status == PAID

    def draw_credit_note_lines(self, data, row) -> tuple[Money | None, dict, str | None]:
        """(amount, line amounts, refusal) of a credit note per line: all or part of what each line has left to
        credit, or deliberately a mistake the service must refuse."""
        currency, refusal, amount = row.currency, None, None
        lines = line_creditable(row.pk)
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
        other_line = InvoiceLine.objects.exclude(invoice_id=row.pk).values_list("pk", flat=True).first()
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
        return amount, line_amounts, refusal

    @staticmethod
    def draw_credit_note_parts(
        data, split: oracle.CreditNoteSplit, currency: str, *, refund_all: bool, exact_split: bool
    ) -> tuple[list[int], list[Money | None], str | None]:
        """(parts in minor units, parts given to the service, refusal) of the post-payment part: refund (at most
        what the payments paid), credit and out of band, or all of it refunded; unless `exact_split`, sometimes
        deliberately not adding up. Parts of zero are given as zero or left out."""
        refusal = None
        post_units, cash_units = to_units(split.post, currency), to_units(split.refundable, currency)
        refund_units = cash_units if refund_all else data.draw(st.integers(0, cash_units), label="refund units")
        out_of_band_units = data.draw(st.integers(0, cash_units - refund_units), label="out-of-band units")
        parts = [refund_units, post_units - refund_units - out_of_band_units, out_of_band_units]
        wrong = "no"
        if not refund_all and not exact_split:
            wrong = data.draw(st.sampled_from(["no"] * 6 + ["off by one", "too much cash"]), label="wrong split")
        if wrong == "off by one":
            index = data.draw(st.integers(0, 2), label="part off by one")
            parts[index] += 1 if parts[index] == 0 or data.draw(st.booleans(), label="up") else -1
            refusal = "the parts do not add up"
        elif wrong == "too much cash" and post_units > cash_units:
            # Move credit to refund until more is paid back than the payments paid.
            excess = data.draw(st.integers(cash_units - parts[0] - parts[2] + 1, parts[1]), label="excess")
            parts = [parts[0] + excess, parts[1] - excess, parts[2]]
            refusal = "more cash back than the payments paid"
        explicit = data.draw(st.booleans(), label="zero parts given")
        return parts, [money(units, currency) if units or explicit else None for units in parts], refusal
