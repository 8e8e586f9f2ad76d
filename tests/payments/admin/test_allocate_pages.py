"""The Allocate pages (issue 14, item 5): a payment's and a member's unallocated money allocated to the member's open
invoices, oldest first by default, with a preview, invoices left out, amounts per invoice, typed in the space's
locale, once per form, refused whole when it allocates too much."""

import datetime
import uuid

import pytest
from django.test import override_settings
from django.urls import reverse

from billing.form_intents import INTENT_FIELD
from billing.models import Invoice, InvoiceStatus
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Payment
from tests.factories import MemberFactory, books_snapshot, eur, open_invoice, reload, standalone_payment
from tests.payments.admin.helpers import messages_of, page_content

pytestmark = pytest.mark.django_db


def payment_allocate_url(payment) -> str:
    return reverse("admin:payments_payment_allocate", args=[payment.pk])


def member_allocate_url(member, currency="EUR") -> str:
    return reverse("admin:members_member_allocate", args=[member.pk]) + f"?currency={currency}"


def issued_days_ago(invoice, days, today):
    Invoice.objects.filter(pk=invoice.pk).update(issue_date=today - datetime.timedelta(days=days))
    return reload(invoice)


@pytest.fixture
def books(today):
    """100.00 unallocated on one payment; open invoices of 30.00 (oldest), 50.00 and 40.00 (newest)."""
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="100.00")
    invoices = [
        issued_days_ago(open_invoice(member=member, amounts=[amount]), days, today)
        for amount, days in (("30.00", 40), ("50.00", 20), ("40.00", 5))
    ]
    return member, payment, invoices


def form_data(invoices, amounts: dict, **extra) -> dict:
    """The form as sent: a ticked box and the amount for each invoice in `amounts`."""
    data = {}
    for invoice in invoices:
        if invoice in amounts:
            data[f"include_{invoice.pk}"] = "on"
            data[f"amount_{invoice.pk}"] = amounts[invoice]
        else:
            data[f"amount_{invoice.pk}"] = ""
    return {**data, **extra}


def test_the_payment_page_links_to_allocate_and_the_form_is_prefilled_oldest_first_with_a_preview(staff_client, books):
    _member, payment, (oldest, middle, newest) = books

    assert payment_allocate_url(payment) in page_content(
        staff_client, reverse("admin:payments_payment_change", args=[payment.pk])
    )
    response = staff_client.get(payment_allocate_url(payment))

    form = response.context["form"]
    assert [invoice for invoice, _include, _amount in form.rows()] == [oldest, middle, newest]
    assert [form[f"amount_{invoice.pk}"].value() for invoice in (oldest, middle, newest)] == ["30.00", "50.00", "20.00"]
    assert [form[f"include_{invoice.pk}"].value() for invoice in (oldest, middle, newest)] == [True, True, True]
    preview = response.context["preview"]
    assert [(row.invoice, row.amount, row.remaining_after) for row in preview.invoices] == [
        (oldest, eur("30.00"), eur("0.00")),
        (middle, eur("50.00"), eur("0.00")),
        (newest, eur("20.00"), eur("20.00")),
    ]
    assert [(row.payment, row.unallocated_after) for row in preview.payments] == [(payment, eur("0.00"))]
    html = response.content.decode()
    assert "Preview: €100.00 allocated" in html


def test_preview_shows_the_result_of_what_was_typed_and_changes_nothing(staff_client, books):
    _member, payment, (oldest, middle, newest) = books
    before = books_snapshot()

    response = staff_client.post(
        payment_allocate_url(payment),
        form_data([oldest, middle, newest], {newest: "40.00", oldest: "5.00"}, _preview="1"),
    )

    assert response.status_code == 200
    assert books_snapshot() == before
    preview = response.context["preview"]
    assert [(row.invoice, row.amount, row.remaining_after, row.status_after) for row in preview.invoices] == [
        (oldest, eur("5.00"), eur("25.00"), "Partially paid"),
        (newest, eur("40.00"), eur("0.00"), "Paid"),
    ]
    assert preview.payments[0].unallocated_after == eur("55.00")


def test_allocate_from_a_payment_excluding_one_invoice(staff_client, books):
    _member, payment, (oldest, middle, newest) = books

    response = staff_client.post(
        payment_allocate_url(payment),
        form_data([oldest, middle, newest], {oldest: "30.00", newest: "40.00"}),
        follow=True,
    )

    allocations = list(Allocation.objects.order_by("pk"))
    assert [(a.invoice, a.amount) for a in allocations] == [(oldest, eur("30.00")), (newest, eur("40.00"))]
    assert messages_of(response) == [
        f"Allocated €70.00: €30.00 of {payment.number} to {oldest.number}, €40.00 of {payment.number} to {newest.number}."
    ]
    assert reload(payment).amount_unallocated == eur("30.00")
    assert reload(middle).status == InvoiceStatus.OPEN
    assert response.redirect_chain[-1][0] == reverse("admin:payments_payment_change", args=[payment.pk])
    assert billing_integrity_violations() == []


