"""Void an invoice, or mark it uncollectible."""

from django.db import transaction
from django.utils import timezone

from billing.activity import Actor, activity_record
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import (
    Invoice,
    InvoiceStatus,
    invoice_has_no_card_payment_in_flight,
    invoice_has_no_credit_note,
    invoice_has_nothing_allocated,
)
from billing.rules import Refusal, in_source, state_is_not, transition_check
from billing.services.invoice_money_balance import balance_return_locked
from payments.amounts import invoice_refresh_amounts, invoice_reserved
from payments.models import Allocation
from payments.retry_schedule import invoice_retries_cancel


def _in_flight_message(what: str):
    def message(invoice: Invoice) -> str:
        return (
            f"{invoice} has a card payment of {invoice_reserved(invoice)} in progress at the gateway; wait for its "
            f"result before you {what}."
        )

    return message


def _allocated_message(invoice: Invoice) -> str:
    allocations = Allocation.objects.filter(invoice=invoice, status=Allocation.Status.ACTIVE).select_related("payment")
    described = ", ".join(f"{allocation.amount} from {allocation.payment}" for allocation in allocations)
    return f"{invoice} has {described} allocated; refund or unallocate it first, or issue a credit note."


# Why `Invoice.void` is refused, in the order a person should hear it.
INVOICE_VOID_REFUSALS = (
    Refusal(
        state_is_not(InvoiceStatus.DRAFT), lambda invoice: f"{invoice} is a draft: delete it instead of voiding it."
    ),
    Refusal(state_is_not(InvoiceStatus.VOID), lambda invoice: f"{invoice} is already void."),
    Refusal(invoice_has_nothing_allocated, _allocated_message),
    Refusal(invoice_has_no_card_payment_in_flight, _in_flight_message("void it")),
    Refusal(
        invoice_has_no_credit_note,
        lambda invoice: f"{invoice} has credit notes and cannot be voided; issue a credit note for the rest.",
    ),
    Refusal(
        state_is_not(InvoiceStatus.PAID),
        lambda invoice: f"{invoice} is paid and cannot be voided; issue a credit note to reduce it.",
    ),
)

# Why `Invoice.mark_uncollectible` is refused.
INVOICE_MARK_UNCOLLECTIBLE_REFUSALS = (
    Refusal(
        in_source("mark_uncollectible"),
        lambda invoice: (
            f"{invoice} is {invoice.get_status_display().lower()}; only an open invoice can be marked uncollectible."
        ),
    ),
    Refusal(invoice_has_no_card_payment_in_flight, _in_flight_message("mark it uncollectible")),
)


def invoice_void(*, invoice: Invoice, actor: Actor) -> Invoice:
    """Void an open or uncollectible invoice with nothing allocated, nothing in flight and no credit note.
    Money balance applied to it returns to the member. Final."""
    actor.require_permission("billing.void_invoice", "void invoices")
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        transition_check(invoice.void, INVOICE_VOID_REFUSALS)
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
        transition_check(invoice.mark_uncollectible, INVOICE_MARK_UNCOLLECTIBLE_REFUSALS)
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
