"""Reading statements: each format, and the files refused with the line or entry at fault."""

import datetime

import pytest
from djmoney.money import Money

from bank.demo import SAMPLE_FILES, demo_statement_render
from bank.statements import StatementError, entries_keyed, statement_format_guess, statement_read
from tests.bank.statements import (
    camt_details,
    camt_entry,
    camt_statement,
    csv_statement,
    mt940_statement,
)

BOOKED = datetime.date(2026, 3, 2)


def real_world_camt(version: str) -> bytes:
    """Several entries: a batch booking of three transfers, a single transfer with a structured reference, a debit,
    a reversal, a pending entry, a credit in another currency."""
    return camt_statement(
        [
            camt_entry(
                amount="350.50",
                reference="BATCH-1",
                booked=BOOKED,
                version=version,
                details=[
                    camt_details(
                        name="Ada Lovelace",
                        iban="DE02 1203 0000 0000 2020 51",
                        structured="RF18539007547034",
                        amount="100.00",
                        reference="BATCH-1-A",
                        version=version,
                    ),
                    camt_details(
                        name="Alan Turing",
                        iban="GB82WEST12345698765432",
                        ustrd="INV-2026-00007",
                        amount="200.50",
                        version=version,
                    ),
                    camt_details(name="Grace Hopper", ustrd="Day pass", amount="50.00", version=version),
                ],
            ),
            camt_entry(
                amount="80.00",
                reference="SINGLE-2",
                booked=BOOKED,
                version=version,
                details=[
                    camt_details(
                        name="Edsger Dijkstra",
                        iban="NL91ABNA0417164300",
                        ustrd="March desk",
                        structured="RF18 5390 0754 7034",
                        version=version,
                    )
                ],
            ),
            camt_entry(amount="4.90", reference="FEES-3", indicator="DBIT", booked=BOOKED, version=version),
            camt_entry(amount="500.00", reference="PENDING-4", status="PDNG", booked=BOOKED, version=version),
            camt_entry(
                amount="1000",
                reference="YEN-5",
                currency="JPY",
                booked=BOOKED,
                version=version,
                details=[camt_details(name="Tokyo Partner", version=version)],
            ),
        ],
        version=version,
    )


@pytest.mark.parametrize("version", ["02", "08"])
def test_a_real_world_camt053_reads_every_booked_entry_and_splits_the_batch_booking(version):
    entries = statement_read(real_world_camt(version), file_format="camt053")

    assert [(e.bank_reference, e.amount, e.is_credit) for e in entries] == [
        ("BATCH-1-A", Money("100.00", "EUR"), True),
        ("BATCH-1/2", Money("200.50", "EUR"), True),
        ("BATCH-1/3", Money("50.00", "EUR"), True),
        ("SINGLE-2", Money("80.00", "EUR"), True),
        ("FEES-3", Money("4.90", "EUR"), False),
        ("YEN-5", Money("1000", "JPY"), True),
    ]
    first, second, third, single = entries[:4]
    assert (first.counterparty_name, first.counterparty_iban, first.remittance) == (
        "Ada Lovelace",
        "DE02120300000000202051",
        "RF18539007547034",
    )
    assert (second.counterparty_name, second.remittance) == ("Alan Turing", "INV-2026-00007")
    assert third.counterparty_iban == ""
    assert single.remittance == "March desk RF18 5390 0754 7034"
    assert {e.booking_date for e in entries} == {BOOKED}
    assert {e.account_iban for e in entries} == {"DE89370400440532013000"}


def test_a_batch_whose_transactions_do_not_add_up_to_the_entry_is_refused():
    data = camt_statement(
        [
            camt_entry(
                amount="150.00",
                reference="B",
                details=[camt_details(amount="100.00"), camt_details(amount="40.00")],
            )
        ]
    )

    with pytest.raises(StatementError, match=r"Entry 1 \(B\): its transactions add up to €140.00"):
        statement_read(data, file_format="camt053")


def test_a_truncated_camt053_is_refused_with_its_line():
    data = real_world_camt("02")
    truncated = data[: len(data) // 2]

    with pytest.raises(StatementError, match=r"not well-formed XML \(line \d+, column \d+\)"):
        statement_read(truncated, file_format="camt053")


def test_xml_that_is_not_a_camt053_is_refused():
    data = b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>'

    with pytest.raises(StatementError, match="not a CAMT.053 bank statement"):
        statement_read(data, file_format="camt053")


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("10.005", "EUR", "EUR amounts have 2 decimals at most"),
        ("1000.5", "JPY", "JPY has no minor unit"),
        ("12,50", "EUR", "is not an amount"),
        ("-5.00", "EUR", "greater than zero"),
        ("5.00", "XYZ", "is not a currency code"),
    ],
)
def test_a_camt053_amount_the_currency_cannot_hold_is_refused_naming_the_entry(amount, currency, message):
    data = camt_statement(
        [
            camt_entry(amount="1.00", reference="GOOD"),
            camt_entry(amount=amount, reference="BAD", currency=currency),
        ]
    )

    with pytest.raises(StatementError, match=rf"Entry 2 \(BAD\): .*{message}"):
        statement_read(data, file_format="camt053")


