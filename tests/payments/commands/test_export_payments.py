"""export_payments: the payments report's rows and totals as CSV, to stdout or a file."""

import csv
import io

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from tests.payments.report_books import TOTALS_HEADER, days_ago, report_books_create

HEADER = ["Number", "Date", "Member", "Method", "Status", "Currency", "Amount", "Allocated", "Refunded", "Unallocated"]


@pytest.fixture
def books(staff, today):
    return report_books_create(actor=staff, today=today)


def export(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("export_payments", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_exports_the_payments_of_the_range_with_totals_to_stdout(books):
    today = books.today

    output, messages = export("--from", days_ago(today, 16).isoformat(), "--to", days_ago(today, 2).isoformat())

    assert list(csv.reader(io.StringIO(output))) == [
        HEADER,
        [books.bob_deposit.number, days_ago(today, 15).isoformat(), "Bob Baker", "External (bank transfer)"]
        + ["Succeeded", "EUR", "150.00", "0.00", "40.00", "110.00"],
        [books.alice_cash.number, days_ago(today, 3).isoformat(), "Alice Archer", "External (cash)", "Succeeded"]
        + ["EUR", "50.00", "50.00", "0.00", "0.00"],
        [books.chiyo_cash.number, days_ago(today, 2).isoformat(), "Chiyo Sato", "External (cash)", "Succeeded"]
        + ["JPY", "3000", "3000", "0", "0"],
        [],
        TOTALS_HEADER,
        ["Total", "EUR", "2", "2", "200.00", "40.00", "160.00", "50.00", "110.00", "0", "0.00", "0", "0.00"],
        ["Total", "JPY", "1", "1", "3000", "0", "3000", "3000", "0", "0", "0", "0", "0"],
    ]
    assert messages.strip() == "3 payments exported (200.00 EUR, 3000 JPY)."


def test_writes_the_same_rows_as_the_admin_report_to_a_file(books, client, staff_user, tmp_path):
    target = tmp_path / "payments.csv"

    output, _ = export("--format", "csv", "--output", str(target), "--no-progress")

    client.force_login(staff_user)
    report = client.get("/admin/reports/payments/", {"format": "csv"}).content.decode()
    assert target.read_bytes().decode() == report
    assert len(list(csv.reader(io.StringIO(report)))) == 1 + 4 + 1 + 1 + 2  # header, rows, a gap, the totals
    assert output.strip() == f"4 payments exported (280.00 EUR, 3000 JPY) to {target}."


def test_filters_by_method_and_status_as_the_report_does(books):
    cash, _ = export("--method", "cash", "--status", "succeeded")
    cards, messages = export("--method", "card")

    assert [row[:1] for row in csv.reader(io.StringIO(cash))][1:] == [
        [books.alice_cash.number],
        [books.chiyo_cash.number],
        [],
        ["Totals per currency"],
        ["Total"],
        ["Total"],
    ]
    assert list(csv.reader(io.StringIO(cards))) == [HEADER]
    assert messages.strip() == "0 payments exported."


def test_an_empty_range_exports_the_header_only(books):
    output, messages = export("--from", "2001-01-01", "--to", "2001-12-31")

    assert list(csv.reader(io.StringIO(output))) == [HEADER]
    assert messages.strip() == "0 payments exported."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-30"], "--from must be a date written YYYY-MM-DD, such as 2026-01-31, not “2026-02-30”."),
        (["--to", "31/01/2026"], "--to must be a date written YYYY-MM-DD, such as 2026-01-31, not “31/01/2026”."),
        (["--from", "2026-03-01", "--to", "2026-02-01"], "--from 2026-03-01 is after --to 2026-02-01"),
    ],
)
def test_bad_dates_are_refused(db, args, message, tmp_path):
    target = tmp_path / "payments.csv"

    with pytest.raises(CommandError, match=message):
        export(*args, "--output", str(target))

    assert not target.exists()


def test_a_bad_date_exits_non_zero_with_the_message(db, capsys):
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "export_payments", "--from", "yesterday"])

    assert exit_info.value.code == 1
    assert "--from must be a date written YYYY-MM-DD" in capsys.readouterr().err


def test_help_explains_the_options(capsys):
    with pytest.raises(SystemExit):
        execute_from_command_line(["manage.py", "export_payments", "--help"])

    text = capsys.readouterr().out
    for expected in ("--from YYYY-MM-DD", "--to YYYY-MM-DD", "--output FILE", "--no-progress", "Total line"):
        assert expected in text


def test_a_progress_bar_is_shown_on_a_terminal_unless_no_progress(books, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)

    export("--output", str(tmp_path / "shown.csv"))
    shown = capsys.readouterr().err
    export("--output", str(tmp_path / "hidden.csv"), "--no-progress")
    hidden = capsys.readouterr().err

    assert "Exporting" in shown
    assert "0/4" in shown  # the total is known from the start
    assert hidden == ""


def test_no_progress_bar_when_stderr_is_not_a_terminal(books, tmp_path, capsys):
    export("--output", str(tmp_path / "payments.csv"))

    assert capsys.readouterr().err == ""
