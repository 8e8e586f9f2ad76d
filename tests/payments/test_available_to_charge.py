"""`invoice_available_to_charge`: the one rule for what can still be charged on an invoice by card (the card service,
the admin's pages, the portal and the retries read it)."""

import pytest

from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from payments.selectors import invoice_available_to_charge, invoices_available_to_charge
from tests.factories import MemberFactory, card_payment, draft_invoice, eur, external_payment, open_invoice, reload

pytestmark = pytest.mark.django_db


def availability(invoice) -> tuple:
    charge = invoice_available_to_charge(reload(invoice))
    return charge.reserved, charge.available


def test_what_remains_is_available_when_nothing_is_in_flight():
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="25.00")

    assert availability(invoice) == (eur("0.00"), eur("75.00"))


def test_card_payments_in_flight_reserve_their_part():
    invoice = open_invoice(amounts=["100.00"])
    card_payment(invoice=invoice, amount="30.00", status="pending")
    card_payment(invoice=invoice, amount="20.00", status="processing")

    assert availability(invoice) == (eur("50.00"), eur("50.00"))


def test_failed_and_canceled_card_payments_reserve_nothing():
    invoice = open_invoice(amounts=["100.00"])
    card_payment(invoice=invoice, amount="30.00", status="failed")
    card_payment(invoice=invoice, amount="20.00", status="canceled")

    assert availability(invoice) == (eur("0.00"), eur("100.00"))


def test_what_is_available_is_never_below_zero():
    invoice = open_invoice(amounts=["100.00"])
    card_payment(invoice=invoice, amount="60.00")
    external_payment(invoice=invoice, amount="70.00")  # paid outside while the card charge was at the gateway

    assert availability(invoice) == (eur("60.00"), eur("0.00"))


def test_an_invoice_that_takes_no_payment_has_nothing_to_charge(staff):
    draft = draft_invoice(amounts=["100.00"])
    paid = open_invoice(amounts=["100.00"])
    external_payment(invoice=paid)
    void = invoice_void(invoice=open_invoice(amounts=["100.00"]), actor=staff)

    assert reload(draft).amount_remaining == eur("100.00")
    assert reload(void).amount_remaining.amount > 0
    assert [availability(invoice)[1] for invoice in (draft, paid, void)] == [eur("0.00")] * 3


def test_an_uncollectible_invoice_can_still_be_charged(staff):
    invoice = invoice_mark_uncollectible(invoice=open_invoice(amounts=["100.00"]), actor=staff)

    assert availability(invoice) == (eur("0.00"), eur("100.00"))


def test_several_invoices_are_read_in_one_query(django_assert_num_queries):
    member = MemberFactory()
    first = open_invoice(member=member, amounts=["100.00"])
    second = open_invoice(member=member, amounts=["50.00"])
    card_payment(invoice=second, amount="20.00")
    invoices = [reload(first), reload(second)]

    with django_assert_num_queries(1):
        charge = invoices_available_to_charge(invoices)

    assert [(charge[i.pk].reserved, charge[i.pk].available) for i in invoices] == [
        (eur("0.00"), eur("100.00")),
        (eur("20.00"), eur("30.00")),
    ]