@override_settings(BILLING_LOCALE="fr")
def test_amounts_are_read_with_a_decimal_comma_in_the_spaces_locale(staff_client, books):
    _member, payment, (oldest, middle, newest) = books

    staff_client.post(payment_allocate_url(payment), form_data([oldest, middle, newest], {oldest: "12,50"}))

    assert Allocation.objects.get().amount == eur("12.50")


def test_over_allocation_is_refused_with_a_message_and_nothing_changes(staff_client, books):
    _member, payment, (oldest, middle, newest) = books
    before = books_snapshot()

    too_much = staff_client.post(
        payment_allocate_url(payment),
        form_data([oldest, middle, newest], {oldest: "30.00", middle: "50.00", newest: "40.00"}),
    )
    over_remaining = staff_client.post(
        payment_allocate_url(payment), form_data([oldest, middle, newest], {oldest: "31.00"})
    )

    assert messages_of(too_much) == [f"€120.00 is more than the unallocated money of {payment.number} (€100.00)."]
    assert messages_of(over_remaining) == [f"€31.00 is more than what remains on {oldest.number} (€30.00)."]
    assert books_snapshot() == before


def test_a_ticked_invoice_without_an_amount_and_nothing_ticked_are_form_errors(staff_client, books):
    _member, payment, (oldest, middle, newest) = books
    before = books_snapshot()

    ticked_empty = staff_client.post(
        payment_allocate_url(payment), {f"include_{oldest.pk}": "on", f"amount_{oldest.pk}": ""}
    )
    nothing = staff_client.post(payment_allocate_url(payment), form_data([oldest, middle, newest], {}))
    bad_text = staff_client.post(payment_allocate_url(payment), form_data([oldest], {oldest: "12.5.0"}))

    assert ticked_empty.context["form"].errors[f"amount_{oldest.pk}"] == ["Enter an amount, or untick the invoice."]
    assert nothing.context["form"].non_field_errors() == ["Choose at least one invoice and an amount for it."]
    assert f"amount_{oldest.pk}" in bad_text.context["form"].errors
    assert books_snapshot() == before


def test_the_same_form_sent_twice_allocates_once(staff_client, books):
    _member, payment, (oldest, middle, newest) = books
    data = form_data([oldest, middle, newest], {oldest: "30.00"}, **{INTENT_FIELD: str(uuid.uuid4())})

    first = staff_client.post(payment_allocate_url(payment), data, follow=True)
    second = staff_client.post(payment_allocate_url(payment), data, follow=True)

    assert Allocation.objects.count() == 1
    assert messages_of(second) == messages_of(first)
    assert reload(payment).amount_unallocated == eur("70.00")


def test_the_member_page_allocates_across_payments_oldest_payment_first(staff_client, today):
    member = MemberFactory()
    newer = standalone_payment(member=member, amount="50.00")
    older = standalone_payment(member=member, amount="30.00")
    Payment.objects.filter(pk=older.pk).update(received_on=today - datetime.timedelta(days=10))
    first = issued_days_ago(open_invoice(member=member, amounts=["20.00"]), 30, today)
    second = issued_days_ago(open_invoice(member=member, amounts=["45.00"]), 15, today)
    open_invoice(member=member, amounts=["10.00"], currency="USD")

    member_page = page_content(staff_client, reverse("admin:members_member_change", args=[member.pk]))
    assert (
        member_allocate_url(member).replace("&", "&amp;") in member_page or member_allocate_url(member) in member_page
    )
    page = staff_client.get(member_allocate_url(member))
    assert [invoice for invoice, _include, _amount in page.context["form"].rows()] == [first, second]
    assert [payment for payment in page.context["payments"]] == [older, newer]

    staff_client.post(member_allocate_url(member), form_data([first, second], {first: "20.00", second: "45.00"}))

    assert [(a.invoice, a.payment, a.amount) for a in Allocation.objects.order_by("pk")] == [
        (first, older, eur("20.00")),
        (second, older, eur("10.00")),
        (second, newer, eur("35.00")),
    ]
    assert reload(newer).amount_unallocated == eur("15.00")
    assert billing_integrity_violations() == []


def test_without_the_permission_to_allocate_the_page_is_refused(client, books):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    _member, payment, (oldest, _middle, _newest) = books
    user = UserFactory(is_staff=True)
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_payment"))  # views payments, does not allocate
    client.force_login(user)
    before = books_snapshot()

    assert payment_allocate_url(payment) not in page_content(
        client, reverse("admin:payments_payment_change", args=[payment.pk])
    )
    assert client.get(payment_allocate_url(payment)).status_code == 403
    assert client.post(payment_allocate_url(payment), form_data([oldest], {oldest: "10.00"})).status_code == 403
    assert books_snapshot() == before
