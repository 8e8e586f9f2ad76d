"""The corrections machine's invariants, checked after every step that may have changed the books (a refused
operation is checked to change nothing instead): the books pass `billing_integrity_violations()`, invoice and
payment amounts add up and agree with their statuses, credit notes with their refunds, money balances are not
negative, and the sandbox gateway's charges and refunds agree with the books."""

from collections import defaultdict
from decimal import Decimal

from billing.models import CreditNote, CreditNoteLine, InvoiceLine, MoneyBalanceEntry
from payments.integrity import billing_integrity_violations
from payments.models import (
    IN_FLIGHT_STATUSES,
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentStatus,
    Refund,
    RefundAllocation,
    RefundStatus,
)
from payments.sandbox.models import SandboxCharge, SandboxRefund
from payments.services.refund import payment_refundable
from tests.payments.machines.amounts import to_units
from tests.payments.machines.corrections.books import (
    DRAFT,
    PAID,
    VOID,
    ZERO,
    active_allocations,
    balances,
    invoice_rows,
    payment_rows,
)


def books_check() -> None:
    assert billing_integrity_violations() == []
    invoice_amounts_and_statuses_agree()
    payment_amounts_add_up()
    credit_notes_add_up_and_agree_with_their_refunds()
    money_balances_are_not_negative()
    gateway_agrees_with_the_books()


def invoice_amounts_and_statuses_agree() -> None:
    paid, credited, applied = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal)
    for _, _, invoice, amount in active_allocations():
        paid[invoice] += amount
    for invoice, amount in CreditNote.objects.values_list("invoice_id", "amount"):
        credited[invoice] += amount
    for invoice, amount in MoneyBalanceEntry.objects.exclude(invoice=None).values_list("invoice_id", "amount"):
        applied[invoice] -= amount
    for pk, row in invoice_rows().items():
        if row.status == DRAFT:
            assert (paid[pk], credited[pk], applied[pk]) == (ZERO, ZERO, ZERO)
            continue
        assert (row.paid, row.credited, row.balance_applied) == (paid[pk], credited[pk], applied[pk])
        assert row.remaining == row.total - row.credited - row.balance_applied - row.paid >= 0
        assert row.credited <= row.total
        if row.status == VOID:
            assert row.paid == row.credited == row.balance_applied == 0
            assert row.reserved == 0, "a void invoice has a card payment in flight"
        else:
            assert (row.status == PAID) == (row.remaining == 0), f"invoice {pk} is {row.status}: {row}"
    line_credited = defaultdict(Decimal)
    for line, amount in CreditNoteLine.objects.values_list("invoice_line_id", "amount"):
        line_credited[line] += amount
    for line, amount, tax in InvoiceLine.objects.values_list("pk", "amount", "tax"):
        assert line_credited[line] <= amount + tax


def payment_amounts_add_up() -> None:
    instances = {payment.pk: payment for payment in Payment.objects.all()}
    for pk, p in payment_rows().items():
        assert min(p.allocated, p.refunded, p.refund_pending, p.unallocated) >= 0
        if p.status == PaymentStatus.SUCCEEDED:
            assert p.allocated + p.refunded + p.refund_pending + p.unallocated == p.amount
            assert payment_refundable(instances[pk]).amount == p.refundable >= 0
        else:
            assert p.allocated == p.refunded == p.refund_pending == p.unallocated == 0
    in_flight = PaymentAttempt.objects.filter(status__in=[AttemptStatus.QUEUED, AttemptStatus.PROCESSING])
    assert sorted(in_flight.values_list("payment_id", flat=True)) == sorted(
        Payment.objects.filter(status__in=IN_FLIGHT_STATUSES).values_list("pk", flat=True)
    )


def credit_notes_add_up_and_agree_with_their_refunds() -> None:
    cash, out_of_band = defaultdict(Decimal), defaultdict(Decimal)
    for credit_note, kind, amount in (
        Refund.objects.exclude(credit_note=None)
        .exclude(status=RefundStatus.FAILED)
        .values_list("credit_note_id", "kind", "amount")
    ):
        (out_of_band if kind == Refund.Kind.OUT_OF_BAND else cash)[credit_note] += amount
    takes = RefundAllocation.objects.exclude(credit_note=None).exclude(refund=None)
    for credit_note, amount in takes.exclude(refund__status=RefundStatus.FAILED).values_list(
        "credit_note_id", "amount"
    ):
        cash[credit_note] += amount
    rows = CreditNote.objects.values_list(
        "pk", "amount", "pre_payment_amount", "refund_amount", "credit_amount", "out_of_band_amount"
    )
    for pk, amount, pre, refund, credit, oob in rows:
        assert min(pre, refund, credit, oob) >= 0 and amount > 0
        assert pre + refund + credit + oob == amount
        assert (refund, oob) == (cash[pk], out_of_band[pk]), f"credit note {pk} disagrees with its refunds"


def money_balances_are_not_negative() -> None:
    assert all(total >= 0 for total in balances().values())


def gateway_agrees_with_the_books() -> None:
    """Every charge the sandbox made is one succeeded attempt for its payment's amount; what it refunded on
    it is what the payment's succeeded card refunds add up to."""
    charges = dict(
        SandboxCharge.objects.filter(status=SandboxCharge.Status.SUCCEEDED).values_list("pk", "amount_minor")
    )
    refunded = defaultdict(int)
    for charge, units in SandboxRefund.objects.filter(status="succeeded").values_list("charge_id", "amount_minor"):
        refunded[charge] += units
    ours = defaultdict(Decimal)
    card_refunds = Refund.objects.filter(kind=Refund.Kind.GATEWAY, status=RefundStatus.SUCCEEDED)
    for payment, amount in card_refunds.values_list("payment_id", "amount"):
        ours[payment] += amount
    attempts = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED).values_list(
        "gateway_payment_id", "payment_id", "payment__amount", "payment__currency"
    )
    assert sorted(charge for charge, *_ in attempts) == sorted(charges)
    for charge, payment, amount, currency in attempts:
        assert charges[charge] == to_units(amount, currency)
        assert refunded[charge] == to_units(ours[payment], currency)
