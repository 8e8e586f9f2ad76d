"""Creating and removing allocations. Callers hold the locks on the member, the invoice and the payment, and
refresh or move both amounts afterwards."""

from collections.abc import Iterable

from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor, activities_save, activity_build
from billing.models import Invoice
from billing.numbering import ALLOCATION, numbers_next
from billing.rows import rows_insert
from payments.models import Allocation, Payment


def allocation_create(*, payment: Payment, invoice: Invoice, amount: Money, actor: Actor) -> Allocation:
    activities = []
    (allocation,) = allocations_create(
        invoice=invoice, applications=[(payment, amount)], actor=actor, activities=activities
    )
    activities_save(activities)
    return allocation


def allocations_create(
    *,
    invoice: Invoice,
    applications: list[tuple[Payment, Money]],
    actor: Actor,
    activities: list,
    numbers: list[str] | None = None,
) -> list[Allocation]:
    """One allocation to the invoice per (payment, amount), inserted together; their activity records join
    `activities` (the caller saves them). `numbers`: the ALC numbers, when the caller took them with others."""
    if numbers is None:
        numbers = numbers_next(counts={ALLOCATION: len(applications)}, year=timezone.localdate().year).get(ALLOCATION)
    allocations = [
        Allocation(
            number=number,
            payment=payment,
            invoice=invoice,
            amount=amount,
            original_amount=amount,
            actor_label=actor.label,
            created_by=actor.user,
        )
        for number, (payment, amount) in zip(numbers or [], applications, strict=True)
    ]
    rows_insert(allocations)
    activities.extend(
        activity_build(
            actor=actor,
            verb="payment.allocated",
            member=invoice.member,
            invoice=invoice,
            target=allocation.payment,
            amount=allocation.amount,
            data={"allocation": allocation.number, "payment": allocation.payment.number},
        )
        for allocation in allocations
    )
    return allocations


def allocation_reduce(
    *, allocation: Allocation, amount: Money, actor: Actor, reason: str, activities: list | None = None
) -> Money:
    """Take `amount` off the allocation (all of it removes the allocation); the money goes back to unallocated on
    its payment. Returns the amount taken. The activity record joins `activities` when given (the caller saves
    them), else it is written at once."""
    allocation.amount -= amount
    if allocation.amount.amount == 0:
        allocation.remove()
        allocation.removed_at = timezone.now()
        allocation.removed_reason = reason
    allocation.save(update_fields=["amount", "amount_currency", "status", "removed_at", "removed_reason"])
    activity = activity_build(
        actor=actor,
        verb="payment.unallocated",
        member=allocation.invoice.member,
        invoice=allocation.invoice,
        target=allocation.payment,
        amount=amount,
        message=reason,
        data={
            "allocation": allocation.number,
            "payment": allocation.payment.number,
            "partial": allocation.status == Allocation.Status.ACTIVE,
        },
    )
    if activities is None:
        activity.save(force_insert=True)
    else:
        activities.append(activity)
    return amount


def allocation_release(*, allocation: Allocation, actor: Actor, reason: str, activities: list | None = None) -> Money:
    """Take the whole allocation off its invoice; return the amount released."""
    return allocation_reduce(
        allocation=allocation, amount=allocation.amount, actor=actor, reason=reason, activities=activities
    )


def allocations_newest_first(
    allocations: Iterable[Allocation], amount: Money
) -> tuple[list[tuple[Allocation, Money]], Money]:
    """The walk that takes money back from allocations: newest first, each up to its amount, until `amount` is
    taken. Returns what it takes from each (in that order) and what is left when they hold less. Reads only: the
    previews show it, and `allocations_take_newest_first` does it."""
    takes = []
    left = amount
    for allocation in sorted(allocations, key=lambda a: (a.created_at, a.pk), reverse=True):
        if left.amount <= 0:
            break
        take = min(allocation.amount, left)
        takes.append((allocation, take))
        left -= take
    return takes, left


def allocations_take_newest_first(
    *, allocations: list[Allocation], amount: Money, actor: Actor, reason: str
) -> list[tuple[Allocation, Money]]:
    """Shrink the allocations, newest first, by `amount` in all; return what was taken from each."""
    takes, left = allocations_newest_first(allocations, amount)
    if left.amount > 0:
        raise AssertionError(f"{left} could not be taken from the allocations.")
    for allocation, take in takes:
        allocation_reduce(allocation=allocation, amount=take, actor=actor, reason=reason)
    return takes
