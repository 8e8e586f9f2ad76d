"""The long commands show a tqdm progress bar on a terminal only, never with --no-progress, and end with a summary."""

import io
import sys

import pytest
from django.core.management import call_command

COMMANDS = [
    ("check_billing_integrity", "No violations: 0 invoices, 0 payments checked.", "Checking"),
    ("run_payment_retries", "0 due: 0 retried, 0 canceled, 0 postponed, 0 stopped.", "Retrying"),
    ("reconcile_payments", "0 checked: 0 settled, 0 still unknown.", "Reconciling"),
]


@pytest.mark.parametrize(("command", "summary", "label"), COMMANDS)
def test_a_bar_on_a_terminal_and_none_with_no_progress(db, capsys, monkeypatch, command, summary, label):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    stdout = io.StringIO()

    call_command(command, stdout=stdout)
    shown = capsys.readouterr().err
    call_command(command, "--no-progress", stdout=stdout)
    hidden = capsys.readouterr().err

    assert label in shown
    assert hidden == ""
    assert summary in stdout.getvalue()


@pytest.mark.parametrize(("command", "summary", "label"), COMMANDS)
def test_no_bar_when_stderr_is_not_a_terminal(db, capsys, command, summary, label):
    stdout = io.StringIO()

    call_command(command, stdout=stdout)

    assert capsys.readouterr().err == ""
    assert summary in stdout.getvalue()
