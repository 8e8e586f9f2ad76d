"""A member sees and changes only their own objects: every portal URL that takes an id answers 404 for another
member's object (or a draft), and nothing changes (spec 8)."""

import pytest
from django.urls import reverse

from payments.models import PaymentMethod
from payments.sandbox.models import SandboxCard, SandboxCustomer
from tests.factories import books_snapshot, card_payment, draft_invoice, external_payment, open_invoice, saved_card
from tests.payments.card.conftest import CARD_MODELS

pytestmark = pytest.mark.django_db


@pytest.fixture
def theirs(other_member, member, committed):
    """Another member's objects, and the member's own card (so that a pay form would otherwise be valid)."""
    invoice = open_invoice(member=other_member, amounts=["100.00"])
    paid = open_invoice(member=other_member, amounts=["40.00"])
    received = external_payment(invoice=paid)
    card = saved_card(other_member)
    second_card = saved_card(other_member, "5555555555554444")
    charging = card_payment(invoice=invoice, amount="10.00", status="processing")
    return {
        "invoice": invoice,
        "payment": received,
        "card_payment": charging,
        "card": card,
        "second_card": second_card,
        "draft": draft_invoice(member=member, amounts=["10.00"]),
        "own_card": saved_card(member),
    }


def snapshot() -> dict:
    return books_snapshot(extra_models=(*CARD_MODELS, SandboxCard, SandboxCustomer))


@pytest.mark.parametrize(
    ("method", "view", "key"),
    [
        ("get", "portal:invoice_detail", "invoice"),
        ("get", "portal:invoice_print", "invoice"),
        ("get", "portal:invoice_pay", "invoice"),
        ("post", "portal:invoice_pay", "invoice"),
        ("get", "portal:invoice_detail", "draft"),
        ("get", "portal:invoice_print", "draft"),
        ("get", "portal:invoice_pay", "draft"),
        ("post", "portal:invoice_pay", "draft"),
        ("get", "portal:payment_status", "payment"),
        ("get", "portal:payment_status", "card_payment"),
        ("get", "portal:payment_status_json", "card_payment"),
        ("get", "portal:receipt", "payment"),
        ("get", "portal:receipt", "card_payment"),
        ("post", "portal:card_set_default", "second_card"),
        ("post", "portal:card_remove", "card"),
    ],
)
def test_another_members_id_answers_404_and_changes_nothing(member_client, theirs, method, view, key):
    target = theirs[key]
    data = {"amount": "100.00", "card": theirs["own_card"].pk} if method == "post" else {}
    before = snapshot()

    response = getattr(member_client, method)(reverse(view, args=[target.pk]), data)

    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("view", ["portal:card_set_default", "portal:card_remove"])
def test_a_removed_card_answers_404(member_client, member, committed, view):
    card = saved_card(member)
    with committed():
        member_client.post(reverse("portal:card_remove", args=[card.pk]), {"confirmed": "1"})
    assert PaymentMethod.objects.get(pk=card.pk).removed_at is not None
    before = snapshot()

    assert member_client.post(reverse(view, args=[card.pk])).status_code == 404
    assert snapshot() == before


def test_an_id_that_does_not_exist_answers_404(member_client):
    for view in ("portal:invoice_detail", "portal:invoice_pay", "portal:payment_status", "portal:receipt"):
        assert member_client.get(reverse(view, args=[999999])).status_code == 404


def test_the_lists_show_only_the_members_own_objects(member_client, member, theirs):
    mine = open_invoice(member=member, amounts=["12.00"])

    invoices = member_client.get(reverse("portal:invoice_list")).content.decode()
    payments = member_client.get(reverse("portal:payment_list")).content.decode()
    cards = member_client.get(reverse("portal:card_list")).content.decode()
    credit = member_client.get(reverse("portal:credit")).content.decode()

    assert mine.number in invoices
    assert theirs["invoice"].number not in invoices
    assert theirs["payment"].number not in payments and theirs["card_payment"].number not in payments
    assert f"/cards/{theirs['card'].pk}/" not in cards and f"/cards/{theirs['own_card'].pk}/" in cards
    assert theirs["payment"].number not in credit
