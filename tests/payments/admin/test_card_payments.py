"""Card payments in the admin: Charge and Issue and charge on the invoice page, the attempts, Retry and Cancel on the
payment page, and the payment list's filters (spec 5.2, 5.3, 5.13, 6). The sandbox gateway answers at once and the
Celery tasks are eager, so a charge is settled when the request's commit has run."""

import pytest
from django.urls import reverse

from billing.models import Activity, InvoiceStatus
from billing.services.money_balance_adjust import money_balance_adjust
from payments.models import Allocation, AttemptStatus, Payment, PaymentAttempt, PaymentStatus
from payments.sandbox.models import SandboxCharge
from payments.services.payment_card import payment_create_card, payment_retry
from payments.services.payment_method import payment_method_remove
from tests.factories import (
    SYSTEM,
    MemberFactory,
    books_snapshot,
    card_payment,
    draft_invoice,
    eur,
    external_payment,
    open_invoice,
    reload,
    saved_card,
)
from tests.payments.admin.helpers import (
    BAD_AMOUNTS,
    draft_form_data,
    invoice_url,
    line,
    messages_of,
    page_content,
    page_queries,
    payment_url,
)

CARD_MODELS = (PaymentAttempt, SandboxCharge)
DECLINING_CARD = "4000000000000341"
CHANGELIST = reverse("admin:payments_payment_changelist")


def charge_url(invoice) -> str:
    """Create payment, where a saved card is one of the methods."""
    return reverse("admin:billing_invoice_create_payment", args=[invoice.pk])


def issue_and_charge_data(client, draft, card) -> dict:
    """Issue and charge's form as its page shows it: the card, and the draft's version as the page showed it."""
    page = client.get(issue_and_charge_url(draft))
    return {"payment_method": card.pk, "version": page.context["draft_version"] if page.status_code == 200 else ""}


def charge_data(amount: str, card) -> dict:
    return {"amount": amount, "method": str(card.pk)}


def issue_and_charge_url(invoice) -> str:
    return reverse("admin:billing_invoice_issue_and_charge", args=[invoice.pk])


def retry_url(payment) -> str:
    return reverse("admin:payments_payment_retry", args=[payment.pk])


def cancel_url(payment) -> str:
    return reverse("admin:payments_payment_cancel", args=[payment.pk])


def labels(client, url: str) -> list[str]:
    return [action.label for action in client.get(url).context["actions"]]


def snapshot() -> dict:
    return books_snapshot(extra_models=CARD_MODELS)


def failed_payment(*, amount: str = "100.00", invoice=None, committed):
    """A card payment declined by the sandbox (its card attaches, its charges fail)."""
    invoice = invoice or open_invoice(amounts=[amount])
    card = saved_card(invoice.member, DECLINING_CARD)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=SYSTEM, payment_method=card)
    payment = reload(payment)
    assert payment.status == PaymentStatus.FAILED
    return payment


# Create payment with a saved card


def methods(client, invoice) -> list[str]:
    """The methods Create payment offers, as labelled."""
    return [str(label) for _value, label in client.get(charge_url(invoice)).context["form"].fields["method"].choices]


def test_create_payment_offers_the_saved_cards_first_then_external(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)

    assert labels(staff_client, invoice_url(invoice)) == [
        "Create payment",
        "Issue credit note",
        "Mark uncollectible",
        "Void invoice",
    ]
    assert methods(staff_client, invoice) == [f"{card} (default)", "External: cash, check, bank transfer or other"]


