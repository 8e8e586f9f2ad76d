"""Record money received outside the gateway (cash, check, bank transfer), for an invoice or standalone."""

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activities_save, activity_build
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice
from billing.money import currency_check, money_check_entered, money_sum
from billing.numbering import ALLOCATION, PAYMENT, numbers_next
from billing.rows import rows_insert, rows_together
from members.models import Member
from payments.allocations import allocations_create
from payments.amounts import invoice_amounts_move
from payments.models import Payment, PaymentMethodKind, PaymentStatus
from payments.outbox import outbox_mail_add
from payments.rules import external_kind_check, invoice_check_accepts_payment, received_on_check


def _external_payment_create(
    *,
    number: str,
    member: Member,
    invoice: Invoice | None,
    amount: Money,
    allocated: Money,
    kind: str,
    reference: str,
    received_on: datetime.date,
    note: str,
    actor: Actor,
    activities: list,
) -> Payment:
    """Insert the payment with its amounts as they stand once `allocated` of it is allocated (the caller inserts
    the allocation), so no UPDATE follows; its activity record joins `activities`. The caller adds the receipt
    (`_receipt_add`)."""
    payment = Payment(
        number=number,
        member=member,
        invoice=invoice,
        currency=amount.currency.code,
        amount=amount,
        method=PaymentMethodKind.EXTERNAL,
        external_kind=kind,
        reference=(reference or "").strip(),
        received_on=received_on,
        status=PaymentStatus.SUCCEEDED,
        amount_allocated=allocated,
        amount_refunded=Money(0, amount.currency),
        amount_refund_pending=Money(0, amount.currency),
        amount_unallocated=amount - allocated,
        note=note,
        created_by=actor.user,
        succeeded_at=timezone.now(),
    )
    rows_insert([payment])
    activities.append(
        activity_build(
            actor=actor,
            verb="payment.received",
            member=member,
            invoice=invoice,
            target=payment,
            amount=amount,
            status_after=payment.status,
            data={"payment": payment.number, "method": payment.get_method_label(), "reference": payment.reference},
        )
    )
    return payment


def _receipt_add(payment: Payment) -> None:
    outbox_mail_add(notification="payment_receipt", payment_id=payment.pk)


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
    on the payment as the member's credit, and an `invoice.overpaid` activity records it. Staff only.

    Round trips: the two locks, both numbers in one query, the payment, then one statement (`rows_together`, on
    PostgreSQL) with the receipt's outbox row, the allocation, the invoice's UPDATE (moved by the amount applied,
    under its lock; at once when its status changes) and the activity records."""
    actor.require_permission("payments.record_external_payment", _("record external payments"))
    kind = external_kind_check(kind)
    received_on = received_on_check(received_on)
    if amount is not None:
        amount = money_check_entered(amount, currency=invoice.currency)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id, only_id=True)
        invoice = invoice_lock(invoice.pk)
        invoice.member = member
        invoice_check_accepts_payment(invoice)
        if amount is None:
            amount = invoice.amount_remaining
        applied = min(amount, invoice.amount_remaining)
        numbers = numbers_next(counts={PAYMENT: 1, ALLOCATION: 1}, year=timezone.localdate().year)
        activities = []
        payment = _external_payment_create(
            number=numbers[PAYMENT][0],
            member=member,
            invoice=invoice,
            amount=amount,
            allocated=applied,
            kind=kind,
            reference=reference,
            received_on=received_on,
            note=note,
            actor=actor,
            activities=activities,
        )
        with rows_together():  # the receipt's row, the allocation, the invoice's amounts, the activity: one statement
            _receipt_add(payment)
            allocations_create(
                invoice=invoice,
                applications=[(payment, applied)],
                actor=actor,
                activities=activities,
                numbers=numbers[ALLOCATION],
            )
            invoice_amounts_move(invoice, actor=actor, paid=applied, activities=activities)
            if amount > applied:
                activities.append(
                    activity_build(
                        actor=actor,
                        verb="invoice.overpaid",
                        member=member,
                        invoice=invoice,
                        target=payment,
                        amount=amount - applied,
                        message=f"{amount - applied} of {payment} is more than {invoice} asked for; "
                        "it stays unallocated as the member's credit.",
                    )
                )
            activities_save(activities)
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
        member = member_lock(member.pk, only_id=True)
        activities = []
        payment = _external_payment_create(
            number=numbers_next(counts={PAYMENT: 1}, year=timezone.localdate().year)[PAYMENT][0],
            member=member,
            invoice=None,
            amount=amount,
            allocated=Money(0, amount.currency),
            kind=kind,
            reference=reference,
            received_on=received_on,
            note=note,
            actor=actor,
            activities=activities,
        )
        with rows_together():
            _receipt_add(payment)
            activities_save(activities)
    return payment


def payment_external_create_locked(
    *,
    member: Member,
    amount: Money,
    applications: list[tuple[Invoice, Money]],
    kind: str,
    reference: str,
    received_on: datetime.date,
    note: str,
    actor: Actor,
    activities: list,
) -> Payment:
    """Record an external payment of `amount` allocated as `applications` say (each invoice once, at most what
    remains on it), the rest unallocated as the member's credit; with no application it is a standalone payment.
    For a caller that holds the member's and the invoices' locks in its own transaction and checked that each
    invoice accepts payment (recording a bank transaction); the activity records join `activities`."""
    allocated = money_sum((applied for _invoice, applied in applications), amount.currency)
    if allocated > amount:
        raise AssertionError(f"{allocated} allocated of a payment of {amount}.")
    numbers = numbers_next(
        counts={PAYMENT: 1, ALLOCATION: len(applications)} if applications else {PAYMENT: 1},
        year=timezone.localdate().year,
    )
    payment = _external_payment_create(
        number=numbers[PAYMENT][0],
        member=member,
        invoice=applications[0][0] if len(applications) == 1 else None,
        amount=amount,
        allocated=allocated,
        kind=external_kind_check(kind),
        reference=reference,
        received_on=received_on_check(received_on),
        note=note,
        actor=actor,
        activities=activities,
    )
    _receipt_add(payment)
    for (invoice, applied), number in zip(applications, numbers.get(ALLOCATION, []), strict=True):
        allocations_create(
            invoice=invoice, applications=[(payment, applied)], actor=actor, activities=activities, numbers=[number]
        )
        invoice_amounts_move(invoice, actor=actor, paid=applied, activities=activities)
    if applications and amount > allocated:
        activities.append(
            activity_build(
                actor=actor,
                verb="payment.excess_unallocated",
                member=member,
                target=payment,
                amount=amount - allocated,
                message=f"{amount - allocated} of {payment} is more than its invoices asked for; "
                "it stays unallocated as the member's credit.",
            )
        )
    return payment
