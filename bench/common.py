"""What every benchmark shares: Django set up from the project's settings, a throw-away database on the server of
`DATABASE_URL` (SQLite when unset), the `--smoke` size that CI runs, and the one line per figure that `make bench`
(`bench/run_all.py`) gathers into the table.

A script prints its figures as it likes, then calls `figure_print()` once per row of the table: the product's
figure, the baseline measured in the same run, their ratio and the goal. Scripts never assert on time."""

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coworking_billing.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

FIGURE_PREFIX = "BENCH-FIGURE "


def parser_create(description: str) -> argparse.ArgumentParser:
    """An argument parser with `--smoke`: the smallest size that still runs every step (CI runs each script so)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="run once at a tiny size, so that the script never rots")
    return parser


@contextlib.contextmanager
def throwaway_database():
    """A new test database for the run (created on the server of DATABASE_URL), destroyed afterwards."""
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def figure_print(*, row: str, product: str, baseline: str, ratio: float, goal: str, met: bool) -> None:
    """Print one row of the table: a readable line, then the line `bench/run_all.py` reads."""
    print(f"{row}: {product} / {baseline} = {ratio:.2f} (goal {goal}: {'met' if met else 'NOT met'})")
    figure = {"row": row, "product": product, "baseline": baseline, "ratio": round(ratio, 2), "goal": goal, "met": met}
    print(FIGURE_PREFIX + json.dumps(figure), flush=True)