def test_mt940_reads_credits_and_debits_with_the_structured_details():
    data = mt940_statement(
        [
            (
                "C",
                "150,00",
                "REF-1",
                "166?00SEPA-GUTSCHRIFT?20SVWZ+RF18539007547034?32Ada Lovelace?31DE02120300000000202051",
            ),
            ("D", "4,90", "REF-2", "805?00ENTGELT?20Account fees"),
            ("C", "20,00", "NONREF", "Plain text remittance INV-2026-00003"),
        ],
        booked=BOOKED,
    )

    entries = statement_read(data, file_format="mt940")

    assert [(e.where, e.bank_reference, e.amount, e.is_credit) for e in entries] == [
        ("Line 5", "REF-1", Money("150.00", "EUR"), True),
        ("Line 7", "REF-2", Money("4.90", "EUR"), False),
        ("Line 9", "", Money("20.00", "EUR"), True),
    ]
    assert (entries[0].counterparty_name, entries[0].counterparty_iban, entries[0].remittance) == (
        "Ada Lovelace",
        "DE02120300000000202051",
        "RF18539007547034",
    )
    assert "INV-2026-00003" in entries[2].remittance
    assert entries[0].booking_date == BOOKED


def test_mt940_with_more_decimals_than_the_currency_is_refused_naming_the_line():
    data = mt940_statement([("C", "10,00", "A", "ok"), ("C", "10,005", "B", "too precise")])

    with pytest.raises(StatementError, match=r"Line 7: EUR amounts have 2 decimals at most"):
        statement_read(data, file_format="mt940")


def test_a_file_that_is_not_mt940_is_refused():
    with pytest.raises(StatementError, match="no :61: statement line"):
        statement_read(b"hello\nworld\n", file_format="mt940")


def test_mt940_with_an_unreadable_statement_line_is_refused():
    data = mt940_statement([("C", "10,00", "A", "ok")]).replace(b":61:", b":61:XX", 1)

    with pytest.raises(StatementError, match="MT940"):
        statement_read(data, file_format="mt940")


def test_csv_reads_with_the_mapping(csv_mapping):
    data = csv_statement(
        [
            "02.03.2026;1.234,56;EUR;Ada Lovelace;DE02 1203 0000 0000 2020 51;RF18539007547034;C-1",
            "02.03.2026;-4,90;EUR;Bank;;Fees;C-2",
            "03.03.2026;7;EUR;Alan Turing;;Coffee;",
        ]
    )

    entries = statement_read(data, file_format="csv", mapping=csv_mapping)

    assert [(e.where, e.bank_reference, e.amount, e.is_credit, e.booking_date) for e in entries] == [
        ("Line 2", "C-1", Money("1234.56", "EUR"), True, BOOKED),
        ("Line 3", "C-2", Money("4.90", "EUR"), False, BOOKED),
        ("Line 4", "", Money("7", "EUR"), True, datetime.date(2026, 3, 3)),
    ]
    assert entries[0].counterparty_iban == "DE02120300000000202051"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("02.03.2026;12,345;EUR;A;;x;R", "Line 3: EUR amounts have 2 decimals at most"),
        ("2026-03-02;12,34;EUR;A;;x;R", "Line 3: “2026-03-02” is not a date"),
        ("02.03.2026;1e3;EUR;A;;x;R", "Line 3: “1e3” is not an amount"),
        ("02.03.2026;12,34;EUR", "Line 3: not as many columns"),
        ("02.03.2026;12.34;EUR;A;;x;R", "Line 3: “12.34” is not an amount"),
    ],
)
def test_a_bad_csv_line_is_refused_by_its_number(csv_mapping, row, message):
    data = csv_statement(["02.03.2026;10,00;EUR;A;;x;R0", row])

    with pytest.raises(StatementError, match=message):
        statement_read(data, file_format="csv", mapping=csv_mapping)


def test_a_csv_without_the_mapping_columns_is_refused(csv_mapping):
    with pytest.raises(StatementError, match="Line 1: the columns"):
        statement_read(b"Date,Value\n2026-01-01,3\n", file_format="csv", mapping=csv_mapping)


def test_entries_without_a_bank_reference_are_keyed_by_their_fields_and_occurrence(csv_mapping):
    rows = ["02.03.2026;10,00;EUR;A;;coffee;", "02.03.2026;10,00;EUR;A;;coffee;", "02.03.2026;11,00;EUR;A;;x;"]
    first = entries_keyed(statement_read(csv_statement(rows), file_format="csv", mapping=csv_mapping))
    overlapping = entries_keyed(statement_read(csv_statement(rows[:2]), file_format="csv", mapping=csv_mapping))

    keys = [key for key, _entry in first]
    assert len(set(keys)) == 3
    assert [key for key, _entry in overlapping] == keys[:2]


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", list(SAMPLE_FILES))
def test_the_samples_read_and_are_recognised(file_format, csv_mapping):
    fields = {
        "statement_id": "20260302",
        "sequence": "61",
        "date": "2026-03-02",
        "mt_date": "260302",
        "mt_md": "0302",
        "csv_date": "02.03.2026",
        "space_iban": "DE89370400440532013000",
        "batch_amount": "150.00",
        "closing_comma": "10000,00",
        "partial_number": "INV-2026-00002",
    }
    for role, amount in {"paid": "100.00", "partial": "50.00", "overpaid": "25.00", "iban": "60.00"}.items():
        fields |= {
            f"{role}_name": role.title(),
            f"{role}_iban": "NL91ABNA0417164300",
            f"{role}_amount": amount,
            f"{role}_amount_comma": amount.replace(".", ","),
            f"{role}_reference": "RF18539007547034",
        }
    data = demo_statement_render(file_format, fields)

    entries = statement_read(data, file_format=statement_format_guess(data), mapping=csv_mapping)

    credits = [e.amount for e in entries if e.is_credit and e.amount.currency.code == "EUR"]
    assert credits == [Money(a, "EUR") for a in ("100.00", "50.00", "25.00", "60.00", "80.00")]
    assert statement_format_guess(data) == file_format
