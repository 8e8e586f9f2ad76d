"""Two administrators charging one invoice at the same moment, on PostgreSQL (spec 5.2: amount <= remaining -
reserved, checked under the row locks)."""

from functools import partial

import pytest
from djmoney.money import Money

from billing.activity import Actor
from billing.errors import BillingError
from billing.models import Activity
from payments.amounts import invoice_reserved
from payments.integrity import billing_integrity_violations
from payments.models import AttemptStatus, Payment, PaymentAttempt, PaymentStatus
from payments.services.payment_card import payment_create_card
from tests.factories import UserFactory, open_invoice, reload, saved_card
from tests.support.races import POSTGRES_ONLY
from tests.support.races import race as race_at_once

pytestmark = POSTGRES_ONLY

ROUNDS = 5


def race(invoice, amounts: list[Money | None]) -> list:
    """Each administrator charges at once; returns payments or errors."""
    admins = [Actor.staff(UserFactory(is_staff=True, is_superuser=True)) for _ in amounts]
    return race_at_once(
        [
            partial(payment_create_card, invoice=invoice, actor=admin, amount=amount)
            for admin, amount in zip(admins, amounts, strict=True)
        ]
    )


@pytest.mark.parametrize(
    ("amount", "refusal"),
    [
        ("60.00", "€60.00 is more than what can still be charged on {number} (€40.00)."),
        (None, "{number} has €100.00 being charged already; nothing more can be charged until the gateway answers."),
    ],
)
def test_two_administrators_charging_one_invoice_at_once_never_reserve_more_than_remains(
    transactional_db, no_worker, amount, refusal
):
    for _ in range(ROUNDS):
        invoice = open_invoice(amounts=["100.00"])
        saved_card(invoice.member)
        value = Money(amount, "EUR") if amount else None
        activity_before = Activity.objects.count()

        results = race(invoice, [value, value])

        payments = [result for result in results if isinstance(result, Payment)]
        errors = [result for result in results if isinstance(result, BillingError)]
        assert (len(payments), len(errors)) == (1, 1), results
        assert errors[0].message == refusal.format(number=invoice.number)
        [payment] = payments
        assert reload(payment).status == PaymentStatus.PENDING
        assert list(Payment.objects.filter(invoice=invoice)) == [payment]
        assert PaymentAttempt.objects.get(payment=payment).status == AttemptStatus.QUEUED
        invoice = reload(invoice)
        assert invoice_reserved(invoice) == (value or Money("100.00", "EUR"))
        assert invoice_reserved(invoice) <= invoice.amount_remaining == Money("100.00", "EUR")
        assert Activity.objects.count() == activity_before + 1  # the winner's charge_requested only

    assert Payment.objects.values("number").distinct().count() == ROUNDS
    assert billing_integrity_violations() == []


def test_three_administrators_charging_parts_reserve_at_most_what_remains(transactional_db, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)

    results = race(invoice, [Money("40.00", "EUR")] * 3)

    payments = [result for result in results if isinstance(result, Payment)]
    errors = [result for result in results if isinstance(result, BillingError)]
    assert (len(payments), len(errors)) == (2, 1)
    assert errors[0].message == f"€40.00 is more than what can still be charged on {invoice.number} (€20.00)."
    assert invoice_reserved(reload(invoice)) == Money("80.00", "EUR")
