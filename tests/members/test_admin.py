import pytest
from django.urls import reverse
from djmoney.money import Money

from billing.models import Activity, MoneyBalanceEntry
from billing.selectors import member_money_balance
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from tests.factories import (
    SYSTEM,
    MemberFactory,
    books_snapshot,
    draft_invoice,
    external_payment,
    open_invoice,
    standalone_payment,
)
from tests.payments.admin.helpers import BAD_AMOUNTS, messages_of, page_content, page_queries


def change_url(member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def adjust_url(member) -> str:
    return reverse("admin:members_member_adjust_balance", args=[member.pk])


def adjust_data(amount: str, *, direction: str = "credit", currency: str = "EUR", note: str = "Goodwill") -> dict:
    return {"direction": direction, "amount": amount, "currency": currency, "note": note}


def credit(member, amount: str, currency: str = "EUR"):
    return money_balance_adjust(
        member=member, amount=Money(amount, currency), is_credit=True, note="goodwill", actor=SYSTEM
    )


def test_member_page_shows_invoices_payments_credit_and_ledger(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")
    draft = draft_invoice(member=member)
    eur_standalone = standalone_payment(member=member, amount="25.00")
    usd_standalone = standalone_payment(member=member, amount="5.00", currency="USD")
    credit(member, "30.00")
    invoice_apply_money_balance(invoice=invoice, actor=SYSTEM, amount=Money("10.00", "EUR"))

    response = staff_client.get(change_url(member))

    content = response.content.decode()
    context = response.context
    assert [row[0] for row in context["member_invoices"]] == [draft, invoice]
    assert payment in list(context["member_payments"])
    eur_credit, usd_credit = context["member_credit"]
    assert (eur_credit.currency, eur_credit.unallocated, eur_credit.balance) == (
        "EUR",
        Money("25.00", "EUR"),
        Money("20.00", "EUR"),
    )
    assert [(payment.number, payment.amount_unallocated) for payment in eur_credit.payments] == [
        (eur_standalone.number, Money("25.00", "EUR"))
    ]
    assert (usd_credit.currency, usd_credit.unallocated, usd_credit.balance) == ("USD", Money("5.00", "USD"), None)
    assert [payment.number for payment in usd_credit.payments] == [usd_standalone.number]
    assert "Member credit" in content
    assert [(entry.kind, entry.amount) for entry in context["balance_entries"]] == [
        ("applied", Money("-10.00", "EUR")),
        ("adjustment", Money("30.00", "EUR")),
    ]
    assert reverse("admin:billing_invoice_change", args=[invoice.pk]) in content
    assert reverse("admin:payments_payment_change", args=[payment.pk]) in content
    assert f"{reverse('admin:payments_payment_record_standalone')}?member={member.pk}" in content
    assert adjust_url(member) in content


def test_member_details_are_edited_with_the_normal_form(staff_client):
    member = MemberFactory(name="Old name")

    staff_client.post(
        change_url(member),
        {
            "name": "New name",
            "kind": "company",
            "email": member.email,
            "billing_address": "1 Main Street",
            "default_currency": "CHF",
            "user": "",
        },
    )

    member = Member.objects.get(pk=member.pk)
    assert (member.name, member.kind, member.billing_address, member.default_currency) == (
        "New name",
        "company",
        "1 Main Street",
        "CHF",
    )


def test_member_page_costs_the_same_queries_with_2_and_20_rows(staff_client, django_assert_num_queries):
    member = MemberFactory()

    def add_rows(count: int):
        for _ in range(count):
            external_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="15.00")
            credit(member, "1.00")

    add_rows(2)
    with_two = page_queries(staff_client, change_url(member))
    add_rows(18)
    with_twenty = page_queries(staff_client, change_url(member))

    context = staff_client.get(change_url(member)).context
    assert len(context["member_invoices"]) == len(context["member_payments"]) == len(context["balance_entries"]) == 20
    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(change_url(member))


# Adjust balance


def test_adjust_balance_page_starts_with_the_members_currency(staff_client):
    member = MemberFactory(default_currency="CHF")

    response = staff_client.get(adjust_url(member))

    assert response.context["form"]["currency"].value() == "CHF"


def test_credit_the_money_balance(staff_client):
    member = MemberFactory()

    response = staff_client.post(adjust_url(member), adjust_data("30.00", note="Broken chair"), follow=True)

    entry = MoneyBalanceEntry.objects.get()
    assert response.redirect_chain[-1][0] == change_url(member)
    assert entry.amount == Money("30.00", "EUR")
    assert entry.kind == MoneyBalanceEntry.Kind.ADJUSTMENT
    assert entry.note == "Broken chair"
    assert member_money_balance(member=member, currency="EUR") == Money("30.00", "EUR")
    assert Activity.objects.filter(verb="balance.credited").count() == 1
    assert messages_of(response) == [f"Credited €30.00 to {member}'s money balance."]


def test_debit_the_money_balance(staff_client):
    member = MemberFactory()
    credit(member, "30.00")

    response = staff_client.post(adjust_url(member), adjust_data("12.50", direction="debit"), follow=True)

    assert member_money_balance(member=member, currency="EUR") == Money("17.50", "EUR")
    assert messages_of(response) == [f"Debited €12.50 from {member}'s money balance."]


def test_debit_below_zero_is_refused(staff_client):
    member = MemberFactory()
    credit(member, "10.00")
    before = books_snapshot()

    response = staff_client.post(adjust_url(member), adjust_data("10.01", direction="debit"))

    assert messages_of(response) == [
        f"{member} has €10.00 of money balance; a debit of €10.01 would take it below zero."
    ]
    assert books_snapshot() == before


def test_adjust_needs_a_note(staff_client):
    member = MemberFactory()
    before = books_snapshot()

    response = staff_client.post(adjust_url(member), adjust_data("10.00", note=""))

    assert response.context["form"].errors["note"] == ["This field is required."]
    assert books_snapshot() == before


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS)
def test_adjust_refuses_a_bad_amount(staff_client, amount, error):
    member = MemberFactory()
    before = books_snapshot()

    response = staff_client.post(adjust_url(member), adjust_data(amount))

    assert response.context["form"].errors["amount"] == [error]
    assert books_snapshot() == before