def test_create_payment_offers_no_card_without_a_saved_card(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    removed = saved_card(invoice.member)
    payment_method_remove(payment_method=removed, actor=SYSTEM)
    before = snapshot()

    response = staff_client.get(charge_url(invoice))
    refused = staff_client.post(charge_url(invoice), charge_data("10.00", removed))

    assert [value for value, _label in response.context["form"].fields["method"].choices] == ["external"]
    assert "has no saved card: add one on the member" in response.content.decode()
    assert refused.context["form"].errors["method"] == ["Choose one of the methods offered."]
    assert snapshot() == before


def test_create_payment_is_hidden_on_a_paid_void_or_draft_invoice(staff_client):
    member = MemberFactory()
    saved_card(member)
    paid = open_invoice(member=member, amounts=["10.00"])
    external_payment(invoice=paid)
    void = open_invoice(member=member)
    staff_client.post(reverse("admin:billing_invoice_void", args=[void.pk]))
    draft = draft_invoice(member=member)

    for invoice in (paid, void, draft):
        assert "Create payment" not in labels(staff_client, invoice_url(invoice))
        assert charge_url(invoice) not in page_content(staff_client, invoice_url(invoice))


def test_create_payment_offers_no_card_while_in_flight_charges_reserve_all_that_remains(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    card_payment(invoice=invoice, amount="100.00", status="processing")

    assert methods(staff_client, invoice) == ["External: cash, check, bank transfer or other"]


def test_charging_a_card_needs_the_permission(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    client = clerk_client("billing.view_invoice", "payments.record_external_payment")
    before = snapshot()

    page = client.get(charge_url(invoice))
    response = client.post(charge_url(invoice), charge_data("100.00", card))

    assert [value for value, _label in page.context["form"].fields["method"].choices] == ["external"]
    assert response.context["form"].errors["method"] == ["Choose one of the methods offered."]
    assert snapshot() == before


def test_create_payment_needs_a_payment_permission(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    client = clerk_client("billing.view_invoice")
    before = snapshot()

    assert "Create payment" not in labels(client, invoice_url(invoice))
    assert client.get(charge_url(invoice)).status_code == 403
    assert client.post(charge_url(invoice), charge_data("100.00", card)).status_code == 403
    assert snapshot() == before


def test_a_clerk_with_only_the_charge_permission_is_offered_the_cards(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    client = clerk_client("billing.view_invoice", "payments.charge_payment")

    page = client.get(charge_url(invoice))

    assert labels(client, invoice_url(invoice)) == ["Create payment"]
    assert [value for value, _label in page.context["form"].fields["method"].choices] == [str(card.pk)]
    assert page.context["submit_label"] == "Charge"


def test_create_payment_starts_with_what_can_be_charged_and_the_default_card(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    other = saved_card(invoice.member, "5555555555554444")
    default = saved_card(invoice.member, make_default=True)
    card_payment(invoice=invoice, amount="30.00", status="processing")

    response = staff_client.get(charge_url(invoice))

    form = response.context["form"]
    assert form["amount"].value() == "70.00"
    assert form["method"].value() == str(default.pk)
    offered = [value for value, _label in form.fields["method"].choices]
    assert (offered[0], offered[-1]) == (str(default.pk), "external")
    assert str(other.pk) in offered
    assert set(offered[:-1]) == {str(card.pk) for card in invoice.member.payment_methods.all()}
    content = response.content.decode()
    assert f"{default} (default)" in content
    assert "€100.00 remains to pay on" in content
    assert "€30.00 of it is being charged already (processing at the gateway)." in content
    assert "A card is charged at most €70.00" in content


def test_the_submit_button_says_charge_for_a_card_and_record_payment_for_external(staff_client):
    """Without a script the label is the server's: it follows the method shown selected (the default card, or the
    method sent when the form comes back with an error)."""
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    without_card = open_invoice(amounts=["100.00"])

    with_card = staff_client.get(charge_url(invoice))
    external_sent = staff_client.post(charge_url(invoice), {"amount": "abc", "method": "external"})
    external_only = staff_client.get(charge_url(without_card))

    assert with_card.context["submit_label"] == "Charge"
    assert '<span data-method-label="external" hidden>Record payment</span>' in with_card.content.decode()
    assert external_sent.context["submit_label"] == "Record payment"
    assert '<span data-method-label="card" hidden>Charge</span>' in external_sent.content.decode()
    assert external_only.context["submit_label"] == "Record payment"


def test_external_needs_how_and_when_the_money_came_but_a_card_does_not(staff_client, committed):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    before = snapshot()

    response = staff_client.post(charge_url(invoice), {"amount": "10.00", "method": "external", "received_on": ""})
    assert response.context["form"].errors == {
        "kind": ["Choose how the money was received."],
        "received_on": ["Enter the date the money was received."],
    }
    assert snapshot() == before

    with committed():
        charged = staff_client.post(charge_url(invoice), {**charge_data("10.00", card), "kind": "", "received_on": ""})

    assert charged.status_code == 302
    assert Payment.objects.get().payment_method == card


def test_a_charge_sent_twice_charges_once(staff_client, committed):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    data = {**charge_data("40.00", card), "intent_key": "7d1d9b2c-1c3e-4c1f-8f0a-6a2e5b9c4d21"}

    with committed():
        staff_client.post(charge_url(invoice), data)
    again = staff_client.post(charge_url(invoice), data, follow=True)

    payment = Payment.objects.get()
    assert PaymentAttempt.objects.count() == 1
    assert again.redirect_chain[-1][0] == invoice_url(invoice)
    assert messages_of(again)[0].startswith(f"{payment.number}: a charge of €40.00 to")  # the first outcome
    assert reload(invoice).amount_remaining == eur("60.00")


def test_charge_the_full_amount(staff_client, committed, today):
    invoice = open_invoice(amounts=["100.00", "20.00"])
    card = saved_card(invoice.member)

    with committed():
        response = staff_client.post(charge_url(invoice), charge_data("120.00", card))

    assert response.status_code == 302
    assert response["Location"] == invoice_url(invoice)
    payment = Payment.objects.get()
    assert (payment.method, payment.payment_method, payment.status) == ("card", card, PaymentStatus.SUCCEEDED)
    assert (payment.amount, payment.amount_allocated, payment.amount_unallocated) == (
        eur("120.00"),
        eur("120.00"),
        eur("0.00"),
    )
    assert payment.received_on == today
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert (invoice.amount_paid, invoice.amount_remaining) == (eur("120.00"), eur("0.00"))
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.trigger, attempt.amount) == (AttemptStatus.SUCCEEDED, "staff", eur("120.00"))
    assert Activity.objects.filter(verb="payment.charge_requested", actor_kind="staff").count() == 1
    page = staff_client.get(invoice_url(invoice))
    assert page.context["reserved"] == eur("0.00")
    assert list(page.context["card_payments"]) == []
    [allocation] = page.context["allocations"]
    assert (allocation.payment, allocation.amount) == (payment, eur("120.00"))


def test_charge_part_of_the_invoice_with_another_card(staff_client, committed):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    other = saved_card(invoice.member, "5555555555554444")

    with committed():
        staff_client.post(charge_url(invoice), charge_data("30.00", other))

    payment = Payment.objects.get()
    assert (payment.amount, payment.payment_method, payment.status) == (
        eur("30.00"),
        other,
        PaymentStatus.SUCCEEDED,
    )
    invoice = reload(invoice)
    assert (invoice.status, invoice.shown_status()) == (InvoiceStatus.OPEN, "partially_paid")
    assert (invoice.amount_paid, invoice.amount_remaining) == (eur("30.00"), eur("70.00"))
    assert SandboxCharge.objects.get().amount_minor == 3000


def test_a_queued_charge_shows_as_processing_and_reserved(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)

    # Nothing runs the request's commit here: the charge stays queued, as with a busy worker.
    response = staff_client.post(charge_url(invoice), charge_data("40.00", card), follow=True)

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING
    assert messages_of(response) == [
        f"{payment.number}: a charge of €40.00 to {card} is queued at the gateway; it shows as processing until the "
        "gateway answers."
    ]
    assert response.context["reserved"] == eur("40.00")
    assert list(response.context["card_payments"]) == [payment]
    content = response.content.decode()
    assert "Reserved (processing at the gateway)" in content
    assert '<span class="billing-badge billing-badge--processing">Processing</span>' in content
    assert reload(invoice).amount_remaining == eur("100.00")


def test_more_than_remaining_minus_reserved_is_refused(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    card_payment(invoice=invoice, amount="40.00", status="processing")
    before = snapshot()

    response = staff_client.post(charge_url(invoice), charge_data("60.01", card))

    assert response.status_code == 200
    assert messages_of(response) == [f"€60.01 is more than what can still be charged on {invoice.number} (€60.00)."]
    assert snapshot() == before


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS)
def test_charge_refuses_a_bad_amount(staff_client, amount, error):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    before = snapshot()

    response = staff_client.post(charge_url(invoice), charge_data(amount, card))

    assert response.context["form"].errors["amount"] == [error]
    assert snapshot() == before


def test_charge_refuses_another_members_card(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    stranger = saved_card(MemberFactory())
    before = snapshot()

    response = staff_client.post(charge_url(invoice), charge_data("10.00", stranger))

    assert response.context["form"].errors["method"] == ["Choose one of the methods offered."]
    assert snapshot() == before


def test_a_declined_charge_shows_its_reason_on_the_invoice_and_payment_pages(staff_client, committed):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member, DECLINING_CARD)

    with committed():
        staff_client.post(charge_url(invoice), charge_data("100.00", card))

    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code, payment.failure_message) == (
        PaymentStatus.FAILED,
        "generic_decline",
        "Your card was declined.",
    )
    assert payment.next_retry_at is not None
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("0.00"),
        eur("100.00"),
    )
    invoice_page = staff_client.get(invoice_url(invoice))
    assert list(invoice_page.context["card_payments"]) == [payment]
    assert invoice_page.context["reserved"] == eur("0.00")
    invoice_content = invoice_page.content.decode()
    assert '<span class="billing-badge billing-badge--failed">Failed</span>' in invoice_content
    assert "Your card was declined. (<code>generic_decline</code>)" in invoice_content
    payment_page = page_content(staff_client, payment_url(payment))
    assert "Failure reason:" in payment_page
    assert "Your card was declined. (<code>generic_decline</code>)" in payment_page
    assert f"{payment.next_retry_at.astimezone().strftime('%Y-%m-%d')}" in payment_page
    assert "automatic retries so far: 0" in payment_page


@pytest.mark.django_db(transaction=True)
def test_the_message_says_the_charge_succeeded(staff_client):
    """Committed for real, as in `make run`: the eager task has charged the card when the view writes its message."""
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)

    response = staff_client.post(charge_url(invoice), charge_data("100.00", card), follow=True)

    payment = Payment.objects.get()
    assert messages_of(response) == [f"{payment.number}: €100.00 charged to {card}. {invoice.number} is paid."]
    assert reload(invoice).status == InvoiceStatus.PAID


@pytest.mark.django_db(transaction=True)
def test_the_message_says_the_charge_was_declined_and_why(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member, DECLINING_CARD)

    response = staff_client.post(charge_url(invoice), charge_data("25.00", card), follow=True)

    payment = Payment.objects.get()
    retry_at = response.context["card_payments"][0].next_retry_at.astimezone()
    [message] = list(response.context["messages"])
    assert message.level_tag == "warning"
    assert str(message) == (
        f"{payment.number}: the charge of €25.00 to {card} failed: Your card was declined. (generic_decline). "
        f"It is retried automatically on {retry_at:%Y-%m-%d %H:%M}."
    )


# Issue and charge


def test_issue_and_charge_is_offered_on_a_draft_with_a_saved_card(staff_client):
    draft = draft_invoice()
    saved_card(draft.member)

    assert labels(staff_client, invoice_url(draft)) == ["Issue", "Issue and charge"]


def test_issue_and_charge_is_hidden_without_a_saved_card(staff_client):
    draft = draft_invoice()

    assert labels(staff_client, invoice_url(draft)) == ["Issue"]


@pytest.mark.parametrize(
    "permissions",
    [
        ("billing.view_invoice", "billing.change_invoice", "billing.issue_invoice"),
        ("billing.view_invoice", "billing.change_invoice", "payments.charge_payment"),
    ],
)
def test_issue_and_charge_needs_both_permissions(clerk_client, permissions):
    draft = draft_invoice()
    card = saved_card(draft.member)
    client = clerk_client(*permissions)
    before = snapshot()

    assert issue_and_charge_url(draft) not in page_content(client, invoice_url(draft))
    assert client.get(issue_and_charge_url(draft)).status_code == 403
    assert client.post(issue_and_charge_url(draft), {"payment_method": card.pk, "version": "x"}).status_code == 403
    assert snapshot() == before


def test_issue_and_charge_page_preselects_the_default_card(staff_client):
    draft = draft_invoice()
    default = saved_card(draft.member)
    saved_card(draft.member, "5555555555554444")

    response = staff_client.get(issue_and_charge_url(draft))

    assert response.context["form"]["payment_method"].value() == default.pk
    content = response.content.decode()
    assert "has no credit to apply: all €100.00 will remain to pay." in content
    assert "Line 1" in content


def test_issue_and_charge_issues_and_pays_the_draft(staff_client, committed, today):
    draft = draft_invoice(amounts=["100.00", "50.00"])
    saved_card(draft.member)
    chosen = saved_card(draft.member, "5555555555554444")

    with committed():
        response = staff_client.post(issue_and_charge_url(draft), issue_and_charge_data(staff_client, draft, chosen))

    assert response["Location"] == invoice_url(draft)
    invoice = reload(draft)
    assert invoice.number == f"INV-{today.year}-00001"
    assert invoice.status == InvoiceStatus.PAID
    assert (invoice.amount_paid, invoice.amount_remaining) == (eur("150.00"), eur("0.00"))
    payment = Payment.objects.get()
    assert (payment.amount, payment.payment_method, payment.status) == (
        eur("150.00"),
        chosen,
        PaymentStatus.SUCCEEDED,
    )


@pytest.mark.django_db(transaction=True)
def test_issue_and_charge_message_with_credit_applied_first(staff_client):
    draft = draft_invoice(amounts=["100.00"])
    card = saved_card(draft.member)
    money_balance_adjust(member=draft.member, amount=eur("25.00"), is_credit=True, note="goodwill", actor=SYSTEM)

    response = staff_client.post(
        issue_and_charge_url(draft), issue_and_charge_data(staff_client, draft, card), follow=True
    )

    invoice = reload(draft)
    payment = Payment.objects.get()
    assert payment.amount == eur("75.00")
    assert (invoice.status, invoice.amount_balance_applied, invoice.amount_paid) == (
        InvoiceStatus.PAID,
        eur("25.00"),
        eur("75.00"),
    )
    assert messages_of(response) == [
        f"{invoice.number} issued (€25.00 of the member's credit applied). "
        f"{payment.number}: €75.00 charged to {card}. {invoice.number} is paid."
    ]


def test_issue_and_charge_when_credit_pays_it_all(staff_client, committed):
    draft = draft_invoice(amounts=["100.00"])
    card = saved_card(draft.member)
    money_balance_adjust(member=draft.member, amount=eur("150.00"), is_credit=True, note="goodwill", actor=SYSTEM)

    with committed():
        response = staff_client.post(
            issue_and_charge_url(draft), issue_and_charge_data(staff_client, draft, card), follow=True
        )

    invoice = reload(draft)
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.count() == 0
    assert PaymentAttempt.objects.count() == 0
    assert messages_of(response) == [
        f"{invoice.number} issued and paid by the member's credit (€100.00); no card was charged."
    ]


def test_issue_and_charge_with_a_declining_card_leaves_the_invoice_open(staff_client, committed):
    draft = draft_invoice(amounts=["100.00"])
    card = saved_card(draft.member, DECLINING_CARD)

    with committed():
        staff_client.post(issue_and_charge_url(draft), issue_and_charge_data(staff_client, draft, card))

    invoice = reload(draft)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("100.00"))
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, "generic_decline")


