"""The services' side of once per intent (billing/intents.py): a money service claims the form's key as the first
statement of its transaction; the same key again changes nothing; a refusal leaves the key free."""

import uuid

import pytest

from billing.activity import Actor
from billing.intents import Intent, IntentRepeated, intent_claim
from billing.models import FormIntent
from payments.models import Payment, PaymentMethod
from payments.sandbox.models import SandboxCard
from payments.services.payment_external import payment_create_external
from tests.factories import books_snapshot, eur, open_invoice, refused, saved_card


def form_actor(user, key=None) -> Actor:
    return Actor.staff(user, intent=Intent(key=key or uuid.uuid4(), action="billing_invoice_create_payment"))


def test_a_service_claims_the_key_with_its_effect(staff_user):
    invoice = open_invoice(amounts=["100.00"])
    actor = form_actor(staff_user)

    payment = payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=eur("40.00"))

    stored = FormIntent.objects.get()
    assert (stored.key, stored.user, stored.action) == (actor.intent.key, staff_user, actor.intent.action)
    assert (stored.result_url, stored.result_message, stored.result_level) == ("", "", None)
    assert Payment.objects.get() == payment


def test_the_same_key_again_raises_intent_repeated_and_changes_nothing(staff_user):
    invoice = open_invoice(amounts=["100.00"])
    actor = form_actor(staff_user)
    payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=eur("40.00"))
    before = books_snapshot(extra_models=(FormIntent,))

    with pytest.raises(IntentRepeated) as repeated:
        payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=eur("40.00"))

    assert repeated.value.intent == FormIntent.objects.get()
    assert repeated.value.belongs_to(user=staff_user, action=actor.intent.action)
    assert not repeated.value.belongs_to(user=staff_user, action="payments_payment_refund")
    assert books_snapshot(extra_models=(FormIntent,)) == before


def test_a_refused_submission_leaves_its_key_free(staff_user):
    invoice = open_invoice(amounts=["100.00"])
    actor = form_actor(staff_user)

    with refused("EUR amounts have 2 decimals at most", extra_models=(FormIntent,)):
        payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=eur("40.005"))
    payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=eur("40.00"))

    assert Payment.objects.count() == FormIntent.objects.count() == 1


def test_a_card_already_saved_under_the_key_is_not_sent_to_the_gateway_again(staff_user):
    card = saved_card(open_invoice().member, actor=form_actor(staff_user))
    actor = Actor.staff(staff_user, intent=Intent(key=FormIntent.objects.get().key, action="x"))
    before = books_snapshot(extra_models=(PaymentMethod, SandboxCard, FormIntent))

    with pytest.raises(IntentRepeated):
        saved_card(card.member, "5555555555554444", actor=actor)

    assert books_snapshot(extra_models=(PaymentMethod, SandboxCard, FormIntent)) == before


def test_services_called_without_a_form_claim_nothing(staff):
    payment_create_external(invoice=open_invoice(amounts=["100.00"]), actor=staff, kind="cash", amount=eur("40.00"))

    assert not FormIntent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_key_is_claimed_only_inside_the_transaction_that_acts(staff_user):
    with pytest.raises(RuntimeError, match="inside the transaction that acts"):
        intent_claim(actor=form_actor(staff_user))

    assert not FormIntent.objects.exists()
