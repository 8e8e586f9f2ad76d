"""The one walk that takes money back from allocations, newest first (`payments.allocations`): the refund and credit
note previews show it and `allocations_take_newest_first` does it."""

import datetime

import pytest

from payments.allocations import allocations_newest_first, allocations_take_newest_first
from payments.models import Allocation
from tests.factories import SYSTEM, eur, external_payment, open_invoice, reload

NOON = datetime.datetime(2026, 3, 2, 12, 0, tzinfo=datetime.UTC)


def allocation(pk: int, amount: str, *, minutes: int = 0) -> Allocation:
    return Allocation(pk=pk, amount=eur(amount), created_at=NOON + datetime.timedelta(minutes=minutes))


def test_the_walk_takes_from_the_newest_allocation_first_the_later_id_first_at_the_same_time():
    oldest, tied_low, tied_high = (
        allocation(1, "50.00"),
        allocation(2, "30.00", minutes=5),
        allocation(3, "10.00", minutes=5),
    )

    takes, left = allocations_newest_first([oldest, tied_low, tied_high], eur("45.00"))

    assert takes == [(tied_high, eur("10.00")), (tied_low, eur("30.00")), (oldest, eur("5.00"))]
    assert left == eur("0.00")


def test_the_walk_stops_when_the_amount_is_taken_and_says_what_is_left_when_they_hold_less():
    older, newer = allocation(1, "50.00"), allocation(2, "30.00", minutes=1)

    assert allocations_newest_first([older, newer], eur("30.00")) == ([(newer, eur("30.00"))], eur("0.00"))
    assert allocations_newest_first([older, newer], eur("0.00")) == ([], eur("0.00"))
    assert allocations_newest_first([older, newer], eur("95.00")) == (
        [(newer, eur("30.00")), (older, eur("50.00"))],
        eur("15.00"),
    )


@pytest.mark.django_db
def test_taking_shrinks_the_allocations_the_walk_names_and_refuses_more_than_they_hold():
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="60.00")
    external_payment(invoice=invoice, amount="40.00")
    older, newer = Allocation.objects.order_by("pk")
    allocations = [reload(older), reload(newer)]
    planned, _left = allocations_newest_first(allocations, eur("70.00"))

    taken = allocations_take_newest_first(allocations=allocations, amount=eur("70.00"), actor=SYSTEM, reason="Test")

    assert taken == planned
    assert [(a.pk, take) for a, take in taken] == [(newer.pk, eur("40.00")), (older.pk, eur("30.00"))]
    assert (reload(newer).status, reload(newer).amount) == (Allocation.Status.REMOVED, eur("0.00"))
    assert (reload(older).status, reload(older).amount) == (Allocation.Status.ACTIVE, eur("30.00"))
    with pytest.raises(AssertionError, match="could not be taken"):
        allocations_take_newest_first(allocations=[reload(older)], amount=eur("30.01"), actor=SYSTEM, reason="Test")
    assert reload(older).amount == eur("30.00")
