import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils.formats import date_format

from billing.models import InvoiceStatus
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from tests.factories import SYSTEM, MemberFactory, draft_invoice, external_payment, open_invoice
from tests.payments.admin.helpers import page_queries

CHANGELIST = reverse("admin:billing_invoice_changelist")


def listed(response) -> set[int]:
    return {invoice.pk for invoice in response.context["cl"].result_list}


@pytest.fixture
def invoices_in_every_status(db):
    """One invoice per shown status."""
    with time_machine.travel(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=40)):
        overdue = open_invoice(amounts=["70.00"])
    partially_paid = open_invoice(amounts=["100.00"])
    external_payment(invoice=partially_paid, amount="40.00")
    paid = open_invoice(amounts=["30.00"])
    external_payment(invoice=paid)
    void = invoice_void(invoice=open_invoice(amounts=["20.00"]), actor=SYSTEM)
    uncollectible = invoice_mark_uncollectible(invoice=open_invoice(amounts=["10.00"]), actor=SYSTEM)
    return {
        "draft": draft_invoice(amounts=["50.00"]),
        "open": open_invoice(amounts=["60.00"]),
        "partially_paid": partially_paid,
        "overdue": overdue,
        "paid": paid,
        "void": void,
        "uncollectible": uncollectible,
    }


def test_list_shows_number_member_status_badge_total_remaining_and_due_date(staff_client):
    invoice = open_invoice(amounts=["100.00"], member=MemberFactory(name="Ada Lovelace"))
    external_payment(invoice=invoice, amount="40.00")
    draft = draft_invoice(amounts=["12.00"])

    response = staff_client.get(CHANGELIST)

    content = response.content.decode()
    assert response.status_code == 200
    assert invoice.number in content
    assert f"Draft #{draft.pk}" in content
    assert "Ada Lovelace" in content
    assert '<span class="billing-badge billing-badge--partially_paid">Partially paid</span>' in content
    assert '<span class="billing-badge billing-badge--draft">Draft</span>' in content
    assert "€100.00" in content
    assert "€60.00" in content
    assert date_format(invoice.due_date) in content


@pytest.mark.parametrize(
    "shown_status", ["draft", "open", "partially_paid", "overdue", "paid", "void", "uncollectible"]
)
def test_filter_by_shown_status_lists_exactly_the_invoices_in_it(staff_client, invoices_in_every_status, shown_status):
    response = staff_client.get(CHANGELIST, {"shown_status": shown_status})

    assert response.status_code == 200
    assert listed(response) == {invoices_in_every_status[shown_status].pk}


def test_overdue_takes_precedence_over_partially_paid(staff_client):
    with time_machine.travel(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=40)):
        invoice = open_invoice(amounts=["100.00"])
        external_payment(invoice=invoice, amount="10.00")

    assert listed(staff_client.get(CHANGELIST, {"shown_status": "overdue"})) == {invoice.pk}
    assert listed(staff_client.get(CHANGELIST, {"shown_status": "partially_paid"})) == set()


def test_filter_by_member_and_currency(staff_client):
    member = MemberFactory()
    euro = open_invoice(member=member, amounts=["10.00"])
    yen = open_invoice(member=member, amounts=["1000"], currency="JPY")
    open_invoice(amounts=["10.00"])

    assert listed(staff_client.get(CHANGELIST, {"member__id__exact": member.pk})) == {euro.pk, yen.pk}
    assert listed(staff_client.get(CHANGELIST, {"currency": "JPY"})) == {yen.pk}


def test_search_by_number_and_member_name(staff_client):
    wanted = open_invoice(amounts=["10.00"], member=MemberFactory(name="Grace Hopper"))
    other = open_invoice(amounts=["10.00"], member=MemberFactory(name="Alan Turing"))

    assert listed(staff_client.get(CHANGELIST, {"q": "Hopper"})) == {wanted.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": other.number})) == {other.pk}


def test_unknown_status_filter_value_lists_everything(staff_client, invoices_in_every_status):
    response = staff_client.get(CHANGELIST, {"shown_status": "bogus"})

    assert response.status_code == 200


def test_list_has_no_bulk_delete_action(staff_client):
    draft_invoice()

    response = staff_client.get(CHANGELIST)

    assert response.context["action_form"] is None
    assert "delete_selected" not in response.content.decode()


def test_list_costs_the_same_queries_with_2_and_20_invoices(staff_client, django_assert_num_queries):
    for _ in range(2):
        external_payment(invoice=open_invoice(amounts=["100.00"]), amount="10.00")
    with_two = page_queries(staff_client, CHANGELIST)

    for index in range(18):
        invoice = open_invoice(amounts=["100.00"]) if index % 2 else draft_invoice()
        if invoice.status == InvoiceStatus.OPEN:
            external_payment(invoice=invoice, amount="10.00")
    with_twenty = page_queries(staff_client, CHANGELIST)

    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(CHANGELIST)
