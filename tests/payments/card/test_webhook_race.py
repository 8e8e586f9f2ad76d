"""A sweep and late tasks racing on one stored webhook event process it once (spec 6): each try claims the event
first, on PostgreSQL's row locks."""

import datetime

import pytest
from django.utils import timezone

from billing.models import Activity
from payments.models import AttemptStatus, OutboxMessage, PaymentAttempt, WebhookEvent
from payments.services.payment_card import payment_create_card
from payments.services.webhook import webhook_event_process, webhook_events_sweep
from tests.factories import open_invoice, reload, saved_card
from tests.support.races import POSTGRES_ONLY, race

pytestmark = POSTGRES_ONLY


@pytest.mark.parametrize("run", range(3))
def test_a_sweep_and_a_late_task_racing_on_one_event_process_it_once(transactional_db, staff, run):
    invoice = open_invoice(amounts=["30.00"])
    saved_card(invoice.member)
    payment = payment_create_card(invoice=invoice, actor=staff)
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert attempt.status == AttemptStatus.SUCCEEDED
    stored = WebhookEvent.objects.create(
        gateway="sandbox",
        event_id=f"evt_dispute_{run}",
        type="charge.dispute.created",
        payload={"data": {"object": {"id": "dp_1", "payment_intent": attempt.gateway_payment_id, "amount": 3000}}},
        received_at=timezone.now() - datetime.timedelta(minutes=5),
    )

    race(
        [
            lambda: webhook_event_process(webhook_event_id=stored.pk),
            lambda: webhook_events_sweep(now=timezone.now()),
            lambda: webhook_event_process(webhook_event_id=stored.pk),
        ]
    )

    stored = reload(stored)
    assert (stored.state, stored.attempts) == ("processed", 1)
    assert reload(payment).disputed is True
    assert Activity.objects.filter(verb="payment.disputed").count() == 1
    assert OutboxMessage.objects.filter(arguments__notification="payment_disputed").count() == 1
