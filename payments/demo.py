"""The demo space's payments of every kind and its refunds, made by the payments services as a space administrator
would make them. Called by the `seed_demo` command after billing/demo.py has issued the invoices they pay; the
saved cards and card payments are the sandbox's (payments/sandbox/demo.py)."""

import datetime
from collections import Counter

from djmoney.money import Money

from billing.activity import Actor
from billing.demo import DemoCalendar, StoryInvoices
from billing.models import Activity, CreditNote, Invoice, MoneyBalanceEntry
from billing.services.invoice_void import invoice_void
from members.models import Member
from payments.models import (
    Allocation,
    AttemptStatus,
    ExternalKind,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from payments.services.attempt_execute import attempt_execute
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund, refund_execute


def demo_payments_record(
    *, members: dict[str, Member], invoices: StoryInvoices, actor: Actor, calendar: DemoCalendar
) -> None:
    """The story's external payments and their corrections, in date order. Each step is one service call, as in
    the admin."""
    northwind = members["northwind"]
    july, october = calendar.month_start(4), calendar.month_start(1)
    days = datetime.timedelta

    # Oliver paid his first month through PayPal ("other"), then left without paying the next.
    payment_create_external(
        invoice=invoices.oliver_first,
        actor=actor,
        kind=ExternalKind.OTHER,
        reference="PayPal 5TY12345AB678901C",
        received_on=july + days(9),
        note="Paid through PayPal.",
    )

    # Léa paid in cash at the front desk.
    payment_create_external(
        invoice=invoices.lea_paid, actor=actor, kind=ExternalKind.CASH, received_on=october + days(4)
    )

    # Bright Pixel's transfer was recorded on the duplicate, then moved to the right invoice; the duplicate is
    # voided.
    bright_paid = invoices.bright_paid
    bright_transfer = payment_create_external(
        invoice=invoices.bright_duplicate,
        actor=actor,
        kind=ExternalKind.BANK_TRANSFER,
        reference="SEPA TRF 7781-BP-1025",
        received_on=october + days(9),
    )
    allocation_remove(allocation=bright_transfer.allocations.get(), actor=actor)
    invoice_void(invoice=invoices.bright_duplicate, actor=actor)
    payment_apply(invoice=bright_paid, applications=[(bright_transfer, bright_paid.amount_remaining)], actor=actor)

    # Sakura rounded their wire up: the excess stays on the payment as their credit (invoice.overpaid).
    payment_create_external(
        invoice=invoices.sakura_overpaid,
        actor=actor,
        kind=ExternalKind.BANK_TRANSFER,
        amount=Money("70000", "JPY"),
        reference="Wire SAKURA-DSGN-0042",
        received_on=october + days(19),
    )

    # Léa paid this month by check; it bounces below, so the payment is void and the invoice open again. She then
    # pays part of it in cash.
    lea_check = payment_create_external(
        invoice=invoices.lea_partial,
        actor=actor,
        kind=ExternalKind.CHECK,
        reference="Check no. 0004512",
        received_on=calendar.days_ago(8),
    )

    # Northwind's accountant paid both months with one transfer.
    northwind_first, northwind_second = invoices.northwind_first, invoices.northwind_second
    northwind_transfer = payment_create_standalone(
        member=northwind,
        actor=actor,
        amount=northwind_first.amount_remaining + northwind_second.amount_remaining,
        kind=ExternalKind.BANK_TRANSFER,
        reference=f"SEPA NWST {northwind_first.number} {northwind_second.number}",
        received_on=calendar.days_ago(5),
    )
    for invoice in (northwind_first, northwind_second):
        payment_apply(invoice=invoice, applications=[(northwind_transfer, invoice.amount_remaining)], actor=actor)

    payment_void(payment=lea_check, actor=actor, reason="Check returned unpaid by the bank (insufficient funds).")

    # Northwind sent a deposit for a new desk.
    payment_create_standalone(
        member=northwind,
        actor=actor,
        amount=Money("500.00", "EUR"),
        kind=ExternalKind.BANK_TRANSFER,
        reference="SEPA NWST DEPOSIT",
        received_on=calendar.days_ago(2),
        note="Deposit for a fifth desk from next month.",
    )
    payment_create_external(
        invoice=invoices.lea_partial,
        actor=actor,
        kind=ExternalKind.CASH,
        amount=Money("150.00", "EUR"),
        received_on=calendar.days_ago(1),
    )


def demo_card_payments(member: Member):
    return Payment.objects.filter(member=member, method=PaymentMethodKind.CARD)


def demo_charge_settle(payment: Payment) -> None:
    """Run the charge now, so the demo shows its outcome even when the queued task waits for a worker. When the
    task already ran (no broker: tasks run in-process) the attempt is settled and this does nothing; a worker
    that picks it up later finds it settled too (the attempt is claimed under a lock, and the gateway is sent
    the same idempotency key)."""
    for attempt_id in payment.attempts.filter(status=AttemptStatus.QUEUED).values_list("pk", flat=True):
        attempt_execute(attempt_id=attempt_id)


def demo_refund_settle(refund: Refund) -> None:
    """Send a card refund to the gateway now, so the demo shows its outcome even when the queued task waits for
    a worker (as `demo_charge_settle` does for charges; the gateway is sent the refund's own idempotency key)."""
    if Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).exists():
        refund_execute(refund_id=refund.pk)


