"""The payment list answers questions: the reference, what was refunded and the invoices paid, a search that
ignores accents and finds invoice numbers, amounts and card last 4, and the totals of the rows listed."""

from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.money import Money

from payments.models import PaymentMethod
from payments.services.payment_apply import payment_apply
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund
from tests.factories import SYSTEM, MemberFactory, card_payment, eur, external_payment, open_invoice, standalone_payment
from tests.payments.admin.helpers import invoice_url, page_queries

CHANGELIST = reverse("admin:payments_payment_changelist")


def listed(response) -> set[int]:
    return {payment.pk for payment in response.context["cl"].result_list}


def row_of(content: str, number: str) -> str:
    start = content.index(f">{number}</a>")
    return content[start : content.index("</tr>", start)]


def test_list_shows_reference_refunded_and_the_invoices_paid(staff_client):
    member = MemberFactory()
    first, second = open_invoice(member=member, amounts=["30.00"]), open_invoice(member=member, amounts=["50.00"])
    transfer = payment_create_standalone(
        member=member, actor=SYSTEM, amount=eur("100.00"), kind="bank_transfer", reference="TRF-2026-0042"
    )
    payment_apply(invoice=first, applications=[(transfer, eur("30.00"))], actor=SYSTEM)
    payment_apply(invoice=second, applications=[(transfer, eur("50.00"))], actor=SYSTEM)
    payment_refund(payment=transfer, amount=eur("15.00"), reason="other", actor=SYSTEM)
    unrefunded = standalone_payment(member=member, amount="5.00")
    failed_charge = card_payment(
        invoice=open_invoice(member=member, amounts=["20.00"]), amount="20.00", status="failed"
    )

    content = staff_client.get(CHANGELIST).content.decode()

    row = row_of(content, transfer.number)
    assert '<td class="field-reference">TRF-2026-0042</td>' in row
    assert '<td class="field-refunded_display">€15.00</td>' in row
    assert (
        f'<td class="field-invoices_display"><a href="{invoice_url(first)}">{first.number}</a>: €30.00<br>'
        f'<a href="{invoice_url(second)}">{second.number}</a>: €50.00</td>'
    ) in row
    assert '<td class="field-unallocated_display">€5.00</td>' in row
    unrefunded_row = row_of(content, unrefunded.number)
    assert '<td class="field-refunded_display">—</td>' in unrefunded_row
    assert '<td class="field-invoices_display">—</td>' in unrefunded_row
    card_row = row_of(content, failed_charge.number)
    target = failed_charge.targets.get().invoice
    assert f'<td class="field-invoices_display"><a href="{invoice_url(target)}">{target.number}</a></td>' in card_row
    assert "Card<br><small>•••• 4242</small>" in card_row


def test_the_invoices_column_costs_no_query_per_row(staff_client):
    member = MemberFactory()
    for _ in range(2):
        external_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="15.00")
    with_two = page_queries(staff_client, CHANGELIST)
    for _ in range(6):
        invoice = open_invoice(member=member, amounts=["10.00"])
        payment = standalone_payment(member=member, amount="10.00")
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00"))], actor=SYSTEM)
        card_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="10.00", status="failed")

    assert page_queries(staff_client, CHANGELIST) == with_two


def test_search_ignores_accents_and_finds_the_invoice_number(staff_client):
    lea = standalone_payment(member=MemberFactory(name="Léa Martin"), amount="10.00")
    invoice = open_invoice(amounts=["100.00"])
    for_invoice = external_payment(invoice=invoice, amount="40.00")
    card = card_payment(invoice=open_invoice(amounts=["20.00"]), amount="20.00", status="failed")

    assert listed(staff_client.get(CHANGELIST, {"q": "lea"})) == {lea.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "MARTÍN"})) == {lea.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": invoice.number})) == {for_invoice.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": card.targets.get().invoice.number})) == {card.pk}


def test_search_finds_an_invoice_number_through_an_allocation(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["30.00"])
    payment = standalone_payment(member=member, amount="30.00")
    payment_apply(invoice=invoice, applications=[(payment, eur("30.00"))], actor=SYSTEM)

    assert listed(staff_client.get(CHANGELIST, {"q": invoice.number})) == {payment.pk}


# Digits no payment or invoice number of a test run reaches (a search for "40" also finds PAY-2026-00040).
@pytest.mark.parametrize("typed", ["93817.00", "93817,00", "93817"])
def test_search_by_amount_as_typed(staff_client, typed):
    wanted = external_payment(invoice=open_invoice(amounts=["100000.00"]), amount="93817.00")
    standalone_payment(member=MemberFactory(), amount="193817.00")
    standalone_payment(member=MemberFactory(), amount="93817.50")

    assert listed(staff_client.get(CHANGELIST, {"q": typed})) == {wanted.pk}


def test_search_by_card_last_four(staff_client):
    card = card_payment(invoice=open_invoice(amounts=["20.00"]), amount="20.00", status="succeeded")
    PaymentMethod.objects.filter(pk=card.payment_method_id).update(last4="0341")
    other = card_payment(invoice=open_invoice(amounts=["20.00"]), amount="20.00", status="succeeded")

    assert listed(staff_client.get(CHANGELIST, {"q": "0341"})) == {card.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "4242"})) == {other.pk}


def test_search_by_reference_ignores_case(staff_client):
    check = payment_create_external(
        invoice=open_invoice(amounts=["10.00"]), actor=SYSTEM, kind="check", amount=eur("10.00"), reference="Chq-Ä17"
    )

    assert listed(staff_client.get(CHANGELIST, {"q": "chq-a17"})) == {check.pk}


def totals_of(response) -> dict[str, tuple]:
    return {
        row.currency: (row.count, *(amount.amount for amount in row.amounts))
        for row in response.context["list_totals"].rows
    }


def test_totals_count_received_money_only(staff_client):
    member = MemberFactory(name="Zoé Roux")
    received = external_payment(invoice=open_invoice(member=member, amounts=["100.00"]), amount="120.00")
    payment_refund(payment=received, amount=eur("20.00"), reason="other", actor=SYSTEM)
    payment_void(payment=standalone_payment(member=member, amount="55.00"), actor=SYSTEM, reason="bounced")
    card_payment(invoice=open_invoice(member=member, amounts=["30.00"]), amount="30.00", status="failed")
    payment_create_standalone(member=member, actor=SYSTEM, amount=Money("9.00", "USD"), kind="cash")
    standalone_payment(member=MemberFactory(), amount="1000.00")

    response = staff_client.get(CHANGELIST, {"q": "zoe"})

    # rows, received, refunded, unallocated
    assert totals_of(response) == {
        "EUR": (3, Decimal("120.00"), Decimal("20.00"), Decimal("0.00")),
        "USD": (1, Decimal("9.00"), Decimal("0"), Decimal("9.00")),
    }
    content = response.content.decode()
    assert '<td class="billing-number">€120.00</td>' in content
    assert "Received counts succeeded payments" in content
    assert totals_of(staff_client.get(CHANGELIST, {"status__exact": "void"})) == {
        "EUR": (1, Decimal("0"), Decimal("0"), Decimal("0"))
    }
