"""A member's saved cards in the admin: the list on the member page, Add card (sandbox test numbers; a Stripe
PaymentMethod id), Set default and Remove (spec 2, 8). A card number is never stored, logged or shown again."""

import datetime

import pytest
from django.urls import reverse
from django.views.debug import SafeExceptionReporterFilter

from billing.models import Activity
from payments.models import PaymentMethod
from payments.sandbox.models import SandboxCard, SandboxCustomer
from payments.services.payment_card import payment_create_card
from payments.services.payment_method import member_gateway_customer_ensure, payment_method_remove
from tests.factories import SYSTEM, MemberFactory, books_snapshot, open_invoice, reload, saved_card
from tests.payments.admin.helpers import messages_of, page_content, page_queries

VISA = "4242424242424242"
DECLINED = "4000000000000002"
CARD_MODELS = (PaymentMethod, SandboxCard, SandboxCustomer)


def member_url(member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def add_url(member) -> str:
    return reverse("admin:members_member_card_add", args=[member.pk])


def set_default_url(card) -> str:
    return reverse("admin:members_member_card_set_default", args=[card.member_id, card.pk])


def remove_url(card) -> str:
    return reverse("admin:members_member_card_remove", args=[card.member_id, card.pk])


def snapshot() -> dict:
    return books_snapshot(extra_models=CARD_MODELS)


def stored_text(*models) -> str:
    """Every value of every row of these tables, as one string to search."""
    return " ".join(str(value) for model in models for row in model.objects.values() for value in row.values())


# The list


def test_member_page_lists_the_saved_cards(staff_client):
    member = MemberFactory()
    visa = saved_card(member)
    mastercard = saved_card(member, "5555555555554444")
    removed = saved_card(member, "378282246310005")
    payment_method_remove(payment_method=removed, actor=SYSTEM)

    response = staff_client.get(member_url(member))

    assert list(response.context["member_cards"]) == [visa, mastercard, removed]
    content = response.content.decode()
    year = visa.exp_year
    assert (
        f"<td>Visa</td>\n          <td>4242</td>\n          <td>12/{year}</td>\n          <td>Default</td>" in content
    )
    assert "<td>Mastercard</td>" in content
    assert f"Removed {reload(removed).removed_at:%Y-%m-%d}" in content
    assert set_default_url(mastercard) in content
    assert set_default_url(visa) not in content  # already the default
    assert remove_url(visa) in content
    assert remove_url(removed) not in content
    assert set_default_url(removed) not in content
    assert add_url(member) in content


def test_member_page_without_cards(staff_client):
    member = MemberFactory()

    assert "No saved card." in page_content(staff_client, member_url(member))


def test_member_page_hides_card_buttons_without_the_permission(clerk_client):
    member = MemberFactory()
    card = saved_card(member)
    other = saved_card(member, "5555555555554444")
    client = clerk_client("members.view_member", "members.change_member")
    before = snapshot()

    page = page_content(client, member_url(member))

    assert "<td>4242</td>" in page
    assert add_url(member) not in page
    assert set_default_url(other) not in page
    assert remove_url(card) not in page
    assert client.get(add_url(member)).status_code == 403
    assert client.post(add_url(member), {"card_number": VISA}).status_code == 403
    assert client.post(set_default_url(other)).status_code == 403
    assert client.get(remove_url(card)).status_code == 403
    assert client.post(remove_url(card)).status_code == 403
    assert snapshot() == before


def test_member_page_costs_the_same_queries_with_2_and_20_cards(staff_client, django_assert_num_queries):
    member = MemberFactory()

    def add_cards(count: int):
        for index in range(count):
            card = saved_card(member, "5555555555554444" if index % 2 else VISA)
            if index % 3 == 0:
                payment_method_remove(payment_method=card, actor=SYSTEM)

    add_cards(2)
    with_two = page_queries(staff_client, member_url(member))
    add_cards(18)
    with_twenty = page_queries(staff_client, member_url(member))

    assert len(staff_client.get(member_url(member)).context["member_cards"]) == 20
    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(member_url(member))


# Add card (sandbox)


def test_add_card_page_lists_the_test_numbers_and_keeps_the_number_out_of_autocomplete(staff_client):
    member = MemberFactory()

    response = staff_client.get(add_url(member))

    content = response.content.decode()
    assert "<code>4242 4242 4242 4242</code> Visa: saved, charges succeed" in content
    assert "<code>4000 0000 0000 0341</code> Visa: saved, every charge is declined" in content
    assert "<code>4000 0000 0000 0002</code> Visa: refused when saved (Your card was declined)" in content
    assert '<input type="text" name="card_number" autocomplete="off" inputmode="numeric"' in content
    assert list(response.context["form"].fields) == ["card_number", "exp_month", "exp_year", "make_default"]


def test_add_a_test_card(staff_client):
    member = MemberFactory()

    response = staff_client.post(add_url(member), {"card_number": VISA}, follow=True)

    card = PaymentMethod.objects.get()
    assert response.redirect_chain[-1][0] == member_url(member)
    assert (card.member, card.gateway, card.brand, card.last4, card.is_default) == (
        member,
        "sandbox",
        "visa",
        "4242",
        True,
    )
    assert (card.exp_month, card.exp_year) == (12, datetime.date.today().year + 3)
    assert card.gateway_id.startswith("pm_sbx_")
    assert messages_of(response) == [f"{card} saved for {member} as the default card."]
    assert "<td>4242</td>" in response.content.decode()
    assert Activity.objects.filter(verb="payment_method.added", actor_kind="staff").count() == 1
    # The number is nowhere: not in the page, not in the gateway's or our rows, not in the audit trail.
    assert VISA not in response.content.decode()
    assert VISA not in stored_text(PaymentMethod, SandboxCard, SandboxCustomer, Activity)


def test_add_a_test_card_with_its_expiry_and_spaces(staff_client):
    member = MemberFactory()
    saved_card(member)
    year = datetime.date.today().year + 5

    staff_client.post(
        add_url(member),
        {"card_number": "5555 5555 5555 4444", "exp_month": "7", "exp_year": str(year), "make_default": "on"},
    )

    card = PaymentMethod.objects.get(last4="4444")
    assert (card.brand, card.exp_month, card.exp_year, card.is_default) == ("mastercard", 7, year, True)
    assert PaymentMethod.objects.filter(member=member, is_default=True).get() == card
    assert "5555555555554444" not in stored_text(PaymentMethod, SandboxCard, Activity)


def test_a_card_refused_by_the_gateway_shows_the_reason_and_is_not_echoed(staff_client):
    member = MemberFactory()
    # The member's customer at the gateway is made before the card is tried (and kept: it is theirs either way).
    member_gateway_customer_ensure(member=member)
    before = snapshot()

    response = staff_client.post(add_url(member), {"card_number": DECLINED})

    assert response.status_code == 200
    assert messages_of(response) == ["The card was not saved: Your card was declined."]
    content = response.content.decode()
    assert DECLINED not in content
    assert '<input type="text" name="card_number" autocomplete="off" inputmode="numeric" spellcheck="false" ' in (
        content
    )
    assert 'name="card_number" value=' not in content
    assert snapshot() == before
    assert DECLINED not in stored_text(SandboxCustomer, Activity)


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"card_number": ""}, "card_number", "This field is required."),
        ({"card_number": VISA, "exp_month": "13", "exp_year": "2099"}, "exp_month", None),
        ({"card_number": VISA, "exp_month": "7"}, "__all__", "Enter both the expiry month and year, or neither."),
        ({"card_number": VISA, "exp_year": "2030"}, "__all__", "Enter both the expiry month and year, or neither."),
    ],
)
def test_add_card_form_errors_write_nothing(staff_client, data, field, error):
    member = MemberFactory()
    before = snapshot()

    response = staff_client.post(add_url(member), data)

    errors = response.context["form"].errors
    assert field in errors
    if error:
        assert errors[field] == [error]
    assert VISA not in response.content.decode()
    assert snapshot() == before


