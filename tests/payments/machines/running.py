"""Running a machine and checking what it walked: every operation both done and refused, and the named paths taken,
counted over the whole run (`outcomes`), so that a run shows the machine really reaches them."""

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test


def outcomes_expected(operations: tuple[str, ...], paths: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(operation, outcome) for operation in operations for outcome in ("done", "refused")] + list(paths)


def outcomes_missed(outcomes: Counter, expected: list[tuple[str, str]]) -> list[str]:
    return [f"{operation}: never {outcome}" for operation, outcome in expected if not outcomes[operation, outcome]]


def run_until_covered(
    machine: type[RuleBasedStateMachine],
    outcomes: Counter,
    expected: list[tuple[str, str]],
    *,
    max_examples: int,
    step_count: int = 25,
    derandomize: bool,
    runs: int = 3,
) -> list[str]:
    """Run the machine, then return the expected outcomes it missed (none, on success).

    `derandomize`: the first run is a fixed set of examples (the same on every run of this source with this
    Hypothesis on this database: the rows an example makes steer its draws); otherwise every run is random. If a run misses an expected outcome (an edit of the machine or a new
    Hypothesis can make the fixed examples miss a path, and random examples can miss a rare one), random runs follow
    until it is taken, at most `runs` in all, so the check stays thorough without becoming flaky."""
    outcomes.clear()
    missed = []
    for run in range(runs):
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=max_examples,
                stateful_step_count=step_count,
                deadline=None,
                derandomize=derandomize and run == 0,
                print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
            ),
        )
        missed = outcomes_missed(outcomes, expected)
        kind = "fixed" if derandomize and run == 0 else "random"
        print(f"{machine.__name__}, run {run + 1} ({kind}, {max_examples} examples): missed {missed or 'nothing'}")
        if not missed:
            break
    print("\n".join(f"{operation}: {outcome}: {count}" for (operation, outcome), count in sorted(outcomes.items())))
    return missed
