"""Card refunds through the Stripe gateway, against localstripe on 127.0.0.1 (spec 5.9, 7)."""

import pytest
from djmoney.money import Money

from billing.models import InvoiceStatus
from payments.integrity import billing_integrity_violations
from payments.models import PaymentAttempt, Refund, RefundStatus
from payments.services.refund import payment_refund
from payments.tasks import refund_execute_task
from tests.factories import eur, open_invoice, reload, saved_card
from tests.payments.refunds.helpers import card_paid, refund_refused
from tests.support.localstripe import closed_port_url

pytestmark = pytest.mark.django_db

REOPEN = Refund.InvoiceHandling.REOPEN


def stripe_paid(localstripe, staff, committed, *, amount: str = "25.00", currency: str = "EUR"):
    """An invoice paid in full by a card charged at localstripe."""
    invoice = open_invoice(amounts=[amount], currency=currency)
    saved_card(invoice.member, localstripe.card())
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)
    return invoice, payment


def refund(payment, amount: Money, *, actor, handling: str = REOPEN):
    return payment_refund(
        payment=payment,
        amount=amount,
        reason=Refund.Reason.REQUESTED_BY_MEMBER,
        actor=actor,
        invoice_handling=handling,
    )


def test_a_partial_refund_then_the_rest_go_back_to_the_card(localstripe, staff, committed):
    invoice, payment = stripe_paid(localstripe, staff, committed)
    charge_id = PaymentAttempt.objects.get().gateway_charge_id

    with committed():
        first = refund(payment, eur("10.00"), actor=staff)

    [at_stripe] = localstripe.list("refunds")
    assert (at_stripe["amount"], at_stripe["currency"], at_stripe["status"], at_stripe["charge"]) == (
        1000,
        "eur",
        "succeeded",
        charge_id,
    )
    first = reload(first)
    assert (first.status, first.gateway, first.gateway_refund_id) == (
        RefundStatus.SUCCEEDED,
        "stripe",
        at_stripe["id"],
    )
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated) == (
        eur("15.00"),
        eur("10.00"),
        eur("0.00"),
    )
    assert (reload(invoice).status, reload(invoice).amount_remaining) == (InvoiceStatus.OPEN, eur("10.00"))

    with committed():
        rest = refund(payment, eur("15.00"), actor=staff)

    refunds_at_stripe = {row["id"]: (row["amount"], row["charge"]) for row in localstripe.list("refunds")}
    assert refunds_at_stripe == {
        first.gateway_refund_id: (1000, charge_id),
        reload(rest).gateway_refund_id: (1500, charge_id),
    }
    assert reload(rest).status == RefundStatus.SUCCEEDED
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated) == (
        eur("0.00"),
        eur("25.00"),
        eur("0.00"),
    )
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("0.00"),
        eur("25.00"),
    )
    assert billing_integrity_violations() == []


def test_more_than_was_paid_is_refused_before_stripe_is_asked(localstripe, staff, committed):
    _, payment = stripe_paid(localstripe, staff, committed)

    with refund_refused(
        f"€25.01 is more than what is left to refund on {payment.number} (€25.00, counting refunds in progress)."
    ):
        refund(payment, eur("25.01"), actor=staff)
    assert localstripe.list("refunds") == []

    with committed():
        refund(payment, eur("20.00"), actor=staff)
    with refund_refused(
        f"€5.01 is more than what is left to refund on {payment.number} (€5.00, counting refunds in progress)."
    ):
        refund(payment, eur("5.01"), actor=staff)

    assert [row["amount"] for row in localstripe.list("refunds")] == [2000]


def test_a_yen_refund_is_sent_in_yen_not_in_hundredths(localstripe, staff, committed):
    _, payment = stripe_paid(localstripe, staff, committed, amount="1500", currency="JPY")

    with committed():
        made = refund(payment, Money("500", "JPY"), actor=staff)

    [at_stripe] = localstripe.list("refunds")
    assert (at_stripe["amount"], at_stripe["currency"]) == (500, "jpy")
    assert reload(made).status == RefundStatus.SUCCEEDED
    payment = reload(payment)
    assert (payment.amount_refunded, payment.amount_allocated) == (Money("500", "JPY"), Money("1000", "JPY"))
    assert billing_integrity_violations() == []


def test_a_redelivered_refund_task_does_not_refund_twice(localstripe, staff, committed, no_worker):
    _, payment = stripe_paid(localstripe, staff, committed)
    with committed():
        made = refund(payment, eur("10.00"), actor=staff)
    assert reload(made).status == RefundStatus.PENDING
    assert localstripe.list("refunds") == []

    first = refund_execute_task.apply(args=[made.pk]).get()
    second = refund_execute_task.apply(args=[made.pk]).get()

    assert (first, second) == (RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED)
    assert [row["amount"] for row in localstripe.list("refunds")] == [1000]
    assert reload(payment).amount_refunded == eur("10.00")
    assert billing_integrity_violations() == []


def test_a_refund_stays_pending_while_stripe_cannot_be_reached(localstripe, staff, committed, settings):
    invoice, payment = stripe_paid(localstripe, staff, committed)
    settings.STRIPE_API_BASE = closed_port_url()

    with committed():
        made = refund(payment, eur("10.00"), actor=staff)

    made = reload(made)
    assert (made.status, made.gateway_refund_id, made.failure_message) == (RefundStatus.PENDING, "", "")
    assert made.sent_at is not None
    payment = reload(payment)
    assert (payment.amount_refund_pending, payment.amount_refunded, payment.amount_unallocated) == (
        eur("10.00"),
        eur("0.00"),
        eur("0.00"),
    )
    assert billing_integrity_violations() == []

    settings.STRIPE_API_BASE = localstripe.url
    with committed():
        assert refund_execute_task.apply(args=[made.pk]).get() == RefundStatus.SUCCEEDED

    [at_stripe] = localstripe.list("refunds")
    assert reload(made).gateway_refund_id == at_stripe["id"]
    payment = reload(payment)
    assert (payment.amount_refund_pending, payment.amount_refunded) == (eur("0.00"), eur("10.00"))
    assert reload(invoice).amount_remaining == eur("10.00")
    assert billing_integrity_violations() == []
