"""Void an invoice, or mark it uncollectible."""

from django.db import transaction
from django.utils import timezone

from billing.activity import Actor, activity_record
from billing.errors import InvalidState
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice, InvoiceStatus
from billing.services.invoice_money_balance import balance_return_locked
from payments.amounts import invoice_credited, invoice_refresh_amounts, invoice_reserved
from payments.models import Allocation
from payments.retry_schedule import invoice_retries_cancel


def _check_nothing_in_flight(invoice: Invoice, *, what: str) -> None:
    reserved = invoice_reserved(invoice)
    if reserved.amount > 0:
        raise InvalidState(
            f"{invoice} has a card payment of {reserved} in progress at the gateway; wait for its result before "
            f"you {what}."
        )


def invoice_void(*, invoice: Invoice, actor: Actor) -> Invoice:
    """Void an open or uncollectible invoice with nothing allocated, nothing in flight and no credit note.
    Money balance applied to it returns to the member. Final."""
    actor.require_permission("billing.void_invoice", "void invoices")
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        if invoice.status == InvoiceStatus.DRAFT:
            raise InvalidState(f"{invoice} is a draft: delete it instead of voiding it.")
        if invoice.status == InvoiceStatus.VOID:
            raise InvalidState(f"{invoice} is already void.")
        allocations = list(
            Allocation.objects.filter(invoice=invoice, status=Allocation.Status.ACTIVE).select_related("payment")
        )
        if allocations:
            described = ", ".join(f"{allocation.amount} from {allocation.payment}" for allocation in allocations)
            raise InvalidState(
                f"{invoice} has {described} allocated; refund or unallocate it first, or issue a credit note."
            )
        _check_nothing_in_flight(invoice, what="void it")
        if invoice_credited(invoice).amount > 0:
            raise InvalidState(f"{invoice} has credit notes and cannot be voided; issue a credit note for the rest.")
        if invoice.status == InvoiceStatus.PAID:
            raise InvalidState(f"{invoice} is paid and cannot be voided; issue a credit note to reduce it.")
        returned = invoice.amount_balance_applied
        if returned.amount > 0:
            balance_return_locked(
                member=member, invoice=invoice, amount=returned, actor=actor, note=f"{invoice} voided"
            )
        status_before = invoice.status
        invoice.void()
        invoice.voided_at = timezone.now()
        invoice_refresh_amounts(invoice, actor=actor)
        activity_record(
            actor=actor,
            verb="invoice.voided",
            member=member,
            invoice=invoice,
            target=invoice,
            amount=invoice.total,
            status_before=status_before,
            status_after=invoice.status,
        )
        invoice_retries_cancel(invoice=invoice, actor=actor)
    return invoice


def invoice_mark_uncollectible(*, invoice: Invoice, actor: Actor) -> Invoice:
    """Stop collecting an open invoice; it can still be paid or voided."""
    actor.require_permission("billing.mark_uncollectible_invoice", "mark invoices uncollectible")
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        if invoice.status != InvoiceStatus.OPEN:
            raise InvalidState(
                f"{invoice} is {invoice.get_status_display().lower()}; only an open invoice can be marked "
                "uncollectible."
            )
        _check_nothing_in_flight(invoice, what="mark it uncollectible")
        invoice.mark_uncollectible()
        invoice.save()
        activity_record(
            actor=actor,
            verb="invoice.marked_uncollectible",
            member=member,
            invoice=invoice,
            target=invoice,
            amount=invoice.amount_remaining,
            status_before=InvoiceStatus.OPEN,
            status_after=invoice.status,
        )
        invoice_retries_cancel(invoice=invoice, actor=actor)
    return invoice
