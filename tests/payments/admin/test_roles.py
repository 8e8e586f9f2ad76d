"""The admin as each role of spec section 9 sees it, through the groups the migration creates: the front desk
records external payments and sees no other money button; an accountant issues credit notes but does not refund;
what a role may not do is refused (403) and writes nothing; the groups hold the expected permissions."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing.models import CreditNote, InvoiceStatus
from payments.models import Payment, PaymentAttempt, PaymentStatus, Refund
from tests.factories import (
    MemberFactory,
    UserFactory,
    books_snapshot,
    card_payment,
    external_payment,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)

OTHER_ROWS = (CreditNote, Refund, PaymentAttempt)


def invoice_url(invoice, name: str = "change") -> str:
    return reverse(f"admin:billing_invoice_{name}", args=[invoice.pk])


def payment_url(payment, name: str = "change") -> str:
    return reverse(f"admin:payments_payment_{name}", args=[payment.pk])


def labels(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    return [action.label for action in response.context["actions"]]


def permission_names(group: Group) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


@pytest.fixture
def role_client(client, db):
    """Log in a staff user (not a superuser) whose only permissions are those of the group."""

    def login(group: str):
        user = UserFactory(is_staff=True)
        user.save()
        user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
        return client

    return login


@pytest.fixture
def member_books(db):
    """An open invoice partly paid in cash, a standalone payment and a failed card payment, for a member with a saved
    card and some of each money action available to a billing manager."""
    member = MemberFactory(default_currency="EUR")
    saved_card(member)
    invoice = open_invoice(member=member, amounts=["100.00"])
    cash = external_payment(invoice=invoice, amount="30.00")
    standalone = standalone_payment(member=member, amount="20.00")
    failed = card_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="10.00", status="failed")
    return invoice, cash, standalone, failed


# The groups


def test_the_migration_creates_the_three_roles(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"Billing managers", "Front desk", "Accountants"}


def test_billing_managers_have_every_billing_permission(db):
    billing = Permission.objects.filter(content_type__app_label__in=["members", "billing", "payments", "bank"])

    assert set(Group.objects.get(name="Billing managers").permissions.all()) == set(billing)
    assert "payments.view_billing_reports" in permission_names(Group.objects.get(name="Billing managers"))


def test_the_front_desk_records_external_payments_and_views(db):
    assert permission_names(Group.objects.get(name="Front desk")) == {
        "payments.record_external_payment",
        "members.view_member",
        "billing.view_invoice",
        "billing.view_creditnote",
        "billing.view_moneybalanceentry",
        "billing.view_activity",
        "payments.view_payment",
    } | {
        # Bank transfers as they arrive ("has my transfer come in?"), read only.
        f"bank.{codename}"
        for codename in Permission.objects.filter(
            content_type__app_label="bank", codename__startswith="view_"
        ).values_list("codename", flat=True)
    }


def test_accountants_view_everything_read_reports_and_issue_credit_notes(db):
    names = permission_names(Group.objects.get(name="Accountants"))
    every_view = {
        f"{app_label}.{codename}"
        for app_label, codename in Permission.objects.filter(
            content_type__app_label__in=["members", "billing", "payments", "bank"], codename__startswith="view_"
        ).values_list("content_type__app_label", "codename")
    }

    assert names == every_view | {"billing.issue_credit_note", "payments.view_billing_reports"}
    assert not {name for name in names if name.split(".")[1].split("_")[0] in ("add", "change", "delete")}


def test_the_reports_permission_is_declared(db):
    permission = Permission.objects.get(content_type__app_label="payments", codename="view_billing_reports")

    assert permission.name == "Can view billing reports and export them"


# The front desk


def test_the_front_desk_sees_only_create_payment(role_client, member_books):
    invoice, cash, standalone, failed = member_books
    client = role_client("Front desk")

    assert labels(client, invoice_url(invoice)) == ["Create payment"]
    for payment in (cash, standalone, failed):
        assert labels(client, payment_url(payment)) == []
    assert client.get(reverse("admin:payments_payment_changelist")).context["standalone_url"]


def test_the_front_desk_records_an_external_payment(role_client, member_books):
    invoice, *_ = member_books
    client = role_client("Front desk")

    response = client.post(
        invoice_url(invoice, "create_payment"),
        {
            "amount": "70.00",
            "method": "external",
            "kind": "check",
            "reference": "CHK-7",
            "received_on": timezone.localdate().isoformat(),
            "note": "",
        },
    )

    assert response.status_code == 302
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.filter(invoice=invoice, reference="CHK-7", status=PaymentStatus.SUCCEEDED).count() == 1


def test_the_front_desk_is_refused_every_other_money_action(role_client, member_books):
    invoice, cash, standalone, failed = member_books
    client = role_client("Front desk")
    before = books_snapshot(extra_models=OTHER_ROWS)

    card = failed.payment_method
    charge = client.post(invoice_url(invoice, "create_payment"), {"amount": "10.00", "method": str(card.pk)})
    assert charge.context["form"].errors["method"] == ["Choose one of the methods offered."]
    refused = [
        (invoice_url(invoice, "credit_note"), {"amount": "10.00", "reason": "order_change", "memo": ""}),
        (invoice_url(invoice, "apply_payment"), {}),
        (invoice_url(invoice, "apply_balance"), {}),
        (invoice_url(invoice, "mark_uncollectible"), {}),
        (invoice_url(invoice, "void"), {}),
        (payment_url(standalone, "refund"), {"amount": "5.00", "reason": "duplicate", "invoice_handling": ""}),
        (payment_url(cash, "refund"), {"amount": "5.00", "reason": "duplicate", "invoice_handling": "reopen"}),
        (payment_url(standalone, "void"), {"reason": "bounced"}),
        (payment_url(standalone, "apply"), {}),
        (payment_url(failed, "retry"), {"amount": "10.00"}),
        (payment_url(failed, "cancel"), {"reason": ""}),
    ]
    for url, data in refused:
        assert client.post(url, data).status_code == 403, url
    assert books_snapshot(extra_models=OTHER_ROWS) == before


# Accountants


def test_an_accountant_sees_issue_credit_note_but_no_refund(role_client, member_books):
    invoice, cash, standalone, failed = member_books
    client = role_client("Accountants")

    assert labels(client, invoice_url(invoice)) == ["Issue credit note"]
    for payment in (cash, standalone, failed):
        assert labels(client, payment_url(payment)) == []
    assert payment_url(cash, "refund") not in client.get(invoice_url(invoice)).content.decode()


def test_an_accountant_issues_a_credit_note(role_client, member_books):
    invoice, *_ = member_books
    client = role_client("Accountants")

    response = client.post(
        invoice_url(invoice, "credit_note"),
        {
            "amount": "10.00",
            "reason": "order_change",
            "memo": "",
            "refund_amount": "",
            "credit_amount": "",
            "out_of_band_amount": "",
        },
    )

    assert response.status_code == 302
    credit_note = CreditNote.objects.get(invoice=invoice)
    assert credit_note.amount == Money("10.00", "EUR")
    assert reload(invoice).amount_remaining == Money("60.00", "EUR")


def test_an_accountant_is_refused_refunds_and_payments(role_client, member_books):
    invoice, cash, standalone, failed = member_books
    client = role_client("Accountants")
    before = books_snapshot(extra_models=OTHER_ROWS)

    refused = [
        (payment_url(standalone, "refund"), {"amount": "5.00", "reason": "duplicate", "invoice_handling": ""}),
        (payment_url(standalone, "void"), {"reason": "bounced"}),
        (invoice_url(invoice, "create_payment"), {"amount": "10.00", "method": "external", "kind": "cash"}),
        (invoice_url(invoice, "create_payment"), {"amount": "10.00", "method": str(failed.payment_method_id)}),
        (payment_url(failed, "retry"), {"amount": "10.00"}),
    ]
    for url, data in refused:
        assert client.post(url, data).status_code == 403, url
    assert client.get(payment_url(standalone, "refund")).status_code == 403
    assert books_snapshot(extra_models=OTHER_ROWS) == before


# Billing managers


def test_a_billing_manager_sees_every_money_button(role_client, member_books):
    invoice, cash, standalone, failed = member_books
    client = role_client("Billing managers")

    assert labels(client, invoice_url(invoice)) == [
        "Create payment",
        "Apply existing payment",
        "Issue credit note",
        "Mark uncollectible",
    ]
    methods = client.get(invoice_url(invoice, "create_payment")).context["form"].fields["method"].choices
    assert [value for value, _label in methods][-1] == "external" and len(methods) >= 2
    assert labels(client, payment_url(standalone)) == [
        "Apply to invoice",
        "Allocate to open invoices",
        "Refund",
        "Void payment",
    ]
    assert labels(client, payment_url(failed)) == ["Retry payment", "Cancel payment"]
