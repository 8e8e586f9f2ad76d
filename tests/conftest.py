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


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


@pytest.fixture(scope="session")
def localstripe_server():
    from tests.support.localstripe import localstripe_start

    server = localstripe_start()
    yield server
    server.stop()


@pytest.fixture
def localstripe(localstripe_server, settings):
    """Stripe settings pointing at localstripe, with an empty store for each test."""
    from payments.gateways import gateway_override

    localstripe_server.flush()
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_local"
    settings.STRIPE_API_BASE = localstripe_server.url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    settings.STRIPE_TIMEOUT_SECONDS = 10
    gateway_override(None)
    yield localstripe_server
    gateway_override(None)
