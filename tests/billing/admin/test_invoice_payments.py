"""The invoice page's payment buttons: Create payment, Apply existing payment, Apply money balance, Unallocate."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus
from billing.selectors import member_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from payments.models import Allocation, Payment, PaymentStatus
from payments.services.payment_apply import allocation_remove
from tests.factories import (
    SYSTEM,
    MemberFactory,
    books_snapshot,
    card_payment,
    external_payment,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)
from tests.payments.admin.helpers import BAD_AMOUNTS, create_payment_url, messages_of, page_content


def change_url(invoice) -> str:
    return reverse("admin:billing_invoice_change", args=[invoice.pk])


def apply_payment_url(invoice) -> str:
    return reverse("admin:billing_invoice_apply_payment", args=[invoice.pk])


def apply_balance_url(invoice) -> str:
    return reverse("admin:billing_invoice_apply_balance", args=[invoice.pk])


def unallocate_url(allocation) -> str:
    return reverse("admin:payments_payment_unallocate", args=[allocation.pk])


def payment_data(amount: str, **fields) -> dict:
    """Create payment's form with the External method."""
    return {
        "amount": amount,
        "method": "external",
        "kind": "check",
        "reference": "CHK-1001",
        "received_on": timezone.localdate().isoformat(),
        "note": "",
        **fields,
    }


def with_balance(member, amount: str, currency: str = "EUR"):
    money_balance_adjust(member=member, amount=Money(amount, currency), is_credit=True, note="goodwill", actor=SYSTEM)


# Create payment (external)


def test_create_payment_defaults_to_the_remaining_amount(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")

    response = staff_client.get(create_payment_url(invoice))

    assert response.context["form"]["amount"].value() == "60.00"
    assert 'value="60.00"' in response.content.decode()


def test_create_payment_records_and_allocates_it(staff_client):
    invoice = open_invoice(amounts=["100.00"])

    response = staff_client.post(create_payment_url(invoice), payment_data("40.00"), follow=True)

    payment = Payment.objects.get()
    invoice = reload(invoice)
    assert response.redirect_chain[-1][0] == change_url(invoice)
    assert payment.amount == Money("40.00", "EUR")
    assert payment.external_kind == "check"
    assert payment.reference == "CHK-1001"
    assert payment.amount_allocated == Money("40.00", "EUR")
    assert payment.amount_unallocated == Money("0.00", "EUR")
    assert invoice.amount_paid == Money("40.00", "EUR")
    assert invoice.amount_remaining == Money("60.00", "EUR")
    assert invoice.status == InvoiceStatus.OPEN
    assert messages_of(response) == [f"{payment.number} recorded: €40.00 applied to {invoice.number}."]


def test_create_payment_over_the_remaining_keeps_the_excess_as_credit(staff_client):
    invoice = open_invoice(amounts=["100.00"])

    response = staff_client.post(create_payment_url(invoice), payment_data("150.00"), follow=True)

    payment = Payment.objects.get()
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_remaining == Money("0.00", "EUR")
    assert payment.amount_allocated == Money("100.00", "EUR")
    assert payment.amount_unallocated == Money("50.00", "EUR")
    assert Activity.objects.filter(verb="invoice.overpaid", amount=Money("50.00", "EUR")).count() == 1
    assert messages_of(response) == [
        f"{payment.number} recorded: €100.00 applied to {invoice.number}. €50.00 is more than it asked for and "
        "stays as the member's credit."
    ]


def test_create_payment_on_an_uncollectible_invoice_pays_it(staff_client):
    invoice = invoice_mark_uncollectible(invoice=open_invoice(amounts=["100.00"]), actor=SYSTEM)

    assert create_payment_url(invoice) in page_content(staff_client, change_url(invoice))
    staff_client.post(create_payment_url(invoice), payment_data("100.00"))

    assert reload(invoice).status == InvoiceStatus.PAID


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS)
def test_create_payment_refuses_a_bad_amount_and_writes_nothing(staff_client, amount, error):
    invoice = open_invoice(amounts=["100.00"])
    before = books_snapshot()

    response = staff_client.post(create_payment_url(invoice), payment_data(amount))

    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == [error]
    assert books_snapshot() == before


def test_create_payment_refuses_a_fraction_of_yen(staff_client):
    invoice = open_invoice(amounts=["1000"], currency="JPY")
    before = books_snapshot()

    response = staff_client.post(create_payment_url(invoice), payment_data("10.5"))

    assert response.context["form"].errors["amount"] == [
        "“10.5” has decimals, but JPY has no minor unit: type the amount like 1,234 or 12."
    ]
    assert books_snapshot() == before


