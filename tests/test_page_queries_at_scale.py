"""Every admin list, object page and report, and every portal page, costs the same few queries with a few rows
and with a few thousand (the benchmarks' data builder writes both): no query per row, no list of every member."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from bench.dataset import dataset_build
from billing.models import CreditNote, Invoice, InvoiceStatus
from payments.models import Payment, PaymentStatus
from tests.payments.admin.helpers import page_queries

FEW = {"members": 10, "invoices": 20, "payments": 100, "activities": 200}
MANY = {"members": 200, "invoices": 400, "payments": 2000, "activities": 4000}
MOST_QUERIES = 15


@pytest.fixture
def books(db):
    """The few rows, the objects the pages show, a staff user and a member with a portal login."""
    dataset_build(**FEW)
    invoice = Invoice.objects.filter(status=InvoiceStatus.OPEN, amount_paid__gt=0).order_by("pk").first()
    payment = Payment.objects.filter(status=PaymentStatus.SUCCEEDED, amount_allocated__gt=0).order_by("pk").first()
    member = invoice.member
    user_model = get_user_model()
    staff = user_model.objects.create_superuser("staff-at-scale", "staff@scale.example", "password")
    member.user = user_model.objects.create_user("member-at-scale", "member@scale.example", "password")
    member.save(update_fields=["user"])
    return {
        "invoice": invoice,
        "payment": payment,
        "member": member,
        "credit_note": CreditNote.objects.order_by("pk").first(),
        "staff": staff,
    }


def admin_pages(books) -> list[str]:
    invoice, payment, member = books["invoice"], books["payment"], books["member"]
    lists = [
        reverse(f"admin:{name}_changelist")
        for name in (
            "billing_invoice",
            "billing_creditnote",
            "billing_activity",
            "billing_moneybalanceentry",
            "payments_payment",
            "payments_webhookevent",
            "payments_outboxmessage",
            "members_member",
        )
    ]
    return [
        *lists,
        reverse("admin:billing_invoice_changelist") + f"?member__id__exact={member.pk}",
        reverse("admin:billing_invoice_changelist") + "?currency=EUR&shown_status=open",
        reverse("admin:payments_payment_changelist") + "?currency=EUR",
        reverse("admin:billing_moneybalanceentry_changelist") + f"?member__id__exact={member.pk}",
        reverse("admin:billing_invoice_change", args=[invoice.pk]),
        reverse("admin:payments_payment_change", args=[payment.pk]),
        reverse("admin:members_member_change", args=[member.pk]),
        reverse("admin:billing_creditnote_change", args=[books["credit_note"].pk]),
        reverse("admin:billing_reports"),
        reverse("admin:billing_report_payments"),
        reverse("admin:billing_report_payments") + "?page=2",
        reverse("admin:billing_report_aging"),
        reverse("admin:billing_report_aging") + "?page=2",
        reverse("admin:billing_report_member_credit"),
        reverse("admin:billing_report_member_credit") + "?page=2",
    ]


def portal_pages(books) -> list[str]:
    invoice, member = books["invoice"], books["member"]
    payment = member.payments.filter(status=PaymentStatus.SUCCEEDED).order_by("pk").first()
    return [
        reverse("portal:invoice_list"),
        reverse("portal:invoice_detail", args=[invoice.pk]),
        reverse("portal:payment_list"),
        reverse("portal:receipt", args=[payment.pk]),
        reverse("portal:credit"),
        reverse("portal:card_list"),
    ]


def queries_of(client, urls: list[str]) -> dict[str, int]:
    return {url: page_queries(client, url) for url in urls}


def test_every_page_costs_the_same_few_queries_with_a_few_rows_and_with_thousands(client, books):
    admin, portal = admin_pages(books), portal_pages(books)
    client.force_login(books["staff"])
    with_few = queries_of(client, admin)
    client.force_login(books["member"].user)
    with_few |= queries_of(client, portal)

    dataset_build(**MANY)
    client.force_login(books["staff"])
    with_many = queries_of(client, admin)
    client.force_login(books["member"].user)
    with_many |= queries_of(client, portal)

    assert with_many == with_few
    assert {url: count for url, count in with_many.items() if count > MOST_QUERIES} == {}


def test_the_invoice_list_offers_no_list_of_every_member(client, books):
    """The member filter shows the chosen member and an autocomplete, not a link per member."""
    dataset_build(**MANY)
    client.force_login(books["staff"])
    member = books["member"]

    unfiltered = client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    filtered = client.get(
        reverse("admin:billing_invoice_changelist"), {"member__id__exact": member.pk, "currency": "EUR"}
    ).content.decode()

    assert unfiltered.count("member__id__exact=") == 0
    assert 'data-model-name="member"' in unfiltered or "admin-autocomplete" in unfiltered
    assert str(member) in filtered
    assert 'name="currency" value="EUR"' in filtered  # the other filters kept by the member filter's form
