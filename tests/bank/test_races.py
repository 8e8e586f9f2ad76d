"""Two administrators confirming (or undoing) the same bank transaction at once, on PostgreSQL: one payment."""

import pytest

from bank.models import BankTransactionPayment, BankTransactionStatus
from bank.services.bank_transaction_record import bank_transaction_record, bank_transaction_undo
from billing.activity import Actor
from billing.errors import BillingError
from billing.models import Activity
from payments.integrity import billing_integrity_violations
from payments.models import Payment, PaymentStatus
from tests.bank.statements import transfer
from tests.factories import UserFactory, eur, open_invoice, reload
from tests.support.races import POSTGRES_ONLY, race

pytestmark = POSTGRES_ONLY


def admins(count: int) -> list[Actor]:
    return [Actor.staff(UserFactory(is_staff=True, is_superuser=True)) for _ in range(count)]


@pytest.mark.django_db(transaction=True)
def test_two_admins_confirming_the_same_transaction_record_one_payment():
    invoice = open_invoice(amounts=["120.00"])
    bank_transaction = transfer("150.00", remittance=invoice.payment_reference)
    first, second = admins(2)

    results = race(
        [
            lambda: bank_transaction_record(bank_transaction=bank_transaction, actor=first),
            lambda: bank_transaction_record(bank_transaction=bank_transaction, actor=second),
        ]
    )

    payments = [result for result in results if isinstance(result, Payment)]
    refusals = [result for result in results if isinstance(result, BillingError)]
    assert len(payments) == 1 and len(refusals) == 1
    assert "recorded already" in refusals[0].message
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    assert BankTransactionPayment.objects.count() == 1
    assert reload(bank_transaction).status == BankTransactionStatus.RECORDED
    assert reload(invoice).amount_remaining == eur("0.00")
    assert Activity.objects.filter(verb="bank_transaction.recorded").count() == 1
    assert billing_integrity_violations() == []


@pytest.mark.django_db(transaction=True)
def test_confirming_and_undoing_at_once_leave_the_books_consistent():
    invoice = open_invoice(amounts=["120.00"])
    recorded = transfer("120.00", remittance=invoice.payment_reference)
    other_invoice = open_invoice(member=invoice.member, amounts=["40.00"])
    pending = transfer("40.00", remittance=other_invoice.number)
    first, second = admins(2)
    bank_transaction_record(bank_transaction=recorded, actor=first)

    race(
        [
            lambda: bank_transaction_undo(bank_transaction=recorded, actor=first),
            lambda: bank_transaction_undo(bank_transaction=recorded, actor=second),
            lambda: bank_transaction_record(bank_transaction=pending, actor=second),
        ]
    )

    assert reload(recorded).status == BankTransactionStatus.UNDONE
    assert reload(pending).status == BankTransactionStatus.RECORDED
    assert Payment.objects.filter(status=PaymentStatus.VOID).count() == 1
    assert billing_integrity_violations() == []
