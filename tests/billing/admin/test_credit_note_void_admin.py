"""Void credit note in the admin: the button where the rule and the permission allow it, the reason where the rule
refuses, the confirmation with its consequences, the POST (once per form key) and the status badges."""

import uuid

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from djmoney.money import Money

from billing.form_intents import INTENT_FIELD
from billing.models import CreditNote, CreditNoteReason, CreditNoteStatus, InvoiceStatus
from billing.services.credit_note_issue import credit_note_issue
from billing.services.credit_note_void import credit_note_void
from payments.integrity import billing_integrity_violations
from tests.factories import SYSTEM, UserFactory, books_snapshot, external_payment, open_invoice, reload
from tests.payments.admin.helpers import invoice_url, messages_of, page_content

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:billing_creditnote_changelist")


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


def change_url(credit_note) -> str:
    return reverse("admin:billing_creditnote_change", args=[credit_note.pk])


def void_url(credit_note) -> str:
    return reverse("admin:billing_creditnote_void", args=[credit_note.pk])


def issued(invoice, amount: str, **splits) -> CreditNote:
    return credit_note_issue(
        invoice=invoice,
        actor=SYSTEM,
        reason=CreditNoteReason.OTHER,
        amount=eur(amount),
        **{f"{name}_amount": eur(value) for name, value in splits.items()},
    )


def test_the_page_shows_the_button_and_the_issued_badge(staff_client):
    credit_note = issued(open_invoice(amounts=["100.00"]), "30.00")

    page = page_content(staff_client, change_url(credit_note))

    assert void_url(credit_note) in page
    assert "Void credit note" in page
    assert '<span class="billing-badge billing-badge--issued">Issued</span>' in page


def test_the_confirmation_lists_what_the_invoice_asks_for_again(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="60.00")
    credit_note = issued(invoice, "50.00", credit="10.00")

    response = staff_client.get(void_url(credit_note))

    assert response.status_code == 200
    assert response.context["consequences"] == [
        f"{credit_note.number} (€50.00) becomes void and is kept for audit. This cannot be undone.",
        f"{invoice.number} asks for €40.00 again: €40.00 will remain, and it reopens.",
        f"€10.00 of {payment.number}'s unallocated money (the member's credit) is applied to {invoice.number}.",
    ]
    assert 'name="reason"' in response.content.decode()
    assert "Yes, void the credit note" in response.content.decode()


def test_the_post_voids_it_and_the_invoice_reopens(staff_client, staff_user):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="60.00")
    credit_note = issued(invoice, "50.00", credit="10.00")

    response = staff_client.post(void_url(credit_note), {"reason": "Issued on the wrong invoice"}, follow=True)

    credit_note = reload(credit_note)
    invoice = reload(invoice)
    assert (credit_note.status, credit_note.void_reason, credit_note.voided_by) == (
        CreditNoteStatus.VOID,
        "Issued on the wrong invoice",
        staff_user,
    )
    assert (invoice.status, invoice.amount_credited, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("0.00"),
        eur("60.00"),
        eur("40.00"),
    )
    assert reload(payment).amount_unallocated == eur("0.00")
    assert messages_of(response) == [f"{credit_note.number} voided. {invoice.number} has €40.00 remaining."]
    assert response.context["actions"] == []
    page = response.content.decode()
    assert '<span class="billing-badge billing-badge--void">Void</span>' in page
    assert "Issued on the wrong invoice" in page
    assert void_url(credit_note) not in page
    assert billing_integrity_violations() == []


