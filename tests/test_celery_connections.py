"""A Celery worker keeps its database connection from task to task, as a web process does from request to request
(CONN_MAX_AGE), and drops it once it is too old; Celery's Django fixup would close it around every task, and each
charge would pay for a new PostgreSQL backend."""

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from coworking_billing.celery import app, database_connections_tidy

pytestmark = pytest.mark.django_db(transaction=True)  # in autocommit, as a worker's connection is between tasks

TASK_IN_A_WORKER = SimpleNamespace(request=SimpleNamespace(is_eager=False))
TASK_RUN_EAGERLY = SimpleNamespace(request=SimpleNamespace(is_eager=True))


def connected():
    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60  # within CONN_MAX_AGE
    return connection.connection


def test_the_connection_outlives_a_task():
    opened = connected()

    DjangoWorkerFixup(app).close_database()  # Celery's fixup, before and after each task
    database_connections_tidy(sender=TASK_IN_A_WORKER)

    assert connection.connection is opened


def test_a_connection_older_than_its_max_age_is_closed_between_tasks():
    connected()
    connection.close_at = time.monotonic() - 1

    database_connections_tidy(sender=TASK_IN_A_WORKER)

    assert connection.connection is None


def test_a_task_run_eagerly_leaves_the_callers_connection_alone():
    opened = connected()
    connection.close_at = time.monotonic() - 1

    database_connections_tidy(sender=TASK_RUN_EAGERLY)

    assert connection.connection is opened
