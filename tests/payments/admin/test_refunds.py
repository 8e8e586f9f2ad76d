"""Refunds in the admin (spec 5.9): the Refund button and page of a payment, its preview (the page's Preview button
and the JSON endpoint its script asks), the choice between reopening the invoices and reducing them with credit
notes, the refunds listed on the payment page, and the payment's shown status."""

import pytest
from django.urls import reverse

from billing.models import Activity, CreditNote, CreditNoteLine, InvoiceStatus
from payments.gateways import gateway_override
from payments.models import Payment, PaymentStatus, Refund, RefundAllocation, RefundStatus
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxRefund
from payments.services.payment_apply import payment_apply
from payments.services.payment_card import payment_create_card
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund
from tests.factories import (
    SYSTEM,
    MemberFactory,
    books_snapshot,
    card_payment,
    eur,
    external_payment,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)
from tests.payments.admin.helpers import (
    BAD_AMOUNTS,
    invoice_url,
    messages_of,
    page_content,
    page_queries,
    payment_url,
    refund_url,
)

REFUND_MODELS = (Refund, RefundAllocation, CreditNote, CreditNoteLine, SandboxRefund)
CHANGELIST = reverse("admin:payments_payment_changelist")


def preview_url(payment) -> str:
    return reverse("admin:payments_payment_refund_preview", args=[payment.pk])


def refund_data(amount: str, *, reason: str = "requested_by_member", handling: str = "", **fields) -> dict:
    return {"amount": amount, "reason": reason, "note": "", "invoice_handling": handling, **fields}


def labels(client, url: str) -> list[str]:
    return [action.label for action in client.get(url).context["actions"]]


def snapshot() -> dict:
    return books_snapshot(extra_models=REFUND_MODELS)


def two_invoices_paid(*, payment_amount: str = "150.00"):
    """A standalone payment applied to two invoices, A (60.00, applied first) then B (40.00, newest), with the rest
    unallocated."""
    member = MemberFactory()
    payment = standalone_payment(member=member, amount=payment_amount)
    first = open_invoice(member=member, amounts=["60.00"])
    second = open_invoice(member=member, amounts=["40.00"])
    payment_apply(invoice=first, applications=[(payment, eur("60.00"))], actor=SYSTEM)
    payment_apply(invoice=second, applications=[(payment, eur("40.00"))], actor=SYSTEM)
    return reload(payment), first, second


def card_paid(invoice, committed) -> Payment:
    """A card payment for all of the invoice, charged by the sandbox."""
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=SYSTEM)
    payment = reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


# The button


def test_refund_is_offered_on_a_received_payment_and_per_payment_on_the_invoice(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)

    invoice_page = page_content(staff_client, invoice_url(invoice))

    assert "Refund" in labels(staff_client, payment_url(payment))
    assert f"{refund_url(payment)}?next=%2Fadmin%2Fbilling%2Finvoice%2F{invoice.pk}%2Fchange%2F" in invoice_page


def test_refund_is_hidden_when_nothing_is_left_to_refund_or_nothing_was_received(staff_client):
    member = MemberFactory()
    refunded = standalone_payment(member=member, amount="10.00")
    payment_refund(payment=refunded, amount=eur("10.00"), reason="duplicate", actor=SYSTEM)
    voided = payment_void(payment=standalone_payment(member=member, amount="10.00"), actor=SYSTEM, reason="bounced")
    processing = card_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="10.00")
    failed = card_payment(invoice=open_invoice(member=member, amounts=["10.00"]), amount="10.00", status="failed")

    for payment in (refunded, voided, processing, failed):
        assert "Refund" not in labels(staff_client, payment_url(payment))
        assert refund_url(payment) not in page_content(staff_client, payment_url(payment))


