"""Administrators racing on the same rows, on PostgreSQL.

Each test releases many threads at once (a barrier), each on its own database connection, with real commits
(`transactional_db`). The services lock member, invoices by id, then payments by id, and check the rules on the
locked rows, so whatever the interleaving: nothing is allocated twice, no amount goes below zero, invoice numbers
stay gapless and payment and allocation numbers unique, and a thread either succeeds or is refused with a
BillingError. Any other error (a deadlock, a serialization failure, an integrity error) fails the test.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

import pytest
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from billing.errors import BillingError
from billing.models import Activity, Invoice, InvoiceStatus, MoneyBalanceEntry
from billing.selectors import member_money_balance
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Payment, PaymentStatus
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_void import payment_void
from tests.factories import SYSTEM, MemberFactory, draft_invoice, eur, open_invoice, reload, standalone_payment
from tests.support.races import POSTGRES_ONLY
from tests.support.races import race as race_at_once

pytestmark = POSTGRES_ONLY

THREADS = 10
ROUNDS = 3
OPERATIONS_PER_THREAD = 12


@dataclass
class Race:
    """What the threads of one race returned: results of the calls that succeeded, and refusals."""

    done: list = field(default_factory=list)
    refused: list[BillingError] = field(default_factory=list)


def race(calls: list[Callable[[], object]]) -> Race:
    """The calls run at once (`tests.support.races.race`), their results sorted into done and refused."""
    results = race_at_once(calls)
    return Race(
        done=[result for result in results if not isinstance(result, BillingError)],
        refused=[result for result in results if isinstance(result, BillingError)],
    )


def numbers_of(queryset) -> list[str]:
    return sorted(queryset.values_list("number", flat=True))


def unique_numbers(series: str, queryset) -> bool:
    """Payment and allocation numbers: each of this year's series, none twice (gaps are allowed)."""
    numbers = numbers_of(queryset)
    prefix = f"{series}-{timezone.localdate().year}-"
    return len(set(numbers)) == len(numbers) and all(number.startswith(prefix) for number in numbers)


def gapless(series: str, count: int) -> list[str]:
    year = timezone.localdate().year
    return [f"{series}-{year}-{value:05d}" for value in range(1, count + 1)]


@pytest.mark.parametrize(
    ("amount", "paying", "refused", "paid", "unallocated"),
    [
        # 30 + 30 + 30 + (10 of 30, 20 kept as credit); the rest find the invoice paid.
        ("30.00", 4, THREADS - 4, "100.00", "20.00"),
        # 70 in all: every payment fits.
        ("7.00", THREADS, 0, "70.00", "0.00"),
        # Each pays what remains when it gets the lock: the first pays it all.
        (None, 1, THREADS - 1, "100.00", "0.00"),
    ],
)
def test_external_payments_racing_on_one_invoice_never_pay_more_than_it_asks(
    transactional_db, amount, paying, refused, paid, unallocated
):
    for round_number in range(1, ROUNDS + 1):
        invoice = open_invoice(amounts=["100.00"])

        pay = partial(
            payment_create_external, invoice=invoice, actor=SYSTEM, kind="cash", amount=eur(amount) if amount else None
        )

        outcome = race([pay] * THREADS)

        assert (len(outcome.done), len(outcome.refused)) == (paying, refused)
        assert {error.message for error in outcome.refused} <= {
            f"{invoice.number} is already paid in full. Record a standalone payment to keep money as the member's "
            "credit."
        }
        invoice = reload(invoice)
        payments = list(Payment.objects.filter(invoice=invoice))
        received = sum((payment.amount for payment in payments), eur("0"))
        allocated = Allocation.objects.filter(invoice=invoice, status=Allocation.Status.ACTIVE).aggregate(
            total=Sum("amount")
        )["total"]
        assert allocated == min(received.amount, Decimal("100.00"))
        assert invoice.amount_paid == Money(allocated, "EUR") == eur(paid)
        assert invoice.amount_remaining == eur("100.00") - invoice.amount_paid
        assert invoice.amount_remaining.amount >= 0
        if received >= eur("100.00"):
            assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, eur("100.00"))
        else:
            assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("100.00") - received)
        assert sum((payment.amount_unallocated for payment in payments), eur("0")) == eur(unallocated)
        assert eur(unallocated) == max(received - eur("100.00"), eur("0"))
        overpaid = Activity.objects.filter(verb="invoice.overpaid", invoice=invoice)
        assert sorted(activity.target_id for activity in overpaid) == sorted(
            payment.pk for payment in payments if payment.amount_unallocated.amount > 0
        )
        assert all(payment.amount_allocated + payment.amount_unallocated == payment.amount for payment in payments)
        assert unique_numbers("PAY", Payment.objects.all())
        assert unique_numbers("ALC", Allocation.objects.all())
        assert Invoice.objects.issued().count() == round_number
        assert billing_integrity_violations() == []


