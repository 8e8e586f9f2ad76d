"""The foundation machine's reference model: the books in plain decimals, and the spec's rules on them.

It never reads the database. Before an operation the machine (`rules.py`) asks the model whether the rules refuse
it and what it must do; after the service has run, it tells the model what happened (the `..._done` methods);
`checks.py` then compares every row with the model.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from billing.models import InvoiceStatus
from payments.models import PaymentStatus
from tests.payments.machines.amounts import to_units

ZERO = Decimal(0)
ACCEPTS_PAYMENT = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)


@dataclass
class InvoiceModel:
    member: int
    currency: str
    total: Decimal
    status: str = InvoiceStatus.DRAFT
    paid: Decimal = ZERO
    balance_applied: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.total - self.balance_applied - self.paid

    def payment_refusal(self) -> str | None:
        if self.status not in ACCEPTS_PAYMENT:
            return f"the invoice is {self.status}"
        if self.remaining == 0:
            return "nothing remains on the invoice"
        return None

    def settle(self) -> None:
        """The status follows the amounts, as `invoice_refresh_amounts` does."""
        if self.status in ACCEPTS_PAYMENT and self.remaining == 0:
            self.status = InvoiceStatus.PAID
        elif self.status == InvoiceStatus.PAID and self.remaining > 0:
            self.status = InvoiceStatus.OPEN


@dataclass
class PaymentModel:
    member: int
    currency: str
    amount: Decimal
    status: str = PaymentStatus.SUCCEEDED
    allocated: Decimal = ZERO

    @property
    def unallocated(self) -> Decimal:
        return self.amount - self.allocated if self.status == PaymentStatus.SUCCEEDED else ZERO


@dataclass
class AllocationModel:
    payment: int
    invoice: int
    amount: Decimal
    active: bool = True


@dataclass
class BooksModel:
    """Invoices, payments and allocations by the pk of their row, and money balances by (member, currency)."""

    invoices: dict[int, InvoiceModel] = field(default_factory=dict)
    payments: dict[int, PaymentModel] = field(default_factory=dict)
    allocations: dict[int, AllocationModel] = field(default_factory=dict)
    balances: dict[tuple[int, str], Decimal] = field(default_factory=dict)

    # Reading

    def balance(self, member: int, currency: str) -> Decimal:
        return self.balances.get((member, currency), ZERO)

    def payable_invoices(self, **conditions) -> list[int]:
        return [
            pk
            for pk, model in self.invoices.items()
            if model.payment_refusal() is None and all(getattr(model, k) == v for k, v in conditions.items())
        ]

    def payments_with_unallocated(self, invoice: int) -> list[int]:
        """The payments that could pay the invoice: same member and currency, with unallocated money."""
        model = self.invoices[invoice]
        return sorted(
            pk
            for pk, payment in self.payments.items()
            if payment.member == model.member and payment.currency == model.currency and payment.unallocated > 0
        )

    def invoices_payable_from(self, source: str) -> list[int]:
        """Payable invoices whose member has money to pay them with, in the invoice's currency: unallocated
        payments (`source="payments"`), at least two of them with at least two minor units remaining
        (`"two payments"`), or money balance (`"balance"`)."""
        if source == "balance":
            return [pk for pk in self.payable_invoices() if self.balance(*self.member_and_currency(pk)) > 0]
        if source == "payments":
            return [pk for pk in self.payable_invoices() if self.payments_with_unallocated(pk)]
        return [
            pk
            for pk in self.payable_invoices()
            if len(self.payments_with_unallocated(pk)) >= 2
            and to_units(self.invoices[pk].remaining, self.invoices[pk].currency) >= 2
        ]

    def member_and_currency(self, invoice: int) -> tuple[int, str]:
        return self.invoices[invoice].member, self.invoices[invoice].currency

    def drafts(self) -> list[int]:
        return [pk for pk, model in self.invoices.items() if model.status == InvoiceStatus.DRAFT]

    def drafts_with_credit(self) -> list[int]:
        return [pk for pk in self.drafts() if self.credit_at_issue(self.invoices[pk]) != (ZERO, [])]

    def allocated_to(self, invoice: int) -> bool:
        return any(allocation.active and allocation.invoice == invoice for allocation in self.allocations.values())

    def voidable_invoices(self) -> list[int]:
        allocated_to = {allocation.invoice for allocation in self.allocations.values() if allocation.active}
        return [
            pk
            for pk, model in self.invoices.items()
            if model.status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE) and pk not in allocated_to
        ]

    def voidable_invoices_with_money_balance(self) -> list[int]:
        return [pk for pk in self.voidable_invoices() if self.invoices[pk].balance_applied > 0]

    def received_payments(self) -> list[int]:
        return [pk for pk, model in self.payments.items() if model.status == PaymentStatus.SUCCEEDED]

    def payments_of_paid_invoices(self) -> list[int]:
        return sorted(
            {
                allocation.payment
                for allocation in self.allocations.values()
                if allocation.active and self.invoices[allocation.invoice].status == InvoiceStatus.PAID
            }
        )

    def active_allocations(self) -> list[int]:
        return [pk for pk, model in self.allocations.items() if model.active]

    # The rules: what an operation must do, or why it is refused (None when the rules allow it)

    def credit_at_issue(self, invoice: InvoiceModel) -> tuple[Decimal, list[tuple[int, Decimal]]]:
        """What issuing applies: money balance first, then unallocated payments, oldest first."""
        remaining = invoice.remaining
        if remaining == 0:
            return ZERO, []
        from_balance = min(max(self.balance(invoice.member, invoice.currency), ZERO), remaining)
        remaining -= from_balance
        applications = []
        for pk, payment in sorted(self.payments.items()):
            if remaining == 0:
                break
            if payment.member == invoice.member and payment.currency == invoice.currency and payment.unallocated > 0:
                amount = min(payment.unallocated, remaining)
                applications.append((pk, amount))
                remaining -= amount
        return from_balance, applications

    def issue_refusal(self, invoice: int) -> str | None:
        return None if self.invoices[invoice].status == InvoiceStatus.DRAFT else "already issued"

    def payment_apply_refusal(self, invoice: int, applications: list[tuple[int, Decimal | None]]) -> str | None:
        """Applying payments to an invoice: [(payment, amount)], None for an invalid amount."""
        model = self.invoices[invoice]
        refusals = []
        for pk, amount in applications:
            candidate = self.payments[pk]
            if amount is None:
                refusals.append("invalid amount")
            elif candidate.member != model.member:
                refusals.append("another member's payment")
            elif candidate.currency != model.currency:
                refusals.append("another currency")
            elif candidate.status != PaymentStatus.SUCCEEDED:
                refusals.append(f"the payment is {candidate.status}")
            elif amount > candidate.unallocated:
                refusals.append("more than the payment's unallocated money")
        chosen = [pk for pk, _ in applications]
        if len(set(chosen)) != len(chosen):
            refusals.append("the same payment twice")
        if (invoice_refusal := model.payment_refusal()) is not None:
            refusals.append(invoice_refusal)
        elif "invalid amount" not in refusals and sum(amount for _, amount in applications) > model.remaining:
            refusals.append("more than remains on the invoice")
        return "; ".join(refusals) or None

    def allocation_remove_refusal(self, allocation: int) -> str | None:
        return None if self.allocations[allocation].active else "already removed"

    def payment_void_refusal(self, payment: int) -> str | None:
        model = self.payments[payment]
        return None if model.status == PaymentStatus.SUCCEEDED else f"the payment is {model.status}"

    def balance_adjust_refusal(self, member: int, amount, *, valid: bool, is_credit: bool, note: str) -> str | None:
        if not note.strip():
            return "no note"
        if not valid:
            return "invalid amount"
        if not is_credit and amount.amount > self.balance(member, amount.currency.code):
            return "the debit would take the balance below zero"
        return None

    def balance_apply(self, invoice: int, amount, *, valid: bool) -> tuple[Decimal | None, str | None]:
        """(what applying money balance to the invoice applies, why it is refused); `amount` None applies all that
        fits."""
        model = self.invoices[invoice]
        available = self.balance(model.member, model.currency)
        applied = (amount.amount if amount is not None else min(available, model.remaining)) if valid else None
        if not valid:
            refusal = "invalid amount"
        elif (refusal := model.payment_refusal()) is not None:
            pass
        elif available <= 0:
            refusal = "no money balance"
        elif applied > available:
            refusal = "more than the money balance"
        elif applied > model.remaining:
            refusal = "more than remains on the invoice"
        return applied, refusal

    def invoice_void_refusal(self, invoice: int) -> str | None:
        model = self.invoices[invoice]
        if model.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID, InvoiceStatus.PAID):
            return f"the invoice is {model.status}"
        if self.allocated_to(invoice):
            return "payments are allocated to it"
        return None

    def mark_uncollectible_refusal(self, invoice: int) -> str | None:
        model = self.invoices[invoice]
        return None if model.status == InvoiceStatus.OPEN else f"the invoice is {model.status}"

    # What happened: the model follows each operation done

    def invoice_added(self, pk: int, *, member: int, currency: str, total: Decimal) -> None:
        self.invoices[pk] = InvoiceModel(member=member, currency=currency, total=total)

    def issue_done(self, invoice: int, *, from_balance: Decimal, allocations: list[tuple[int, int, Decimal]]) -> None:
        """Issued, with `from_balance` applied and the (allocation, payment, amount) of the payments applied."""
        model = self.invoices[invoice]
        model.status = InvoiceStatus.OPEN
        if from_balance:
            self.balance_change(model.member, model.currency, -from_balance)
            model.balance_applied += from_balance
        for allocation, payment, amount in allocations:
            self.allocation_add(allocation, payment=payment, invoice=invoice, amount=amount)
        model.settle()

    def payment_added(self, pk: int, *, member: int, currency: str, amount: Decimal) -> None:
        self.payments[pk] = PaymentModel(member=member, currency=currency, amount=amount)

    def allocation_add(self, pk: int, *, payment: int, invoice: int, amount: Decimal) -> None:
        self.allocations[pk] = AllocationModel(payment=payment, invoice=invoice, amount=amount)
        self.payments[payment].allocated += amount
        self.invoices[invoice].paid += amount

    def allocation_remove_done(self, pk: int) -> bool:
        """Whether the allocation's invoice reopened (it was paid)."""
        model = self.allocations[pk]
        model.active = False
        invoice = self.invoices[model.invoice]
        was_paid = invoice.status == InvoiceStatus.PAID
        self.payments[model.payment].allocated -= model.amount
        invoice.paid -= model.amount
        invoice.settle()
        return was_paid and invoice.status == InvoiceStatus.OPEN

    def payment_void_done(self, payment: int) -> list[bool]:
        """For each allocation the void removed, whether its invoice reopened (it was paid)."""
        model = self.payments[payment]
        reopened = []
        for allocation in self.allocations.values():
            if allocation.payment == payment and allocation.active:
                invoice = self.invoices[allocation.invoice]
                was_paid = invoice.status == InvoiceStatus.PAID
                allocation.active = False
                model.allocated -= allocation.amount
                invoice.paid -= allocation.amount
                invoice.settle()
                reopened.append(was_paid and invoice.status == InvoiceStatus.OPEN)
        model.status = PaymentStatus.VOID
        assert model.allocated == 0
        return reopened

    def balance_change(self, member: int, currency: str, amount: Decimal) -> None:
        self.balances[member, currency] = self.balance(member, currency) + amount

    def balance_apply_done(self, invoice: int, applied: Decimal) -> None:
        model = self.invoices[invoice]
        self.balance_change(model.member, model.currency, -applied)
        model.balance_applied += applied
        model.settle()

    def invoice_void_done(self, invoice: int) -> None:
        model = self.invoices[invoice]
        self.balance_change(model.member, model.currency, model.balance_applied)
        model.balance_applied = ZERO
        model.status = InvoiceStatus.VOID

    def mark_uncollectible_done(self, invoice: int) -> None:
        self.invoices[invoice].status = InvoiceStatus.UNCOLLECTIBLE
