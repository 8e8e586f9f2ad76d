"""The sandbox gateway with every test card of the spec, through the services (section 7)."""

import pytest
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus
from payments.gateways.base import ChargeOutcome
from payments.integrity import billing_integrity_violations
from payments.models import AttemptStatus, PaymentAttempt, PaymentMethod, PaymentStatus
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxCard, SandboxCharge
from payments.services.payment_card import payment_create_card
from payments.services.payment_method import member_gateway_customer_ensure
from tests.factories import MemberFactory, open_invoice, refused, reload, saved_card
from tests.payments.card.conftest import CARD_MODELS

pytestmark = pytest.mark.django_db


def test_4242_saves_and_the_charge_succeeds(staff, committed):
    invoice = open_invoice(amounts=["80.00"])

    card = saved_card(invoice.member, "4242 4242 4242 4242", actor=staff)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    card = reload(card)
    assert (card.gateway, card.brand, card.last4, card.is_default) == ("sandbox", "visa", "4242", True)
    assert SandboxCard.objects.get(pk=card.gateway_id).customer_id == reload(invoice.member).gateway_customer_id
    payment = reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    charge = SandboxCharge.objects.get()
    assert (charge.amount_minor, charge.currency, charge.status) == (8000, "eur", "succeeded")
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
        ("4000000000000069", "Your card has expired."),
        ("4000000000000119", "An error occurred while processing your card. Try again."),
        ("4242424242424241", "The card number is invalid."),
        ("4111111111111111", "The sandbox accepts only test card numbers"),
    ],
)
def test_cards_declined_when_saved_are_refused_with_their_reason(staff, number, message):
    member = MemberFactory()
    member_gateway_customer_ensure(member=member)

    with refused(f"The card was not saved: {message}", extra_models=CARD_MODELS):
        saved_card(member, number, actor=staff)

    assert not PaymentMethod.objects.exists()
    assert not SandboxCard.objects.exists()


def test_a_card_expired_by_its_date_is_refused(staff):
    member = MemberFactory()
    member_gateway_customer_ensure(member=member)

    with refused("The card was not saved: The card's expiry date is in the past.", extra_models=CARD_MODELS):
        saved_card(member, "4242424242424242|01|2020", actor=staff)


def test_0341_saves_but_its_charges_decline_with_generic_decline(staff, committed):
    invoice = open_invoice(amounts=["50.00"])
    card = saved_card(invoice.member, "4000000000000341", actor=staff)

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    assert reload(card).last4 == "0341"
    payment = reload(payment)
    assert payment.status == PaymentStatus.FAILED
    assert (payment.failure_code, payment.failure_message) == ("generic_decline", "Your card was declined.")
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.decline_code) == (AttemptStatus.FAILED, "generic_decline")
    assert payment.next_retry_at is not None  # a soft decline: retried automatically
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, Money("50.00", "EUR"))
    assert SandboxCharge.objects.get().status == SandboxCharge.Status.FAILED
    assert billing_integrity_violations() == []


def test_3155_fails_with_authentication_required_a_hard_decline_and_the_member_is_mailed(
    staff, committed, mailoutbox, settings
):
    settings.BILLING_PORTAL_URL = "https://space.example/portal/"
    invoice = open_invoice(amounts=["75.00"])
    saved_card(invoice.member, "4000002500003155", actor=staff)

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    payment = reload(payment)
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_code == "authentication_required"
    assert payment.failure_message == "The card needs the member's authentication (3-D Secure)."
    assert payment.next_retry_at is None
    assert SandboxCharge.objects.get().status == SandboxCharge.Status.REQUIRES_ACTION
    failed = Activity.objects.get(verb="payment.failed")
    assert failed.data == {"decline_code": "authentication_required", "next_retry_at": None}
    member_mail, admin_mail = mailoutbox
    assert member_mail.to == [invoice.member.email]
    assert "https://space.example/portal/" in member_mail.body
    assert admin_mail.to == [staff.user.email]
    assert reload(invoice).status == InvoiceStatus.OPEN


def test_charge_prepare_twice_with_one_key_makes_one_charge(db):
    member = MemberFactory()
    customer_id = member_gateway_customer_ensure(member=member)
    card = saved_card(member)
    gateway = SandboxGateway()

    def prepare(amount_minor):
        return gateway.charge_prepare(
            customer_id=customer_id,
            payment_method_id=card.gateway_id,
            amount_minor=amount_minor,
            currency="EUR",
            idempotency_key="attempt-same",
            metadata={},
        )

    first, second = prepare(1000), prepare(1000)

    assert first == second
    assert SandboxCharge.objects.count() == 1


def test_charge_confirm_twice_charges_once_and_answers_the_same(db):
    member = MemberFactory()
    customer_id = member_gateway_customer_ensure(member=member)
    card = saved_card(member)
    gateway = SandboxGateway()
    charge_id = gateway.charge_prepare(
        customer_id=customer_id,
        payment_method_id=card.gateway_id,
        amount_minor=1234,
        currency="EUR",
        idempotency_key="attempt-twice",
        metadata={},
    )

    first = gateway.charge_confirm(gateway_payment_id=charge_id, idempotency_key="attempt-twice")
    second = gateway.charge_confirm(gateway_payment_id=charge_id, idempotency_key="attempt-twice")

    assert first == second
    assert first.outcome == ChargeOutcome.SUCCEEDED
    assert SandboxCharge.objects.get().confirmations == 1


def test_a_new_key_is_a_new_charge(db):
    member = MemberFactory()
    customer_id = member_gateway_customer_ensure(member=member)
    card = saved_card(member)
    gateway = SandboxGateway()

    ids = {
        gateway.charge_prepare(
            customer_id=customer_id,
            payment_method_id=card.gateway_id,
            amount_minor=500,
            currency="EUR",
            idempotency_key=key,
            metadata={},
        )
        for key in ("attempt-1", "attempt-2")
    }

    assert len(ids) == 2
    assert SandboxCharge.objects.count() == 2


def test_creating_the_customer_twice_with_one_key_makes_one_customer(db):
    gateway = SandboxGateway()

    first = gateway.customer_create(email="a@space.example", name="A", idempotency_key="member-1-customer")
    second = gateway.customer_create(email="a@space.example", name="A", idempotency_key="member-1-customer")

    assert first == second
