"""The words of the state machines' rules.

A transition states its rules as `conditions=` (pure predicates on the locked rows, in the models module next to it)
and the right it needs as `permission=`. Pages ask the transition which buttons to show (`can_proceed`,
`has_transition_perm`). A service that refuses a transition says why with a list of `Refusal`s: each pairs one of
those predicates with the message a person can act on when it does not hold, in the order the service asks them.
So a rule is written once, and its words once beside it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django_fsm import can_proceed

from billing.errors import BillingError, InvalidState


@dataclass(frozen=True)
class Refusal:
    """When `holds(obj)` is false, the operation is refused with `error(message(obj))`."""

    holds: Callable[[Any], bool]
    message: Callable[[Any], str]
    error: type[BillingError] = InvalidState


def state_is_not(*states: str) -> Callable[[Any], bool]:
    """A rule for the words only: the object is not in one of `states`. The transition's source is the rule; this
    picks the message for a state it does not start from."""

    def holds(obj) -> bool:
        return obj.status not in states

    holds.__name__ = f"state_is_not_{'_'.join(states)}"
    return holds


def in_source(transition_name: str) -> Callable[[Any], bool]:
    """A rule for the words only: the transition starts from the object's state (its conditions aside)."""

    def holds(obj) -> bool:
        return can_proceed(getattr(obj, transition_name), check_conditions=False)

    holds.__name__ = f"in_source_of_{transition_name}"
    return holds


def refusal_of(obj, refusals: Sequence[Refusal]) -> BillingError | None:
    """The error of the first rule `obj` breaks, in the order given; None when it breaks none."""
    for refusal in refusals:
        if not refusal.holds(obj):
            return refusal.error(refusal.message(obj))
    return None


def transition_refusal(transition, refusals: Sequence[Refusal]) -> BillingError | None:
    """Why the bound `transition` cannot proceed, in words; None when it can. `refusals` must give words to every
    condition of the transition and to every state it does not start from: a refused transition without words is a
    bug, never a user error."""
    error = refusal_of(transition.__self__, refusals)
    if error is None and not can_proceed(transition):
        raise AssertionError(f"{transition.__self__}: {transition.__name__} is refused by a rule without words.")
    return error


def transition_check(transition, refusals: Sequence[Refusal]) -> None:
    """Raise the refusal of the bound `transition` (see `transition_refusal`), if any."""
    error = transition_refusal(transition, refusals)
    if error is not None:
        raise error
