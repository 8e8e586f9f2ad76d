"""Random sequences of the foundation operations (invoices, external and standalone payments, applying and
unallocating, voiding, money balance) keep the invariants of the spec's section 10 and agree with the reference
model (the machine: `rules.py`).

The fixed set (every `make test`) runs the machine, then checks that every operation was both done and refused and
that every path in PATHS was taken; the `slow` test (`.ci/run`) runs more random examples once."""

import pytest

from tests.payments.machines.foundation.rules import OPERATIONS, OUTCOMES, PATHS, FoundationMachine
from tests.payments.machines.running import outcomes_expected, run_until_covered

EXPECTED_OUTCOMES = outcomes_expected(OPERATIONS, PATHS)


@pytest.mark.long(seconds=20)
def test_fixed_operations_keep_the_books_consistent(db):
    missed = run_until_covered(FoundationMachine, OUTCOMES, EXPECTED_OUTCOMES, max_examples=35, derandomize=True)

    assert missed == []


@pytest.mark.slow
@pytest.mark.long(seconds=45)
def test_random_operations_keep_the_books_consistent(db):
    """One random run: its steps are checked as the fixed set's are; what it walked is printed, not required."""
    run_until_covered(FoundationMachine, OUTCOMES, EXPECTED_OUTCOMES, max_examples=65, derandomize=False, runs=1)