def test_an_unknown_number_is_refused_by_the_sandbox(staff_client):
    member = MemberFactory()

    response = staff_client.post(add_url(member), {"card_number": "4111111111111111"})

    assert messages_of(response) == [
        "The card was not saved: The sandbox accepts only test card numbers, such as 4242 4242 4242 4242."
    ]
    assert "4111111111111111" not in response.content.decode()
    assert PaymentMethod.objects.count() == 0


def test_add_card_masks_the_number_in_error_reports(staff_client):
    """Django's error reports (the mail to ADMINS on a crash) show the typed number as stars."""
    response = staff_client.post(add_url(MemberFactory()), {"card_number": VISA})

    request = response.wsgi_request
    assert SafeExceptionReporterFilter().get_post_parameters(request)["card_number"] == "********************"


# Add card (Stripe)


def test_with_stripe_the_form_asks_for_a_payment_method_id(staff_client, settings):
    settings.PAYMENT_GATEWAY = "stripe"
    member = MemberFactory()
    before = snapshot()

    page = staff_client.get(add_url(member))
    refused = staff_client.post(add_url(member), {"payment_method_id": VISA})

    assert list(page.context["form"].fields) == ["payment_method_id", "make_default"]
    assert "card_number" not in page.content.decode()
    assert refused.context["form"].errors["payment_method_id"] == [
        "Enter a Stripe PaymentMethod id: it starts with “pm_”."
    ]
    assert snapshot() == before