def test_a_clerk_who_records_payments_but_may_not_refund_sees_no_refund(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="120.00")
    client = clerk_client(
        "payments.view_payment", "billing.view_invoice", "payments.record_external_payment", "payments.void_payment"
    )
    before = snapshot()

    assert labels(client, payment_url(payment)) == ["Void payment"]
    assert refund_url(payment) not in page_content(client, invoice_url(invoice))
    assert client.get(refund_url(payment)).status_code == 403
    assert client.get(preview_url(payment), {"amount": "10.00"}).status_code == 403
    assert client.post(refund_url(payment), refund_data("20.00")).status_code == 403
    assert snapshot() == before


def test_a_clerk_with_the_refund_permission_sees_refund(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)
    client = clerk_client("payments.view_payment", "billing.view_invoice", "payments.refund_payment")

    assert labels(client, payment_url(payment)) == ["Refund"]
    assert refund_url(payment) in page_content(client, invoice_url(invoice))


# The page and its preview


def test_refund_page_starts_with_what_is_left_to_refund_and_asks_what_happens_to_the_invoices(staff_client):
    payment, first, second = two_invoices_paid()
    payment_refund(payment=payment, amount=eur("20.00"), reason="other", actor=SYSTEM)

    response = staff_client.get(refund_url(payment))

    content = response.content.decode()
    assert response.context["form"]["amount"].value() == "130.00"
    preview = response.context["preview"]
    assert (preview.amount, preview.refundable, preview.from_unallocated) == (
        eur("130.00"),
        eur("130.00"),
        eur("30.00"),
    )
    assert [(row.invoice, row.amount) for row in preview.invoices] == [(second, eur("40.00")), (first, eur("60.00"))]
    assert '<div id="refund-handling" data-preview-shown-when="takes_allocated_money">' in content
    assert "Reopen the invoice balance" in content
    assert "Reduce the invoice with a credit note" in content
    assert 'value="credit_note"' not in str(response.context["form"]["reason"])
    assert 'data-preview-url="' + preview_url(payment) + '"' in content
    assert "payments/preview.js" in content


def test_preview_button_shows_what_the_amount_takes_and_writes_nothing(staff_client):
    payment, first, second = two_invoices_paid()
    before = snapshot()

    response = staff_client.post(refund_url(payment), refund_data("70.00", reason="", _preview="Preview"))

    assert response.status_code == 200
    assert snapshot() == before
    assert messages_of(response) == []
    assert not response.context["form"].is_bound  # nothing is flagged before the real submit
    assert response.context["form"]["amount"].value() == "70.00"
    preview = response.context["preview"]
    assert preview.from_unallocated == eur("50.00")
    [row] = preview.invoices
    assert (row.invoice, row.amount, row.reopen_remaining, row.reopen_status) == (
        second,
        eur("20.00"),
        eur("20.00"),
        "Partially paid",
    )
    assert row.credit_note_status == "Paid"


def test_preview_of_unallocated_money_only_hides_the_choice(staff_client):
    payment, _, _ = two_invoices_paid()

    response = staff_client.post(refund_url(payment), refund_data("50.00", _preview="Preview"))

    content = response.content.decode()
    assert not response.context["preview"].takes_allocated_money
    assert '<div id="refund-handling" data-preview-shown-when="takes_allocated_money" hidden>' in content
    assert "takes only the payment's unallocated money: no invoice changes." in content


def test_preview_endpoint_answers_json(staff_client):
    payment, first, second = two_invoices_paid()

    response = staff_client.get(preview_url(payment), {"amount": "120.00"})

    assert response.status_code == 200
    data = response.json()
    assert f'href="{invoice_url(second)}"' in data.pop("html")
    assert data == {
        "ok": True,
        "error": "",
        "currency": "EUR",
        "amount": "120.00",
        "refundable": "150.00",
        "from_unallocated": "50.00",
        "takes_allocated_money": True,
        "invoices": [
            {
                "invoice": second.number,
                "amount": "40.00",
                "remaining": "0.00",
                "status": "Paid",
                "reopen": {"remaining": "40.00", "status": "Open"},
                "credit_note": {"remaining": "0.00", "status": "Paid"},
            },
            {
                "invoice": first.number,
                "amount": "30.00",
                "remaining": "0.00",
                "status": "Paid",
                "reopen": {"remaining": "30.00", "status": "Partially paid"},
                "credit_note": {"remaining": "0.00", "status": "Paid"},
            },
        ],
    }


