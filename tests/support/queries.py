"""Counting a service's round trips in a test."""

import contextlib
import re

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.integrity import billing_integrity_violations

SAVEPOINT = re.compile(r"^(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) ")


@contextlib.contextmanager
def round_trips(expected: int):
    """Assert that the block runs `expected` queries, not counting the SAVEPOINT statements that stand in, inside the
    test's transaction, for the service's BEGIN and COMMIT; and that the cached amounts are still those of the rows
    afterwards. The counts are PostgreSQL's (where CI runs): SQLite, for development, takes the PAY and ALC numbers
    from counter rows and sends the writes of a `rows_together()` block one by one, so the test is skipped there."""
    if connection.vendor != "postgresql":
        pytest.skip("round trips are counted on PostgreSQL")
    ContentType.objects.get_for_models(*apps.get_models())  # cached once per process in a running site
    with CaptureQueriesContext(connection) as captured:
        yield
    statements = [query["sql"] for query in captured.captured_queries if not SAVEPOINT.match(query["sql"])]
    listing = "\n".join(f"{index}. {sql[:160]}" for index, sql in enumerate(statements, start=1))
    assert len(statements) == expected, f"{len(statements)} queries, {expected} expected:\n{listing}"
    assert billing_integrity_violations() == []
