import datetime

from django.urls import reverse
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus
from billing.selectors import member_money_balance
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
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
from tests.payments.admin.helpers import messages_of, page_content, page_queries


def change_url(invoice) -> str:
    return reverse("admin:billing_invoice_change", args=[invoice.pk])


def void_url(invoice) -> str:
    return reverse("admin:billing_invoice_void", args=[invoice.pk])


def uncollectible_url(invoice) -> str:
    return reverse("admin:billing_invoice_mark_uncollectible", args=[invoice.pk])


def test_page_shows_lines_amounts_payments_and_activity(staff_client):
    invoice = open_invoice(amounts=["100.00", "50.00"], tax_rate="20")
    payment = external_payment(invoice=invoice, amount="40.00", kind="check")

    response = staff_client.get(change_url(invoice))

    content = response.content.decode()
    context = response.context
    assert [line.description for line in context["lines"]] == ["Line 1", "Line 2"]
    assert "€180.00" in content  # total with tax
    assert context["reserved"] == Money("0.00", "EUR")
    [allocation] = context["allocations"]
    assert allocation.payment == payment
    assert allocation.amount == Money("40.00", "EUR")
    assert allocation.number in content
    assert reverse("admin:payments_payment_change", args=[payment.pk]) in content
    assert "External (check)" in content
    assert [activity.verb for activity in context["activities"]] == [
        "payment.allocated",
        "payment.received",
        "invoice.issued",
    ]
    assert '<span class="billing-badge billing-badge--partially_paid">Partially paid</span>' in content


def test_page_shows_the_buttons_the_state_allows(staff_client):
    invoice = open_invoice(amounts=["100.00"])

    actions = [action.label for action in staff_client.get(change_url(invoice)).context["actions"]]

    assert actions == ["Create payment", "Issue credit note", "Mark uncollectible", "Void invoice"]


def test_a_paid_invoice_has_no_buttons_but_issue_credit_note(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)

    assert [action.label for action in staff_client.get(change_url(invoice)).context["actions"]] == [
        "Issue credit note"
    ]


def test_a_void_invoice_has_no_buttons_and_no_editable_details(staff_client):
    invoice = invoice_void(invoice=open_invoice(), actor=SYSTEM)

    response = staff_client.get(change_url(invoice))

    assert response.context["actions"] == []
    assert response.context.get("form") is None


# Memo and due date


def test_memo_and_due_date_can_change_on_an_issued_invoice(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    due_date = invoice.issue_date + datetime.timedelta(days=60)

    response = staff_client.post(
        change_url(invoice), {"due_date": due_date.isoformat(), "memo": "Pay by transfer"}, follow=True
    )

    invoice = reload(invoice)
    assert invoice.due_date == due_date
    assert invoice.memo == "Pay by transfer"
    assert invoice.total == Money("100.00", "EUR")
    assert messages_of(response) == [f"{invoice.number} updated."]
    assert Activity.objects.filter(invoice=invoice, verb="invoice.updated").count() == 1


def test_a_due_date_before_the_issue_date_is_refused(staff_client):
    invoice = open_invoice()
    before = books_snapshot()
    too_early = invoice.issue_date - datetime.timedelta(days=1)

    response = staff_client.post(change_url(invoice), {"due_date": too_early.isoformat(), "memo": ""})

    assert response.status_code == 200
    assert messages_of(response) == [
        f"The due date {too_early:%Y-%m-%d} is before the issue date {invoice.issue_date:%Y-%m-%d}."
    ]
    assert books_snapshot() == before


def test_details_need_the_change_permission(clerk_client):
    invoice = open_invoice()
    client = clerk_client("billing.view_invoice")
    before = books_snapshot()

    page = client.get(change_url(invoice))
    response = client.post(change_url(invoice), {"due_date": "2099-01-01", "memo": "x"})

    assert page.context.get("form") is None
    assert response.status_code == 403
    assert books_snapshot() == before


# Void


def test_void_asks_for_confirmation_then_voids(staff_client):
    invoice = open_invoice(amounts=["100.00"])

    confirmation = staff_client.get(void_url(invoice))
    response = staff_client.post(void_url(invoice), follow=True)

    assert "This cannot be undone." in confirmation.content.decode()
    assert reload(invoice).status == InvoiceStatus.VOID
    assert reload(invoice).amount_remaining == Money("100.00", "EUR")
    assert messages_of(response) == [f"{invoice.number} voided."]
    assert Activity.objects.filter(invoice=invoice, verb="invoice.voided").count() == 1


def test_void_returns_the_money_balance_applied(staff_client):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=Money("30.00", "EUR"), is_credit=True, note="goodwill", actor=SYSTEM)
    invoice = open_invoice(member=member, amounts=["100.00"])
    invoice_apply_money_balance(invoice=invoice, actor=SYSTEM)

    confirmation = staff_client.get(void_url(invoice))
    staff_client.post(void_url(invoice))

    assert "€30.00 of money balance applied to it returns to" in confirmation.content.decode()
    assert reload(invoice).status == InvoiceStatus.VOID
    assert member_money_balance(member=member, currency="EUR") == Money("30.00", "EUR")


