import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing.models import InvoiceStatus
from payments.models import Allocation, Payment, PaymentStatus
from payments.services.payment_apply import payment_apply
from payments.services.payment_external import payment_create_standalone
from payments.services.payment_void import payment_void
from tests.factories import (
    SYSTEM,
    MemberFactory,
    books_snapshot,
    card_payment,
    external_payment,
    open_invoice,
    reload,
    standalone_payment,
)
from tests.payments.admin.helpers import BAD_AMOUNTS, messages_of, page_content, page_queries

CHANGELIST = reverse("admin:payments_payment_changelist")
STANDALONE = reverse("admin:payments_payment_record_standalone")


def change_url(payment) -> str:
    return reverse("admin:payments_payment_change", args=[payment.pk])


def void_url(payment) -> str:
    return reverse("admin:payments_payment_void", args=[payment.pk])


def apply_url(payment) -> str:
    return reverse("admin:payments_payment_apply", args=[payment.pk])


def listed(response) -> set[int]:
    return {payment.pk for payment in response.context["cl"].result_list}


def standalone_data(member, amount: str, currency: str = "EUR", **fields) -> dict:
    return {
        "member": member.pk,
        "amount": amount,
        "currency": currency,
        "kind": "bank_transfer",
        "reference": "TRF-77",
        "received_on": timezone.localdate().isoformat(),
        "note": "",
        **fields,
    }


# The list


def test_list_shows_number_member_method_amounts_status_and_date(staff_client):
    invoice = open_invoice(amounts=["100.00"], member=MemberFactory(name="Ada Lovelace"))
    payment = external_payment(invoice=invoice, amount="150.00", kind="check")

    response = staff_client.get(CHANGELIST)

    content = response.content.decode()
    assert listed(response) == {payment.pk}
    assert payment.number in content
    assert "Ada Lovelace" in content
    assert "External (check)" in content
    assert "€150.00" in content
    assert "€100.00" in content
    assert "€50.00" in content
    assert "Succeeded" in content


def test_list_filters(staff_client):
    member = MemberFactory()
    cash = external_payment(invoice=open_invoice(member=member, amounts=["10.00"]), kind="cash")
    dollars = standalone_payment(member=member, amount="20.00", currency="USD")
    voided = payment_void(payment=standalone_payment(member=member, amount="5.00"), actor=SYSTEM, reason="bounced")
    card = card_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="10.00")

    assert listed(staff_client.get(CHANGELIST, {"status__exact": "void"})) == {voided.pk}
    assert listed(staff_client.get(CHANGELIST, {"method__exact": "card"})) == {card.pk}
    assert listed(staff_client.get(CHANGELIST, {"external_kind__exact": "cash"})) == {cash.pk}
    assert listed(staff_client.get(CHANGELIST, {"currency": "USD"})) == {dollars.pk}


def test_list_search_by_number_member_and_reference(staff_client):
    wanted = standalone_payment(member=MemberFactory(name="Grace Hopper"), amount="10.00")
    other = payment_create_standalone(
        member=MemberFactory(name="Alan Turing"),
        actor=SYSTEM,
        amount=Money("10.00", "EUR"),
        kind="bank_transfer",
        reference="TRF-XYZ",
    )

    assert listed(staff_client.get(CHANGELIST, {"q": "Hopper"})) == {wanted.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "TRF-XYZ"})) == {other.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": wanted.number})) == {wanted.pk}


def test_payments_are_never_added_edited_or_deleted_through_model_forms(staff_client):
    payment = standalone_payment(member=MemberFactory(), amount="10.00")
    before = books_snapshot()

    changelist = staff_client.get(CHANGELIST).content.decode()

    assert reverse("admin:payments_payment_add") not in changelist
    assert STANDALONE in changelist
    assert staff_client.get(reverse("admin:payments_payment_add")).status_code == 403
    assert staff_client.post(change_url(payment), {"amount_0": "1", "status": "void"}).status_code == 403
    assert staff_client.post(reverse("admin:payments_payment_delete", args=[payment.pk])).status_code == 403
    assert books_snapshot() == before


def test_list_costs_the_same_queries_with_2_and_20_payments(staff_client, django_assert_num_queries):
    member = MemberFactory()
    for _ in range(2):
        external_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="15.00")
    with_two = page_queries(staff_client, CHANGELIST)

    for index in range(18):
        if index % 2:
            external_payment(invoice=open_invoice(amounts=["10.00"]), amount="5.00")
        else:
            standalone_payment(member=MemberFactory(), amount="7.00")
    with_twenty = page_queries(staff_client, CHANGELIST)

    assert Payment.objects.count() == 20
    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(CHANGELIST)