def test_the_same_post_twice_voids_once(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    credit_note = issued(invoice, "30.00")
    key = str(uuid.uuid4())

    first = staff_client.post(void_url(credit_note), {"reason": "Mistake", INTENT_FIELD: key}, follow=True)
    after_first = books_snapshot(extra_models=(CreditNote,))
    second = staff_client.post(void_url(credit_note), {"reason": "Mistake", INTENT_FIELD: key}, follow=True)

    assert books_snapshot(extra_models=(CreditNote,)) == after_first
    assert second.redirect_chain[-1][0] == first.redirect_chain[-1][0] == change_url(credit_note)
    assert messages_of(second) == messages_of(first)
    assert reload(invoice).amount_remaining == eur("100.00")


def test_void_needs_a_reason(staff_client):
    credit_note = issued(open_invoice(amounts=["100.00"]), "30.00")
    before = books_snapshot(extra_models=(CreditNote,))

    response = staff_client.post(void_url(credit_note), {"reason": ""})

    assert response.context["form"].errors["reason"] == ["This field is required."]
    assert books_snapshot(extra_models=(CreditNote,)) == before


def test_where_the_rule_refuses_the_button_is_hidden_and_the_page_says_why(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")
    credit_note = issued(invoice, "40.00", refund="40.00")
    reason = (
        f"{credit_note.number}: €40.00 was refunded to the member from {payment.number}; it cannot be voided. "
        "Issue an invoice for the amount instead."
    )
    before = books_snapshot(extra_models=(CreditNote,))

    page = page_content(staff_client, change_url(credit_note))
    confirmation = staff_client.get(void_url(credit_note), follow=True)
    refused = staff_client.post(void_url(credit_note), {"reason": "try"})

    assert void_url(credit_note) not in page
    assert f"Cannot be voided: {reason}" in page
    assert confirmation.redirect_chain[-1][0] == change_url(credit_note)
    assert messages_of(confirmation) == [reason]
    assert messages_of(refused) == [reason]
    assert books_snapshot(extra_models=(CreditNote,)) == before


def test_a_void_credit_note_has_no_button(staff_client):
    credit_note = issued(open_invoice(amounts=["100.00"]), "30.00")
    credit_note_void(credit_note=credit_note, actor=SYSTEM)

    page = page_content(staff_client, change_url(credit_note))

    assert void_url(credit_note) not in page
    assert "Cannot be voided" not in page
    assert messages_of(staff_client.post(void_url(credit_note), {"reason": "again"})) == [
        f"{credit_note.number} is already void."
    ]


def test_an_accountant_sees_no_button_and_cannot_void(client):
    credit_note = issued(open_invoice(amounts=["100.00"]), "30.00")
    accountant = UserFactory(is_staff=True)
    accountant.save()
    accountant.groups.add(Group.objects.get(name="Accountants"))
    client.force_login(accountant)
    before = books_snapshot(extra_models=(CreditNote,))

    page = page_content(client, change_url(credit_note))

    assert void_url(credit_note) not in page
    assert client.get(void_url(credit_note)).status_code == 403
    assert client.post(void_url(credit_note), {"reason": "mistake"}).status_code == 403
    assert books_snapshot(extra_models=(CreditNote,)) == before


def test_a_billing_manager_voids_it(client):
    credit_note = issued(open_invoice(amounts=["100.00"]), "30.00")
    manager = UserFactory(is_staff=True)
    manager.save()
    manager.groups.add(Group.objects.get(name="Billing managers"))
    client.force_login(manager)

    assert void_url(credit_note) in page_content(client, change_url(credit_note))
    client.post(void_url(credit_note), {"reason": "mistake"})

    assert reload(credit_note).status == CreditNoteStatus.VOID


def test_the_list_and_the_invoice_page_show_the_status(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    voided = issued(invoice, "30.00")
    kept = issued(invoice, "20.00")
    credit_note_void(credit_note=voided, actor=SYSTEM)

    changelist = staff_client.get(CHANGELIST, {"status__exact": "void"})
    invoice_page = page_content(staff_client, invoice_url(invoice))

    assert [credit_note.pk for credit_note in changelist.context["cl"].result_list] == [voided.pk]
    assert '<span class="billing-badge billing-badge--void">Void</span>' in changelist.content.decode()
    assert '<span class="billing-badge billing-badge--void">Void</span>' in invoice_page
    assert '<span class="billing-badge billing-badge--issued">Issued</span>' in invoice_page
    assert reload(kept).status == CreditNoteStatus.ISSUED