def test_preview_endpoint_of_unallocated_money_only(staff_client):
    payment, _, _ = two_invoices_paid()

    data = staff_client.get(preview_url(payment), {"amount": "50.00"}).json()

    assert (data["ok"], data["from_unallocated"], data["takes_allocated_money"], data["invoices"]) == (
        True,
        "50.00",
        False,
        [],
    )


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("abc", "“abc” is not an amount of money: type the amount like 1,234.56 or 12.50."),
        ("0", "The amount must be greater than zero, not 0."),
        ("10.005", "“10.005” has 3 decimals, but EUR amounts have 2 at most: type the amount like 1,234.56 or 12.50."),
        ("20,00", "“20,00” is ambiguous: type the amount like 1,234.56 or 12.50."),
        ("1e3", "“1e3” is not an amount of money: type the amount like 1,234.56 or 12.50."),
        ("", "Enter the amount to refund."),
        ("150.01", "€150.01 is more than what is left to refund on {payment} (€150.00, counting refunds in progress)."),
    ],
)
def test_preview_endpoint_says_what_is_wrong_with_the_amount(staff_client, amount, error):
    payment, _, _ = two_invoices_paid()

    response = staff_client.get(preview_url(payment), {"amount": amount})

    assert response.status_code == 400
    data = response.json()
    assert (data["ok"], data["error"], data["invoices"]) == (False, error.format(payment=payment.number), [])
    assert 'class="billing-preview-error"' in data["html"]


# Refunding


def test_refund_of_unallocated_money_only_needs_no_choice(staff_client):
    payment, first, second = two_invoices_paid()

    response = staff_client.post(refund_url(payment), refund_data("30.00", note="Asked at the desk"), follow=True)

    assert response.redirect_chain[-1][0] == payment_url(payment)
    refund = Refund.objects.get()
    assert (refund.amount, refund.kind, refund.status, refund.reason, refund.note, refund.invoice_handling) == (
        eur("30.00"),
        Refund.Kind.RECORDED,
        RefundStatus.SUCCEEDED,
        "requested_by_member",
        "Asked at the desk",
        "",
    )
    payment = reload(payment)
    assert (payment.amount_refunded, payment.amount_allocated, payment.amount_unallocated) == (
        eur("30.00"),
        eur("100.00"),
        eur("20.00"),
    )
    assert {reload(first).status, reload(second).status} == {InvoiceStatus.PAID}
    assert RefundAllocation.objects.count() == 0
    assert messages_of(response) == [f"Refund of €30.00 from {payment.number} recorded."]


def test_refund_that_reopens_the_invoices(staff_client):
    payment, first, second = two_invoices_paid()

    response = staff_client.post(refund_url(payment), refund_data("120.00", handling="reopen"), follow=True)

    payment, first, second = reload(payment), reload(first), reload(second)
    refund = Refund.objects.get()
    assert (refund.amount, refund.invoice_handling) == (eur("120.00"), "reopen")
    assert (payment.amount_refunded, payment.amount_allocated, payment.amount_unallocated) == (
        eur("120.00"),
        eur("30.00"),
        eur("0.00"),
    )
    assert (second.status, second.amount_paid, second.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("0.00"),
        eur("40.00"),
    )
    assert (first.status, first.amount_paid, first.amount_remaining) == (InvoiceStatus.OPEN, eur("30.00"), eur("30.00"))
    assert sorted((take.allocation.invoice_id, take.amount) for take in RefundAllocation.objects.all()) == sorted(
        [(second.pk, eur("40.00")), (first.pk, eur("30.00"))]
    )
    assert CreditNote.objects.count() == 0
    assert messages_of(response) == [
        f"Refund of €120.00 from {payment.number} recorded. {second.number} asks for €40.00 again (€40.00 remains). "
        f"{first.number} asks for €30.00 again (€30.00 remains)."
    ]


