"""seed_demo's staff logins with a role: a front desk and an accountant, in the groups the migration creates."""

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_a_front_desk_and_an_accountant_login(db):
    output = seed()

    User = get_user_model()
    for username, group in (("frontdesk", "Front desk"), ("accountant", "Accountants")):
        user = User.objects.get(username=username)
        assert user.is_staff and not user.is_superuser
        assert user.check_password(username)
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert f"username: {username}   password: {username}   ({group})" in output
    assert User.objects.get(username="frontdesk").has_perm("payments.record_external_payment")
    assert not User.objects.get(username="frontdesk").has_perm("payments.refund_payment")
    assert User.objects.get(username="accountant").has_perm("billing.issue_credit_note")
    assert User.objects.get(username="accountant").has_perm("payments.view_billing_reports")


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
