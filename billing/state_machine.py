"""The base of every model whose status is a django-fsm state machine."""

import functools

from django_fsm import ConcurrentTransitionMixin, FSMFieldMixin


class StateMachineMixin(ConcurrentTransitionMixin):
    """django-fsm's `ConcurrentTransitionMixin` (a save only wins from the status it was read in), with the model's
    state fields found once a model instead of by a walk over every field each time an instance is built (it showed
    in the money services' time: three such instances a payment)."""

    @property
    def state_fields(self):
        return _state_fields(type(self))


@functools.cache
def _state_fields(model) -> tuple:
    return tuple(field for field in model._meta.fields if isinstance(field, FSMFieldMixin))
