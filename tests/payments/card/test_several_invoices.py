"""One card payment for several invoices (the portal's "Pay all open invoices"), and the members' partial payments
(spec 5.14)."""

import datetime
import re

import pytest

from payments.amounts import invoice_reserved
from payments.integrity import billing_integrity_violations
from payments.models import Payment, PaymentStatus, PaymentTarget
from payments.services.payment_card import invoices_pay_with_card, payment_create_card
from payments.services.payment_retries import payment_retries_run
from tests.factories import (
    MemberFactory,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    reload,
    saved_card,
)
from tests.payments.card.conftest import CARD_MODELS

pytestmark = pytest.mark.django_db


def two_open_invoices():
    member = MemberFactory()
    older = open_invoice(member=member, amounts=["30.00"])
    newer = open_invoice(member=member, amounts=["50.00"])
    return member, older, newer


def test_one_payment_pays_several_invoices_oldest_first(staff, committed):
    member, older, newer = two_open_invoices()
    saved_card(member)

    with committed():
        payment = invoices_pay_with_card(member=member, invoices=[newer, older], actor=staff)

    payment = reload(payment)
    assert (payment.status, payment.amount, payment.invoice) == (PaymentStatus.SUCCEEDED, eur("80.00"), None)
    assert [(target.invoice, target.amount) for target in payment.targets.all()] == [
        (older, eur("30.00")),
        (newer, eur("50.00")),
    ]
    assert [(a.invoice, a.amount) for a in payment.allocations.order_by("pk")] == [
        (older, eur("30.00")),
        (newer, eur("50.00")),
    ]
    assert (reload(older).status, reload(newer).status) == ("paid", "paid")
    assert billing_integrity_violations() == []


def test_each_invoice_of_a_payment_in_flight_is_reserved_for_its_part(staff, no_worker):
    member, older, newer = two_open_invoices()
    saved_card(member)

    invoices_pay_with_card(member=member, invoices=[older, newer], actor=staff)

    assert (invoice_reserved(older), invoice_reserved(newer)) == (eur("30.00"), eur("50.00"))
    with refused(re.escape(f"{newer.number} has €50.00 being charged already"), extra_models=CARD_MODELS):
        payment_create_card(invoice=newer, actor=staff)


def test_a_member_pays_only_their_own_invoices(staff):
    member, older, _ = two_open_invoices()
    saved_card(member)
    stranger = member_actor(MemberFactory())

    with refused("^You can only pay your own invoices.$", extra_models=CARD_MODELS):
        invoices_pay_with_card(member=member, invoices=[older], actor=stranger)


def test_invoices_of_another_member_cannot_be_paid_together(staff):
    member, older, _ = two_open_invoices()
    saved_card(member)
    other = open_invoice(amounts=["10.00"])

    with refused("^You can only pay your own invoices.$", extra_models=CARD_MODELS):
        invoices_pay_with_card(member=member, invoices=[older, other], actor=staff)


def test_invoices_in_two_currencies_are_paid_separately(staff):
    member = MemberFactory()
    euros = open_invoice(member=member, amounts=["30.00"])
    yen = open_invoice(member=member, amounts=["3000"], currency="JPY")
    saved_card(member)

    with refused("^One payment pays invoices of one currency; pay the others separately.$", extra_models=CARD_MODELS):
        invoices_pay_with_card(member=member, invoices=[euros, yen], actor=staff)


def test_a_member_pays_what_remains_unless_partial_payments_are_allowed(committed, settings):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    member = member_actor(invoice.member)

    with refused(
        r"^Pay the full €100.00; this space does not take partial payments online.$", extra_models=CARD_MODELS
    ):
        payment_create_card(invoice=invoice, actor=member, amount=eur("40.00"))

    settings.BILLING_PORTAL_PARTIAL_PAYMENTS = True
    settings.BILLING_PORTAL_PARTIAL_MINIMUM = "20.00"
    with refused(r"^A partial payment is at least €20.00.$", extra_models=CARD_MODELS):
        payment_create_card(invoice=invoice, actor=member, amount=eur("10.00"))
    with committed():
        payment_create_card(invoice=invoice, actor=member, amount=eur("40.00"))
    assert reload(invoice).amount_remaining == eur("60.00")


def test_a_member_can_never_pay_more_than_remains(settings):
    settings.BILLING_PORTAL_PARTIAL_PAYMENTS = True
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    member = member_actor(invoice.member)

    with refused(re.escape("€100.01 is more than what can still be charged"), extra_models=CARD_MODELS):
        payment_create_card(invoice=invoice, actor=member, amount=eur("100.01"))


def test_an_automatic_retry_of_several_invoices_charges_only_what_remains(staff, committed, time_machine):
    member, older, newer = two_open_invoices()
    saved_card(member, "4000000000000341")
    with committed():
        payment = invoices_pay_with_card(member=member, invoices=[older, newer], actor=staff)
    payment = reload(payment)
    assert payment.status == PaymentStatus.FAILED
    external_payment(invoice=older)
    saved_card(member, "4242424242424242")
    Payment.objects.filter(pk=payment.pk).update(next_retry_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))

    with committed():
        summary = payment_retries_run(now=datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC))

    payment = reload(payment)
    assert summary.retried == 1
    assert (payment.amount, payment.status) == (eur("50.00"), PaymentStatus.FAILED)
    assert list(PaymentTarget.objects.filter(payment=payment).values_list("invoice", flat=True)) == [newer.pk]
    assert billing_integrity_violations() == []