def demo_refunds_ensure(*, members: dict[str, Member], actor: Actor) -> bool:
    """Refunds on top of the story: part of Léa's card payment, part of Northwind's deposit. Each step checks what
    exists first, so it runs once, also on a database seeded before refunds existed."""
    created = False
    lea, northwind = members["lea"], members["northwind"]

    # Léa's workshop ended an hour early: 25.00 of her card payment goes back to her card, and a credit note
    # reduces the workshop invoice by as much, so it stays paid.
    card_payment = demo_card_payments(lea).filter(status=PaymentStatus.SUCCEEDED).first()
    if card_payment is not None and not card_payment.refunds.exists():
        refund = payment_refund(
            payment=card_payment,
            amount=Money("25.00", "EUR"),
            reason=Refund.Reason.REQUESTED_BY_MEMBER,
            note="The workshop ended an hour early.",
            invoice_handling=Refund.InvoiceHandling.CREDIT_NOTE,
            actor=actor,
        )
        demo_refund_settle(refund)
        created = True

    # Northwind's fifth desk will be part-time: 200.00 of their deposit was sent back by transfer.
    deposit = Payment.objects.filter(member=northwind, reference="SEPA NWST DEPOSIT").first()
    if deposit is not None and not deposit.refunds.exists():
        payment_refund(
            payment=deposit,
            amount=Money("200.00", "EUR"),
            reason=Refund.Reason.REQUESTED_BY_MEMBER,
            note="The fifth desk will be part-time; 200.00 of the deposit returned by bank transfer.",
            actor=actor,
        )
        created = True
    return created


def demo_generated_payment_record(*, invoice: Invoice, index: int, actor: Actor, calendar: DemoCalendar) -> Payment:
    """A generated member (`--members`) paid last month's invoice by transfer."""
    return payment_create_external(
        invoice=invoice,
        actor=actor,
        kind=ExternalKind.BANK_TRANSFER,
        reference=f"SEPA {index:04d}",
        received_on=calendar.month_start(1) + datetime.timedelta(days=index % 10),
    )


def demo_payments_summary() -> list[str]:
    payments = Payment.objects.all()
    kinds = Counter(
        payment.get_external_kind_display().lower() if payment.is_external else "card" for payment in payments
    )
    voided = sum(1 for payment in payments if payment.status == PaymentStatus.VOID)
    failed = sum(1 for payment in payments if payment.status == PaymentStatus.FAILED)
    unallocated = sum(1 for payment in payments if payment.amount_unallocated.amount > 0)
    lines = [
        f"Payments: {payments.count()} ("
        + ", ".join(f"{label.lower()} {count}" for label, count in sorted(kinds.items()))
        + f"; {voided} void, {failed} failed, {unallocated} with unallocated money)",
        f"Allocations: {Allocation.objects.count()}, money balance entries: {MoneyBalanceEntry.objects.count()}, "
        f"activity records: {Activity.objects.count()}",
    ]
    refunds = Counter(Refund.objects.values_list("kind", flat=True))
    refund_kinds = {
        Refund.Kind.GATEWAY: "to a card",
        Refund.Kind.RECORDED: "recorded",
        Refund.Kind.OUT_OF_BAND: "outside",
    }
    summary = f"Refunds: {sum(refunds.values())}"
    if refunds:
        summary += (
            " (" + ", ".join(f"{refunds[kind]} {label}" for kind, label in refund_kinds.items() if refunds[kind]) + ")"
        )
    lines.append(f"{summary}, credit notes: {CreditNote.objects.count()}")
    return lines
