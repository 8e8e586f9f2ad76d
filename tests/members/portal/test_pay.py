"""Paying in the portal: one invoice or all open ones, with a saved or a new card, through the views and the sandbox
gateway (spec 5.14, 6, 8). Members never pay more than remaining - reserved."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from billing.activity import Actor
from billing.models import InvoiceStatus
from billing.services.invoice_void import invoice_void
from billing.templatetags.billing_money import local_date
from payments.models import Allocation, AttemptStatus, Payment, PaymentAttempt, PaymentMethod, PaymentStatus
from payments.sandbox.models import SandboxCustomer
from tests.factories import (
    books_snapshot,
    card_payment,
    draft_invoice,
    eur,
    external_payment,
    open_invoice,
    reload,
    saved_card,
)
from tests.payments.card.conftest import CARD_MODELS

pytestmark = pytest.mark.django_db


def pay_url(invoice) -> str:
    return reverse("portal:invoice_pay", args=[invoice.pk])


def pay(client, invoice, *, amount: str | None = None, card=None, number: str = "", expiry: str = "", **extra):
    """POST the pay form: a saved card (a PaymentMethod or its id), or a new card when `card` is None."""
    data = {
        "amount": amount if amount is not None else str(invoice.amount_remaining.amount),
        "card": "new" if card is None else str(getattr(card, "pk", card)),
        "card_number": number,
        "card_expiry": expiry,
        **extra,
    }
    return client.post(pay_url(invoice), data)


def snapshot() -> dict:
    return books_snapshot(extra_models=(*CARD_MODELS, SandboxCustomer))


def form_errors(response) -> str:
    assert response.status_code == 200, response.status_code
    form = response.context["form"]
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


# The pay page ----------------------------------------------------------------------------------------------------------


def test_the_pay_page_offers_what_remains_less_what_is_being_charged(member_client, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    card_payment(invoice=invoice, amount="30.00", status="processing")

    response = member_client.get(pay_url(invoice))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>€70.00</strong>" in html
    assert "Pay €70.00" in html
    assert '<input type="hidden" name="amount" value="70.00"' in html
    assert 'name="amount" value="70.00" inputmode' not in html  # no amount input: partial payments are off
    assert f'value="{card.pk}"' in html and "— default" in html
    assert 'value="new"' in html and 'name="card_number"' in html and 'name="card_expiry"' in html
    assert "js.stripe.com" not in html


def test_with_partial_payments_the_amount_is_an_input(member_client, member, partial_payments):
    invoice = open_invoice(member=member, amounts=["100.00"])

    html = member_client.get(pay_url(invoice)).content.decode()

    assert re.search(r'<input type="text" name="amount" value="100.00"[^>]*inputmode="decimal"', html)
    assert "at least €10.00" in html


def test_paying_with_a_saved_card_pays_the_invoice_and_shows_the_receipt(member_client, member, committed, today):
    invoice = open_invoice(member=member, amounts=["100.00", "20.00"])
    card = saved_card(member)

    with committed():
        response = pay(member_client, invoice, card=card)

    payment = Payment.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("portal:payment_status", args=[payment.pk])
    assert (payment.status, payment.amount, payment.payment_method) == (PaymentStatus.SUCCEEDED, eur("120.00"), card)
    assert PaymentAttempt.objects.get().trigger == PaymentAttempt.Trigger.MEMBER
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.PAID, eur("0.00"))

    html = member_client.get(response.url).content.decode()
    assert "Thank you" in html and '<span class="badge badge--paid">Paid</span>' in html
    assert reverse("portal:receipt", args=[payment.pk]) in html
    assert "data-status-url" not in html

    receipt = member_client.get(reverse("portal:receipt", args=[payment.pk])).content.decode()
    assert f"Receipt {payment.number}" in receipt
    assert "€120.00" in receipt and str(card) in receipt and local_date(today) in receipt
    assert invoice.number in receipt


def test_paying_with_a_new_sandbox_card_saves_it_and_pays(member_client, member, committed):
    invoice = open_invoice(member=member, amounts=["45.50"])

    with committed():
        response = pay(member_client, invoice, number="4242 4242 4242 4242", expiry="12/34")

    card = PaymentMethod.objects.get()
    assert (card.member, card.last4, card.exp_month, card.exp_year, card.is_default) == (member, "4242", 12, 2034, True)
    payment = Payment.objects.get()
    assert response.url == reverse("portal:payment_status", args=[payment.pk])
    assert (payment.status, payment.payment_method) == (PaymentStatus.SUCCEEDED, card)
    assert reload(invoice).status == InvoiceStatus.PAID
    assert "4242424242424242" not in member_client.get(response.url).content.decode()


def test_a_card_whose_charges_fail_shows_the_decline_reason_and_a_way_to_try_another_card(
    member_client, member, committed
):
    invoice = open_invoice(member=member, amounts=["80.00"])

    with committed():
        response = pay(member_client, invoice, number="4000000000000341", expiry="10/33")

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.FAILED
    html = member_client.get(response.url).content.decode()
    assert "The payment did not go through" in html
    assert "Your card was declined." in html
    assert f'href="{pay_url(invoice)}"' in html and "Try another card" in html
    assert reload(invoice).status == InvoiceStatus.OPEN

    # Another card: a new payment pays the invoice, and nothing is charged twice.
    with committed():
        response = pay(member_client, invoice, number="4242424242424242", expiry="10/33")

    second = Payment.objects.exclude(pk=payment.pk).get()
    assert response.url == reverse("portal:payment_status", args=[second.pk])
    assert second.status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    assert Allocation.objects.get().payment == second
    assert reload(payment).status == PaymentStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_new_card_that_retries_the_failed_payment_at_once_leads_to_that_payment(client, member):
    """With real commits (as in production with an eager worker), saving the card retries the failed payment first:
    the member follows that payment and no second one is made."""
    client.force_login(member.user)
    invoice = open_invoice(member=member, amounts=["80.00"])
    failed = pay(client, invoice, number="4000000000000341", expiry="10/33")
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.FAILED
    assert failed.url == reverse("portal:payment_status", args=[payment.pk])

    response = pay(client, invoice, number="4242424242424242", expiry="10/33")

    assert Payment.objects.count() == 1
    assert response.url == reverse("portal:payment_status", args=[payment.pk])
    payment = reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.attempts.order_by("pk").last().trigger == PaymentAttempt.Trigger.NEW_CARD
    assert reload(invoice).status == InvoiceStatus.PAID


def test_the_status_page_says_processing_until_the_gateway_answers(member_client, member, no_worker):
    invoice = open_invoice(member=member, amounts=["30.00"])
    card = saved_card(member)
    with pytest.MonkeyPatch.context():
        response = pay(member_client, invoice, card=card)
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING

    html = member_client.get(response.url).content.decode()
    status_url = reverse("portal:payment_status_json", args=[payment.pk])
    assert "Processing" in html and f'data-status-url="{status_url}"' in html
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    assert "portal/payment-status.js" in html
    assert member_client.get(status_url).json() == {
        "number": payment.number,
        "status": "pending",
        "state": "processing",
        "done": False,
    }
    # The invoice page shows it as processing, and it cannot be paid twice.
    assert "€30.00 of" in member_client.get(pay_url(invoice)).content.decode()


def test_the_status_json_says_done_once_the_payment_settled(member_client, member, committed):
    invoice = open_invoice(member=member, amounts=["30.00"])
    with committed():
        pay(member_client, invoice, card=saved_card(member))
    payment = Payment.objects.get()

    body = member_client.get(reverse("portal:payment_status_json", args=[payment.pk])).json()

    assert body == {"number": payment.number, "status": "succeeded", "state": "succeeded", "done": True}


def test_a_receipt_of_a_payment_not_settled_leads_to_its_status(member_client, member, no_worker):
    invoice = open_invoice(member=member, amounts=["30.00"])
    pay(member_client, invoice, card=saved_card(member))
    payment = Payment.objects.get()

    response = member_client.get(reverse("portal:receipt", args=[payment.pk]))

    assert response.status_code == 302
    assert response.url == reverse("portal:payment_status", args=[payment.pk])


# Partial payments ------------------------------------------------------------------------------------------------------


def test_a_partial_payment_when_the_space_allows_it(member_client, member, committed, partial_payments):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)

    with committed():
        pay(member_client, invoice, card=card, amount="40.00")

    invoice = reload(invoice)
    assert (invoice.amount_paid, invoice.amount_remaining) == (eur("40.00"), eur("60.00"))
    assert invoice.shown_status() == "partially_paid"
    assert "<strong>€60.00</strong>" in member_client.get(pay_url(invoice)).content.decode()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "The amount must be greater than zero, not 0."),
        ("0.00", "The amount must be greater than zero"),
        ("-5.00", "“-5.00” has a sign (amounts are typed without + or -): type the amount like 1,234.56 or 12.50."),
        ("100.01", "€100.01 is more than what can still be charged on"),
        ("250", "€250.00 is more than what can still be charged on"),
        ("10.005", "“10.005” has 3 decimals, but EUR amounts have 2 at most: type the amount like 1,234.56 or 12.50."),
        ("ten", "“ten” is not an amount of money: type the amount like 1,234.56 or 12.50."),
        ("", "Enter an amount: type it like 1,234.56 or 12.50."),
        ("NaN", "is not an amount of money"),
        ("1e3", "“1e3” is not an amount of money: type the amount like 1,234.56 or 12.50."),
        ("10,50", "“10,50” is ambiguous: type the amount like 1,234.56 or 12.50."),
        ("1_000", "“1_000” is not an amount of money: type the amount like 1,234.56 or 12.50."),
        ("5.00", "A partial payment is at least €10.00."),
        ("1234567890123", "is too large"),
    ],
)
def test_a_wrong_amount_is_refused_and_nothing_is_written(member_client, member, partial_payments, amount, message):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    before = snapshot()

    response = pay(member_client, invoice, card=card, amount=amount)

    assert message in form_errors(response)
    assert snapshot() == before


def test_without_partial_payments_another_amount_is_refused(member_client, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    before = snapshot()

    response = pay(member_client, invoice, card=card, amount="50.00")

    assert "Pay the full €100.00; this space does not take partial payments online." in form_errors(response)
    assert snapshot() == before


def test_a_member_cannot_pay_more_than_remains_less_what_is_being_charged(member_client, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    card_payment(invoice=invoice, amount="30.00", status="processing")
    before = snapshot()

    for amount in ("100.00", "70.01"):
        response = pay(member_client, invoice, card=card, amount=amount)
        assert f"€{amount} is more than what can still be charged on {invoice.number} (€70.00)." in form_errors(
            response
        )
    assert snapshot() == before


def test_when_everything_is_being_charged_there_is_nothing_to_pay(member_client, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    card_payment(invoice=invoice, amount="100.00", status="processing")
    before = snapshot()

    html = member_client.get(pay_url(invoice)).content.decode()
    response = pay(member_client, invoice, card=card, amount="100.00")

    assert "€100.00 of" in html and "is being processed" in html and 'name="card"' not in html
    assert response.status_code == 302 and response.url == reverse("portal:invoice_detail", args=[invoice.pk])
    assert snapshot() == before


# Invoices that cannot be paid ------------------------------------------------------------------------------------------


def test_a_void_invoice_cannot_be_paid(member_client, member, staff):
    invoice = open_invoice(member=member, amounts=["100.00"])
    invoice_void(invoice=invoice, actor=staff)
    card = saved_card(member)
    before = snapshot()

    html = member_client.get(pay_url(invoice)).content.decode()
    response = pay(member_client, invoice, card=card, amount="100.00")

    assert "is void: there is nothing to pay." in html and 'name="card"' not in html
    assert response.status_code == 302
    assert "is void" in member_client.get(response.url).content.decode()
    assert snapshot() == before


def test_a_paid_invoice_cannot_be_paid_again(member_client, member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    external_payment(invoice=invoice)
    card = saved_card(member)
    before = snapshot()

    response = pay(member_client, invoice, card=card, amount="100.00")

    assert response.status_code == 302
    assert snapshot() == before


def test_a_draft_invoice_is_not_found(member_client, member):
    draft = draft_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    before = snapshot()

    assert member_client.get(pay_url(draft)).status_code == 404
    assert pay(member_client, draft, card=card, amount="100.00").status_code == 404
    assert member_client.get(reverse("portal:invoice_detail", args=[draft.pk])).status_code == 404
    assert snapshot() == before


# New cards -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expiry", "message"),
    [
        ("4242 4242 4242 4241", "12/34", "This card number is not valid; check the digits."),
        ("4242", "12/34", "This card number is not valid"),
        ("abcd efgh ijkl mnop", "12/34", "This card number is not valid"),
        ("", "12/34", "Enter the card number."),
        ("4242424242424242", "", "Enter the expiry date, as MM/YY."),
        ("4242424242424242", "13/30", "Enter the expiry date as MM/YY"),
        ("4242424242424242", "1230", "Enter the expiry date as MM/YY"),
        ("4242424242424242", "01/20", "This card has expired."),
    ],
)
def test_a_new_card_with_bad_details_is_refused_before_the_gateway(member_client, member, number, expiry, message):
    invoice = open_invoice(member=member, amounts=["100.00"])
    before = snapshot()

    response = pay(member_client, invoice, number=number, expiry=expiry)

    assert message in form_errors(response)
    assert 'name="card_number" value' not in response.content.decode()  # a card number is never sent back
    assert snapshot() == before


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("4000000000000002", "The card was not saved: Your card was declined."),
        ("4000000000009995", "The card was not saved: Your card has insufficient funds."),
        ("4000000000000069", "The card was not saved: Your card has expired."),
        ("6011111111111117", "The card was not saved: The sandbox accepts only test card numbers"),
    ],
)
def test_a_card_the_gateway_rejects_is_not_saved_and_nothing_is_paid(member_client, member, number, message):
    invoice = open_invoice(member=member, amounts=["100.00"])
    saved_card(member)  # the member has a customer at the gateway already
    before = snapshot()

    response = pay(member_client, invoice, number=number, expiry="12/34")

    assert message in form_errors(response)
    assert snapshot() == before


def test_another_members_card_is_not_a_choice(member_client, member, other_member):
    invoice = open_invoice(member=member, amounts=["100.00"])
    saved_card(member)
    theirs = saved_card(other_member)
    before = snapshot()

    response = pay(member_client, invoice, card=theirs, amount="100.00")

    assert "Select a valid choice." in form_errors(response)
    assert snapshot() == before


def test_a_removed_card_is_not_a_choice(member_client, member, committed):
    from payments.services.payment_method import payment_method_remove

    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    with committed():
        payment_method_remove(payment_method=card, actor=Actor.system("tests"))
    before = snapshot()

    response = pay(member_client, invoice, card=card, amount="100.00")

    assert "Select a valid choice." in form_errors(response)
    assert snapshot() == before


# CSRF ------------------------------------------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused(member, committed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member.user)
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    other = saved_card(member, "5555555555554444")
    before = snapshot()

    with committed():
        responses = [
            pay(client, invoice, card=card, amount="100.00"),
            client.post(
                reverse("portal:invoices_pay_all", args=["EUR"]), {"card": card.pk, "expected_total": "100.00"}
            ),
            client.post(reverse("portal:card_add"), {"card_number": "4242424242424242", "card_expiry": "12/34"}),
            client.post(reverse("portal:card_set_default", args=[other.pk])),
            client.post(reverse("portal:card_remove", args=[card.pk]), {"confirmed": "1"}),
            client.post(reverse("portal:card_setup")),
            client.post(reverse("portal:logout")),
        ]

    assert [response.status_code for response in responses] == [403] * len(responses)
    assert snapshot() == before
    assert client.session.get("_auth_user_id") == str(member.user_id)


def test_the_forms_carry_a_csrf_token_and_a_form_key(member, committed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member.user)
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)
    html = client.get(pay_url(invoice)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]
    intent = re.search(r'name="intent_key" value="([^"]+)"', html)[1]

    with committed():
        response = pay(client, invoice, card=card, amount="100.00", csrfmiddlewaretoken=token, intent_key=intent)

    assert response.status_code == 302
    assert reload(invoice).status == InvoiceStatus.PAID


# Pay all open invoices -------------------------------------------------------------------------------------------------


def test_pay_all_pays_every_open_invoice_of_the_currency_in_one_payment(member_client, member, committed):
    first = open_invoice(member=member, amounts=["100.00"])
    second = open_invoice(member=member, amounts=["50.00"])
    external_payment(invoice=second, amount="20.00")
    dollars = open_invoice(member=member, amounts=["10.00"], currency="USD")
    card = saved_card(member)
    url = reverse("portal:invoices_pay_all", args=["eur"])

    html = member_client.get(url).content.decode()
    assert first.number in html and second.number in html and dollars.number not in html
    assert "Pay €130.00" in html
    with committed():
        response = member_client.post(url, {"card": card.pk, "expected_total": "130.00"})

    payment = Payment.objects.get(method="card")
    assert response.url == reverse("portal:payment_status", args=[payment.pk])
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, eur("130.00"))
    assert list(payment.allocations.order_by("pk").values_list("invoice_id", "amount")) == [
        (first.pk, eur("100.00").amount),
        (second.pk, eur("30.00").amount),
    ]
    assert reload(first).status == reload(second).status == InvoiceStatus.PAID
    assert reload(dollars).status == InvoiceStatus.OPEN


def test_pay_all_with_a_new_card(member_client, member, committed):
    open_invoice(member=member, amounts=["100.00"])
    open_invoice(member=member, amounts=["50.00"])

    with committed():
        member_client.post(
            reverse("portal:invoices_pay_all", args=["EUR"]),
            {"card": "new", "card_number": "5555 5555 5555 4444", "card_expiry": "07/31", "expected_total": "150.00"},
        )

    payment = Payment.objects.get()
    assert (payment.status, payment.amount, payment.payment_method.brand) == (
        PaymentStatus.SUCCEEDED,
        eur("150.00"),
        "mastercard",
    )


def test_pay_all_refuses_when_the_total_changed_since_the_page_was_shown(member_client, member):
    open_invoice(member=member, amounts=["100.00"])
    open_invoice(member=member, amounts=["50.00"])
    card = saved_card(member)
    before = snapshot()

    response = member_client.post(
        reverse("portal:invoices_pay_all", args=["EUR"]), {"card": card.pk, "expected_total": "120.00"}
    )

    assert "What you owe changed since you opened this page" in form_errors(response)
    assert 'name="expected_total" value="150.00"' in response.content.decode()
    assert snapshot() == before


def test_pay_all_with_nothing_to_pay(member_client, member):
    card = saved_card(member)
    before = snapshot()
    url = reverse("portal:invoices_pay_all", args=["EUR"])

    assert "You have no invoice to pay in EUR." in member_client.get(url).content.decode()
    response = member_client.post(url, {"card": card.pk, "expected_total": "0"})

    assert response.status_code == 302
    assert snapshot() == before


def test_pay_all_leaves_out_what_is_being_charged(member_client, member, committed):
    first = open_invoice(member=member, amounts=["100.00"])
    second = open_invoice(member=member, amounts=["50.00"])
    third = open_invoice(member=member, amounts=["40.00"])
    card_payment(invoice=second, amount="50.00", status="processing")
    card = saved_card(member)

    with committed():
        member_client.post(
            reverse("portal:invoices_pay_all", args=["EUR"]), {"card": card.pk, "expected_total": "140.00"}
        )

    payment = Payment.objects.get(payment_method=card)
    assert payment.amount == eur("140.00")
    assert sorted(payment.targets.values_list("invoice_id", flat=True)) == [first.pk, third.pk]
    assert reload(second).status == InvoiceStatus.OPEN


def test_attempts_of_members_are_in_flight_only_once(member_client, member, no_worker):
    """Two pay clicks in a row: the second finds the amount reserved by the first."""
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member)

    pay(member_client, invoice, card=card, amount="100.00")
    response = pay(member_client, invoice, card=card, amount="100.00")

    assert response.status_code == 302 and response.url == reverse("portal:invoice_detail", args=[invoice.pk])
    assert PaymentAttempt.objects.filter(status=AttemptStatus.QUEUED).count() == 1


def test_a_new_card_saved_before_a_refused_payment_is_offered_again(member_client, member):
    invoice = open_invoice(member=member, amounts=["100.00"])

    response = pay(member_client, invoice, amount="60.00", number="4242424242424242", expiry="12/34")

    card = PaymentMethod.objects.get()
    assert f"Your new card ({card}) is saved and chosen below." in form_errors(response)
    assert re.search(rf'<input type="radio" name="card" value="{card.pk}"[^>]* checked>', response.content.decode())
    assert not Payment.objects.exists()
