import datetime

import pytest
from django.contrib.auth import get_user_model

from billing.activity import Actor
from coworking_billing.celery import app as celery_app


@pytest.fixture(autouse=True)
def celery_eager():
    """Tasks run in-process unless a test starts a real worker (the integration tests do)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_superuser("manager", "manager@space.example", "manager-password")


@pytest.fixture
def staff(staff_user) -> Actor:
    return Actor.staff(staff_user)


@pytest.fixture
def today() -> datetime.date:
    from django.utils import timezone

    return timezone.localdate()
