"""Logging in to the portal (by email, rate limited), logging out, resetting a password; staff kept apart (spec 8)."""

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import UserFactory
from tests.members.portal.conftest import MEMBER_PASSWORD, portal_member

pytestmark = pytest.mark.django_db

LOGIN = reverse("portal:login")
INVOICES = reverse("portal:invoice_list")


def login(client, email: str, password: str, **extra):
    return client.post(LOGIN, {"email": email, "password": password}, **extra)


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


# Login -------------------------------------------------------------------------------------------------------------


def test_a_member_logs_in_with_the_email_in_any_case_and_lands_on_the_invoices(client, member):
    response = login(client, "Lea.MARTIN@example.com ", MEMBER_PASSWORD)

    assert response.status_code == 302
    assert response.url == INVOICES
    assert logged_in_user_id(client) == str(member.user_id)
    assert client.get(INVOICES).status_code == 200


def test_the_login_goes_back_to_the_page_asked_for(client, member):
    page = reverse("portal:card_list")
    response = client.get(page)
    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next={page}"

    response = client.post(f"{LOGIN}?next={page}", {"email": member.email, "password": MEMBER_PASSWORD, "next": page})

    assert response.url == page


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("lea.martin@example.com", "wrong-password"),
        ("lea.martin@example.com", MEMBER_PASSWORD.upper()),
        ("nobody@example.com", MEMBER_PASSWORD),
        ("", MEMBER_PASSWORD),
        ("not-an-email", MEMBER_PASSWORD),
    ],
)
def test_a_wrong_email_or_password_is_refused(client, member, email, password):
    response = login(client, email, password)

    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    assert response.context["form"].errors


def test_an_inactive_login_is_refused(client, member):
    get_user_model().objects.filter(pk=member.user_id).update(is_active=False)

    response = login(client, member.email, MEMBER_PASSWORD)

    assert response.status_code == 200
    assert logged_in_user_id(client) is None


def test_a_staff_account_cannot_log_in_to_the_portal_with_its_email(client, staff_user):
    response = login(client, staff_user.email, "manager-password")

    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    assert "do not match a member login" in response.content.decode()


def test_a_login_without_a_member_cannot_log_in(client, db):
    user = UserFactory(email="visitor@example.com")
    user.save()

    response = login(client, "visitor@example.com", "password")

    assert logged_in_user_id(client) is None
    assert response.status_code == 200


def test_the_admin_login_by_username_still_works(client, staff_user):
    response = client.post(
        reverse("admin:login"), {"username": "manager", "password": "manager-password", "next": "/admin/"}
    )

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(staff_user.pk)
    assert client.get("/admin/").status_code == 200


def test_a_member_cannot_use_the_admin(client, member):
    response = client.post(reverse("admin:login"), {"username": member.email, "password": MEMBER_PASSWORD})

    assert response.status_code == 200  # the admin's form again: a member is not staff
    assert client.get("/admin/").status_code == 302


# Staff and members apart ---------------------------------------------------------------------------------------------


def test_staff_without_a_member_get_the_members_only_page_with_a_link_to_the_admin(client, staff_user):
    client.force_login(staff_user)

    for url in (INVOICES, reverse("portal:card_list"), reverse("portal:credit"), reverse("portal:payment_list")):
        response = client.get(url)
        assert response.status_code == 403
        assert "The portal is for members" in response.content.decode()
        assert reverse("admin:index") in response.content.decode()


def test_a_staff_account_linked_to_a_member_is_still_kept_out(client, member, staff_user):
    member.user = staff_user
    member.save(update_fields=["user"])
    client.force_login(staff_user)

    assert client.get(INVOICES).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login(client, db):
    for url in (INVOICES, reverse("portal:invoice_detail", args=[1]), reverse("portal:credit")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(LOGIN)


def test_logout_is_a_post(member_client):
    assert member_client.get(reverse("portal:logout")).status_code == 405

    response = member_client.post(reverse("portal:logout"))

    assert response.status_code == 302
    assert response.url == LOGIN
    assert logged_in_user_id(member_client) is None
    assert member_client.get(INVOICES).status_code == 302


def test_portal_pages_are_not_cached(member_client):
    response = member_client.get(INVOICES)
    assert "no-store" in response["Cache-Control"]


# Rate limiting (django-axes) -----------------------------------------------------------------------------------------


def test_after_the_failure_limit_the_next_attempt_is_locked_out_even_with_the_right_password(client, member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, member.email, "wrong-password").status_code == 200
    assert login(client, member.email, "wrong-password").status_code == 429

    response = login(client, member.email.upper(), MEMBER_PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert logged_in_user_id(client) is None
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address) == (member.email, "127.0.0.1")
    assert attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT


def test_the_lockout_is_per_login_and_address(client, member, other_member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, member.email, "wrong-password")

    assert login(client, other_member.email, MEMBER_PASSWORD).status_code == 302
    client.post(reverse("portal:logout"))
    assert login(client, member.email, MEMBER_PASSWORD, REMOTE_ADDR="10.0.0.7").status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, member.email, "wrong-password")
    assert login(client, member.email, MEMBER_PASSWORD).status_code == 302
    client.post(reverse("portal:logout"))

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, member.email, "wrong-password").status_code == 200
    assert login(client, member.email, MEMBER_PASSWORD).status_code == 302


