import pytest
from django.contrib.auth.models import Permission

from tests.factories import UserFactory


@pytest.fixture
def staff_client(client, staff_user):
    """A logged-in superuser."""
    client.force_login(staff_user)
    return client


@pytest.fixture
def clerk_client(client, db):
    """Log in a staff user (not a superuser) with the given permissions, as "app_label.codename"."""

    def login(*permissions: str):
        user = UserFactory(is_staff=True)
        user.save()  # the factory sets the password without saving it; the session checks its hash
        for permission in permissions:
            app_label, codename = permission.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client.force_login(user)
        return client

    return login