def test_void_is_hidden_when_a_payment_is_allocated_and_refused_with_the_reason(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")
    before = books_snapshot()

    page = page_content(staff_client, change_url(invoice))
    response = staff_client.post(void_url(invoice), follow=True)

    assert void_url(invoice) not in page
    assert messages_of(response) == [
        f"{invoice.number} has €40.00 from {payment.number} allocated; refund or unallocate it first, "
        "or issue a credit note."
    ]
    assert books_snapshot() == before


def test_void_and_mark_uncollectible_are_hidden_while_a_card_payment_is_in_flight(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    card_payment(invoice=invoice, amount="100.00", status="processing")
    before = books_snapshot()

    response = staff_client.get(change_url(invoice))
    refused = staff_client.post(void_url(invoice), follow=True)

    labels = [action.label for action in response.context["actions"]]
    assert "Void invoice" not in labels
    assert "Mark uncollectible" not in labels
    assert response.context["reserved"] == Money("100.00", "EUR")
    assert "in progress at the gateway" in messages_of(refused)[0]
    assert books_snapshot() == before


def test_void_of_an_uncollectible_invoice(staff_client):
    invoice = invoice_mark_uncollectible(invoice=open_invoice(), actor=SYSTEM)

    assert void_url(invoice) in page_content(staff_client, change_url(invoice))
    staff_client.post(void_url(invoice))

    assert reload(invoice).status == InvoiceStatus.VOID


def test_void_needs_the_permission(clerk_client):
    invoice = open_invoice()
    client = clerk_client("billing.view_invoice", "billing.change_invoice")
    before = books_snapshot()

    assert void_url(invoice) not in page_content(client, change_url(invoice))
    assert client.get(void_url(invoice)).status_code == 403
    assert client.post(void_url(invoice)).status_code == 403
    assert books_snapshot() == before


# Mark uncollectible


CONFIRMED = {"confirmed": "True"}


def test_mark_uncollectible(staff_client):
    invoice = open_invoice(amounts=["100.00"])

    response = staff_client.post(uncollectible_url(invoice), CONFIRMED, follow=True)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
    assert invoice.amount_remaining == Money("100.00", "EUR")
    assert messages_of(response) == [f"{invoice.number} marked uncollectible; it can still be paid or voided."]
    labels = [action.label for action in staff_client.get(change_url(invoice)).context["actions"]]
    assert labels == ["Create payment", "Issue credit note", "Void invoice"]


def test_mark_uncollectible_refusal_shows_the_reason(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    before = books_snapshot()

    response = staff_client.post(uncollectible_url(invoice), CONFIRMED, follow=True)

    assert messages_of(response) == [f"{invoice.number} is paid; only an open invoice can be marked uncollectible."]
    assert books_snapshot() == before


def test_mark_uncollectible_asks_for_a_confirmation_first(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    before = books_snapshot()

    page = page_content(staff_client, uncollectible_url(invoice))
    # The button of a page loaded before the confirmation existed posts without it: nothing happens.
    response = staff_client.post(uncollectible_url(invoice))

    assert f"Mark {invoice.number} uncollectible?" in page
    assert "€100.00 stays unpaid" in page
    assert 'name="confirmed"' in page
    assert response.status_code == 200
    assert "Nothing was done yet: check what will happen below, then confirm." in response.content.decode()
    assert books_snapshot() == before
    assert reload(invoice).status == InvoiceStatus.OPEN


def test_mark_uncollectible_sent_twice_acts_once(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    data = {**CONFIRMED, "intent_key": "1b2e0c7e-9f55-4a43-a3b1-2c1d6f1d2a10"}

    staff_client.post(uncollectible_url(invoice), data)
    again = staff_client.post(uncollectible_url(invoice), data, follow=True)

    assert reload(invoice).status == InvoiceStatus.UNCOLLECTIBLE
    assert Activity.objects.filter(verb="invoice.marked_uncollectible").count() == 1
    assert messages_of(again) == [f"{invoice.number} marked uncollectible; it can still be paid or voided."]


def test_mark_uncollectible_needs_the_permission(clerk_client):
    invoice = open_invoice()
    client = clerk_client("billing.view_invoice")

    assert uncollectible_url(invoice) not in page_content(client, change_url(invoice))
    assert client.get(uncollectible_url(invoice)).status_code == 403
    assert client.post(uncollectible_url(invoice), CONFIRMED).status_code == 403
    assert reload(invoice).status == InvoiceStatus.OPEN


# Cost


def test_page_costs_the_same_queries_with_2_and_20_payments(staff_client, django_assert_num_queries):
    invoice = open_invoice(amounts=["1000.00"])
    member = invoice.member
    for _ in range(2):
        external_payment(invoice=invoice, amount="10.00")
    standalone_payment(member=member, amount="5.00")
    money_balance_adjust(member=member, amount=Money("1.00", "EUR"), is_credit=True, note="x", actor=SYSTEM)
    with_two = page_queries(staff_client, change_url(invoice))

    for _ in range(18):
        external_payment(invoice=invoice, amount="10.00")
    with_twenty = page_queries(staff_client, change_url(invoice))

    assert len(staff_client.get(change_url(invoice)).context["allocations"]) == 20
    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(change_url(invoice))