def test_the_admin_login_is_rate_limited_too(client, staff_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("admin:login"), {"username": "manager", "password": "wrong"})

    response = client.post(reverse("admin:login"), {"username": "manager", "password": "manager-password"})

    assert response.status_code == 429
    assert logged_in_user_id(client) is None


def _behind_the_proxy(client_address: str, *, sent_by_the_client: str = "") -> dict:
    """What the documented nginx passes on: the request comes from the proxy (127.0.0.1), which appends the
    client's address to whatever X-Forwarded-For the client sent."""
    forwarded = f"{sent_by_the_client}, {client_address}" if sent_by_the_client else client_address
    return {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded}


def test_behind_the_proxy_two_clients_are_locked_out_separately(client, member, settings):
    settings.BILLING_TRUSTED_PROXIES = 1
    first, second = _behind_the_proxy("203.0.113.5"), _behind_the_proxy("198.51.100.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, member.email, "wrong-password", **first)

    assert login(client, member.email, MEMBER_PASSWORD, **first).status_code == 429
    assert login(client, member.email, MEMBER_PASSWORD, **second).status_code == 302
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address) == (member.email, "203.0.113.5")


def test_behind_the_proxy_an_address_the_client_forwards_itself_is_not_trusted(client, member, settings):
    """A locked-out client that sends its own X-Forwarded-For (a made-up address) is still known by the address
    the proxy appended."""
    settings.BILLING_TRUSTED_PROXIES = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, member.email, "wrong-password", **_behind_the_proxy("203.0.113.5"))

    spoofed = _behind_the_proxy("203.0.113.5", sent_by_the_client="198.51.100.7")
    assert login(client, member.email, MEMBER_PASSWORD, **spoofed).status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.5"]


def test_behind_two_proxies_the_client_is_the_address_the_first_one_appended(client, member, settings):
    settings.BILLING_TRUSTED_PROXIES = 2
    through_the_balancer = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "192.0.2.1, 203.0.113.5, 10.0.0.2"}

    login(client, member.email, "wrong-password", **through_the_balancer)

    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.5"]


def test_without_a_proxy_a_forwarded_address_is_ignored(client, member, settings):
    settings.BILLING_TRUSTED_PROXIES = 0

    login(client, member.email, "wrong-password", REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="203.0.113.5")

    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["192.0.2.9"]


# Password reset ------------------------------------------------------------------------------------------------------


def test_a_member_resets_the_password_by_mail(client, member, mailoutbox, settings):
    settings.BILLING_SPACE_NAME = "La Ruche"
    response = client.post(reverse("portal:password_reset"), {"email": "LEA.martin@example.com"})

    assert response.status_code == 302
    assert response.url == reverse("portal:password_reset_done")
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [member.email]
    assert mail.subject == "Reset your password for the La Ruche member portal"
    link = re.search(r"http://testserver(/portal/password-reset/\S+/\S+/)", mail.body)[1]

    response = client.get(link)
    assert response.status_code == 302  # Django moves the token into the session
    form_url = response.url
    response = client.post(form_url, {"new_password1": "a-new-long-password", "new_password2": "a-new-long-password"})
    assert response.status_code == 302
    assert response.url == reverse("portal:password_reset_complete")

    assert login(client, member.email, "a-new-long-password").status_code == 302


def test_no_reset_mail_for_an_unknown_email_or_a_staff_account(client, staff_user, member, mailoutbox):
    for email in ("nobody@example.com", staff_user.email):
        response = client.post(reverse("portal:password_reset"), {"email": email})
        assert response.status_code == 302

    assert mailoutbox == []


def test_the_reset_pages_render(client, db):
    assert client.get(reverse("portal:password_reset")).status_code == 200
    assert client.get(reverse("portal:password_reset_done")).status_code == 200
    assert client.get(reverse("portal:password_reset_complete")).status_code == 200
    response = client.get(reverse("portal:password_reset_confirm", args=["MQ", "bad-token"]))
    assert "This link does not work any more" in response.content.decode()


def test_two_logins_with_the_same_email_cannot_log_in_by_email(client, member):
    duplicate = portal_member(email="lea.martin@example.org")
    get_user_model().objects.filter(pk=duplicate.user_id).update(email="LEA.MARTIN@example.com")

    response = login(client, member.email, MEMBER_PASSWORD)

    assert response.status_code == 200
    assert logged_in_user_id(client) is None
