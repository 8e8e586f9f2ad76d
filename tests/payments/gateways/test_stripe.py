"""The Stripe gateway against localstripe."""

import pytest

from payments.gateways.base import CardRejected, ChargeOutcome
from payments.gateways.stripe import StripeGateway


def test_customer_card_and_off_session_charge_succeeds(localstripe):
    gateway = StripeGateway()
    customer_id = gateway.customer_create(email="ada@space.example", name="Ada", idempotency_key="member-1")

    card = gateway.card_attach(customer_id=customer_id, card_token=localstripe.card("4242424242424242"))
    payment_id = gateway.charge_prepare(
        customer_id=customer_id,
        payment_method_id=card.gateway_id,
        amount_minor=2500,
        currency="EUR",
        idempotency_key="attempt-a",
        metadata={"attempt": "a"},
    )
    result = gateway.charge_confirm(gateway_payment_id=payment_id, idempotency_key="attempt-a")

    assert (card.brand, card.last4) == ("visa", "4242")
    assert result.outcome == ChargeOutcome.SUCCEEDED
    assert result.gateway_payment_id == payment_id
    assert result.gateway_charge_id.startswith("ch_")
    [intent] = localstripe.list("payment_intents")
    assert (intent["amount"], intent["currency"], intent["status"]) == (2500, "eur", "succeeded")


def test_card_that_attaches_but_declines_at_charge(localstripe):
    gateway = StripeGateway()
    customer_id = gateway.customer_create(email="b@space.example", name="B", idempotency_key="member-2")
    card = gateway.card_attach(customer_id=customer_id, card_token=localstripe.card("4000000000000341"))
    payment_id = gateway.charge_prepare(
        customer_id=customer_id,
        payment_method_id=card.gateway_id,
        amount_minor=1000,
        currency="EUR",
        idempotency_key="attempt-b",
        metadata={},
    )

    result = gateway.charge_confirm(gateway_payment_id=payment_id, idempotency_key="attempt-b")

    assert result.outcome == ChargeOutcome.DECLINED
    assert result.decline_code == "card_declined"
    assert "declined" in result.message


def test_card_declined_at_attach_is_rejected(localstripe):
    gateway = StripeGateway()
    customer_id = gateway.customer_create(email="c@space.example", name="C", idempotency_key="member-3")

    with pytest.raises(CardRejected, match="declined"):
        gateway.card_attach(customer_id=customer_id, card_token=localstripe.card("4000000000000002"))


def test_retrieve_reports_an_unconfirmed_payment_as_not_charged(localstripe):
    gateway = StripeGateway()
    customer_id = gateway.customer_create(email="d@space.example", name="D", idempotency_key="member-4")
    card = gateway.card_attach(customer_id=customer_id, card_token=localstripe.card("4242424242424242"))
    payment_id = gateway.charge_prepare(
        customer_id=customer_id,
        payment_method_id=card.gateway_id,
        amount_minor=1500,
        currency="JPY",
        idempotency_key="attempt-d",
        metadata={},
    )

    assert gateway.charge_retrieve(gateway_payment_id=payment_id) is None
    gateway.charge_confirm(gateway_payment_id=payment_id, idempotency_key="attempt-d")
    assert gateway.charge_retrieve(gateway_payment_id=payment_id).outcome == ChargeOutcome.SUCCEEDED
