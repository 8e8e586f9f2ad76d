"""Fixtures of the portal's tests: members with a portal login, and a test client logged in as one of them."""

import pytest
from django.test import Client

from members.models import Member
from tests.factories import MemberFactory, UserFactory

MEMBER_PASSWORD = "member-password"


def portal_member(*, email: str | None = None, name: str | None = None, **kwargs) -> Member:
    """A member with a portal login (an active, non-staff user whose email is the member's)."""
    member = MemberFactory(**({"email": email} if email else {}), **({"name": name} if name else {}), **kwargs)
    user = UserFactory(username=member.email, email=member.email)
    user.set_password(MEMBER_PASSWORD)
    user.save()
    member.user = user
    member.save(update_fields=["user"])
    return member


@pytest.fixture
def member(db) -> Member:
    return portal_member(email="lea.martin@example.com", name="Léa Martin")


@pytest.fixture
def other_member(db) -> Member:
    return portal_member(email="omar@example.com", name="Omar Haddad")


@pytest.fixture
def member_client(client, member) -> Client:
    client.force_login(member.user)
    return client


@pytest.fixture
def partial_payments(settings):
    settings.BILLING_PORTAL_PARTIAL_PAYMENTS = True
    settings.BILLING_PORTAL_PARTIAL_MINIMUM = "10.00"
