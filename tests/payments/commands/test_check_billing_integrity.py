import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from djmoney.money import Money

from billing.models import Invoice
from payments.management.commands.check_billing_integrity import Command
from payments.models import Allocation, Payment
from tests.factories import external_payment, open_invoice


def check() -> str:
    out = StringIO()
    call_command("check_billing_integrity", stdout=out)
    return out.getvalue()


def check_failing() -> tuple[str, str]:
    out = StringIO()
    with pytest.raises(CommandError) as error:
        call_command("check_billing_integrity", stdout=out)
    return out.getvalue(), str(error.value)


def test_an_empty_database_has_no_violations(db):
    assert check().strip() == "No violations: 0 invoices, 0 payments checked."


def test_consistent_books_have_no_violations(db):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")

    assert check().strip() == "No violations: 1 invoices, 1 payments checked."


def test_a_corrupted_paid_amount_is_listed_and_fails(db):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")
    Invoice.objects.filter(pk=invoice.pk).update(amount_paid=Money("90.00", "EUR"))

    output, error = check_failing()

    [line] = output.splitlines()
    assert re.fullmatch(rf"{invoice.number}: amount_paid is 90\.0+ but its rows add up to 40(\.0+)?\.", line)
    assert error == "1 violation found (1 invoices, 1 payments checked)."


def test_a_deleted_allocation_is_listed_and_fails(db):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")
    allocation = payment.allocations.get()
    queryset = Allocation.objects.filter(pk=allocation.pk)
    queryset._raw_delete(queryset.db)

    output, error = check_failing()

    lines = output.splitlines()
    assert any(line.startswith(f"{invoice.number}: amount_paid is 100.") for line in lines)
    assert any(re.fullmatch(rf"{invoice.number}: status paid but 100(\.0+)? remains\.", line) for line in lines)
    assert any(line.startswith(f"{payment.number}: amount_allocated is 100.") for line in lines)
    assert not any(allocation.number[:8] in line for line in lines)  # allocation numbers may have gaps
    assert error == f"{len(lines)} violations found (1 invoices, 1 payments checked)."


def test_a_payment_whose_parts_do_not_add_up_is_listed(db):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="60.00")
    Payment.objects.filter(pk=payment.pk).update(amount_unallocated=Money("5.00", "EUR"))

    output, _ = check_failing()

    [line] = output.splitlines()
    assert re.fullmatch(
        rf"{payment.number}: allocated \+ refunded \+ in flight \+ unallocated = 65\.0+, not 60\.0+\.", line
    )


def test_help_says_what_is_checked():
    help_text = Command().create_parser("manage.py", "check_billing_integrity").format_help()

    for words in ("gapless", "allocated", "money balances", "status 1"):
        assert words in " ".join(help_text.split())