def test_issue_and_charge_saves_the_draft_s_pending_edits_first(staff_client, committed):
    draft = draft_invoice(amounts=["10.00"])
    card = saved_card(draft.member)
    edited = draft_form_data(initial_lines=1, lines=[line("Line 1", "20.00")], _issue="1")

    sent = staff_client.post(issue_and_charge_url(draft), edited)
    with committed():
        staff_client.post(issue_and_charge_url(draft), issue_and_charge_data(staff_client, draft, card))

    assert sent.url == issue_and_charge_url(draft)
    invoice = reload(draft)
    assert (invoice.status, invoice.total, invoice.amount_paid) == (InvoiceStatus.PAID, eur("20.00"), eur("20.00"))
    assert Payment.objects.get().amount == eur("20.00")


def test_issue_and_charge_refuses_another_members_card(staff_client):
    draft = draft_invoice()
    saved_card(draft.member)
    stranger = saved_card(MemberFactory())
    before = snapshot()

    response = staff_client.post(issue_and_charge_url(draft), issue_and_charge_data(staff_client, draft, stranger))

    assert response.context["form"].errors["payment_method"] == ["Choose one of the member's saved cards."]
    assert reload(draft).status == InvoiceStatus.DRAFT
    assert snapshot() == before


def test_issue_and_charge_of_an_issued_invoice_is_refused(staff_client):
    invoice = open_invoice()
    card = saved_card(invoice.member)
    before = snapshot()

    response = staff_client.post(issue_and_charge_url(invoice), issue_and_charge_data(staff_client, invoice, card))

    assert response.status_code == 200
    assert len(messages_of(response)) == 1
    assert snapshot() == before