# The payment page


def test_page_shows_amounts_allocations_and_activity(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="150.00")

    response = staff_client.get(change_url(payment))

    content = response.content.decode()
    [allocation] = response.context["allocations"]
    assert allocation.invoice == invoice
    assert reverse("admin:billing_invoice_change", args=[invoice.pk]) in content
    assert "€50.00" in content  # unallocated
    assert [activity.verb for activity in response.context["activities"]] == [
        "invoice.overpaid",
        "payment.allocated",
        "payment.received",
    ]
    assert [action.label for action in response.context["actions"]] == ["Refund", "Void payment"]


def test_page_costs_the_same_queries_with_2_and_20_allocations(staff_client, django_assert_num_queries):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="1000.00")
    invoices = [open_invoice(member=member, amounts=["10.00"]) for _ in range(21)]

    for invoice in invoices[:2]:
        payment_apply(invoice=invoice, applications=[(payment, Money("10.00", "EUR"))], actor=SYSTEM)
    with_two = page_queries(staff_client, change_url(payment))

    for invoice in invoices[2:20]:
        payment_apply(invoice=invoice, applications=[(payment, Money("10.00", "EUR"))], actor=SYSTEM)
    with_twenty = page_queries(staff_client, change_url(payment))

    assert len(staff_client.get(change_url(payment)).context["allocations"]) == 20
    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(change_url(payment))


# Void


def test_void_confirmation_lists_every_invoice_that_reopens(staff_client):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    paid = open_invoice(member=member, amounts=["60.00"])
    partly = open_invoice(member=member, amounts=["80.00"])

    payment_apply(invoice=paid, applications=[(payment, Money("60.00", "EUR"))], actor=SYSTEM)
    payment_apply(invoice=partly, applications=[(payment, Money("40.00", "EUR"))], actor=SYSTEM)

    response = staff_client.get(void_url(payment))

    assert response.context["consequences"][1:] == [
        f"{paid.number} (paid) gets €60.00 back to pay: €60.00 will remain, and it reopens.",
        f"{partly.number} (partially paid) gets €40.00 back to pay: €80.00 will remain.",
    ]
    assert 'name="reason"' in response.content.decode()


def test_void_removes_the_allocations_and_reopens_the_invoices(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)

    response = staff_client.post(void_url(payment), {"reason": "The check bounced"}, follow=True)

    payment = reload(payment)
    invoice = reload(invoice)
    assert payment.status == PaymentStatus.VOID
    assert payment.void_reason == "The check bounced"
    assert payment.amount_allocated == Money("0.00", "EUR")
    assert payment.amount_unallocated == Money("0.00", "EUR")
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_remaining == Money("100.00", "EUR")
    assert Allocation.objects.get().status == Allocation.Status.REMOVED
    assert messages_of(response) == [f"{payment.number} voided. {invoice.number} asks for the money again."]
    assert response.context["actions"] == []


def test_void_needs_a_reason(staff_client):
    payment = standalone_payment(member=MemberFactory(), amount="10.00")
    before = books_snapshot()

    response = staff_client.post(void_url(payment), {"reason": ""})

    assert response.context["form"].errors["reason"] == ["This field is required."]
    assert books_snapshot() == before


def test_void_of_a_void_payment_is_hidden_and_refused(staff_client):
    payment = payment_void(payment=standalone_payment(member=MemberFactory(), amount="10.00"), actor=SYSTEM)
    before = books_snapshot()

    page = page_content(staff_client, change_url(payment))
    response = staff_client.post(void_url(payment), {"reason": "again"})

    assert void_url(payment) not in page
    assert messages_of(response) == [f"{payment.number} is already void."]
    assert books_snapshot() == before


def test_void_of_a_card_payment_is_hidden_and_refused(staff_client):
    payment = card_payment(invoice=open_invoice(amounts=["10.00"]), amount="10.00", status="succeeded")
    before = books_snapshot()

    page = page_content(staff_client, change_url(payment))
    response = staff_client.post(void_url(payment), {"reason": "mistake"})

    assert void_url(payment) not in page
    assert messages_of(response) == [f"{payment.number} was collected by card: refund it instead of voiding it."]
    assert books_snapshot() == before