def test_refund_that_reduces_the_invoices_with_credit_notes(staff_client):
    payment, first, second = two_invoices_paid()

    response = staff_client.post(
        refund_url(payment), refund_data("120.00", reason="duplicate", handling="credit_note"), follow=True
    )

    payment, first, second = reload(payment), reload(first), reload(second)
    assert (payment.amount_refunded, payment.amount_allocated, payment.amount_unallocated) == (
        eur("120.00"),
        eur("30.00"),
        eur("0.00"),
    )
    for invoice, credited in ((second, "40.00"), (first, "30.00")):
        assert (invoice.status, invoice.amount_credited, invoice.amount_remaining) == (
            InvoiceStatus.PAID,
            eur(credited),
            eur("0.00"),
        )
    second_note = CreditNote.objects.get(invoice=second)
    first_note = CreditNote.objects.get(invoice=first)
    assert (second_note.amount, second_note.refund_amount, second_note.reason) == (
        eur("40.00"),
        eur("40.00"),
        "duplicate",
    )
    assert (first_note.amount, first_note.refund_amount) == (eur("30.00"), eur("30.00"))
    assert messages_of(response) == [
        f"Refund of €120.00 from {payment.number} recorded. {second_note.number} reduces {second.number} by €40.00; "
        f"it stays paid. {first_note.number} reduces {first.number} by €30.00; it stays paid."
    ]
    page = response.content.decode()
    assert reverse("admin:billing_creditnote_change", args=[second_note.pk]) in page
    assert reverse("admin:billing_creditnote_change", args=[first_note.pk]) in page


def test_refund_taking_allocated_money_without_a_choice_is_refused(staff_client):
    payment, first, second = two_invoices_paid()
    before = snapshot()

    response = staff_client.post(refund_url(payment), refund_data("70.00"))

    assert response.status_code == 200
    assert messages_of(response) == [
        f"This refund takes €20.00 from {second.number}: choose whether to reopen the invoice balance or to reduce "
        "the invoice with a credit note."
    ]
    assert snapshot() == before
    assert '<div id="refund-handling" data-preview-shown-when="takes_allocated_money">' in response.content.decode()


def test_refund_of_more_than_is_left_is_refused(staff_client):
    payment, _, _ = two_invoices_paid()
    payment_refund(payment=payment, amount=eur("50.00"), reason="other", actor=SYSTEM)
    before = snapshot()

    response = staff_client.post(refund_url(payment), refund_data("100.01", handling="reopen"))

    assert messages_of(response) == [
        f"€100.01 is more than what is left to refund on {payment.number} (€100.00, counting refunds in progress)."
    ]
    assert snapshot() == before


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS)
def test_refund_refuses_a_bad_amount(staff_client, amount, error):
    payment, _, _ = two_invoices_paid()
    before = snapshot()

    response = staff_client.post(refund_url(payment), refund_data(amount, handling="reopen"))

    assert response.context["form"].errors["amount"] == [error]
    assert snapshot() == before


@pytest.mark.parametrize("reason", ["", "credit_note", "whim"])
def test_refund_needs_one_of_the_reasons(staff_client, reason):
    payment, _, _ = two_invoices_paid()
    before = snapshot()

    response = staff_client.post(refund_url(payment), refund_data("10.00", reason=reason))

    assert "reason" in response.context["form"].errors
    assert snapshot() == before


def test_refund_of_a_void_payment_is_refused(staff_client):
    payment = payment_void(payment=standalone_payment(member=MemberFactory(), amount="10.00"), actor=SYSTEM)
    before = snapshot()

    response = staff_client.post(refund_url(payment), refund_data("10.00"))

    assert messages_of(response) == [f"{payment.number} is void; only received money is refunded."]
    assert snapshot() == before


