"""Who did something, and the append-only record of what they did."""

from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.errors import NotPermitted
from billing.intents import Intent
from billing.rows import rows_insert


@dataclass(frozen=True)
class Actor:
    """Whoever asks a service to act: a staff user, a member, a system task or the gateway; `intent` is the one-time
    key of the form they submitted, which the service claims (billing/intents.py)."""

    kind: str
    user: AbstractBaseUser | None = None
    label: str = field(default="")
    intent: Intent | None = None

    STAFF = "staff"
    MEMBER = "member"
    SYSTEM = "system"
    GATEWAY = "gateway"

    @classmethod
    def staff(cls, user, *, intent: Intent | None = None) -> "Actor":
        return cls(kind=cls.STAFF, user=user, label=user.get_username(), intent=intent)

    @classmethod
    def member(cls, user, *, intent: Intent | None = None) -> "Actor":
        return cls(kind=cls.MEMBER, user=user, label=user.get_username(), intent=intent)

    @classmethod
    def system(cls, label: str) -> "Actor":
        return cls(kind=cls.SYSTEM, label=label)

    @classmethod
    def gateway(cls, label: str = "gateway webhook") -> "Actor":
        return cls(kind=cls.GATEWAY, label=label)

    def without_intent(self) -> "Actor":
        """The same actor for the next service of one form (pay with a new card: save it, then charge it), once
        the first service claimed the form's key."""
        return replace(self, intent=None)

    @property
    def is_staff(self) -> bool:
        return self.kind == self.STAFF

    def require_staff(self, what: str) -> None:
        """`what`: the action, as the end of "Only the space's staff can ..." ("void invoices")."""
        if self.kind not in (self.STAFF, self.SYSTEM):
            raise NotPermitted(_("Only the space's staff can %(action)s.") % {"action": what})

    def require_permission(self, permission: str, what: str) -> None:
        """Refuse unless this actor may do `what`: a staff user needs the permission ("app_label.codename";
        superusers have them all) and the system acts on the space's behalf. Members and the gateway never may, as
        with `require_staff`: the gateway only reports outcomes, it never starts a money action."""
        if self.kind == self.SYSTEM:
            return
        if self.kind != self.STAFF:
            raise NotPermitted(_("Only the space's staff can %(action)s.") % {"action": what})
        if self.user is None or not self.user.has_perm(permission):
            raise NotPermitted(_("You do not have permission to %(action)s.") % {"action": what})

    def __str__(self) -> str:
        return self.label or self.kind


def activity_build(
    *,
    actor: Actor,
    verb: str,
    member=None,
    invoice=None,
    target=None,
    amount: Money | None = None,
    status_before: str = "",
    status_after: str = "",
    message: str = "",
    data: dict[str, Any] | None = None,
):
    """The activity record, not yet saved: a service that writes several saves them with one `activities_save`."""
    from billing.models import Activity

    return Activity(
        actor_kind=actor.kind,
        actor_user=actor.user if actor.user is not None and actor.user.pk else None,
        actor_label=actor.label,
        verb=verb,
        member=member,
        invoice=invoice,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=target.pk if target is not None else None,
        amount=amount,
        status_before=status_before,
        status_after=status_after,
        message=message,
        data=data or {},
    )


def activity_record(**kwargs):
    """Write one activity record now; takes the arguments of `activity_build`."""
    activity = activity_build(**kwargs)
    activity.save(force_insert=True)
    return activity


def activities_save(activities: list) -> None:
    """Write the built records in one INSERT, in their order, and empty the list (a service may add more)."""
    if activities:
        rows_insert(activities)
        activities.clear()