def test_void_needs_the_permission(clerk_client):
    payment = standalone_payment(member=MemberFactory(), amount="10.00")
    client = clerk_client("payments.view_payment", "payments.allocate_payment")
    before = books_snapshot()

    assert void_url(payment) not in page_content(client, change_url(payment))
    assert client.get(void_url(payment)).status_code == 403
    assert client.post(void_url(payment), {"reason": "bounced"}).status_code == 403
    assert books_snapshot() == before


# Apply to invoice


def test_apply_to_invoice_offers_the_members_open_invoices_in_the_currency(staff_client):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    first = open_invoice(member=member, amounts=["30.00"])
    second = open_invoice(member=member, amounts=["80.00"])
    external_payment(invoice=open_invoice(member=member, amounts=["10.00"]))  # paid
    open_invoice(member=member, amounts=["10.00"], currency="USD")
    open_invoice(amounts=["10.00"])  # another member's

    response = staff_client.get(apply_url(payment))

    assert apply_url(payment) in page_content(staff_client, change_url(payment))
    assert list(response.context["form"].fields["invoice"].queryset) == [first, second]


def test_apply_to_invoice(staff_client):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    invoice = open_invoice(member=member, amounts=["80.00"])

    response = staff_client.post(apply_url(payment), {"invoice": invoice.pk, "amount": "50.00"}, follow=True)

    payment = reload(payment)
    invoice = reload(invoice)
    allocation = Allocation.objects.get()
    assert payment.amount_unallocated == Money("0.00", "EUR")
    assert invoice.amount_paid == Money("50.00", "EUR")
    assert invoice.amount_remaining == Money("30.00", "EUR")
    assert messages_of(response) == [f"€50.00 of {payment.number} applied to {invoice.number} ({allocation.number})."]


def test_apply_to_invoice_more_than_remains_is_refused(staff_client):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    invoice = open_invoice(member=member, amounts=["30.00"])
    before = books_snapshot()

    response = staff_client.post(apply_url(payment), {"invoice": invoice.pk, "amount": "40.00"})

    assert messages_of(response) == [f"€40.00 is more than what remains on {invoice.number} (€30.00)."]
    assert books_snapshot() == before


def test_apply_to_invoice_more_than_unallocated_is_refused(staff_client):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="20.00")
    invoice = open_invoice(member=member, amounts=["30.00"])
    before = books_snapshot()

    response = staff_client.post(apply_url(payment), {"invoice": invoice.pk, "amount": "25.00"})

    assert messages_of(response) == [f"€25.00 is more than the unallocated money of {payment.number} (€20.00)."]
    assert books_snapshot() == before


def test_apply_to_another_members_invoice_is_not_offered(staff_client):
    payment = standalone_payment(member=MemberFactory(), amount="20.00")
    stranger = open_invoice(amounts=["30.00"])
    before = books_snapshot()

    response = staff_client.post(apply_url(payment), {"invoice": stranger.pk, "amount": "10.00"})

    assert "invoice" in response.context["form"].errors
    assert books_snapshot() == before


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS)
def test_apply_to_invoice_refuses_a_bad_amount(staff_client, amount, error):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="20.00")
    invoice = open_invoice(member=member, amounts=["30.00"])
    before = books_snapshot()

    response = staff_client.post(apply_url(payment), {"invoice": invoice.pk, "amount": amount})

    assert response.context["form"].errors["amount"] == [error]
    assert books_snapshot() == before


def test_apply_to_invoice_is_hidden_without_an_open_invoice_or_unallocated_money(staff_client):
    member = MemberFactory()
    lonely = standalone_payment(member=member, amount="20.00")
    invoice = open_invoice(member=member, amounts=["30.00"])
    spent = external_payment(invoice=invoice)

    assert apply_url(spent) not in page_content(staff_client, change_url(spent))
    assert apply_url(lonely) not in page_content(staff_client, change_url(lonely))


def test_apply_to_invoice_needs_the_permission(clerk_client):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="20.00")
    invoice = open_invoice(member=member, amounts=["30.00"])
    client = clerk_client("payments.view_payment", "payments.void_payment")
    before = books_snapshot()

    assert apply_url(payment) not in page_content(client, change_url(payment))
    assert client.post(apply_url(payment), {"invoice": invoice.pk, "amount": "10.00"}).status_code == 403
    assert books_snapshot() == before


# Unallocate from the payment page


