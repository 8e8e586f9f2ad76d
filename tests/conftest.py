import datetime
import itertools
import os
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import translation
from django.utils.translation import trans_real

from billing.activity import Actor
from coworking_billing.celery import app as celery_app
from tests.factories import UserFactory
from tests.support.forms import FormClient


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` go first, longest first, one every second place, so that `make test`'s xdist workers
    (`--dist load --maxschedchunk 1`, which hands each worker the next two tests in this order) each start on
    one and finish together. pytest-django has already put the database tests first and the transactional ones
    after them (a transactional test empties its database, what the migrations wrote included); a worker runs
    its tests in this order, so a long test must not be transactional, or it would move ahead of that boundary."""
    long_tests = sorted(
        (item for item in items if item.get_closest_marker("long")),
        key=lambda item: item.get_closest_marker("long").kwargs["seconds"],
        reverse=True,
    )
    for item in long_tests:
        marker = item.get_closest_marker("django_db")
        if (
            marker
            and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences"))
            or {
                "transactional_db",
                "live_server",
            }
            & set(item.fixturenames)
        ):
            raise pytest.UsageError(f"{item.nodeid}: a test marked long must not be transactional")
    others = iter([item for item in items if not item.get_closest_marker("long")])
    ordered = []
    for item in long_tests:
        ordered.append(item)
        ordered.extend(itertools.islice(others, 1))
    items[:] = ordered + list(others)


@pytest.fixture
def client() -> FormClient:
    """pytest-django's `client`, as a `FormClient`."""
    return FormClient()


@pytest.fixture(scope="session", autouse=True)
def catalogs_compiled():
    """The translation catalogues compiled (as `make test` does), so that a bare `pytest` shows French and German."""
    call_command("compile_catalogs")
    trans_real._translations = {}
    trans_real._default = None


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts and ends in LANGUAGE_CODE: a page in French (LocaleMiddleware, a member's language) leaves
    its language active in the thread, which the next test would otherwise inherit."""
    translation.deactivate()
    yield
    translation.deactivate()


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


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): ...` runs what the block queued for after its commit (the Celery tasks, eager here, and
    the mail), as the commit of a real request would; callbacks queued by those callbacks run too."""

    def run_on_commit():
        return django_capture_on_commit_callbacks(execute=True)

    return run_on_commit


@pytest.fixture
def no_worker():
    """Tasks go to a broker queue of this test's own that no worker reads: a charge or a refund stays queued (in
    flight)."""
    queue = f"tests-no-worker-{uuid.uuid4().hex[:12]}"
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = default_queue
    broker_queue_delete(queue)


def broker_queue_delete(name: str) -> None:
    """Remove a test's queue, its messages and its bindings from the broker (Redis, or memory without REDIS_URL).
    The queue is declared on this channel first: kombu deletes only the bindings its channel knows."""
    with celery_app.connection_for_write() as connection:
        queue = celery_app.amqp.queues[name].bind(connection.default_channel)
        queue.declare()
        queue.delete()


@pytest.fixture
def use_gateway():
    """`use_gateway(SandboxGateway(fail_before_charge=True))` until the end of the test."""
    from payments.gateways import gateway_override

    yield gateway_override
    gateway_override(None)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (tests/support/browser.py). Playwright's sync API keeps an event loop in
    this thread for as long as it runs: the tests' own ORM calls (and the database flush after each test) are still
    synchronous, so Django is told so."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) on pytest-django's live server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def _celery_connections_reset() -> None:
    """Forget the broker connections Celery keeps, so that the next task is published to `broker_url` as it is now
    (kombu keeps the pools themselves, one per broker address, for the next test)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """Celery's broker is a closed port on 127.0.0.1 (Redis is down) and tasks are not run in-process: publishing
    fails. Call the fixture's value to bring the broker back (tasks then run in-process, as without a worker)."""
    from tests.support.localstripe import closed_port_url

    broker_url = celery_app.conf.broker_url
    celery_app.conf.broker_url = closed_port_url().replace("http://", "redis://") + "/0"
    celery_app.conf.task_always_eager = False
    _celery_connections_reset()

    def bring_back() -> None:
        celery_app.conf.broker_url = broker_url
        celery_app.conf.task_always_eager = True
        _celery_connections_reset()

    yield bring_back
    bring_back()


@pytest.fixture
def smtp_down(settings):
    """Mail goes through SMTP to a closed port on 127.0.0.1 (the mail server is down): sending fails. Call the
    fixture's value to bring mail back (Django's locmem backend: `mailoutbox`)."""
    from tests.support.localstripe import closed_port_url

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = int(closed_port_url().rsplit(":", 1)[1])
    settings.EMAIL_TIMEOUT = 5

    def bring_back() -> None:
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    return bring_back


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
