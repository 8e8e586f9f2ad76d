"""ISO 11649 RF creditor references: built from invoice numbers, found in remittance text, stored when issuing."""

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iso11649

from billing.models import Invoice
from billing.payment_references import (
    payment_reference_find,
    payment_reference_for,
    payment_reference_format,
    payment_reference_valid,
)
from billing.services.invoice_issue import invoice_issue
from tests.factories import draft_invoice, reload


def test_the_reference_is_rf_the_check_digits_and_the_numbers_letters_and_digits():
    # Worked by hand: "INV202600001" + "RF00" as digits (I=18, N=23, V=31, R=27, F=15) mod 97 is 22; 98 - 22 = 76.
    assert payment_reference_for("INV-2026-00001") == "RF76INV202600001"
    assert payment_reference_format("RF76INV202600001") == "RF76 INV2 0260 0001"
    assert iso11649.is_valid(payment_reference_for("CN-2031-12345"))


def test_the_iso_11649_example_is_valid_and_a_changed_digit_is_not():
    assert payment_reference_valid("RF18 5390 0754 7034")
    assert payment_reference_valid("rf18539007547034")
    assert not payment_reference_valid("RF18 5390 0754 7035")
    assert not payment_reference_valid("RF19 5390 0754 7034")


@pytest.mark.parametrize("number", ["", "---", "INV-2026-" + "9" * 20])
def test_a_number_without_room_in_a_reference_is_refused(number):
    with pytest.raises(ValueError):
        payment_reference_for(number)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("RF76INV202600001", ["RF76INV202600001"]),
        ("Invoice rf76 inv2 0260 0001 March rent, thanks", ["RF76INV202600001"]),
        ("RF76-INV2-0260-0001", ["RF76INV202600001"]),
        ("/RF76 INV2\n0260 0001/", ["RF76INV202600001"]),
        ("RF18 5390 0754 7034 INVOICE 12", ["RF18539007547034"]),
        (
            "RF18 5390 0754 7034 and RF76INV202600001, again RF76 INV2 0260 0001",
            ["RF18539007547034", "RF76INV202600001"],
        ),
        ("RF76INV202600002", []),  # a wrong check
        ("XRF18539007547034", []),  # inside a word
        ("RF 18 5390 0754 7034", []),  # the check digits apart from RF
        ("no reference here, INV-2026-00001", []),
        ("", []),
    ],
)
def test_references_are_found_in_free_text(text, found):
    assert payment_reference_find(text) == found


@given(
    number=st.from_regex(r"INV-20[2-9][0-9]-[0-9]{5,9}", fullmatch=True),
    before=st.sampled_from(["", "Payment ", "ref: ", "Rechnung\n"]),
    after=st.sampled_from(["", " thank you", ". March", "\nCoworking"]),
    spaced=st.booleans(),
    lower=st.booleans(),
)
def test_a_reference_printed_any_way_banks_print_it_is_found(number, before, after, spaced, lower):
    reference = payment_reference_for(number)
    printed = payment_reference_format(reference) if spaced else reference
    if lower:
        printed = printed.lower()
    assert payment_reference_find(before + printed + after) == [reference]


def test_issuing_stores_the_reference_of_the_number(db, staff):
    invoice = reload(invoice_issue(invoice=draft_invoice(), actor=staff))

    assert invoice.payment_reference == payment_reference_for(invoice.number)
    assert payment_reference_find(f"paying {payment_reference_format(invoice.payment_reference)}") == [
        invoice.payment_reference
    ]


def test_a_draft_has_no_reference_and_references_are_unique(db, staff):
    draft = draft_invoice()
    assert reload(draft).payment_reference is None
    issued = invoice_issue(invoice=draft_invoice(), actor=staff)

    other = draft_invoice()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=other.pk).update(payment_reference=reload(issued).payment_reference)


def test_the_migration_fills_the_references_of_issued_invoices(db, staff):
    issued = invoice_issue(invoice=draft_invoice(), actor=staff)
    draft = draft_invoice()
    Invoice.objects.update(payment_reference=None)
    migration = importlib.import_module("billing.migrations.0008_invoice_payment_reference")

    migration.payment_references_fill(apps, None)

    assert reload(issued).payment_reference == payment_reference_for(reload(issued).number)
    assert reload(draft).payment_reference is None