def test_threads_applying_one_payment_to_different_invoices_never_allocate_more_than_it_has(transactional_db):
    for _ in range(ROUNDS):
        member = MemberFactory()
        payment = standalone_payment(member=member, amount="100.00")
        invoices = [open_invoice(member=member, amounts=["30.00"]) for _ in range(THREADS)]

        outcome = race(
            [
                partial(payment_apply, invoice=invoice, applications=[(payment, eur("30.00"))], actor=SYSTEM)
                for invoice in invoices
            ]
        )

        assert (len(outcome.done), len(outcome.refused)) == (3, THREADS - 3)
        assert {error.message for error in outcome.refused} == {
            f"€30.00 is more than the unallocated money of {payment.number} (€10.00)."
        }
        payment = reload(payment)
        assert (payment.amount_allocated, payment.amount_unallocated) == (eur("90.00"), eur("10.00"))
        assert Allocation.objects.filter(payment=payment, status=Allocation.Status.ACTIVE).count() == 3
        statuses = sorted(reload(invoice).status for invoice in invoices)
        assert statuses == sorted([InvoiceStatus.PAID] * 3 + [InvoiceStatus.OPEN] * (THREADS - 3))
        assert unique_numbers("ALC", Allocation.objects.all())
        assert billing_integrity_violations() == []


def test_threads_applying_money_balance_never_take_it_below_zero(transactional_db):
    for amount, applied in (("30.00", ["30.00"] * 3), (None, ["30.00", "30.00", "30.00", "10.00"])):
        member = MemberFactory()
        money_balance_adjust(member=member, amount=eur("100.00"), is_credit=True, note="Prepaid", actor=SYSTEM)
        invoices = [open_invoice(member=member, amounts=["30.00"]) for _ in range(THREADS)]

        outcome = race(
            [
                partial(
                    invoice_apply_money_balance, invoice=invoice, actor=SYSTEM, amount=eur(amount) if amount else None
                )
                for invoice in invoices
            ]
        )

        assert (len(outcome.done), len(outcome.refused)) == (len(applied), THREADS - len(applied))
        assert sorted(invoice.amount_balance_applied for invoice in outcome.done) == sorted(map(eur, applied))
        balance = member_money_balance(member=member, currency="EUR")
        assert balance == eur("100.00") - sum(map(eur, applied), eur("0"))
        assert balance.amount >= 0
        assert MoneyBalanceEntry.objects.filter(member=member, kind="applied").count() == len(applied)
        assert billing_integrity_violations() == []


def test_threads_issuing_drafts_get_distinct_gapless_numbers_and_share_the_credit(transactional_db):
    members = [MemberFactory(), MemberFactory()]
    payments = {}
    for member in members:
        money_balance_adjust(member=member, amount=eur("50.00"), is_credit=True, note="Prepaid", actor=SYSTEM)
        payments[member.pk] = standalone_payment(member=member, amount="50.00")
    drafts = [draft_invoice(member=members[index % 2], amounts=["30.00"]) for index in range(THREADS)]

    outcome = race([partial(invoice_issue, invoice=draft, actor=SYSTEM, apply_credit=True) for draft in drafts])

    assert (len(outcome.done), len(outcome.refused)) == (THREADS, 0)
    assert numbers_of(Invoice.objects.issued()) == gapless("INV", THREADS)
    for member in members:
        invoices = list(Invoice.objects.filter(member=member))
        assert sum((invoice.amount_balance_applied for invoice in invoices), eur("0")) == eur("50.00")
        assert sum((invoice.amount_paid for invoice in invoices), eur("0")) == eur("50.00")
        assert member_money_balance(member=member, currency="EUR") == eur("0.00")
        payment = reload(payments[member.pk])
        assert (payment.amount_allocated, payment.amount_unallocated) == (eur("50.00"), eur("0.00"))
        # 5 invoices of 30 and 100 of credit: the first three issued are paid, the fourth 10 of 30, the last none.
        remaining = sorted(invoice.amount_remaining for invoice in invoices)
        assert remaining == [eur("0.00")] * 3 + [eur("20.00"), eur("30.00")]
    assert billing_integrity_violations() == []


