"""seed_demo on databases other than an empty one, and with options: the admin's password from the environment or
kept, partial demo data refused, cards added to a space seeded before they existed, extra members, and the role
logins kept on a second run. Each test seeds its own database (the demo space as seeded on an empty one is read
in test_seed_demo.py)."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import Invoice, InvoiceStatus
from members.models import Member
from payments.management.commands.seed_demo import Command as SeedDemo
from payments.models import Payment, PaymentMethod
from tests.payments.commands.seeding import database_snapshot, seed


def test_seed_demo_reads_the_admin_password_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-longer-secret")

    output = seed()

    assert get_user_model().objects.get(username="admin").check_password("a-longer-secret")
    assert "password: a-longer-secret" in output


def test_seed_demo_keeps_an_existing_admin_password(db):
    get_user_model().objects.create_superuser("admin", "admin@space.example", "chosen-by-the-operator")

    output = seed()

    assert get_user_model().objects.get(username="admin").check_password("chosen-by-the-operator")
    assert "password: (unchanged; this account already existed)" in output


def test_seed_demo_refuses_partial_demo_data(db):
    Member.objects.create(name="Léa Martin", email="lea.martin@example.com")

    with pytest.raises(CommandError, match="part of the demo data"):
        seed()

    assert Member.objects.count() == 1
    assert Invoice.objects.count() == 0
    assert Payment.objects.count() == 0
    assert PaymentMethod.objects.count() == 0


def test_seed_demo_adds_the_cards_to_a_space_seeded_before_cards_existed(db, monkeypatch):
    """A database seeded by an earlier version (the story without cards) gets the cards and card payments once."""
    with monkeypatch.context() as patch:
        patch.setattr(SeedDemo, "_cards_ensure", lambda command: False)
        seed()
    assert PaymentMethod.objects.count() == 0

    output = seed()
    after = database_snapshot()

    assert "Demo coworking space created." in output
    assert (after["cards"], after["payments"], after["attempts"], after["refunds"]) == (5, 10, 2, 3)
    assert "nothing created" in seed()
    assert database_snapshot() == after
    out = StringIO()
    call_command("check_billing_integrity", stdout=out)
    assert out.getvalue().strip() == "No violations: 15 invoices, 10 payments checked."


def test_seed_demo_generates_extra_members(db):
    seed("--members", "9")
    before = database_snapshot()

    seed("--members", "9")

    assert database_snapshot() == before
    assert before["members"] == 9
    generated = Member.objects.filter(email__endswith="@members.example")
    assert generated.count() == 3
    for member in generated:
        statuses = sorted(member.invoices.values_list("status", flat=True))
        assert statuses == [InvoiceStatus.OPEN, InvoiceStatus.PAID]
    out = StringIO()
    call_command("check_billing_integrity", stdout=out)
    assert out.getvalue().strip() == "No violations: 21 invoices, 13 payments checked."


def test_seed_demo_refuses_fewer_members_than_the_story(db):
    with pytest.raises(CommandError, match="at least 6"):
        seed("--members", "3")

    assert Member.objects.count() == 0


def test_seed_demo_keeps_the_role_logins_once_and_their_chosen_passwords(db):
    seed()
    frontdesk = get_user_model().objects.get(username="frontdesk")
    frontdesk.set_password("chosen-by-the-operator")
    frontdesk.save()

    output = seed()

    assert get_user_model().objects.filter(username__in=["frontdesk", "accountant"]).count() == 2
    assert get_user_model().objects.get(username="frontdesk").check_password("chosen-by-the-operator")
    assert "username: frontdesk   password: (unchanged; this account already existed)   (Front desk)" in output
    assert "username: accountant   password: accountant   (Accountants)" in output