def test_adjust_refuses_a_fraction_of_yen(staff_client):
    member = MemberFactory()
    before = books_snapshot()

    response = staff_client.post(adjust_url(member), adjust_data("10.5", currency="JPY"))

    assert response.context["form"].errors["amount"] == [
        "“10.5” has decimals, but JPY has no minor unit: type the amount like 1,234 or 12."
    ]
    assert books_snapshot() == before


def test_adjust_needs_the_permission(clerk_client):
    member = MemberFactory()
    client = clerk_client("members.view_member", "members.change_member", "payments.record_external_payment")
    before = books_snapshot()

    page = page_content(client, change_url(member))
    assert adjust_url(member) not in page
    assert reverse("admin:payments_payment_record_standalone") in page
    assert client.get(adjust_url(member)).status_code == 403
    assert client.post(adjust_url(member), adjust_data("10.00")).status_code == 403
    assert books_snapshot() == before


def test_member_page_hides_what_the_user_may_not_do(clerk_client):
    member = MemberFactory()
    client = clerk_client("members.view_member")

    page = page_content(client, change_url(member))

    assert adjust_url(member) not in page
    assert reverse("admin:payments_payment_record_standalone") not in page
    assert reverse("admin:billing_invoice_add") not in page


def test_member_page_links_to_the_members_full_lists(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["10.00"])
    payment = external_payment(invoice=invoice)
    credit(member, "5.00")
    open_invoice(amounts=["10.00"])
    standalone_payment(member=MemberFactory(), amount="1.00")

    context = staff_client.get(change_url(member)).context
    invoices = staff_client.get(context["invoices_url"])
    payments = staff_client.get(context["payments_url"])
    entries = staff_client.get(context["entries_url"])

    assert [row.pk for row in invoices.context["cl"].result_list] == [invoice.pk]
    assert [row.pk for row in payments.context["cl"].result_list] == [payment.pk]
    assert [row.member_id for row in entries.context["cl"].result_list] == [member.pk]
