"""Random sequences of corrections and card payments keep the invariants of the spec's section 10 and do what the
oracle says (the machine: `rules.py`).

The fixed set (every `make test`) runs the machine, then checks that every operation was both done and refused and
that every path in PATHS was taken; the `slow` test (`.ci/run`) runs more random examples once."""

import pytest

from payments.gateways import gateway_override
from tests.payments.machines.corrections.machine import OUTCOMES
from tests.payments.machines.corrections.rules import OPERATIONS, PATHS, CorrectionsMachine
from tests.payments.machines.running import outcomes_expected, run_until_covered

EXPECTED_OUTCOMES = outcomes_expected(OPERATIONS, PATHS)


def corrections_run(capture_on_commit, *, max_examples: int, derandomize: bool, runs: int = 3) -> list[str]:
    CorrectionsMachine.capture_on_commit = staticmethod(capture_on_commit)
    try:
        return run_until_covered(
            CorrectionsMachine,
            OUTCOMES,
            EXPECTED_OUTCOMES,
            max_examples=max_examples,
            derandomize=derandomize,
            runs=runs,
        )
    finally:
        gateway_override(None)


@pytest.mark.long(seconds=50)
def test_fixed_corrections_and_card_payments_keep_the_books_consistent(db, django_capture_on_commit_callbacks):
    missed = corrections_run(django_capture_on_commit_callbacks, max_examples=30, derandomize=True)

    assert missed == []


@pytest.mark.slow
@pytest.mark.long(seconds=60)
def test_random_corrections_and_card_payments_keep_the_books_consistent(db, django_capture_on_commit_callbacks):
    """One random run: its steps are checked as the fixed set's are; what it walked is printed, not required."""
    corrections_run(django_capture_on_commit_callbacks, max_examples=35, derandomize=False, runs=1)