def test_unallocate_from_the_payment_page(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")
    allocation = Allocation.objects.get()
    unallocate = reverse("admin:payments_payment_unallocate", args=[allocation.pk])
    assert unallocate in page_content(staff_client, change_url(payment))

    response = staff_client.post(unallocate, {"next": change_url(payment), "confirmed": "True"}, follow=True)

    assert response.redirect_chain[-1][0] == change_url(payment)
    assert reload(payment).amount_unallocated == Money("40.00", "EUR")
    assert reload(invoice).amount_remaining == Money("100.00", "EUR")


def test_unallocating_in_french_keeps_a_french_reason(staff_client):
    staff_client.post(reverse("admin:language"), {"language": "fr"})
    payment = external_payment(invoice=open_invoice(amounts=["100.00"]), amount="40.00")
    allocation = Allocation.objects.get()

    staff_client.post(
        reverse("admin:payments_payment_unallocate", args=[allocation.pk]),
        {"next": change_url(payment), "confirmed": "True"},
    )

    assert reload(allocation).removed_reason == "Désaffecté par l'équipe"


# Record a standalone payment


def test_standalone_payment_page_starts_with_the_members_currency(staff_client):
    member = MemberFactory(default_currency="JPY")

    response = staff_client.get(STANDALONE, {"member": member.pk})

    assert response.context["form"].initial["member"] == member
    assert response.context["form"].initial["currency"] == "JPY"


def test_record_a_standalone_payment(staff_client):
    member = MemberFactory()

    response = staff_client.post(STANDALONE, standalone_data(member, "75.00"), follow=True)

    payment = Payment.objects.get()
    assert response.redirect_chain[-1][0] == change_url(payment)
    assert payment.member == member
    assert payment.invoice is None
    assert payment.amount == Money("75.00", "EUR")
    assert payment.amount_unallocated == Money("75.00", "EUR")
    assert payment.external_kind == "bank_transfer"
    assert payment.reference == "TRF-77"
    assert messages_of(response) == [
        f"{payment.number} recorded: €75.00 stays unallocated as {member}'s credit until it is applied to an invoice."
    ]


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS)
def test_standalone_payment_refuses_a_bad_amount(staff_client, amount, error):
    member = MemberFactory()
    before = books_snapshot()

    response = staff_client.post(STANDALONE, standalone_data(member, amount))

    assert response.context["form"].errors["amount"] == [error]
    assert books_snapshot() == before


def test_standalone_payment_refuses_a_fraction_of_yen(staff_client):
    member = MemberFactory()
    before = books_snapshot()

    response = staff_client.post(STANDALONE, standalone_data(member, "10.5", currency="JPY"))

    assert response.context["form"].errors["amount"] == [
        "“10.5” has decimals, but JPY has no minor unit: type the amount like 1,234 or 12."
    ]
    assert books_snapshot() == before


def test_standalone_payment_refuses_an_unknown_currency(staff_client):
    member = MemberFactory()
    before = books_snapshot()

    response = staff_client.post(STANDALONE, standalone_data(member, "10.00", currency="XYZ"))

    assert "currency" in response.context["form"].errors
    assert books_snapshot() == before


def test_standalone_payment_needs_the_permission(clerk_client):
    member = MemberFactory()
    client = clerk_client("payments.view_payment")
    before = books_snapshot()

    assert STANDALONE not in page_content(client, CHANGELIST)
    assert client.get(STANDALONE).status_code == 403
    assert client.post(STANDALONE, standalone_data(member, "10.00")).status_code == 403
    assert books_snapshot() == before


def test_standalone_payment_finds_the_member_by_name(staff_client):
    member = MemberFactory(name="Grace Hopper")
    MemberFactory(name="Alan Turing")

    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "payments", "model_name": "payment", "field_name": "member", "term": "hopper"},
    )
    page = page_content(staff_client, f"{STANDALONE}?member={member.pk}")

    assert [result["id"] for result in response.json()["results"]] == [str(member.pk)]
    assert f'<option value="{member.pk}" selected>Grace Hopper</option>' in page


def test_standalone_payment_refuses_the_year_1_and_the_future(staff_client):
    member = MemberFactory()
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    before = books_snapshot()

    year_1 = staff_client.post(STANDALONE, standalone_data(member, "75.00", received_on="0001-01-01"))
    future = staff_client.post(STANDALONE, standalone_data(member, "75.00", received_on=tomorrow.isoformat()))

    assert (year_1.status_code, future.status_code) == (200, 200)
    assert messages_of(year_1) == [
        "The date received (0001-01-01) is before 2000-01-01, the earliest date this space accepts; check the year."
    ]
    assert messages_of(future) == [f"The date received ({tomorrow.isoformat()}) cannot be in the future."]
    assert books_snapshot() == before
