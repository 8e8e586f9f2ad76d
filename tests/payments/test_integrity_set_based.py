"""The integrity check is set-based: the same statements, as many of them, whatever the size of the books (no
list of ids or numbers sent back to the database), and its stream yields what the list holds."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.dataset import dataset_build
from billing.models import Invoice, InvoiceStatus
from payments.integrity import billing_integrity_violations, billing_integrity_violations_stream


def statements_of_the_check() -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert billing_integrity_violations() == []
    # Server-side cursors (PostgreSQL) are named after a counter.
    return sorted(re.sub(r'"_django_curs_\w+"', "cursor", query["sql"]) for query in queries.captured_queries)


@pytest.mark.django_db
def test_the_check_runs_the_same_statements_at_every_size():
    dataset_build(members=10, invoices=40, payments=100, activities=200)
    small = statements_of_the_check()
    dataset_build(members=30, invoices=160, payments=400, activities=800)

    assert statements_of_the_check() == small


@pytest.mark.django_db
def test_the_stream_yields_the_violations_the_list_holds():
    dataset_build(members=5, invoices=20, payments=40, activities=100)
    invoice = Invoice.objects.filter(status=InvoiceStatus.PAID).order_by("pk").first()
    Invoice.objects.filter(pk=invoice.pk).update(amount_paid=invoice.amount_paid.amount + 1)
    done = []

    streamed = list(billing_integrity_violations_stream(progress=done.append))

    assert streamed == billing_integrity_violations()
    assert any(invoice.number in violation and "amount_paid is" in violation for violation in streamed)
    assert done == [
        "invoices",
        "payments",
        "credit notes",
        "card charges",
        "allocations",
        "money balances",
        "numbers",
        "activity",
        "bank transactions",
    ]
