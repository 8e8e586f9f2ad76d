"""Once per intent (spec 11): the one-time key of a form that acts, claimed by the service under a unique constraint
in the transaction that acts, like Stripe's idempotency keys applied to our own forms.

A page puts the key on the actor (`Actor.staff(user, intent=...)`); the money service calls `intent_claim` as the
first statement of its durable transaction. A second submission with the same key blocks on the unique index until
the first commits, then gets `IntentRepeated` and the whole transaction rolls back: it changes nothing and the page
shows the first outcome. A refused submission (a BillingError) rolls the claim back with the rest, so the key stays
free for the corrected form.
"""

import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction


@dataclass(frozen=True)
class Intent:
    """The key rendered with one form, and the name of the form (its URL name) it was rendered for."""

    key: uuid.UUID
    action: str


class IntentRepeated(Exception):  # noqa: N818 - a repeat is the answer, not a failure
    """The key was claimed already (this form was submitted before): nothing was done this time. Not a BillingError:
    pages answer it with the first outcome, not with a refusal."""

    def __init__(self, intent):
        super().__init__(f"The form {intent.key} was submitted already.")
        self.intent = intent

    def belongs_to(self, *, user, action: str) -> bool:
        """Whether the first submission was this user's, of the same form: only then may its outcome be shown."""
        return self.intent.user_id is not None and self.intent.user_id == user.pk and self.intent.action == action


def intent_parse(value) -> uuid.UUID | None:
    """The key as a UUID, or None when it is missing or malformed."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def intent_check_unused(*, actor) -> None:
    """Raise `IntentRepeated` if the actor's key was claimed already: for a service that calls the gateway before its
    transaction (saving a card), so a repeat does not reach the gateway. The claim inside the transaction stays the
    guarantee."""
    from billing.models import FormIntent

    if actor.intent is None:
        return
    stored = FormIntent.objects.filter(key=actor.intent.key).first()
    if stored is not None:
        raise IntentRepeated(stored)


def intent_claim(*, actor) -> None:
    """Store the actor's form key; the first statement of a money service's durable transaction, before any lock.
    Raises `IntentRepeated` (the transaction rolls back) when the key is stored already. No key, nothing to claim:
    tasks, commands and the gateway act without a form."""
    from billing.models import FormIntent

    if actor.intent is None:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("A form key is claimed inside the transaction that acts.")
    try:
        with transaction.atomic():
            FormIntent.objects.create(key=actor.intent.key, user=actor.user, action=actor.intent.action)
    except IntegrityError:
        raise IntentRepeated(FormIntent.objects.get(key=actor.intent.key)) from None


def intent_outcome_store(*, intent: Intent, user, url: str, message: str, level: int) -> None:
    """Keep what the first submission showed (after the service returned), for a repeat to show it again."""
    from billing.models import FormIntent

    FormIntent.objects.filter(key=intent.key, user=user).update(
        result_url=url[:500], result_message=message, result_level=level
    )


def intent_outcome_wait(stored):
    """The stored intent once its outcome is written, or None if the first submission is still finishing after
    BILLING_INTENT_OUTCOME_WAIT seconds (or never wrote one: it failed after its commit)."""
    from billing.models import FormIntent

    deadline = time.monotonic() + float(settings.BILLING_INTENT_OUTCOME_WAIT)
    while True:
        stored = FormIntent.objects.filter(pk=stored.pk).first()
        if stored is not None and stored.result_url:
            return stored
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