def test_threads_doing_random_operations_on_shared_books_leave_them_consistent(transactional_db):
    """Every thread runs its own random script over the same two members' invoices, payments and balances, so
    that the services' locks meet in every order. Only refusals are acceptable, and the books must balance."""
    members = [MemberFactory(), MemberFactory()]
    invoices, payments = [], []
    for member in members:
        money_balance_adjust(member=member, amount=eur("80.00"), is_credit=True, note="Prepaid", actor=SYSTEM)
        payments += [standalone_payment(member=member, amount="60.00") for _ in range(2)]
        invoices += [open_invoice(member=member, amounts=["40.00"]) for _ in range(3)]
        invoices += [draft_invoice(member=member, amounts=["25.00"]) for _ in range(2)]
    for invoice, payment in zip(invoices[:2], payments[:2], strict=True):
        payment_apply(invoice=invoice, applications=[(payment, eur("20.00"))], actor=SYSTEM)

    def operation(rng: random.Random) -> Callable[[], object]:
        invoice = Invoice.objects.get(pk=rng.choice(invoices).pk)
        same_member_payments = [payment for payment in payments if payment.member_id == invoice.member_id]
        amount = eur(rng.choice(["5.00", "10.00", "20.00", "45.00"]))
        allocations = list(Allocation.objects.filter(status=Allocation.Status.ACTIVE).order_by("pk"))
        return rng.choice(
            [
                lambda: invoice_issue(invoice=invoice, actor=SYSTEM, apply_credit=rng.random() < 0.5),
                lambda: payment_create_external(invoice=invoice, actor=SYSTEM, kind="cash", amount=amount),
                lambda: payment_create_standalone(
                    member=invoice.member, actor=SYSTEM, amount=amount, kind="bank_transfer"
                ),
                lambda: payment_apply(
                    invoice=invoice, applications=[(rng.choice(same_member_payments), amount)], actor=SYSTEM
                ),
                lambda: allocation_remove(allocation=rng.choice(allocations), actor=SYSTEM) if allocations else None,
                lambda: payment_void(payment=rng.choice(payments), actor=SYSTEM, reason="Bounced"),
                lambda: money_balance_adjust(
                    member=invoice.member, amount=amount, is_credit=rng.random() < 0.5, note="Fix", actor=SYSTEM
                ),
                lambda: invoice_apply_money_balance(invoice=invoice, actor=SYSTEM, amount=None),
                lambda: invoice_void(invoice=invoice, actor=SYSTEM),
                lambda: invoice_mark_uncollectible(invoice=invoice, actor=SYSTEM),
            ]
        )

    def script(seed: int) -> Callable[[], int]:
        def run() -> int:
            rng = random.Random(seed)
            refusals = 0
            for _ in range(OPERATIONS_PER_THREAD):
                try:
                    operation(rng)()
                except BillingError:
                    refusals += 1
            return refusals

        return run

    outcome = race([script(seed) for seed in range(THREADS)])

    assert len(outcome.done) == THREADS
    assert sum(outcome.done) < THREADS * OPERATIONS_PER_THREAD, "every operation was refused: nothing was raced"
    assert billing_integrity_violations() == []
    for member in members:
        assert member_money_balance(member=member, currency="EUR").amount >= 0
    assert all(
        payment.amount_allocated + payment.amount_unallocated == payment.amount
        for payment in Payment.objects.filter(status=PaymentStatus.SUCCEEDED)
    )