def test_refund_from_the_invoice_page_comes_back_to_it(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)
    link = f"{refund_url(payment)}?next={invoice_url(invoice)}"

    page = page_content(staff_client, link)
    response = staff_client.post(link, refund_data("100.00", handling="reopen", next=invoice_url(invoice)))

    assert f'<input type="hidden" name="next" value="{invoice_url(invoice)}">' in page
    assert f'href="{invoice_url(invoice)}" class="closelink"' in page
    assert response["Location"] == invoice_url(invoice)
    assert reload(invoice).amount_remaining == eur("100.00")


# Card payments: refunded at the gateway


def test_card_refund_is_pending_until_the_gateway_answers(staff_client, committed):
    invoice = open_invoice(amounts=["100.00"])
    payment = card_paid(invoice, committed)

    with committed():
        response = staff_client.post(refund_url(payment), refund_data("25.00", handling="reopen"), follow=True)

    card = payment.payment_method
    assert messages_of(response) == [
        f"Refund of €25.00 from {payment.number} to {card} is pending at the gateway; the payment shows it as in "
        f"progress until the gateway answers. {invoice.number} asks for €25.00 again (€25.00 remains)."
    ]
    refund = Refund.objects.get()
    assert (refund.kind, refund.status) == (Refund.Kind.GATEWAY, RefundStatus.SUCCEEDED)
    assert refund.gateway_refund_id == SandboxRefund.objects.get().pk
    assert reload(payment).amount_refunded == eur("25.00")


@pytest.mark.django_db(transaction=True)
def test_card_refund_message_says_it_succeeded(staff_client):
    """Committed for real, as in `make run`: the eager task has refunded the card when the view writes its message."""
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = reload(payment_create_card(invoice=invoice, actor=SYSTEM))
    assert payment.status == PaymentStatus.SUCCEEDED

    response = staff_client.post(refund_url(payment), refund_data("100.00", handling="credit_note"), follow=True)

    refund = Refund.objects.get()
    note = CreditNote.objects.get()
    assert refund.status == RefundStatus.SUCCEEDED
    assert messages_of(response) == [
        f"Refund of €100.00 from {payment.number} to {payment.payment_method} succeeded at the gateway. "
        f"{note.number} reduces {invoice.number} by €100.00; it stays paid."
    ]
    content = response.content.decode()
    assert f"<code>{refund.gateway_refund_id}</code>" in content
    assert '<span class="billing-badge billing-badge--refunded">Refunded</span>' in content


