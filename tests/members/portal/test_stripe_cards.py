"""Cards collected by Stripe.js with a SetupIntent, against localstripe on 127.0.0.1 (spec 7, 8): the gateway's
SetupIntent, a confirmed card saved (already attached or not), and the portal's pages in Stripe mode."""

import pytest
import requests
from django.urls import reverse

from billing.errors import BillingError
from billing.models import InvoiceStatus
from members.models import Member
from payments.gateways.stripe import StripeGateway
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.services.payment_method import member_gateway_customer_ensure, payment_method_add
from tests.factories import SYSTEM, books_snapshot, open_invoice, reload
from tests.payments.card.conftest import CARD_MODELS

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_portal(localstripe, settings):
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_local"
    settings.STRIPE_JS_URL = f"{localstripe.url}/js.stripe.com/v3/"
    return localstripe


def confirm_card_setup(localstripe, client_secret: str, number: str = "4242424242424242") -> str:
    """What stripe.confirmCardSetup does in the browser (localstripe's Stripe.js posts this): the PaymentMethod id."""
    setup_intent_id = client_secret.split("_secret_")[0]
    response = requests.post(
        f"{localstripe.url}/v1/setup_intents/{setup_intent_id}/confirm",
        json={
            "key": "pk_test_local",
            "use_stripe_sdk": True,
            "client_secret": client_secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
            },
        },
        timeout=5,
    )
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "succeeded"
    return body["payment_method"]


def test_the_gateway_creates_a_setup_intent_for_the_customer(stripe_portal):
    gateway = StripeGateway()
    customer_id = gateway.customer_create(email="a@example.com", name="A", idempotency_key="k-1")

    setup_intent_id, client_secret = gateway.setup_intent_create(customer_id=customer_id)

    assert setup_intent_id.startswith("seti_") and client_secret.startswith(f"{setup_intent_id}_secret_")
    (stored,) = stripe_portal.list("setup_intents")
    assert (stored["customer"], stored["usage"], stored["payment_method_types"]) == (
        customer_id,
        "off_session",
        ["card"],
    )


def test_card_attach_takes_a_card_already_attached_to_the_customer(stripe_portal):
    gateway = StripeGateway()
    customer_id = gateway.customer_create(email="a@example.com", name="A", idempotency_key="k-2")
    _, client_secret = gateway.setup_intent_create(customer_id=customer_id)
    payment_method_id = confirm_card_setup(stripe_portal, client_secret)
    requests.post(
        f"{stripe_portal.url}/v1/payment_methods/{payment_method_id}/attach",
        data={"customer": customer_id},
        auth=("sk_test_local", ""),
        timeout=5,
    ).raise_for_status()

    card = gateway.card_attach(customer_id=customer_id, card_token=payment_method_id)
    again = gateway.card_attach(customer_id=customer_id, card_token=payment_method_id)

    assert card == again
    assert (card.gateway_id, card.last4, card.exp_month, card.exp_year) == (payment_method_id, "4242", 12, 2034)


def test_a_card_saved_by_another_member_cannot_be_saved_again(stripe_portal, member, other_member):
    customer_id = member_gateway_customer_ensure(member=member)
    _, client_secret = StripeGateway().setup_intent_create(customer_id=customer_id)
    payment_method_id = confirm_card_setup(stripe_portal, client_secret)
    payment_method_add(member=member, card_token=payment_method_id, actor=SYSTEM)
    member_gateway_customer_ensure(member=other_member)
    before = books_snapshot(extra_models=CARD_MODELS)

    with pytest.raises(BillingError, match="This card cannot be saved again"):
        payment_method_add(member=other_member, card_token=payment_method_id, actor=SYSTEM)

    assert books_snapshot(extra_models=CARD_MODELS) == before


def test_the_same_card_saved_twice_is_saved_once(stripe_portal, member):
    customer_id = member_gateway_customer_ensure(member=member)
    _, client_secret = StripeGateway().setup_intent_create(customer_id=customer_id)
    payment_method_id = confirm_card_setup(stripe_portal, client_secret)

    first = payment_method_add(member=member, card_token=payment_method_id, actor=SYSTEM)
    second = payment_method_add(member=member, card_token=payment_method_id, actor=SYSTEM)

    assert first == second
    assert PaymentMethod.objects.count() == 1


def test_the_pay_page_in_stripe_mode_loads_stripe_js_and_the_card_element(stripe_portal, member_client, member):
    invoice = open_invoice(member=member, amounts=["25.00"])

    html = member_client.get(reverse("portal:invoice_pay", args=[invoice.pk])).content.decode()

    assert f'<script src="{stripe_portal.url}/js.stripe.com/v3/"></script>' in html
    assert 'data-stripe-key="pk_test_local"' in html and "data-card-element" in html
    assert 'name="card_number"' not in html


def test_the_setup_endpoint_gives_a_client_secret_for_the_members_customer(stripe_portal, member_client, member):
    response = member_client.post(reverse("portal:card_setup"))

    assert response.status_code == 200
    client_secret = response.json()["client_secret"]
    (stored,) = stripe_portal.list("setup_intents")
    assert client_secret.startswith(stored["id"])
    assert stored["customer"] == Member.objects.get(pk=member.pk).gateway_customer_id != ""


def test_paying_with_a_card_confirmed_by_stripe_js(stripe_portal, member_client, member, committed):
    invoice = open_invoice(member=member, amounts=["25.00"])
    client_secret = member_client.post(reverse("portal:card_setup")).json()["client_secret"]
    payment_method_id = confirm_card_setup(stripe_portal, client_secret)

    with committed():
        response = member_client.post(
            reverse("portal:invoice_pay", args=[invoice.pk]),
            {"amount": "25.00", "card": "new", "payment_method_token": payment_method_id},
        )

    payment = Payment.objects.get()
    assert response.url == reverse("portal:payment_status", args=[payment.pk])
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.payment_method.gateway_id == payment_method_id
    assert reload(invoice).status == InvoiceStatus.PAID


@pytest.mark.parametrize("token", ["", "tok_visa", "4242424242424242", "pm_x y"])
def test_a_missing_or_malformed_card_token_is_refused(stripe_portal, member_client, member, token):
    invoice = open_invoice(member=member, amounts=["25.00"])
    before = books_snapshot(extra_models=CARD_MODELS)

    response = member_client.post(
        reverse("portal:invoice_pay", args=[invoice.pk]),
        {"amount": "25.00", "card": "new", "payment_method_token": token},
    )

    assert response.status_code == 200
    assert "Enter your card details in the card form." in response.content.decode()
    assert books_snapshot(extra_models=CARD_MODELS) == before


def test_an_unknown_payment_method_is_refused(stripe_portal, member_client, member):
    invoice = open_invoice(member=member, amounts=["25.00"])
    member_gateway_customer_ensure(member=member)
    before = books_snapshot(extra_models=CARD_MODELS)

    response = member_client.post(
        reverse("portal:invoice_pay", args=[invoice.pk]),
        {"amount": "25.00", "card": "new", "payment_method_token": "pm_doesnotexist"},
    )

    assert "The card was not saved" in response.content.decode()
    assert books_snapshot(extra_models=CARD_MODELS) == before