# The payment page: attempts


def test_payment_page_lists_the_attempts(staff_client, committed):
    payment = failed_payment(committed=committed)
    card = payment.payment_method
    good = saved_card(payment.member)
    with committed():
        payment_retry(payment=payment, actor=SYSTEM, amount=eur("60.00"), payment_method=good)

    response = staff_client.get(payment_url(payment))

    first, second = response.context["attempts"]
    assert (first.status, first.trigger, first.amount, first.payment_method, first.decline_code) == (
        AttemptStatus.FAILED,
        "staff",
        eur("100.00"),
        card,
        "generic_decline",
    )
    assert (second.status, second.amount, second.payment_method) == (AttemptStatus.SUCCEEDED, eur("60.00"), good)
    content = response.content.decode()
    assert "Attempts at the gateway" in content
    assert "<code>generic_decline</code> Your card was declined." in content
    for attempt in (first, second):
        assert attempt.gateway_payment_id in content
        assert attempt.finished_at is not None
    assert second.gateway_charge_id in content
    assert str(good) in content
    assert "Needs review" not in content


def test_an_external_payment_has_no_attempts_section(staff_client):
    payment = external_payment(invoice=open_invoice())

    response = staff_client.get(payment_url(payment))

    assert response.context["attempts"] is None
    assert "Attempts at the gateway" not in response.content.decode()