@pytest.mark.django_db(transaction=True)
def test_card_refund_message_says_it_failed_and_why(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = reload(payment_create_card(invoice=invoice, actor=SYSTEM))
    gateway_override(SandboxGateway(fail_refunds=True))
    try:
        response = staff_client.post(refund_url(payment), refund_data("40.00", handling="reopen"), follow=True)
    finally:
        gateway_override(None)

    [message] = list(response.context["messages"])
    assert message.level_tag == "warning"
    assert str(message) == (
        f"Refund of €40.00 from {payment.number} to {payment.payment_method} failed at the gateway: The card issuer "
        "refused the refund (injected failure). The money stays on the payment, unallocated (the member's credit). "
        f"{invoice.number} asks for €40.00 again (€40.00 remains)."
    )
    payment = reload(payment)
    assert (payment.amount_refunded, payment.amount_unallocated) == (eur("0.00"), eur("40.00"))
    content = response.content.decode()
    assert "The card issuer refused the refund (injected failure)." in content
    assert '<span class="billing-badge billing-badge--failed">Failed</span>' in content


# The payment page and list


def test_payment_page_lists_refunds_and_the_credit_notes_they_settled(staff_client):
    payment, first, second = two_invoices_paid()
    payment_refund(payment=payment, amount=eur("50.00"), reason="other", note="Overpaid", actor=SYSTEM)
    payment_refund(
        payment=payment, amount=eur("45.00"), reason="duplicate", invoice_handling="credit_note", actor=SYSTEM
    )

    response = staff_client.get(payment_url(payment))

    content = response.content.decode()
    unallocated_only, with_notes = response.context["refunds"]
    assert (unallocated_only.amount, unallocated_only.note) == (eur("50.00"), "Overpaid")
    assert "Unallocated money only" in content
    notes = {note.invoice_id: note for note in CreditNote.objects.all()}
    assert [(take.allocation.invoice, take.amount, take.credit_note) for take in with_notes.takes.all()] == [
        (second, eur("40.00"), notes[second.pk]),
        (first, eur("5.00"), notes[first.pk]),
    ]
    for note in notes.values():
        assert f'href="{reverse("admin:billing_creditnote_change", args=[note.pk])}">{note.number}</a>' in content
    assert "Recorded (external payment)" in content
    assert "Duplicate" in content
    assert '<span class="billing-badge billing-badge--partially_refunded">Partially refunded</span>' in content


def test_payment_status_shows_partially_refunded_and_refunded_in_the_list(staff_client):
    member = MemberFactory()
    partly = standalone_payment(member=member, amount="10.00")
    fully = standalone_payment(member=member, amount="10.00")
    untouched = standalone_payment(member=member, amount="10.00")
    payment_refund(payment=partly, amount=eur("4.00"), reason="other", actor=SYSTEM)
    payment_refund(payment=fully, amount=eur("10.00"), reason="other", actor=SYSTEM)

    content = page_content(staff_client, CHANGELIST)

    assert content.count('<span class="billing-badge billing-badge--partially_refunded">Partially refunded</span>') == 1
    assert content.count('<span class="billing-badge billing-badge--refunded">Refunded</span>') == 1
    assert content.count('<span class="billing-badge billing-badge--succeeded">Succeeded</span>') == 1
    assert untouched.status == PaymentStatus.SUCCEEDED


def test_a_refund_in_progress_is_flagged(staff_client, committed):
    invoice = open_invoice(amounts=["100.00"])
    payment = card_paid(invoice, committed)
    payment_refund(payment=payment, amount=eur("10.00"), reason="other", invoice_handling="reopen", actor=SYSTEM)

    content = page_content(staff_client, payment_url(payment))

    assert reload(payment).amount_refund_pending == eur("10.00")
    assert '<span class="billing-badge billing-badge--succeeded">Succeeded</span>' in content
    assert '<span class="billing-badge billing-badge--refund_pending">Refund pending</span>' in content
    assert '<span class="billing-badge billing-badge--pending">Pending</span>' in content


def test_payment_page_costs_the_same_queries_with_2_and_20_refunds(staff_client, django_assert_num_queries):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="200.00")
    invoices = [open_invoice(member=member, amounts=["10.00"]) for _ in range(20)]
    for invoice in invoices:
        payment_apply(invoice=invoice, applications=[(payment, eur("10.00"))], actor=SYSTEM)

    def refunds(count: int):
        for index in range(count):
            handling = "credit_note" if index % 2 else "reopen"
            payment_refund(
                payment=payment, amount=eur("10.00"), reason="other", invoice_handling=handling, actor=SYSTEM
            )

    refunds(2)
    with_two = page_queries(staff_client, payment_url(payment))
    refunds(18)
    with_twenty = page_queries(staff_client, payment_url(payment))

    assert len(staff_client.get(payment_url(payment)).context["refunds"]) == 20
    assert CreditNote.objects.count() > 2
    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(payment_url(payment))


def test_refund_writes_its_activity(staff_client):
    payment, _, second = two_invoices_paid()

    staff_client.post(refund_url(payment), refund_data("60.00", handling="reopen"))

    activity = Activity.objects.get(verb="payment.refunded")
    assert (activity.actor_kind, activity.amount) == ("staff", eur("60.00"))
    assert list(activity.data["invoices"]) == [second.number]
