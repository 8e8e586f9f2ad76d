"""A refund the gateway reports failed after we recorded it succeeded (spec 6, the one backward move): the refund
becomes failed, its money goes back on the payment as the member's credit, the credit notes it settled are settled
by that credit instead, an activity records it and the billing administrators are mailed."""

import pytest

from billing.models import Activity, CreditNote, InvoiceStatus
from payments.gateways.base import RefundOutcome, RefundResult
from payments.integrity import billing_integrity_violations
from payments.models import Refund, RefundStatus
from payments.services.refund import payment_refund, refund_record_outcome
from tests.factories import eur, open_invoice, reload, saved_card
from tests.payments.refunds.helpers import card_paid, verbs

pytestmark = pytest.mark.django_db


def test_a_refund_with_a_credit_note_reported_failed_after_success_leaves_the_invoice_paid_and_the_money_as_credit(
    staff, committed, mailoutbox, settings
):
    settings.BILLING_ADMIN_EMAILS = ["billing@space.example"]
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)
    with committed():
        refund = payment_refund(
            payment=payment,
            amount=eur("30.00"),
            reason=Refund.Reason.REQUESTED_BY_MEMBER,
            actor=staff,
            invoice_handling=Refund.InvoiceHandling.CREDIT_NOTE,
        )
    assert reload(refund).status == RefundStatus.SUCCEEDED
    credit_note = CreditNote.objects.get()
    assert (credit_note.refund_amount, credit_note.credit_amount) == (eur("30.00"), eur("0.00"))
    mailoutbox.clear()

    with committed():
        refund_record_outcome(
            refund_id=refund.pk,
            result=RefundResult(RefundOutcome.FAILED, refund.gateway_refund_id, "expired_or_canceled_card"),
        )

    refund = reload(refund)
    assert (refund.status, refund.failure_message) == (RefundStatus.FAILED, "expired_or_canceled_card")
    payment = reload(payment)
    assert (
        payment.amount_allocated,
        payment.amount_refunded,
        payment.amount_refund_pending,
        payment.amount_unallocated,
    ) == (
        eur("70.00"),
        eur("0.00"),
        eur("0.00"),
        eur("30.00"),
    )
    credit_note = reload(credit_note)
    assert (credit_note.amount, credit_note.refund_amount, credit_note.credit_amount) == (
        eur("30.00"),
        eur("0.00"),
        eur("30.00"),
    )
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.PAID, eur("0.00"))
    assert verbs(verb__startswith="refund.") == ["refund.requested", "refund.succeeded", "refund.failed_after_success"]
    reversed_ = Activity.objects.get(verb="refund.failed_after_success")
    assert (reversed_.actor_kind, reversed_.target, reversed_.amount) == ("system", payment, eur("30.00"))
    [mail] = mailoutbox
    assert mail.to == ["billing@space.example"]
    assert mail.subject == f"Refund failed after it succeeded: {payment.number} ({payment.member.name})"
    assert "expired_or_canceled_card" in mail.body
    assert billing_integrity_violations() == []

    # Told again (a duplicate event, the sweep), nothing moves a second time.
    with committed():
        refund_record_outcome(refund_id=refund.pk, result=RefundResult(RefundOutcome.FAILED, refund.gateway_refund_id))
        refund_record_outcome(
            refund_id=refund.pk, result=RefundResult(RefundOutcome.SUCCEEDED, refund.gateway_refund_id)
        )
    assert reload(payment).amount_unallocated == eur("30.00")
    assert reload(refund).status == RefundStatus.FAILED
    assert Activity.objects.filter(verb="refund.failed_after_success").count() == 1
    assert len(mailoutbox) == 1
    assert billing_integrity_violations() == []
