"""Creating and removing allocations. Callers hold the locks on the member, the invoice and the payment, and
refresh both amounts afterwards."""

from collections.abc import Iterable

from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.models import Invoice
from billing.numbering import ALLOCATION, number_next
from payments.models import Allocation, Payment


def allocation_create(*, payment: Payment, invoice: Invoice, amount: Money, actor: Actor) -> Allocation:
    allocation = Allocation.objects.create(
        number=number_next(series=ALLOCATION, year=timezone.localdate().year),
        payment=payment,
        invoice=invoice,
        amount=amount,
        original_amount=amount,
        actor_label=actor.label,
        created_by=actor.user,
    )
    activity_record(
        actor=actor,
        verb="payment.allocated",
        member=invoice.member,
        invoice=invoice,
        target=payment,
        amount=amount,
        data={"allocation": allocation.number, "payment": payment.number},
    )
    return allocation


def allocation_reduce(*, allocation: Allocation, amount: Money, actor: Actor, reason: str) -> Money:
    """Take `amount` off the allocation (all of it removes the allocation); the money goes back to unallocated on
    its payment. Returns the amount taken."""
    allocation.amount -= amount
    if allocation.amount.amount == 0:
        allocation.remove()
        allocation.removed_at = timezone.now()
        allocation.removed_reason = reason
    allocation.save(update_fields=["amount", "amount_currency", "status", "removed_at", "removed_reason"])
    activity_record(
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
    return amount


def allocation_release(*, allocation: Allocation, actor: Actor, reason: str) -> Money:
    """Take the whole allocation off its invoice; return the amount released."""
    return allocation_reduce(allocation=allocation, amount=allocation.amount, actor=actor, reason=reason)


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
