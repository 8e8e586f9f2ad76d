"""Threads racing on the same rows, each on its own database connection (spec 10: the rules hold under
concurrency). Only PostgreSQL locks rows; SQLite serializes whole transactions, so these tests run there only."""

import threading
import traceback
from collections.abc import Callable

import pytest
from django.db import connection

from billing.errors import BillingError

POSTGRES_ONLY = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks (select_for_update) are only real on PostgreSQL; SQLite serializes whole transactions",
    ),
]


def race(calls: list[Callable[[], object]]) -> list:
    """Run every call in its own thread, all released at once by a barrier; each thread closes its connection at
    the end. Returns, in the order of `calls`, what each returned or the BillingError it was refused with; fails
    the test if any call raised anything else (a deadlock, a serialization failure, an integrity error)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[str] = []

    def run(index: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except BillingError as error:
            results[index] = error
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append("".join(traceback.format_exception(error)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting (a lock never released?)"
    assert errors == [], "\n".join(errors)
    return results
