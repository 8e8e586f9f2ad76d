"""Administrators allocating the same unallocated money at once (issue 14, item 5), on PostgreSQL: the Allocate
service locks the member, the invoices by id and the payments by id before it plans, so whatever the interleaving
the money is never allocated twice and every refusal says why."""

from functools import partial

from billing.activity import Actor
from billing.errors import BillingError
from billing.models import InvoiceStatus
from payments.integrity import billing_integrity_violations
from payments.models import Allocation
from payments.services.payment_allocate import payments_allocate
from payments.services.payment_apply import payment_apply
from tests.factories import MemberFactory, eur, open_invoice, reload, standalone_payment
from tests.support.races import POSTGRES_ONLY, race

pytestmark = POSTGRES_ONLY

ROUNDS = 3


def test_two_admins_allocating_one_payments_money_to_different_invoices_allocate_it_once(transactional_db, staff):
    for _ in range(ROUNDS):
        member = MemberFactory()
        payment = standalone_payment(member=member, amount="100.00")
        first, second = (open_invoice(member=member, amounts=["100.00"]) for _ in range(2))
        admins = [Actor.staff(staff.user), Actor.staff(staff.user)]

        results = race(
            [
                partial(
                    payments_allocate,
                    member=member,
                    payments=[payment],
                    amounts=[(invoice, eur("100.00"))],
                    actor=admin,
                )
                for invoice, admin in zip((first, second), admins, strict=True)
            ]
        )

        refused = [result for result in results if isinstance(result, BillingError)]
        assert len(refused) == 1
        assert refused[0].message == f"€100.00 is more than the unallocated money of {payment.number} (€0.00)."
        payment = reload(payment)
        assert (payment.amount_allocated, payment.amount_unallocated) == (eur("100.00"), eur("0.00"))
        assert sorted(reload(invoice).status for invoice in (first, second)) == [InvoiceStatus.OPEN, InvoiceStatus.PAID]
        assert Allocation.objects.filter(payment=payment).count() == 1
        assert billing_integrity_violations() == []


def test_member_page_and_payment_page_and_invoice_page_racing_never_over_allocate(transactional_db, staff):
    """Six administrators at once on one member's 90.00 (two payments): three from the member's page (across both
    payments), two from the payment's page, one applying on an invoice's page; each asks for 40.00."""
    for _ in range(ROUNDS):
        member = MemberFactory()
        payments = [
            standalone_payment(member=member, amount="50.00"),
            standalone_payment(member=member, amount="40.00"),
        ]
        invoices = [open_invoice(member=member, amounts=["40.00"]) for _ in range(6)]
        calls = [
            partial(
                payments_allocate, member=member, payments=payments, amounts=[(invoices[0], eur("40.00"))], actor=staff
            ),
            partial(
                payments_allocate, member=member, payments=payments, amounts=[(invoices[1], eur("40.00"))], actor=staff
            ),
            partial(
                payments_allocate, member=member, payments=payments, amounts=[(invoices[2], eur("40.00"))], actor=staff
            ),
            partial(
                payments_allocate,
                member=member,
                payments=payments[:1],
                amounts=[(invoices[3], eur("40.00"))],
                actor=staff,
            ),
            partial(
                payments_allocate,
                member=member,
                payments=payments[1:],
                amounts=[(invoices[4], eur("40.00"))],
                actor=staff,
            ),
            partial(payment_apply, invoice=invoices[5], applications=[(payments[0], eur("40.00"))], actor=staff),
        ]

        results = race(calls)

        done = [result for result in results if not isinstance(result, BillingError)]
        assert len(done) == 2  # 90.00 holds two allocations of 40.00, and one of the pages can always take the second
        allocated = sum(
            (allocation.amount for allocation in Allocation.objects.filter(payment__in=payments)), eur("0.00")
        )
        assert allocated == eur("40.00") * len(done)
        for payment in payments:
            payment = reload(payment)
            assert payment.amount_unallocated.amount >= 0
            assert payment.amount_allocated + payment.amount_unallocated == payment.amount
        assert billing_integrity_violations() == []
