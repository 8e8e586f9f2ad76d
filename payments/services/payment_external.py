"""Record money received outside the gateway (cash, check, bank transfer), for an invoice or standalone."""

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice
from billing.money import currency_check, money_check_entered
from billing.numbering import PAYMENT, number_next
from members.models import Member
from payments.allocations import allocation_create
from payments.amounts import invoice_refresh_amounts, payment_refresh_amounts
from payments.models import Payment, PaymentMethodKind, PaymentStatus
from payments.outbox import outbox_mail_add
from payments.rules import external_kind_check, invoice_check_accepts_payment, received_on_check


def _external_payment_create(
    *,
    member: Member,
    invoice: Invoice | None,
    amount: Money,
    kind: str,
    reference: str,
    received_on: datetime.date,
    note: str,
    actor: Actor,
) -> Payment:
    payment = Payment.objects.create(
        number=number_next(series=PAYMENT, year=timezone.localdate().year),
        member=member,
        invoice=invoice,
        currency=amount.currency.code,
        amount=amount,
        method=PaymentMethodKind.EXTERNAL,
        external_kind=kind,
        reference=(reference or "").strip(),
        received_on=received_on,
        status=PaymentStatus.SUCCEEDED,
        amount_unallocated=amount,
        note=note,
        created_by=actor.user,
        succeeded_at=timezone.now(),
    )
    activity_record(
        actor=actor,
        verb="payment.received",
        member=member,
        invoice=invoice,
        target=payment,
        amount=amount,
        status_after=payment.status,
        data={"payment": payment.number, "method": payment.get_method_label(), "reference": payment.reference},
    )
    outbox_mail_add(notification="payment_receipt", payment_id=payment.pk)
    return payment


def payment_create_external(
    *,
    invoice: Invoice,
    actor: Actor,
    kind: str,
    amount: Money | None = None,
    reference: str = "",
    received_on: datetime.date | None = None,
    note: str = "",
) -> Payment:
    """Record an external payment against an invoice. It pays up to what remains; any excess stays unallocated
    on the payment as the member's credit, and an `invoice.overpaid` activity records it. Staff only."""
    actor.require_permission("payments.record_external_payment", _("record external payments"))
    kind = external_kind_check(kind)
    received_on = received_on_check(received_on)
    if amount is not None:
        amount = money_check_entered(amount, currency=invoice.currency)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        invoice_check_accepts_payment(invoice)
        if amount is None:
            amount = invoice.amount_remaining
        payment = _external_payment_create(
            member=member,
            invoice=invoice,
            amount=amount,
            kind=kind,
            reference=reference,
            received_on=received_on,
            note=note,
            actor=actor,
        )
        applied = min(amount, invoice.amount_remaining)
        allocation_create(payment=payment, invoice=invoice, amount=applied, actor=actor)
        payment_refresh_amounts(payment)
        invoice_refresh_amounts(invoice, actor=actor)
        if amount > applied:
            activity_record(
                actor=actor,
                verb="invoice.overpaid",
                member=member,
                invoice=invoice,
                target=payment,
                amount=amount - applied,
                message=f"{amount - applied} of {payment} is more than {invoice} asked for; "
                "it stays unallocated as the member's credit.",
            )
    return payment


def payment_create_standalone(
    *,
    member: Member,
    actor: Actor,
    amount: Money,
    kind: str,
    reference: str = "",
    received_on: datetime.date | None = None,
    note: str = "",
) -> Payment:
    """Record an external payment with no invoice; all of it stays unallocated until applied."""
    actor.require_permission("payments.record_external_payment", _("record external payments"))
    kind = external_kind_check(kind)
    received_on = received_on_check(received_on)
    amount = money_check_entered(amount)
    currency_check(amount.currency.code)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(member.pk)
        payment = _external_payment_create(
            member=member,
            invoice=None,
            amount=amount,
            kind=kind,
            reference=reference,
            received_on=received_on,
            note=note,
            actor=actor,
        )
        payment_refresh_amounts(payment)
    return payment
