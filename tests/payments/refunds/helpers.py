"""Helpers of the refund and credit-note tests."""

import re

from djmoney.money import Money

from billing.models import Activity, CreditNote, CreditNoteLine
from payments.models import AttemptStatus, Payment, PaymentAttempt, Refund, RefundAllocation, WebhookEvent
from payments.sandbox.models import SandboxRefund
from payments.services.payment_card import payment_create_card
from payments.tasks import attempt_execute_task
from tests.factories import refused, reload

# Rows a refused refund or credit note must not write either, besides the books of `books_snapshot`.
REFUND_MODELS = (Refund, RefundAllocation, CreditNote, CreditNoteLine, SandboxRefund, PaymentAttempt, WebhookEvent)


def refund_refused(message: str):
    """The exact message, and nothing written: no refund, no credit note, nothing at the sandbox, no activity."""
    return refused(f"^{re.escape(message)}$", extra_models=REFUND_MODELS)


def verbs(**filters) -> list[str]:
    return list(Activity.objects.filter(**filters).order_by("pk").values_list("verb", flat=True))


def card_paid(*, invoice, actor, committed, amount: Money | None = None) -> Payment:
    """A card payment for the invoice that the gateway charged (the sandbox, or localstripe when the settings point
    there). With `no_worker` the charge is queued: it is run here, as the worker would."""
    with committed():
        payment = payment_create_card(invoice=invoice, actor=actor, amount=amount)
    attempt = PaymentAttempt.objects.get(payment=payment)
    if attempt.status == AttemptStatus.QUEUED:
        attempt_execute_task.apply(args=[attempt.pk])
    payment = reload(payment)
    assert payment.status == "succeeded", (payment.status, payment.failure_message)
    return payment
