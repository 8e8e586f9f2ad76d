"""A real Celery worker, on Redis and PostgreSQL, charging cards end to end (spec 5.2, 6; STYLE: real parts).

The worker is another process: it reads what this test committed to the test database, so the tests use
`transactional_db`, and it consumes a queue of the test's own on the broker of REDIS_URL.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from djmoney.money import Money

from billing.models import InvoiceStatus
from coworking_billing.celery import app as celery_app
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, AttemptStatus, PaymentAttempt, PaymentStatus
from payments.sandbox.models import SandboxCharge
from payments.services.payment_card import payment_create_card
from tests.factories import open_invoice, reload, saved_card
from tests.payments.card.conftest import broker_queue_delete

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.REDIS_URL, reason="a real Celery worker needs a Redis broker: set REDIS_URL"),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="a worker in another process needs a shared database server: set DATABASE_URL to PostgreSQL",
    ),
]

BASE_DIR = Path(settings.BASE_DIR)
CELERY = Path(sys.executable).parent / "celery"
STARTUP_SECONDS = 60
CHARGE_SECONDS = 60


def _test_database_url() -> str:
    """DATABASE_URL with the test database's name, which the worker must use instead of the real one."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A worker process for the test, on a queue of its own; stopped in any case. (One per test: the database is
    emptied after each transactional test, content types included, which a longer-lived worker has cached.)"""
    with worker_running(tmp_path) as running:
        yield running


@contextlib.contextmanager
def worker_running(tmp_path: Path, *, beat: bool = False, env_extra: dict[str, str] | None = None):
    """The worker process of the `worker` fixture; with `beat`, Celery beat runs inside it (`-B`), its schedule kept
    in tmp_path, and sends the beat tasks to the worker's queue."""
    queue = f"tests-worker-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "coworking_billing.settings",
        **(env_extra or {}),
    }
    command = [
        str(CELERY),
        "-A",
        "coworking_billing",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
        *(["-B", "-s", str(tmp_path / "beat-schedule")] if beat else []),
        "--",
        f"task.default_queue={queue}",  # what the worker's own tasks queue (a retry's charge) stays with it
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while "ready." not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"The Celery worker did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield queue, process, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        broker_queue_delete(queue)


@pytest.fixture
def tasks_to_worker(worker):
    """Tasks are sent to the worker's queue instead of running in this process."""
    queue, process, log_path = worker
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    yield process, log_path
    celery_app.conf.task_default_queue = default_queue


def wait_for(predicate, *, what: str, log_path: Path, process, timeout: float = CHARGE_SECONDS):
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            pytest.fail(f"The Celery worker exited while waiting for {what}:\n{log_path.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s waiting for {what}:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.2)


def test_a_worker_charges_the_card_and_pays_the_invoice(tasks_to_worker, staff):
    process, log_path = tasks_to_worker
    invoice = open_invoice(amounts=["42.00"])
    saved_card(invoice.member)

    payment = payment_create_card(invoice=invoice, actor=staff)

    wait_for(
        lambda: reload(payment).status == PaymentStatus.SUCCEEDED,
        what=f"{payment.number} to succeed",
        log_path=log_path,
        process=process,
    )
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_unallocated) == (Money("42.00", "EUR"), Money("0", "EUR"))
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.claimed_until is not None) == (AttemptStatus.SUCCEEDED, True)
    charge = SandboxCharge.objects.get()
    assert (charge.id, charge.amount_minor, charge.status) == (attempt.gateway_payment_id, 4200, "succeeded")
    assert Allocation.objects.get().amount == Money("42.00", "EUR")
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_a_worker_records_a_decline_and_a_new_card_pays_through_the_worker(tasks_to_worker, staff):
    process, log_path = tasks_to_worker
    invoice = open_invoice(amounts=["18.50"])
    saved_card(invoice.member, "4000000000000341")

    payment = payment_create_card(invoice=invoice, actor=staff)

    wait_for(
        lambda: reload(payment).status == PaymentStatus.FAILED,
        what=f"{payment.number} to fail",
        log_path=log_path,
        process=process,
    )
    assert reload(payment).failure_code == "generic_decline"

    card = saved_card(reload(invoice.member), "5555555555554444")

    wait_for(
        lambda: reload(payment).status == PaymentStatus.SUCCEEDED,
        what=f"{payment.number} to succeed with the new card",
        log_path=log_path,
        process=process,
    )
    assert reload(payment).payment_method == card
    assert [a.trigger for a in PaymentAttempt.objects.order_by("pk")] == ["staff", "new_card"]
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []
