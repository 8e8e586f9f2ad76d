"""The refund sweep (spec 6: refunds have the same safety net as charges): a card refund still pending after
BILLING_RECONCILE_AFTER_MINUTES is sent with its own idempotency key, or asked about by its gateway refund id, and
settled; one the gateway cannot answer for BILLING_NEEDS_REVIEW_AFTER_HOURS is flagged for review in the admin."""

import dataclasses
import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from billing.models import Activity, InvoiceStatus
from billing.money import money_to_minor_units
from payments.gateways.base import RefundOutcome
from payments.gateways.stripe import StripeGateway
from payments.integrity import billing_integrity_violations
from payments.models import PaymentAttempt, Refund, RefundStatus
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxRefund
from payments.services.refund import payment_refund, refund_execute, refund_record_outcome
from payments.services.refund_reconcile import refunds_reconcile
from tests.factories import eur, open_invoice, reload, saved_card
from tests.payments.refunds.helpers import card_paid, verbs

pytestmark = pytest.mark.django_db


def later(**delta) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(**delta)


def amounts(payment):
    payment = reload(payment)
    return payment.amount_allocated, payment.amount_refunded, payment.amount_refund_pending, payment.amount_unallocated


def test_a_refund_whose_task_never_ran_is_sent_by_the_sweep_with_its_own_key(staff, committed, no_worker):
    invoice, payment, made = refund_never_sent(staff, committed)

    assert refunds_reconcile(now=later(minutes=5)).checked == 0  # not yet: its task may still come

    summary = refunds_reconcile(now=later(minutes=15))

    assert (summary.checked, summary.settled, summary.still_unknown, summary.flagged) == (1, 1, 0, [])
    made = reload(made)
    sandbox_refund = SandboxRefund.objects.get()
    assert (made.status, made.gateway_refund_id, made.needs_review) == (
        RefundStatus.SUCCEEDED,
        sandbox_refund.id,
        False,
    )
    assert (sandbox_refund.idempotency_key, sandbox_refund.amount_minor) == (made.idempotency_key, 4000)
    assert amounts(payment) == (eur("60.00"), eur("40.00"), eur("0.00"), eur("0.00"))
    assert reload(invoice).status == InvoiceStatus.OPEN
    assert verbs(verb__startswith="refund.") == ["refund.requested", "refund.succeeded"]
    assert billing_integrity_violations() == []

    # Its task, delivered late, finds the refund settled and the sandbox refunds nothing twice.
    assert refund_execute(refund_id=made.pk).status == RefundStatus.SUCCEEDED
    assert refunds_reconcile(now=later(minutes=30)).checked == 0
    assert SandboxRefund.objects.count() == 1


def refund_never_sent(staff, committed):
    """A card payment of 100.00 and a refund of 40.00 (reopening the invoice) whose task never ran: pending, never
    sent (the `no_worker` fixture keeps its task in a queue no worker reads)."""
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)
    with committed():
        made = payment_refund(
            payment=payment,
            amount=eur("40.00"),
            reason=Refund.Reason.REQUESTED_BY_MEMBER,
            actor=staff,
            invoice_handling=Refund.InvoiceHandling.REOPEN,
        )
    made = reload(made)
    assert (made.status, made.sent_at, made.gateway_refund_id) == (RefundStatus.PENDING, None, "")
    return invoice, payment, made


def test_a_refund_the_gateway_cannot_answer_for_24_hours_is_flagged_for_review_and_shown_in_the_admin(
    staff, committed, no_worker, use_gateway, client, staff_user, time_machine
):
    invoice, payment, made = refund_never_sent(staff, committed)
    use_gateway(SandboxGateway(fail_before_charge=True))

    summary = refunds_reconcile(now=later(minutes=15))

    assert (summary.checked, summary.settled, summary.still_unknown, summary.flagged) == (1, 0, 1, [])
    assert reload(made).needs_review is False

    start = timezone.now()
    time_machine.move_to(start + datetime.timedelta(hours=25), tick=False)
    out = io.StringIO()
    with pytest.raises(CommandError, match=f"^Needs review: refund of €40.00 from {payment.number}$"):
        call_command("reconcile_payments", stdout=out)

    assert out.getvalue().splitlines()[1] == "Refunds: 1 checked: 0 settled, 1 still unknown."
    made = reload(made)
    assert (made.status, made.needs_review) == (RefundStatus.PENDING, True)
    review = Activity.objects.get(verb="refund.needs_review")
    assert (review.actor_kind, review.target, review.amount) == ("system", payment, eur("40.00"))
    assert amounts(payment) == (eur("60.00"), eur("0.00"), eur("40.00"), eur("0.00"))
    # Flagged once, however often the sweep runs.
    assert refunds_reconcile(now=later(hours=1)).flagged == []
    assert Activity.objects.filter(verb="refund.needs_review").count() == 1

    client.force_login(staff_user)
    badge = '<span class="billing-badge billing-badge--needs_review">Needs review</span>'
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk])).content.decode()
    assert page.count(badge) == 2  # the payment's status, and the refund's row
    changelist = reverse("admin:payments_payment_changelist")
    listed = client.get(changelist, {"needs_review": "yes"}).context["cl"].result_list
    assert [row.pk for row in listed] == [payment.pk]

    use_gateway(SandboxGateway())
    summary = refunds_reconcile(now=later(hours=2))

    assert (summary.settled, summary.flagged) == (1, [])
    made = reload(made)
    assert (made.status, made.needs_review) == (RefundStatus.SUCCEEDED, False)
    assert list(client.get(changelist, {"needs_review": "yes"}).context["cl"].result_list) == []
    assert amounts(payment) == (eur("60.00"), eur("40.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


def test_a_refund_the_gateway_refuses_in_the_sweep_gives_the_money_back(staff, committed, no_worker, use_gateway):
    invoice, payment, made = refund_never_sent(staff, committed)
    use_gateway(SandboxGateway(fail_refunds=True))

    summary = refunds_reconcile(now=later(minutes=15))

    assert (summary.settled, summary.still_unknown) == (1, 0)
    made = reload(made)
    assert (made.status, made.failure_message) == (
        RefundStatus.FAILED,
        "The card issuer refused the refund (injected failure).",
    )
    assert amounts(payment) == (eur("60.00"), eur("0.00"), eur("0.00"), eur("40.00"))
    assert billing_integrity_violations() == []


# At localstripe -------------------------------------------------------------------------------------------------


def stripe_refund_pending(localstripe, staff, committed, *, sent: bool):
    """A card payment of 25.00 charged at localstripe and a refund of 10.00: never sent, or sent and answered
    `pending` (the refund exists at Stripe with its id, ours waits for an answer that never came)."""
    invoice = open_invoice(amounts=["25.00"])
    saved_card(invoice.member, localstripe.card())
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)
    with committed():
        made = payment_refund(
            payment=payment,
            amount=eur("10.00"),
            reason=Refund.Reason.REQUESTED_BY_MEMBER,
            actor=staff,
            invoice_handling=Refund.InvoiceHandling.REOPEN,
        )
    if sent:
        attempt = PaymentAttempt.objects.get(payment=payment)
        result = StripeGateway().refund_create(
            gateway_payment_id=attempt.gateway_payment_id,
            amount_minor=money_to_minor_units(made.amount),
            idempotency_key=made.idempotency_key,
        )
        refund_record_outcome(refund_id=made.pk, result=dataclasses.replace(result, outcome=RefundOutcome.PENDING))
    made = reload(made)
    assert made.status == RefundStatus.PENDING
    return invoice, payment, made


def test_at_stripe_a_refund_never_sent_is_sent_by_the_sweep(localstripe, staff, committed, no_worker):
    invoice, payment, made = stripe_refund_pending(localstripe, staff, committed, sent=False)

    summary = refunds_reconcile(now=later(minutes=15))

    assert (summary.checked, summary.settled) == (1, 1)
    made = reload(made)
    [at_stripe] = localstripe.list("refunds")
    assert (made.status, made.gateway_refund_id) == (RefundStatus.SUCCEEDED, at_stripe["id"])
    assert at_stripe["amount"] == 1000
    assert amounts(payment) == (eur("15.00"), eur("10.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


def test_at_stripe_a_refund_sent_but_never_answered_is_asked_about_by_its_id(localstripe, staff, committed, no_worker):
    invoice, payment, made = stripe_refund_pending(localstripe, staff, committed, sent=True)
    gateway_refund_id = made.gateway_refund_id

    summary = refunds_reconcile(now=later(minutes=15))

    assert (summary.checked, summary.settled) == (1, 1)
    made = reload(made)
    assert (made.status, made.gateway_refund_id) == (RefundStatus.SUCCEEDED, gateway_refund_id)
    assert len(localstripe.list("refunds")) == 1  # asked about, not made again
    assert amounts(payment) == (eur("15.00"), eur("10.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []
