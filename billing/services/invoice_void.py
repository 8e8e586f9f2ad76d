"""Void an invoice, or mark it uncollectible."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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


def _in_flight_message(refusal: str):
    """`refusal`: the message when a card payment is in flight, with %(invoice)s and %(reserved)s."""

    def message(invoice: Invoice) -> str:
        return refusal % {"invoice": invoice, "reserved": invoice_reserved(invoice)}

    return message


def _allocated_message(invoice: Invoice) -> str:
    allocations = Allocation.objects.filter(invoice=invoice, status=Allocation.Status.ACTIVE).select_related("payment")
    described = ", ".join(
        _("%(amount)s from %(payment)s") % {"amount": allocation.amount, "payment": allocation.payment}
        for allocation in allocations
    )
    return _("%(invoice)s has %(allocated)s allocated; refund or unallocate it first, or issue a credit note.") % {
        "invoice": invoice,
        "allocated": described,
    }


# Why `Invoice.void` is refused, in the order a person should hear it.
INVOICE_VOID_REFUSALS = (
    Refusal(
        state_is_not(InvoiceStatus.DRAFT),
        lambda invoice: _("%(invoice)s is a draft: delete it instead of voiding it.") % {"invoice": invoice},
    ),
    Refusal(state_is_not(InvoiceStatus.VOID), lambda invoice: _("%(invoice)s is already void.") % {"invoice": invoice}),
    Refusal(invoice_has_nothing_allocated, _allocated_message),
    Refusal(
        invoice_has_no_card_payment_in_flight,
        _in_flight_message(
            gettext_lazy(
                "%(invoice)s has a card payment of %(reserved)s in progress at the gateway; wait for its result "
                "before you void it."
            )
        ),
    ),
    Refusal(
        invoice_has_no_credit_note,
        lambda invoice: (
            _("%(invoice)s has credit notes and cannot be voided; issue a credit note for the rest.")
            % {"invoice": invoice}
        ),
    ),
    Refusal(
        state_is_not(InvoiceStatus.PAID),
        lambda invoice: (
            _("%(invoice)s is paid and cannot be voided; issue a credit note to reduce it.") % {"invoice": invoice}
        ),
    ),
)

# Why `Invoice.mark_uncollectible` is refused.
INVOICE_MARK_UNCOLLECTIBLE_REFUSALS = (
    Refusal(
        in_source("mark_uncollectible"),
        lambda invoice: (
            _("%(invoice)s is %(status)s; only an open invoice can be marked uncollectible.")
            % {"invoice": invoice, "status": invoice.get_status_display().lower()}
        ),
    ),
    Refusal(
        invoice_has_no_card_payment_in_flight,
        _in_flight_message(
            gettext_lazy(
                "%(invoice)s has a card payment of %(reserved)s in progress at the gateway; wait for its result "
                "before you mark it uncollectible."
            )
        ),
    ),
)


def invoice_void(*, invoice: Invoice, actor: Actor) -> Invoice:
    """Void an open or uncollectible invoice with nothing allocated, nothing in flight and no credit note.
    Money balance applied to it returns to the member. Final."""
    actor.require_permission("billing.void_invoice", _("void invoices"))
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
    actor.require_permission("billing.mark_uncollectible_invoice", _("mark invoices uncollectible"))
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
