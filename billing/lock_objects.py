"""Row locks of the billing app. Services lock in one order: member, invoices by id, then payments by id."""

from collections.abc import Iterable

from billing.models import Invoice
from members.models import Member


def member_lock(member_id: int, *, only_id: bool = False) -> Member:
    """`only_id`: the caller needs the lock and the row's id (its other fields load when read)."""
    members = Member.objects.select_for_update()
    return (members.only("pk") if only_id else members).get(pk=member_id)


def invoice_lock(invoice_id: int) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice_id)


def invoices_lock(invoice_ids: Iterable[int]) -> list[Invoice]:
    return list(Invoice.objects.select_for_update().filter(pk__in=set(invoice_ids)).order_by("pk"))
