"""Row locks of the billing app. Services lock in one order: member, invoices by id, then payments by id."""

from collections.abc import Iterable

from billing.models import Invoice
from billing.rows import row_lock
from members.models import Member


def member_lock(member_id: int, *, only_id: bool = False) -> Member:
    """`only_id`: the caller needs the lock and the row's id (its other fields load when read)."""
    return row_lock(Member, member_id, fields=["pk"] if only_id else None)


def invoice_lock(invoice_id: int) -> Invoice:
    return row_lock(Invoice, invoice_id)


def invoices_lock(invoice_ids: Iterable[int]) -> list[Invoice]:
    return list(Invoice.objects.select_for_update().filter(pk__in=set(invoice_ids)).order_by("pk"))
