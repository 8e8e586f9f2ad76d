"""The member's saved cards in the portal: list, add (the sandbox's test-card form), set default, remove (spec 2, 8)."""

import pytest
from django.urls import reverse

from billing.models import Activity
from payments.models import PaymentMethod, PaymentStatus
from payments.sandbox.models import SandboxCard
from tests.factories import books_snapshot, card_payment, open_invoice, reload, saved_card
from tests.payments.card.conftest import CARD_MODELS

pytestmark = pytest.mark.django_db

CARDS = reverse("portal:card_list")
ADD = reverse("portal:card_add")
CONFIRMED = {"confirmed": "1"}


def snapshot() -> dict:
    return books_snapshot(extra_models=(*CARD_MODELS, SandboxCard))


def test_the_cards_page_lists_the_cards_in_use_default_first(member_client, member, committed):
    first = saved_card(member)
    second = saved_card(member, "5555555555554444")
    gone = saved_card(member, "378282246310005")
    with committed():
        member_client.post(reverse("portal:card_remove", args=[gone.pk]), CONFIRMED)

    assert f"{gone} is removed." in member_client.get(CARDS).content.decode()
    html = member_client.get(CARDS).content.decode()

    assert html.index(str(first)) < html.index(str(second))
    assert "Default" in html
    assert str(gone) not in html
    assert reverse("portal:card_set_default", args=[second.pk]) in html
    assert reverse("portal:card_set_default", args=[first.pk]) not in html


def test_adding_a_test_card(member_client, member, committed):
    with committed():
        response = member_client.post(ADD, {"card_number": "5555 5555 5555 4444", "card_expiry": "3/2031"})

    assert response.status_code == 302 and response.url == CARDS
    card = PaymentMethod.objects.get()
    assert (card.member, card.brand, card.last4, card.exp_month, card.exp_year, card.is_default) == (
        member,
        "mastercard",
        "4444",
        3,
        2031,
        True,
    )
    activity = Activity.objects.get(verb="payment_method.added")
    assert (activity.actor_kind, activity.actor_user_id) == ("member", member.user_id)
    assert "is saved" in member_client.get(CARDS).content.decode()


def test_a_new_card_can_become_the_default(member_client, member, committed):
    first = saved_card(member)

    with committed():
        member_client.post(ADD, {"card_number": "5555555555554444", "card_expiry": "03/31", "make_default": "on"})

    second = PaymentMethod.objects.exclude(pk=first.pk).get()
    assert (reload(first).is_default, second.is_default) == (False, True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"card_number": "4242424242424241", "card_expiry": "12/34"}, "This card number is not valid"),
        ({"card_number": "", "card_expiry": "12/34"}, "Enter the card number."),
        ({"card_number": "4242424242424242", "card_expiry": "12-34"}, "Enter the expiry date as MM/YY"),
        ({"card_number": "4242424242424242", "card_expiry": "01/21"}, "This card has expired."),
        (
            {"card_number": "4000000000000002", "card_expiry": "12/34"},
            "The card was not saved: Your card was declined.",
        ),
    ],
)
def test_a_bad_card_is_refused_and_nothing_is_saved(member_client, member, data, message):
    saved_card(member)
    before = snapshot()

    response = member_client.post(ADD, data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert snapshot() == before


def test_set_default(member_client, member):
    first = saved_card(member)
    second = saved_card(member, "5555555555554444")

    response = member_client.post(reverse("portal:card_set_default", args=[second.pk]))

    assert response.url == CARDS
    assert (reload(first).is_default, reload(second).is_default) == (False, True)
    assert "is now your default card" in member_client.get(CARDS).content.decode()


def test_remove_detaches_the_card_and_the_next_one_becomes_the_default(member_client, member, committed):
    first = saved_card(member)
    second = saved_card(member, "5555555555554444")

    with committed():
        response = member_client.post(reverse("portal:card_remove", args=[first.pk]), CONFIRMED)

    assert response.url == CARDS
    first, second = reload(first), reload(second)
    assert first.removed_at is not None and not first.is_default
    assert second.is_default
    assert SandboxCard.objects.get(pk=first.gateway_id).customer_id is None


def test_a_card_being_charged_cannot_be_removed(member_client, member, no_worker):
    card = saved_card(member)
    invoice = open_invoice(member=member, amounts=["10.00"])
    member_client.post(reverse("portal:invoice_pay", args=[invoice.pk]), {"amount": "10.00", "card": card.pk})
    assert card.payments.get().status == PaymentStatus.PENDING
    before = snapshot()

    response = member_client.post(reverse("portal:card_remove", args=[card.pk]), CONFIRMED)

    assert response.url == CARDS
    assert "is being charged right now" in member_client.get(CARDS).content.decode()
    assert snapshot() == before


def test_the_card_endpoints_take_only_posts(member_client, member):
    card = saved_card(member)
    before = snapshot()

    for url in (ADD, reverse("portal:card_set_default", args=[card.pk])):
        assert member_client.get(url).status_code == 405
    assert snapshot() == before


def test_remove_asks_for_a_confirmation_first(member_client, member, committed):
    card = saved_card(member)
    remove = reverse("portal:card_remove", args=[card.pk])
    before = snapshot()

    cards_page = member_client.get(CARDS).content.decode()
    confirmation = member_client.get(remove).content.decode()
    # The button of a page loaded before the confirmation existed posts without it: nothing is removed.
    with committed():
        skipped = member_client.post(remove)

    assert f'href="{remove}"' in cards_page
    assert f"Remove {card}?" in confirmation
    assert "It is your only card: failed card payments are not retried until you add one." in confirmation
    assert 'name="confirmed" value="1"' in confirmation
    assert skipped.status_code == 200
    assert "Nothing was removed yet: confirm below." in skipped.content.decode()
    assert snapshot() == before
    assert reload(card).removed_at is None


def test_remove_sent_twice_removes_once(member_client, member, committed):
    card = saved_card(member)
    data = {**CONFIRMED, "intent_key": "2a4c6e8f-1b3d-4f5a-8c7e-9d0b1a2c3e4f"}

    with committed():
        member_client.post(reverse("portal:card_remove", args=[card.pk]), data)
        again = member_client.post(reverse("portal:card_remove", args=[card.pk]), data, follow=True)

    assert reload(card).removed_at is not None
    assert again.redirect_chain[-1][0] == CARDS
    assert Activity.objects.filter(verb="payment_method.removed").count() == 1


def test_the_setup_endpoint_needs_stripe(member_client, member):
    response = member_client.post(reverse("portal:card_setup"))

    assert response.status_code == 400
    assert "test-card form" in response.json()["error"]


def test_a_member_with_a_failed_payment_adding_a_card_gets_it_retried(member_client, member, committed):
    invoice = open_invoice(member=member, amounts=["10.00"])
    declining = saved_card(member, "4000000000000341")
    payment = card_payment(invoice=invoice, amount="10.00", status="failed")
    payment.payment_method = declining
    payment.save(update_fields=["payment_method"])

    with committed():
        member_client.post(ADD, {"card_number": "4242424242424242", "card_expiry": "12/34"})

    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == "paid"
