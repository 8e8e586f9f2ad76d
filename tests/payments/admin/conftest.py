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


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): client.post(...)` runs, once the block ends, what the request queued for after its
    commit: the charge (an eager Celery task here), so the payment is settled when the block exits."""

    def run_on_commit():
        return django_capture_on_commit_callbacks(execute=True)

    return run_on_commit
