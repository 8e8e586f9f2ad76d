"""CSV exports neutralise the cells a spreadsheet would run (issue #10; OWASP's CSV injection advice): text starting
with =, +, -, @, a tab or a line break gets a leading single quote; numbers stay numbers. Every CSV writer (the three
admin reports and `manage.py export_payments`) goes through `payments.reports.CsvWriter`."""

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from djmoney.money import Money

from payments.reports import CsvWriter, csv_cell
from tests.factories import MemberFactory, open_invoice, standalone_payment

pytestmark = pytest.mark.django_db

FORMULA_NAMES = ['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "\t=1", "\r=1", " =1+1"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\n=1", "'\n=1"),
        ("  =1", "'  =1"),
        ("Léa Martin", "Léa Martin"),
        ("O'Brien = 1", "O'Brien = 1"),
        ("2026-01-31", "2026-01-31"),
        ("", ""),
        (Decimal("-5.00"), Decimal("-5.00")),
        (Decimal("12.50"), Decimal("12.50")),
        (3, 3),
    ],
)
def test_csv_cell_prefixes_formula_text_and_keeps_numbers(value, cell):
    assert csv_cell(value) == cell


def test_the_writer_quotes_text_and_writes_numbers_plain():
    output = io.StringIO()

    CsvWriter(output).writerow(["-2", '=HYPERLINK("http://x","y")', Decimal("-5.00"), Decimal("12.50"), "EUR"])

    assert output.getvalue() == '"\'-2","\'=HYPERLINK(""http://x"",""y"")",-5.00,12.50,"EUR"\r\n'


@pytest.fixture
def formula_members(staff):
    """A member per formula-like name, each with an unpaid invoice (aging) and a standalone payment (payments report
    and member credit)."""
    members = []
    for name in FORMULA_NAMES:
        member = MemberFactory(name=name)
        open_invoice(member=member, amounts=["10.00"])
        standalone_payment(member=member, amount="5.00")
        members.append(member)
    return members


def before_the_totals_block(rows: list[list[str]]) -> list[list[str]]:
    """The lines of a CSV export up to the empty line that opens the payments report's totals block."""
    return rows[: rows.index([])] if [] in rows else rows


@pytest.mark.parametrize(
    ("url", "name_column"),
    [("/admin/reports/payments/", 2), ("/admin/reports/aging/", 0), ("/admin/reports/member-credit/", 0)],
)
def test_admin_csv_exports_neutralise_member_names(staff_client_for_reports, formula_members, url, name_column):
    response = staff_client_for_reports.get(url, {"format": "csv"})

    assert response.status_code == 200
    rows = before_the_totals_block(list(csv.reader(io.StringIO(response.content.decode()))))
    names = {row[name_column] for row in rows[1:] if row[0] != "Total"}
    assert names == {f"'{name}" for name in FORMULA_NAMES}
    amounts = [row[-1] for row in rows[1:]]
    assert all(Decimal(amount) >= 0 for amount in amounts)
    assert f'"\'{FORMULA_NAMES[0].replace(chr(34), chr(34) * 2)}"' in response.content.decode()


def test_export_payments_neutralises_member_names(formula_members, tmp_path):
    target = tmp_path / "payments.csv"

    call_command("export_payments", "--output", str(target), "--no-progress", stdout=io.StringIO())

    with target.open(newline="", encoding="utf-8") as written:
        rows = list(csv.reader(written))
    payment_lines = before_the_totals_block(rows)[1:]
    assert sorted(row[2] for row in payment_lines) == sorted(f"'{name}" for name in FORMULA_NAMES)
    assert rows[-1] == ["Total", "EUR", "7", "7", "35.00", "0.00", "35.00", "0.00", "35.00", "0", "0.00", "0", "0.00"]
    assert Money(rows[-1][4], "EUR") == Money("35.00", "EUR")


@pytest.fixture
def staff_client_for_reports(client, staff_user):
    client.force_login(staff_user)
    return client