def test_payment_page_shows_needs_review_and_disputed(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = card_payment(invoice=invoice, amount="100.00", status="processing")
    PaymentAttempt.objects.create(
        payment=payment,
        payment_method=payment.payment_method,
        amount=payment.amount,
        status=AttemptStatus.PROCESSING,
        trigger="staff",
        gateway="sandbox",
        gateway_payment_id="pi_unknown",
        needs_review=True,
    )
    Payment.objects.filter(pk=payment.pk).update(disputed=True)

    content = page_content(staff_client, payment_url(payment))

    assert content.count('<span class="billing-badge billing-badge--needs_review">Needs review</span>') == 2
    assert '<span class="billing-badge billing-badge--disputed">Disputed</span>' in content
    assert "the member disputed the charge with their bank" in content


def test_payment_page_costs_the_same_queries_with_2_and_20_attempts(staff_client, committed, django_assert_num_queries):
    payment = failed_payment(committed=committed)

    def retry(count: int):
        for _ in range(count):
            with committed():
                payment_retry(payment=payment, actor=SYSTEM)

    retry(1)
    with_two = page_queries(staff_client, payment_url(payment))
    retry(18)
    with_twenty = page_queries(staff_client, payment_url(payment))

    assert len(staff_client.get(payment_url(payment)).context["attempts"]) == 20
    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(payment_url(payment))


# Retry


def test_retry_is_offered_on_a_failed_card_payment_only(staff_client, committed):
    failed = failed_payment(committed=committed)
    succeeded = card_payment(invoice=open_invoice(), amount="10.00", status="succeeded")
    processing = card_payment(invoice=open_invoice(), amount="10.00", status="processing")

    assert labels(staff_client, payment_url(failed)) == ["Retry payment", "Cancel payment"]
    assert labels(staff_client, payment_url(succeeded)) == ["Apply to invoice", "Allocate to open invoices", "Refund"]
    assert labels(staff_client, payment_url(processing)) == []


def test_retry_is_hidden_when_the_invoice_no_longer_needs_it(staff_client, committed):
    payment = failed_payment(committed=committed)
    external_payment(invoice=payment.invoice)

    assert labels(staff_client, payment_url(payment)) == ["Cancel payment"]


def test_retry_page_starts_with_what_can_be_charged_and_the_payments_card(staff_client, committed):
    payment = failed_payment(committed=committed, amount="100.00")
    saved_card(payment.member, make_default=True)
    external_payment(invoice=payment.invoice, amount="30.00")

    response = staff_client.get(retry_url(payment))

    form = response.context["form"]
    assert form["amount"].value() == "70.00"
    assert form["payment_method"].value() == payment.payment_method_id
    assert form.fields["amount"].help_text == "The same amount or less: at most €70.00."
    assert "now asks for less: at most €70.00 can be charged." in response.content.decode()


def test_retry_at_the_same_amount_with_another_card(staff_client, committed):
    payment = failed_payment(committed=committed)
    good = saved_card(payment.member)

    with committed():
        response = staff_client.post(retry_url(payment), {"amount": "100.00", "payment_method": good.pk})

    assert response["Location"] == payment_url(payment)
    payment = reload(payment)
    assert (payment.status, payment.amount, payment.payment_method) == (
        PaymentStatus.SUCCEEDED,
        eur("100.00"),
        good,
    )
    assert (payment.failure_code, payment.next_retry_at) == ("", None)
    assert reload(payment.invoice).status == InvoiceStatus.PAID
    assert PaymentAttempt.objects.filter(payment=payment).count() == 2


def test_retry_at_a_smaller_amount(staff_client, committed):
    payment = failed_payment(committed=committed)
    good = saved_card(payment.member)

    with committed():
        staff_client.post(retry_url(payment), {"amount": "40.00", "payment_method": good.pk})

    payment = reload(payment)
    assert (payment.status, payment.amount, payment.amount_allocated) == (
        PaymentStatus.SUCCEEDED,
        eur("40.00"),
        eur("40.00"),
    )
    invoice = reload(payment.invoice)
    assert (invoice.amount_paid, invoice.amount_remaining) == (eur("40.00"), eur("60.00"))
    assert Allocation.objects.get().amount == eur("40.00")


def test_retry_with_the_same_declining_card_fails_again(staff_client, committed):
    payment = failed_payment(committed=committed)

    with committed():
        staff_client.post(retry_url(payment), {"amount": "100.00", "payment_method": payment.payment_method_id})

    payment = reload(payment)
    assert payment.status == PaymentStatus.FAILED
    assert list(payment.attempts.values_list("status", flat=True)) == [AttemptStatus.FAILED, AttemptStatus.FAILED]


def test_retry_for_more_than_the_payment_is_refused(staff_client, committed):
    payment = failed_payment(committed=committed)
    good = saved_card(payment.member)
    before = snapshot()

    response = staff_client.post(retry_url(payment), {"amount": "100.01", "payment_method": good.pk})

    assert response.status_code == 200
    assert messages_of(response) == ["€100.01 is more than the most this retry can charge (€100.00)."]
    assert snapshot() == before


def test_retry_for_more_than_remains_is_refused(staff_client, committed):
    payment = failed_payment(committed=committed)
    external_payment(invoice=payment.invoice, amount="30.00")
    before = snapshot()

    response = staff_client.post(retry_url(payment), {"amount": "70.01", "payment_method": payment.payment_method_id})

    assert messages_of(response) == ["€70.01 is more than the most this retry can charge (€70.00)."]
    assert snapshot() == before


def test_retry_needs_the_permission(clerk_client, committed):
    payment = failed_payment(committed=committed)
    client = clerk_client("payments.view_payment")
    before = snapshot()

    assert labels(client, payment_url(payment)) == []
    assert client.get(retry_url(payment)).status_code == 403
    assert client.post(retry_url(payment), {"amount": "100.00"}).status_code == 403
    assert client.post(cancel_url(payment)).status_code == 403
    assert snapshot() == before


# Cancel


def test_cancel_asks_for_confirmation_then_cancels(staff_client, committed):
    payment = failed_payment(committed=committed)

    confirmation = page_content(staff_client, cancel_url(payment))
    response = staff_client.post(cancel_url(payment), {"reason": "Paid by transfer instead"}, follow=True)

    assert "This cannot be undone." in confirmation
    assert f"{payment.invoice.number} keeps asking for €100.00" in confirmation
    payment = reload(payment)
    assert (payment.status, payment.next_retry_at) == (PaymentStatus.CANCELED, None)
    assert messages_of(response) == [f"{payment.number} canceled; nothing more will be charged for it."]
    activity = Activity.objects.get(verb="payment.canceled")
    assert (activity.message, activity.actor_kind) == ("Paid by transfer instead", "staff")
    assert labels(staff_client, payment_url(payment)) == []
    assert reload(payment.invoice).amount_remaining == eur("100.00")


def test_cancel_a_pending_payment(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member)
    staff_client.post(charge_url(invoice), charge_data("100.00", card))
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING

    assert "Cancel payment" in labels(staff_client, payment_url(payment))
    staff_client.post(cancel_url(payment), {"reason": ""})

    assert reload(payment).status == PaymentStatus.CANCELED
    assert PaymentAttempt.objects.get().status == AttemptStatus.CANCELED
    assert Activity.objects.get(verb="payment.canceled").message == "Canceled by staff"


def test_cancel_of_a_succeeded_payment_is_refused(staff_client, committed):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=SYSTEM)
    before = snapshot()

    response = staff_client.post(cancel_url(payment), {"reason": "x"}, follow=True)

    assert messages_of(response) == [
        f"{payment.number} is succeeded; only a pending or failed payment can be canceled."
    ]
    assert snapshot() == before


