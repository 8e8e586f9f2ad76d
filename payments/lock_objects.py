"""Row locks of the payments app, taken after the member and invoice locks of `billing.lock_objects`."""

from collections.abc import Iterable

from payments.models import Allocation, Payment


def payment_lock(payment_id: int) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment_id)


def payments_lock(payment_ids: Iterable[int]) -> list[Payment]:
    return list(Payment.objects.select_for_update().filter(pk__in=set(payment_ids)).order_by("pk"))


def allocations_lock(allocation_ids: Iterable[int]) -> list[Allocation]:
    return list(Allocation.objects.select_for_update().filter(pk__in=set(allocation_ids)).order_by("pk"))
