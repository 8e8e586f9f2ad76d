"""Stripe's worked examples of "Accept partial payments for invoices" (credit notes on partly paid invoices,
overpayments kept as credit), with our services (spec 5.1, 5.7, 5.11)."""

import pytest
from djmoney.money import Money

from billing.models import Activity, CreditNoteReason, InvoiceStatus, ShownStatus
from billing.money import money_to_minor_units
from billing.services.credit_note_issue import credit_note_issue, credit_note_preview
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, PaymentAttempt, Refund, RefundAllocation, RefundStatus
from payments.sandbox.models import SandboxCharge, SandboxRefund
from tests.factories import MemberFactory, eur, external_payment, open_invoice, reload, saved_card
from tests.payments.refunds.helpers import card_paid

pytestmark = pytest.mark.django_db


def test_a_credit_note_on_a_partly_paid_invoice_reduces_what_remains(staff, today):
    """Invoice 100, paid 40, credit note 30: all of it comes off what is still owed."""
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")

    preview = credit_note_preview(invoice=reload(invoice), amount=eur("30.00"))
    credit_note = credit_note_issue(
        invoice=invoice, actor=staff, reason=CreditNoteReason.ORDER_CHANGE, amount=eur("30.00")
    )

    assert (preview.pre_payment_amount, preview.post_payment_amount) == (eur("30.00"), eur("0.00"))
    credit_note = reload(credit_note)
    assert credit_note.number == f"CN-{today.year}-00001"
    assert (credit_note.invoice, credit_note.currency, credit_note.amount) == (invoice, "EUR", eur("30.00"))
    assert (credit_note.pre_payment_amount, credit_note.post_payment_amount) == (eur("30.00"), eur("0.00"))
    assert (credit_note.refund_amount, credit_note.credit_amount, credit_note.out_of_band_amount) == (
        eur("0.00"),
        eur("0.00"),
        eur("0.00"),
    )
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.shown_status() == ShownStatus.PARTIALLY_PAID
    assert (invoice.total, invoice.amount_credited, invoice.amount_paid, invoice.amount_remaining) == (
        eur("100.00"),
        eur("30.00"),
        eur("40.00"),
        eur("30.00"),
    )
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated) == (
        eur("40.00"),
        eur("0.00"),
        eur("0.00"),
    )
    assert not Refund.objects.exists()
    assert not RefundAllocation.objects.exists()
    assert billing_integrity_violations() == []


def test_a_credit_note_larger_than_what_remains_refunds_to_the_card_and_keeps_the_rest_as_credit(
    staff, committed, mailoutbox
):
    """Invoice 100, paid 80 by card, credit note 50: 20 comes off what remains, 30 was paid and is settled by a
    refund of 20 to the card and 10 kept as the member's credit."""
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed, amount=eur("80.00"))

    preview = credit_note_preview(invoice=reload(invoice), amount=eur("50.00"))
    with committed():
        credit_note = credit_note_issue(
            invoice=invoice,
            actor=staff,
            reason=CreditNoteReason.PRODUCT_UNSATISFACTORY,
            amount=eur("50.00"),
            refund_amount=eur("20.00"),
            credit_amount=eur("10.00"),
        )

    assert (preview.pre_payment_amount, preview.post_payment_amount, preview.remaining_after) == (
        eur("20.00"),
        eur("30.00"),
        eur("0.00"),
    )
    credit_note = reload(credit_note)
    assert (credit_note.amount, credit_note.pre_payment_amount, credit_note.post_payment_amount) == (
        eur("50.00"),
        eur("20.00"),
        eur("30.00"),
    )
    assert (credit_note.refund_amount, credit_note.credit_amount, credit_note.out_of_band_amount) == (
        eur("20.00"),
        eur("10.00"),
        eur("0.00"),
    )
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert (invoice.amount_credited, invoice.amount_paid, invoice.amount_remaining) == (
        eur("50.00"),
        eur("50.00"),
        eur("0.00"),
    )
    payment = reload(payment)
    assert (payment.amount, payment.amount_allocated, payment.amount_refunded) == (
        eur("80.00"),
        eur("50.00"),
        eur("20.00"),
    )
    assert (payment.amount_refund_pending, payment.amount_unallocated) == (eur("0.00"), eur("10.00"))
    refund = Refund.objects.get()
    assert (refund.payment, refund.amount, refund.kind, refund.status) == (
        payment,
        eur("20.00"),
        Refund.Kind.GATEWAY,
        RefundStatus.SUCCEEDED,
    )
    assert (refund.reason, refund.credit_note, refund.gateway) == (Refund.Reason.CREDIT_NOTE, credit_note, "sandbox")
    sandbox_refund = SandboxRefund.objects.get()
    assert (sandbox_refund.charge, sandbox_refund.amount_minor, sandbox_refund.status) == (
        SandboxCharge.objects.get(),
        2000,
        "succeeded",
    )
    assert (refund.gateway_refund_id, sandbox_refund.idempotency_key) == (sandbox_refund.id, refund.idempotency_key)
    take = RefundAllocation.objects.get()
    assert (take.allocation, take.credit_note, take.refund, take.amount) == (
        Allocation.objects.get(payment=payment),
        credit_note,
        None,
        eur("30.00"),
    )
    assert Allocation.objects.get().amount == eur("50.00")
    [mail] = [mail for mail in mailoutbox if mail.subject.startswith("Refund")]
    assert (mail.to, mail.subject) == ([invoice.member.email], f"Refund of €20.00 on payment {payment.number}")
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    ("refund", "credit", "out_of_band"),
    [
        pytest.param("0.00", "10.00", "20.00", id="out-of-band-and-credit"),
        pytest.param("10.00", "10.00", "10.00", id="all-three"),
        pytest.param("0.00", "0.00", "30.00", id="all-out-of-band"),
        pytest.param("30.00", "0.00", "0.00", id="all-refunded"),
        pytest.param("0.00", "30.00", "0.00", id="all-credit"),
    ],
)
def test_the_paid_part_of_the_credit_note_split_other_ways(staff, committed, refund, credit, out_of_band):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed, amount=eur("80.00"))

    with committed():
        credit_note = credit_note_issue(
            invoice=invoice,
            actor=staff,
            reason=CreditNoteReason.OTHER,
            amount=eur("50.00"),
            refund_amount=eur(refund),
            credit_amount=eur(credit),
            out_of_band_amount=eur(out_of_band),
        )

    credit_note = reload(credit_note)
    assert (credit_note.pre_payment_amount, credit_note.refund_amount) == (eur("20.00"), eur(refund))
    assert (credit_note.credit_amount, credit_note.out_of_band_amount) == (eur(credit), eur(out_of_band))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("50.00"),
        eur("0.00"),
    )
    payment = reload(payment)
    assert payment.amount_allocated == eur("50.00")
    assert payment.amount_refunded == eur(refund) + eur(out_of_band)
    assert (payment.amount_refund_pending, payment.amount_unallocated) == (eur("0.00"), eur(credit))
    expected_refunds = []
    if eur(refund).amount:
        expected_refunds.append((Refund.Kind.GATEWAY, eur(refund), RefundStatus.SUCCEEDED, credit_note.pk))
    if eur(out_of_band).amount:
        expected_refunds.append((Refund.Kind.OUT_OF_BAND, eur(out_of_band), RefundStatus.SUCCEEDED, credit_note.pk))
    assert [
        (row.kind, row.amount, row.status, row.credit_note_id) for row in Refund.objects.order_by("pk")
    ] == expected_refunds
    assert list(SandboxRefund.objects.values_list("amount_minor", flat=True)) == (
        [money_to_minor_units(eur(refund))] if eur(refund).amount else []
    )
    assert billing_integrity_violations() == []


