"""The demo's statements, as an administrator uses them after `make run`: upload, confirm the proposals, and see
invoices paid, partly paid and the excess as credit; the same statement again adds nothing."""

import pytest

from bank.demo import SAMPLE_FILES, demo_csv_mapping_ensure, demo_statements_write
from bank.models import BankTransaction, BankTransactionStatus, MatchRule
from bank.services.bank_transaction_record import bank_transaction_record
from bank.services.statement_import import statement_import
from billing.activity import Actor
from billing.models import Invoice, InvoiceStatus
from payments.integrity import billing_integrity_violations
from payments.models import Payment
from tests.factories import eur
from tests.payments.commands.seeding import seed

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("file_format", list(SAMPLE_FILES))
def test_the_demo_statement_matches_partly_matches_overpays_and_does_not_match(file_format, tmp_path, today):
    from django.contrib.auth import get_user_model

    output = seed()
    assert "Bank statements to upload" in output
    admin = Actor.staff(get_user_model().objects.get(username="admin"))
    paths = demo_statements_write(today=today, refresh=True, directory=tmp_path)
    path = next(path for path in paths if path.name.endswith(SAMPLE_FILES[file_format].split(".", 1)[1]))
    open_before = {
        invoice.member.name: invoice for invoice in Invoice.objects.accepting_payment().filter(currency="EUR")
    }

    def upload():
        return statement_import(
            data=path.read_bytes(),
            file_name=path.name,
            file_format=file_format,
            mapping=demo_csv_mapping_ensure(),
            actor=admin,
        )

    first = upload()
    proposed = BankTransaction.objects.filter(status=BankTransactionStatus.MATCHED).order_by("pk")
    assert [t.match_rule for t in proposed] == [
        MatchRule.REFERENCE,
        MatchRule.REFERENCE,
        MatchRule.REFERENCE,
        MatchRule.IBAN_EXACT,
    ]
    for bank_transaction in proposed:
        bank_transaction_record(bank_transaction=bank_transaction, actor=admin)

    def state(name):
        invoice = Invoice.objects.get(pk=open_before[name].pk)
        return invoice.status, invoice.amount_paid.amount > 0

    assert state("Bright Pixel GmbH") == (InvoiceStatus.PAID, True)
    assert state("Jonas Weber") == (InvoiceStatus.OPEN, True)
    assert state("Léa Martin") == (InvoiceStatus.PAID, True)
    assert state("Northwind Studio SARL") == (InvoiceStatus.PAID, True)
    overpaid = BankTransaction.objects.get(member__name="Léa Martin", statement_import=first)
    assert Payment.objects.get(bank_recording__bank_transaction=overpaid).amount_unallocated == eur("25.00")
    assert BankTransaction.objects.filter(status=BankTransactionStatus.UNMATCHED).count() >= 2
    assert upload().added == 0
    assert billing_integrity_violations() == []
