"""Importing: each credit once, whatever the file and however often; a bad file writes nothing."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from djmoney.money import Money

from bank.models import BankTransaction, BankTransactionStatus, StatementImport
from bank.services.statement_import import statement_import
from bank.statements import StatementError
from billing.models import Activity
from tests.bank.statements import camt_details, camt_entry, camt_statement, csv_statement, mt940_statement
from tests.factories import SYSTEM, member_actor

pytestmark = pytest.mark.django_db


def import_(data: bytes, file_format: str, mapping=None, actor=SYSTEM):
    return statement_import(data=data, file_name="statement", file_format=file_format, mapping=mapping, actor=actor)


def bank_rows():
    return sorted(BankTransaction.objects.values_list("bank_reference", flat=True))


def test_importing_the_same_camt053_twice_adds_nothing_the_second_time():
    data = camt_statement(
        [
            camt_entry(amount="30.00", reference="A", details=[camt_details(name="Ada")]),
            camt_entry(
                amount="20.00", reference="B", details=[camt_details(amount="5.00"), camt_details(amount="15.00")]
            ),
            camt_entry(amount="4.90", reference="FEES", indicator="DBIT"),
        ]
    )

    first = import_(data, "camt053")
    again = import_(data, "camt053")

    assert (first.entries, first.added) == (4, 4)
    assert (again.entries, again.added) == (4, 0)
    assert bank_rows() == ["A", "B/1", "B/2", "FEES"]
    assert BankTransaction.objects.get(bank_reference="FEES").is_credit is False
    assert Activity.objects.filter(verb="bank_statement.imported").count() == 2


def test_overlapping_statements_add_only_the_new_transactions(csv_mapping):
    monday = ["02.03.2026;10,00;EUR;A;;coffee;", "02.03.2026;10,00;EUR;A;;coffee;", "02.03.2026;30,00;EUR;B;;x;R-3"]
    monday_and_tuesday = [*monday, "03.03.2026;40,00;EUR;C;;y;R-4"]

    import_(csv_statement(monday), "csv", csv_mapping)
    second = import_(csv_statement(monday_and_tuesday), "csv", csv_mapping)

    assert second.added == 1
    assert BankTransaction.objects.count() == 4
    assert BankTransaction.objects.filter(amount=Money("10.00", "EUR")).count() == 2


def test_mt940_import_is_idempotent_too():
    data = mt940_statement([("C", "15,00", "M-1", "one"), ("C", "15,00", "M-2", "two")])

    import_(data, "mt940")
    import_(data, "mt940")

    assert bank_rows() == ["M-1", "M-2"]


@pytest.mark.parametrize(
    ("data", "file_format"),
    [
        (
            camt_statement([camt_entry(amount="1.00", reference="A"), camt_entry(amount="1.001", reference="B")]),
            "camt053",
        ),
        (camt_statement([camt_entry(amount="1.00", reference="A")])[:-40], "camt053"),
        (mt940_statement([("C", "1,00", "A", "x"), ("C", "1,001", "B", "y")]), "mt940"),
        (b"not a statement at all", "mt940"),
        (b"", "camt053"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "csv"),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_written(data, file_format, csv_mapping):
    with pytest.raises(StatementError):
        import_(data, file_format, csv_mapping)

    assert BankTransaction.objects.count() == 0
    assert StatementImport.objects.count() == 0
    assert Activity.objects.count() == 0


def test_a_member_cannot_import_statements():
    with pytest.raises(Exception, match="Only the space's staff"):
        import_(camt_statement([camt_entry(amount="1.00", reference="A")]), "camt053", actor=member_actor())
    assert BankTransaction.objects.count() == 0


def test_the_command_imports_and_summarises(tmp_path, capsys):
    path = tmp_path / "statement.xml"
    path.write_bytes(
        camt_statement(
            [
                camt_entry(amount="30.00", reference="A"),
                camt_entry(amount="4.90", reference="FEES", indicator="DBIT"),
            ]
        )
    )

    call_command("import_bank_statement", str(path), "--no-progress")
    call_command("import_bank_statement", str(path), "--no-progress", "--format", "camt053")

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("statement.xml (camt053): 2 transactions, 2 new, 0 already imported.")
    assert out[1].startswith("statement.xml (camt053): 2 transactions, 0 new, 2 already imported.")
    assert BankTransaction.objects.filter(status=BankTransactionStatus.UNMATCHED).count() == 2


def test_the_command_refuses_a_bad_file_naming_the_entry(tmp_path):
    path = tmp_path / "statement.xml"
    path.write_bytes(camt_statement([camt_entry(amount="3.333", reference="X")]))

    with pytest.raises(CommandError, match=r"statement.xml: Entry 1 \(X\): EUR amounts have 2 decimals"):
        call_command("import_bank_statement", str(path), "--no-progress")
    assert BankTransaction.objects.count() == 0


def test_the_command_reads_csv_with_a_named_mapping(tmp_path, csv_mapping, capsys):
    path = tmp_path / "statement.csv"
    path.write_bytes(csv_statement(["02.03.2026;10,00;EUR;A;;coffee;R-1"]))

    with pytest.raises(CommandError, match="No CSV column mapping named “Nope”"):
        call_command("import_bank_statement", str(path), "--no-progress", "--mapping", "Nope")
    call_command("import_bank_statement", str(path), "--no-progress", "--mapping", csv_mapping.name)

    assert bank_rows() == ["R-1"]


def test_a_known_reference_with_another_amount_is_refused_and_nothing_is_written():
    import_(camt_statement([camt_entry(amount="30.00", reference="A")]), "camt053")
    before = (StatementImport.objects.count(), BankTransaction.objects.count(), Activity.objects.count())

    with pytest.raises(StatementError, match=r"Entry 2 \(A\): the bank reference A was imported before for €30.00"):
        import_(
            camt_statement([camt_entry(amount="5.00", reference="NEW"), camt_entry(amount="31.00", reference="A")]),
            "camt053",
        )

    assert (StatementImport.objects.count(), BankTransaction.objects.count(), Activity.objects.count()) == before


def test_a_reference_given_twice_in_one_file_to_different_transactions_is_refused(csv_mapping):
    rows = ["02.03.2026;10,00;EUR;A;;x;R-1", "02.03.2026;12,00;EUR;B;;y;R-1"]

    with pytest.raises(StatementError, match="Line 3: the bank reference R-1 is also Line 2's"):
        import_(csv_statement(rows), "csv", csv_mapping)
    assert BankTransaction.objects.count() == 0