def test_at_stripe_the_refund_part_goes_back_to_the_card(localstripe, staff, committed):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member, localstripe.card())
    payment = card_paid(invoice=invoice, actor=staff, committed=committed, amount=eur("80.00"))

    with committed():
        credit_note = credit_note_issue(
            invoice=invoice,
            actor=staff,
            reason=CreditNoteReason.DUPLICATE,
            amount=eur("50.00"),
            refund_amount=eur("20.00"),
            credit_amount=eur("10.00"),
        )

    attempt = PaymentAttempt.objects.get()
    [stripe_refund] = localstripe.list("refunds")
    assert (stripe_refund["amount"], stripe_refund["currency"], stripe_refund["status"]) == (2000, "eur", "succeeded")
    assert stripe_refund["charge"] == attempt.gateway_charge_id
    refund = Refund.objects.get()
    assert (refund.gateway, refund.gateway_refund_id, refund.status) == (
        "stripe",
        stripe_refund["id"],
        RefundStatus.SUCCEEDED,
    )
    assert (refund.credit_note, refund.amount) == (credit_note, eur("20.00"))
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated) == (
        eur("50.00"),
        eur("20.00"),
        eur("10.00"),
    )
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_credited, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("50.00"),
        eur("0.00"),
    )
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    ("next_total", "applied", "status", "remaining", "credit_left"),
    [
        pytest.param("80.00", "50.00", InvoiceStatus.OPEN, "30.00", "0.00", id="credit-pays-part"),
        pytest.param("30.00", "30.00", InvoiceStatus.PAID, "0.00", "20.00", id="credit-pays-all"),
    ],
)
def test_an_overpayment_is_kept_as_credit_and_pays_the_next_invoice_when_it_is_issued(
    staff, next_total, applied, status, remaining, credit_left
):
    member = MemberFactory()
    first = open_invoice(member=member, amounts=["100.00"])

    payment = external_payment(invoice=first, amount="150.00", actor=staff)

    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("100.00"), eur("50.00"))
    first = reload(first)
    assert (first.status, first.amount_paid, first.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("100.00"),
        eur("0.00"),
    )
    overpaid = Activity.objects.get(verb="invoice.overpaid")
    assert (overpaid.invoice, overpaid.target, overpaid.amount, overpaid.actor_user) == (
        first,
        payment,
        eur("50.00"),
        staff.user,
    )

    second = open_invoice(member=member, amounts=[next_total], apply_credit=True)

    allocation = Allocation.objects.get(invoice=second)
    assert (allocation.payment, allocation.amount) == (payment, eur(applied))
    second = reload(second)
    assert (second.status, second.amount_paid, second.amount_remaining) == (status, eur(applied), eur(remaining))
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("100.00") + eur(applied), eur(credit_left))
    assert billing_integrity_violations() == []


def test_an_overpayment_in_yen_is_kept_to_the_yen(staff):
    member = MemberFactory(default_currency="JPY")
    first = open_invoice(member=member, amounts=["1000"], currency="JPY")

    payment = external_payment(invoice=first, amount="1500")
    second = open_invoice(member=member, amounts=["700"], currency="JPY", apply_credit=True)

    assert Allocation.objects.get(invoice=second).amount == Money("500", "JPY")
    assert reload(second).amount_remaining == Money("200", "JPY")
    assert reload(payment).amount_unallocated == Money("0", "JPY")
    assert billing_integrity_violations() == []