# Set default


def test_set_default(staff_client):
    member = MemberFactory()
    first = saved_card(member)
    second = saved_card(member, "5555555555554444")

    response = staff_client.post(set_default_url(second), follow=True)

    assert (reload(first).is_default, reload(second).is_default) == (False, True)
    assert messages_of(response) == [f"{second} is now {member}'s default card."]
    assert Activity.objects.filter(verb="payment_method.default_set").count() == 1


def test_set_default_is_post_only_and_refuses_a_removed_card(staff_client):
    member = MemberFactory()
    saved_card(member)
    removed = saved_card(member, "5555555555554444")
    payment_method_remove(payment_method=removed, actor=SYSTEM)
    before = snapshot()

    assert staff_client.get(set_default_url(removed)).status_code == 405
    response = staff_client.post(set_default_url(removed), follow=True)

    assert messages_of(response) == [f"{removed} was removed."]
    assert snapshot() == before


def test_another_members_card_is_not_found(staff_client):
    member = MemberFactory()
    stranger_card = saved_card(MemberFactory())
    before = snapshot()

    url = reverse("admin:members_member_card_set_default", args=[member.pk, stranger_card.pk])
    assert staff_client.post(url).status_code == 404
    url = reverse("admin:members_member_card_remove", args=[member.pk, stranger_card.pk])
    assert staff_client.get(url).status_code == 404
    assert staff_client.post(url).status_code == 404
    assert snapshot() == before


# Remove


def test_remove_asks_for_confirmation_then_removes(staff_client, committed):
    member = MemberFactory()
    default = saved_card(member)
    successor = saved_card(member, "5555555555554444")

    confirmation = page_content(staff_client, remove_url(default))
    with committed():
        response = staff_client.post(remove_url(default), follow=True)

    assert "can no longer be charged" in confirmation
    assert f"{successor} becomes the default card." in confirmation
    default = reload(default)
    assert default.removed_at is not None
    assert (default.is_default, reload(successor).is_default) == (False, True)
    assert messages_of(response) == [f"{default} removed from {member}'s saved cards."]
    assert SandboxCard.objects.get(pk=default.gateway_id).customer_id is None  # detached at the gateway
    assert Activity.objects.filter(verb="payment_method.removed").count() == 1
    assert f"Removed {default.removed_at:%Y-%m-%d}" in response.content.decode()


def test_remove_a_card_being_charged_is_refused(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    payment_create_card(invoice=invoice, actor=SYSTEM)  # its commit does not run here: the charge stays queued
    before = snapshot()

    confirmation = page_content(staff_client, remove_url(card))
    response = staff_client.post(remove_url(card), follow=True)

    assert "It is being charged right now" in confirmation
    assert messages_of(response) == [f"{card} is being charged right now; remove it when the payment is done."]
    assert snapshot() == before


def test_remove_a_removed_card_is_refused(staff_client):
    member = MemberFactory()
    card = saved_card(member)
    payment_method_remove(payment_method=card, actor=SYSTEM)
    before = snapshot()

    response = staff_client.post(remove_url(card), follow=True)

    assert messages_of(response) == [f"{reload(card)} was already removed."]
    assert snapshot() == before