def test_create_payment_refusal_by_the_service_shows_its_message(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    before = books_snapshot()

    response = staff_client.post(create_payment_url(invoice), payment_data("10.00", received_on=tomorrow.isoformat()))

    assert response.status_code == 200
    assert messages_of(response) == [f"The date received ({tomorrow:%Y-%m-%d}) cannot be in the future."]
    assert books_snapshot() == before


def test_create_payment_on_a_paid_invoice_is_hidden_and_refused(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    before = books_snapshot()

    page = page_content(staff_client, change_url(invoice))
    response = staff_client.post(create_payment_url(invoice), payment_data("10.00"))

    assert create_payment_url(invoice) not in page
    assert messages_of(response) == [
        f"{invoice.number} is already paid in full. Record a standalone payment to keep money as the member's credit."
    ]
    assert books_snapshot() == before


def test_create_payment_is_hidden_on_a_void_invoice(staff_client):
    invoice = invoice_void(invoice=open_invoice(), actor=SYSTEM)

    assert create_payment_url(invoice) not in page_content(staff_client, change_url(invoice))


def test_create_payment_needs_the_permission(clerk_client):
    invoice = open_invoice()
    client = clerk_client("billing.view_invoice", "billing.change_invoice")
    before = books_snapshot()

    assert create_payment_url(invoice) not in page_content(client, change_url(invoice))
    assert client.get(create_payment_url(invoice)).status_code == 403
    assert client.post(create_payment_url(invoice), payment_data("10.00")).status_code == 403
    assert books_snapshot() == before


def test_create_payment_with_the_permission(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    client = clerk_client("billing.view_invoice", "payments.record_external_payment")

    assert create_payment_url(invoice) in page_content(client, change_url(invoice))
    client.post(create_payment_url(invoice), payment_data("100.00"))

    assert reload(invoice).status == InvoiceStatus.PAID


# Apply existing payment


def test_apply_existing_payment_lists_only_the_members_unallocated_payments_in_the_currency(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    euros = standalone_payment(member=member, amount="30.00")
    standalone_payment(member=member, amount="30.00", currency="USD")
    standalone_payment(member=MemberFactory(), amount="30.00")

    response = staff_client.get(apply_payment_url(invoice))

    assert apply_payment_url(invoice) in page_content(staff_client, change_url(invoice))
    assert [payment for payment, _ in response.context["form"].rows()] == [euros]


def test_apply_existing_payment_is_hidden_without_unallocated_money_in_the_currency(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    standalone_payment(member=member, amount="30.00", currency="USD")

    assert apply_payment_url(invoice) not in page_content(staff_client, change_url(invoice))


def test_apply_existing_payments_creates_one_allocation_each(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    first = standalone_payment(member=member, amount="30.00")
    second = standalone_payment(member=member, amount="80.00")

    response = staff_client.post(
        apply_payment_url(invoice), {f"amount_{first.pk}": "30.00", f"amount_{second.pk}": "50.00"}, follow=True
    )

    invoice = reload(invoice)
    assert invoice.amount_paid == Money("80.00", "EUR")
    assert invoice.amount_remaining == Money("20.00", "EUR")
    assert reload(first).amount_unallocated == Money("0.00", "EUR")
    assert reload(second).amount_unallocated == Money("30.00", "EUR")
    assert Allocation.objects.filter(invoice=invoice).count() == 2
    assert messages_of(response) == [
        f"Applied €30.00 of {first.number}, €50.00 of {second.number} to {invoice.number}."
    ]


def test_apply_existing_payment_more_than_its_unallocated_is_refused(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = standalone_payment(member=member, amount="30.00")
    before = books_snapshot()

    response = staff_client.post(apply_payment_url(invoice), {f"amount_{payment.pk}": "30.01"})

    assert messages_of(response) == [f"€30.01 is more than the unallocated money of {payment.number} (€30.00)."]
    assert books_snapshot() == before


def test_apply_existing_payments_more_than_the_remaining_is_refused(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["50.00"])
    first = standalone_payment(member=member, amount="30.00")
    second = standalone_payment(member=member, amount="30.00")
    before = books_snapshot()

    response = staff_client.post(
        apply_payment_url(invoice), {f"amount_{first.pk}": "30.00", f"amount_{second.pk}": "30.00"}
    )

    assert messages_of(response) == [f"€60.00 is more than what remains on {invoice.number} (€50.00)."]
    assert books_snapshot() == before


@pytest.mark.parametrize(("amount", "error"), [bad for bad in BAD_AMOUNTS if bad[0]])
def test_apply_existing_payment_refuses_a_bad_amount(staff_client, amount, error):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = standalone_payment(member=member, amount="30.00")
    before = books_snapshot()

    response = staff_client.post(apply_payment_url(invoice), {f"amount_{payment.pk}": amount})

    assert response.context["form"].errors[f"amount_{payment.pk}"] == [error]
    assert books_snapshot() == before


def test_apply_existing_payment_needs_an_amount(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = standalone_payment(member=member, amount="30.00")
    before = books_snapshot()

    response = staff_client.post(apply_payment_url(invoice), {f"amount_{payment.pk}": ""})

    assert response.context["form"].non_field_errors() == ["Enter an amount for at least one payment."]
    assert books_snapshot() == before


def test_apply_existing_payment_needs_the_permission(clerk_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = standalone_payment(member=member, amount="30.00")
    client = clerk_client("billing.view_invoice", "payments.record_external_payment")
    before = books_snapshot()

    assert apply_payment_url(invoice) not in page_content(client, change_url(invoice))
    assert client.post(apply_payment_url(invoice), {f"amount_{payment.pk}": "10.00"}).status_code == 403
    assert books_snapshot() == before


# Apply money balance


def test_apply_money_balance_defaults_to_what_fits(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    with_balance(member, "150.00")

    response = staff_client.get(apply_balance_url(invoice))

    assert apply_balance_url(invoice) in page_content(staff_client, change_url(invoice))
    assert response.context["form"]["amount"].value() == "100.00"


def test_apply_money_balance(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    with_balance(member, "30.00")

    response = staff_client.post(apply_balance_url(invoice), {"amount": "25.00"}, follow=True)

    invoice = reload(invoice)
    assert invoice.amount_balance_applied == Money("25.00", "EUR")
    assert invoice.amount_remaining == Money("75.00", "EUR")
    assert member_money_balance(member=member, currency="EUR") == Money("5.00", "EUR")
    assert messages_of(response) == [f"€25.00 of money balance applied to {invoice.number}; €75.00 remains."]


def test_apply_money_balance_is_hidden_without_balance(staff_client):
    invoice = open_invoice(amounts=["100.00"])

    assert apply_balance_url(invoice) not in page_content(staff_client, change_url(invoice))


def test_apply_more_money_balance_than_the_member_has_is_refused(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    with_balance(member, "30.00")
    before = books_snapshot()

    response = staff_client.post(apply_balance_url(invoice), {"amount": "30.01"})

    assert messages_of(response) == [f"€30.01 is more than {member}'s money balance (€30.00)."]
    assert books_snapshot() == before


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS)
def test_apply_money_balance_refuses_a_bad_amount(staff_client, amount, error):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    with_balance(member, "30.00")
    before = books_snapshot()

    response = staff_client.post(apply_balance_url(invoice), {"amount": amount})

    assert response.context["form"].errors["amount"] == [error]
    assert books_snapshot() == before


def test_apply_money_balance_needs_the_permission(clerk_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    with_balance(member, "30.00")
    client = clerk_client("billing.view_invoice", "payments.allocate_payment")
    before = books_snapshot()

    assert apply_balance_url(invoice) not in page_content(client, change_url(invoice))
    assert client.post(apply_balance_url(invoice), {"amount": "10.00"}).status_code == 403
    assert books_snapshot() == before


# Unallocate


def test_unallocate_from_the_invoice_page_reopens_the_invoice(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)
    allocation = Allocation.objects.get()
    assert unallocate_url(allocation) in page_content(staff_client, change_url(invoice))

    confirmation = page_content(staff_client, unallocate_url(allocation))
    response = staff_client.post(
        unallocate_url(allocation), {"next": change_url(invoice), "confirmed": "True"}, follow=True
    )

    invoice = reload(invoice)
    payment = reload(payment)
    assert f"Unallocate €100.00 of {payment.number} from {invoice.number}?" in confirmation
    assert f"{invoice.number} asks for it again: €100.00 will remain, and it reopens." in confirmation
    assert response.redirect_chain[-1][0] == change_url(invoice)
    assert reload(allocation).status == Allocation.Status.REMOVED
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_remaining == Money("100.00", "EUR")
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_unallocated == Money("100.00", "EUR")
    assert messages_of(response) == [
        f"{allocation.number} unallocated: €100.00 is back as unallocated money on {payment.number}, "
        f"and {invoice.number} asks for it again."
    ]


def test_unallocate_an_already_removed_allocation_is_refused(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    allocation = allocation_remove(allocation=Allocation.objects.get(), actor=SYSTEM)
    before = books_snapshot()

    page = page_content(staff_client, change_url(invoice))
    response = staff_client.post(unallocate_url(allocation), {"confirmed": "True"}, follow=True)

    assert unallocate_url(allocation) not in page
    assert messages_of(response) == [f"Allocation {allocation.number} was already removed."]
    assert books_snapshot() == before


def test_unallocate_ignores_a_next_url_on_another_site(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)

    response = staff_client.post(
        unallocate_url(Allocation.objects.get()), {"next": "https://evil.example/", "confirmed": "True"}
    )

    assert response.url == reverse("admin:payments_payment_change", args=[payment.pk])


def test_a_post_that_skips_the_unallocate_confirmation_changes_nothing(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    before = books_snapshot()

    response = staff_client.post(unallocate_url(Allocation.objects.get()), {"next": change_url(invoice)})

    assert response.status_code == 200
    assert "Nothing was done yet: check what will happen below, then confirm." in response.content.decode()
    assert books_snapshot() == before
    assert reload(invoice).status == InvoiceStatus.PAID


def test_unallocate_sent_twice_acts_once(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    allocation = Allocation.objects.get()
    data = {"confirmed": "True", "next": change_url(invoice), "intent_key": "0d3c4b9e-3f3a-4f61-8a59-0c2b7f4e8d11"}

    staff_client.post(unallocate_url(allocation), data)
    again = staff_client.post(unallocate_url(allocation), data, follow=True)

    assert again.redirect_chain[-1][0] == change_url(invoice)
    assert Activity.objects.filter(verb="payment.unallocated").count() == 1
    assert reload(invoice).amount_remaining == Money("100.00", "EUR")


def test_unallocate_needs_the_permission(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    allocation = Allocation.objects.get()
    client = clerk_client("billing.view_invoice", "payments.view_payment")
    before = books_snapshot()

    assert unallocate_url(allocation) not in page_content(client, change_url(invoice))
    assert client.get(unallocate_url(allocation)).status_code == 403
    assert client.post(unallocate_url(allocation), {"confirmed": "True"}).status_code == 403
    assert books_snapshot() == before


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "0001-01-01",
            "The date received (0001-01-01) is before 2000-01-01, the earliest date this space accepts; "
            "check the year.",
        ),
        (
            "1999-12-31",
            "The date received (1999-12-31) is before 2000-01-01, the earliest date this space accepts; "
            "check the year.",
        ),
    ],
)
def test_create_payment_refuses_a_date_received_before_the_earliest_date(staff_client, typed, message):
    invoice = open_invoice(amounts=["100.00"])
    before = books_snapshot()

    response = staff_client.post(create_payment_url(invoice), payment_data("10.00", received_on=typed))

    assert response.status_code == 200
    assert messages_of(response) == [message]
    assert books_snapshot() == before


# The (...) menu of each payment row


def menu_labels(response, rows: str = "allocations") -> list[list[str]]:
    return [[action.label for action in row.menu] for row in response.context[rows]]


def test_each_payment_row_has_a_menu_of_what_its_state_and_the_user_allow(staff_client, clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")

    managed = staff_client.get(change_url(invoice))
    viewed = clerk_client("billing.view_invoice", "payments.view_payment").get(change_url(invoice))

    assert menu_labels(managed) == [["Unallocate", "Refund", "Void payment", "Receipt (PDF)"]]
    assert menu_labels(viewed) == [["Receipt (PDF)"]]
    page = managed.content.decode()
    assert "billing-inline-button" not in page
    assert f'aria-label="Actions for {Allocation.objects.get().number}"' in page
    refund = reverse("admin:payments_payment_refund", args=[payment.pk])
    assert f'href="{refund}?next=%2Fadmin%2Fbilling%2Finvoice%2F{invoice.pk}%2Fchange%2F"' in page
    assert refund not in viewed.content.decode()
    assert unallocate_url(Allocation.objects.get()) not in viewed.content.decode()


def test_a_refunded_payment_s_row_offers_no_void_and_a_removed_allocation_no_unallocate(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="100.00")
    allocation_remove(allocation=Allocation.objects.get(), actor=SYSTEM)

    response = staff_client.get(change_url(invoice))

    assert menu_labels(response) == [["Refund", "Void payment", "Receipt (PDF)"]]


def test_a_failed_card_payment_s_row_offers_retry_and_cancel_with_the_charge_permission(staff_client, clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    card_payment(invoice=invoice, amount="100.00", status="failed")

    assert menu_labels(staff_client.get(change_url(invoice)), "card_payments") == [["Retry", "Cancel payment"]]
    viewer = clerk_client("billing.view_invoice", "payments.view_payment")
    assert menu_labels(viewer.get(change_url(invoice)), "card_payments") == [[]]