# The list


def test_list_filters_card_payments_by_status_method_and_review(staff_client, committed):
    failed = failed_payment(committed=committed)
    processing = card_payment(invoice=open_invoice(), amount="10.00", status="processing")
    external = external_payment(invoice=open_invoice())
    PaymentAttempt.objects.create(
        payment=processing,
        payment_method=processing.payment_method,
        amount=processing.amount,
        status=AttemptStatus.PROCESSING,
        trigger="staff",
        gateway="sandbox",
        needs_review=True,
    )

    def listed(**params) -> set[int]:
        return {payment.pk for payment in staff_client.get(CHANGELIST, params).context["cl"].result_list}

    assert listed(status__exact="failed") == {failed.pk}
    assert listed(status__exact="processing") == {processing.pk}
    assert listed(method__exact="card") == {failed.pk, processing.pk}
    assert listed(method__exact="external") == {external.pk}
    assert listed(needs_review="yes") == {processing.pk}
    content = page_content(staff_client, CHANGELIST)
    assert content.count('<span class="billing-badge billing-badge--needs_review">Needs review</span>') == 1
    assert '<span class="billing-badge billing-badge--failed">Failed</span>' in content
    assert "?needs_review=yes" in content


def test_list_costs_the_same_queries_with_review_flags(staff_client, committed, django_assert_num_queries):
    failed_payment(committed=committed)
    with_one = page_queries(staff_client, CHANGELIST)
    for _ in range(5):
        failed_payment(committed=committed, amount="10.00")

    assert page_queries(staff_client, CHANGELIST) == with_one
