"""Charging a saved card through the services, with the sandbox gateway and Celery tasks run as a commit would
(spec 5.2, 5.3, 5.13, 6)."""

import re
from decimal import Decimal

import pytest
from djmoney.money import Money

from billing.activity import Actor
from billing.models import Activity, InvoiceStatus, NumberSequence, ShownStatus
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from payments.amounts import invoice_reserved
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, AttemptStatus, Payment, PaymentAttempt, PaymentStatus
from payments.sandbox.models import SandboxCharge
from payments.services.payment_card import invoice_issue_and_charge, payment_cancel, payment_create_card, payment_retry
from payments.services.payment_method import payment_method_remove
from payments.tasks import attempt_execute_task
from tests.factories import (
    MemberFactory,
    UserFactory,
    draft_invoice,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    reload,
    saved_card,
)
from tests.payments.card.conftest import CARD_MODELS

pytestmark = pytest.mark.django_db


def card_refused(message: str):
    """The exact message, and nothing written: no payment, no attempt, no charge at the sandbox, no activity."""
    return refused(f"^{re.escape(message)}$", extra_models=CARD_MODELS)


def verbs(**filters) -> list[str]:
    return list(Activity.objects.filter(**filters).order_by("pk").values_list("verb", flat=True))


# Charge -------------------------------------------------------------------------------------------------------


def test_charging_the_full_amount_pays_the_invoice(staff, committed, today):
    invoice = open_invoice(amounts=["100.00", "20.00"])
    card = saved_card(invoice.member)

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    payment = reload(payment)
    assert payment.number.startswith(f"PAY-{today.year}-")
    assert (payment.method, payment.payment_method, payment.created_by) == ("card", card, staff.user)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount == eur("120.00")
    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("120.00"), eur("0.00"))
    assert payment.received_on == today
    allocation = Allocation.objects.get()
    assert (allocation.payment, allocation.invoice, allocation.amount) == (payment, invoice, eur("120.00"))
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert (invoice.amount_paid, invoice.amount_remaining) == (eur("120.00"), eur("0.00"))
    assert invoice_reserved(invoice) == eur("0.00")
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.trigger, attempt.amount) == (AttemptStatus.SUCCEEDED, "staff", eur("120.00"))
    charge = SandboxCharge.objects.get()
    assert (attempt.gateway_payment_id, attempt.gateway_charge_id) == (charge.id, f"ch_{charge.id}")
    assert charge.idempotency_key == attempt.idempotency_key
    assert charge.amount_minor == 12000
    assert verbs(target_id=payment.pk, verb__startswith="payment.") == [
        "payment.charge_requested",
        "payment.succeeded",
        "payment.allocated",
    ]
    assert Activity.objects.filter(verb="invoice.paid", invoice=invoice).count() == 1
    assert billing_integrity_violations() == []


def test_charging_part_of_the_invoice_leaves_it_partially_paid(staff, committed):
    invoice = open_invoice(amounts=["120.00"])
    saved_card(invoice.member)

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff, amount=eur("45.50"))

    payment = reload(payment)
    assert (payment.status, payment.amount, payment.amount_allocated) == ("succeeded", eur("45.50"), eur("45.50"))
    assert SandboxCharge.objects.get().amount_minor == 4550
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.shown_status() == ShownStatus.PARTIALLY_PAID
    assert (invoice.amount_paid, invoice.amount_remaining) == (eur("45.50"), eur("74.50"))
    assert billing_integrity_violations() == []


def test_a_queued_charge_shows_as_processing_until_the_gateway_answers(staff, committed, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff, amount=eur("70.00"))

    payment = reload(payment)
    assert payment.status == PaymentStatus.PENDING
    assert PaymentAttempt.objects.get().status == AttemptStatus.QUEUED
    assert not SandboxCharge.objects.exists()
    invoice = reload(invoice)
    assert invoice_reserved(invoice) == eur("70.00")
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("100.00"))

    attempt_execute_task.apply(args=[PaymentAttempt.objects.get().pk])

    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert reload(invoice).amount_remaining == eur("30.00")
    assert invoice_reserved(invoice) == eur("0.00")


def test_more_than_remaining_minus_reserved_is_refused_while_a_charge_is_in_flight(staff, committed, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        payment_create_card(invoice=invoice, actor=staff, amount=eur("70.00"))

    with card_refused(f"€40.00 is more than what can still be charged on {invoice.number} (€30.00)."):
        payment_create_card(invoice=invoice, actor=staff, amount=eur("40.00"))

    with committed():
        payment_create_card(invoice=invoice, actor=staff, amount=eur("30.00"))
    assert invoice_reserved(invoice) == eur("100.00")

    with card_refused(
        f"{invoice.number} has €100.00 being charged already; nothing more can be charged until the gateway answers."
    ):
        payment_create_card(invoice=invoice, actor=staff)
    assert billing_integrity_violations() == []


def test_more_than_remaining_is_refused(staff):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)

    with card_refused(f"€100.01 is more than what can still be charged on {invoice.number} (€100.00)."):
        payment_create_card(invoice=invoice, actor=staff, amount=eur("100.01"))


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Money("0", "EUR"), "The amount must be greater than zero, not 0."),
        (Money("-5.00", "EUR"), "The amount must be greater than zero, not -5.00."),
        (Money("10.00", "USD"), "This amount is in USD, but it must be in EUR."),
        (Money("10.005", "EUR"), "EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly."),
        (Money("1000000000000", "EUR"), "The amount 1000000000000 is too large: at most 12 digits before the point."),
    ],
)
def test_bad_amounts_are_refused(staff, amount, message):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)

    with card_refused(message):
        payment_create_card(invoice=invoice, actor=staff, amount=amount)


def test_a_member_without_a_saved_card_cannot_be_charged(staff):
    member = MemberFactory(name="Ada Lovelace")
    invoice = open_invoice(member=member)

    with card_refused("Ada Lovelace has no saved card. Add one, or record an external payment."):
        payment_create_card(invoice=invoice, actor=staff)


def test_a_removed_card_cannot_be_charged(staff):
    invoice = open_invoice()
    saved_card(invoice.member, "5555555555554444")
    card = saved_card(invoice.member)
    payment_method_remove(payment_method=card, actor=staff)

    with card_refused(f"{reload(card)} was removed; choose another card."):
        payment_create_card(invoice=invoice, actor=staff, payment_method=card)


def test_another_members_card_is_refused(staff):
    invoice = open_invoice()
    saved_card(invoice.member)
    other_card = saved_card(MemberFactory())

    with card_refused("This card belongs to another member."):
        payment_create_card(invoice=invoice, actor=staff, payment_method=other_card)


def test_a_member_cannot_pay_another_members_invoice():
    invoice = open_invoice()
    saved_card(invoice.member)
    intruder = member_actor(MemberFactory())

    with card_refused("You can only pay your own invoices."):
        payment_create_card(invoice=invoice, actor=intruder)


def test_a_member_pays_their_own_invoice(committed):
    invoice = open_invoice(amounts=["30.00"])
    saved_card(invoice.member)
    actor = member_actor(invoice.member)

    with committed():
        payment = payment_create_card(invoice=invoice, actor=actor)

    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert PaymentAttempt.objects.get().trigger == PaymentAttempt.Trigger.MEMBER
    assert reload(invoice).status == InvoiceStatus.PAID


def test_a_logged_in_user_without_a_member_cannot_pay():
    invoice = open_invoice()
    saved_card(invoice.member)

    actor = Actor.member(UserFactory())

    with card_refused("You can only pay your own invoices."):
        payment_create_card(invoice=invoice, actor=actor)


def test_a_gateway_actor_cannot_charge_cards():
    invoice = open_invoice()
    saved_card(invoice.member)

    with card_refused("Only the space's staff can charge cards."):
        payment_create_card(invoice=invoice, actor=Actor.gateway())


def test_a_draft_void_or_paid_invoice_cannot_be_charged(staff):
    draft = draft_invoice()
    saved_card(draft.member)
    with card_refused(f"Draft #{draft.pk} is a draft: issue it before recording payments."):
        payment_create_card(invoice=draft, actor=staff)

    voided = invoice_void(invoice=open_invoice(member=draft.member), actor=staff)
    with card_refused(f"{voided.number} is void and cannot be paid."):
        payment_create_card(invoice=voided, actor=staff)

    paid = open_invoice(member=draft.member, amounts=["10.00"])
    external_payment(invoice=paid)
    with card_refused(
        f"{paid.number} is already paid in full. Record a standalone payment to keep money as the member's credit."
    ):
        payment_create_card(invoice=paid, actor=staff)


def test_an_external_payment_while_the_charge_was_in_flight_leaves_the_excess_unallocated(staff, committed, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        card = payment_create_card(invoice=invoice, actor=staff)
    cash = external_payment(invoice=invoice, amount="100.00")
    assert reload(invoice).status == InvoiceStatus.PAID

    attempt_execute_task.apply(args=[PaymentAttempt.objects.get().pk])

    card = reload(card)
    assert card.status == PaymentStatus.SUCCEEDED
    assert (card.amount, card.amount_allocated, card.amount_unallocated) == (eur("100.00"), eur("0"), eur("100.00"))
    assert list(Allocation.objects.values_list("payment", flat=True)) == [cash.pk]
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("paid", eur("100.00"), eur("0"))
    overpaid = Activity.objects.get(verb="invoice.overpaid")
    assert (overpaid.invoice, overpaid.target, overpaid.amount) == (invoice, card, eur("100.00"))
    assert billing_integrity_violations() == []


def test_a_partial_external_payment_while_in_flight_leaves_only_the_excess_unallocated(staff, committed, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        card = payment_create_card(invoice=invoice, actor=staff)
    external_payment(invoice=invoice, amount="30.00")

    attempt_execute_task.apply(args=[PaymentAttempt.objects.get().pk])

    card = reload(card)
    assert (card.amount_allocated, card.amount_unallocated) == (eur("70.00"), eur("30.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("paid", eur("100.00"), eur("0"))
    assert Activity.objects.get(verb="invoice.overpaid").amount == eur("30.00")
    assert billing_integrity_violations() == []


def test_a_failed_charge_keeps_the_decline_code_and_message(staff, committed):
    invoice = open_invoice(amounts=["60.00"])
    saved_card(invoice.member, "4000000000000341")

    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    payment = reload(payment)
    assert (payment.status, payment.failure_code, payment.failure_message) == (
        PaymentStatus.FAILED,
        "generic_decline",
        "Your card was declined.",
    )
    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("0"), eur("0"))
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.decline_code, attempt.failure_message) == (
        AttemptStatus.FAILED,
        "generic_decline",
        "Your card was declined.",
    )
    failed = Activity.objects.get(verb="payment.failed")
    assert (failed.status_before, failed.status_after, failed.message) == (
        "processing",
        "failed",
        "Your card was declined.",
    )
    assert not Allocation.objects.exists()
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("60.00"))
    assert invoice_reserved(invoice) == eur("0")
    assert billing_integrity_violations() == []


def test_a_card_payment_in_another_currency_keeps_its_amounts_in_that_currency_until_it_succeeds(
    staff, committed, no_worker
):
    """Found by the corrections state machine: the cached amounts of a card payment were created in the fields'
    default currency (EUR), so a JPY payment in flight, failed or canceled failed the integrity check."""
    queued = open_invoice(amounts=["5000"], currency="JPY")
    declined = open_invoice(member=queued.member, amounts=["3000"], currency="JPY")
    saved_card(queued.member)
    declining_card = saved_card(queued.member, "4000000000000341")

    with committed():
        in_flight = payment_create_card(invoice=queued, actor=staff)
        failed = payment_create_card(invoice=declined, actor=staff, payment_method=declining_card)
    attempt_execute_task.apply(args=[PaymentAttempt.objects.get(payment=failed).pk])

    for payment, status in ((in_flight, PaymentStatus.PENDING), (failed, PaymentStatus.FAILED)):
        payment = reload(payment)
        assert payment.status == status
        assert [
            payment.amount_allocated,
            payment.amount_refunded,
            payment.amount_refund_pending,
            payment.amount_unallocated,
        ] == [Money(0, "JPY")] * 4
        assert {
            payment.amount_allocated_currency,
            payment.amount_refunded_currency,
            payment.amount_refund_pending_currency,
            payment.amount_unallocated_currency,
        } == {"JPY"}
    assert billing_integrity_violations() == []


# Issue and charge ---------------------------------------------------------------------------------------------


def test_issue_and_charge_issues_the_draft_and_pays_it(staff, committed, today):
    draft = draft_invoice(amounts=["90.00"])
    card = saved_card(draft.member)

    with committed():
        invoice, payment = invoice_issue_and_charge(invoice=draft, actor=staff)

    invoice = reload(invoice)
    assert invoice.number == f"INV-{today.year}-00001"
    assert invoice.status == InvoiceStatus.PAID
    payment = reload(payment)
    assert (payment.status, payment.amount, payment.payment_method) == ("succeeded", eur("90.00"), card)
    assert Allocation.objects.get().amount == eur("90.00")
    assert billing_integrity_violations() == []


def test_issue_and_charge_leaves_the_invoice_open_while_the_charge_is_queued(staff, committed, no_worker):
    draft = draft_invoice(amounts=["90.00"])
    saved_card(draft.member)

    with committed():
        invoice, payment = invoice_issue_and_charge(invoice=draft, actor=staff)

    assert reload(invoice).status == InvoiceStatus.OPEN
    assert reload(payment).status == PaymentStatus.PENDING
    assert invoice_reserved(invoice) == eur("90.00")


def test_issue_and_charge_charges_the_chosen_card(staff, committed):
    draft = draft_invoice(amounts=["15.00"])
    saved_card(draft.member)
    chosen = saved_card(draft.member, "5555555555554444")

    with committed():
        _, payment = invoice_issue_and_charge(invoice=draft, actor=staff, payment_method=chosen)

    assert reload(payment).payment_method == chosen
    assert SandboxCharge.objects.get().card_id == chosen.gateway_id


def test_issue_and_charge_charges_only_what_credit_leaves(staff, committed):
    draft = draft_invoice(amounts=["100.00"])
    saved_card(draft.member)
    money_balance_adjust(member=draft.member, amount=eur("30.00"), is_credit=True, note="Goodwill", actor=staff)

    with committed():
        invoice, payment = invoice_issue_and_charge(invoice=draft, actor=staff)

    assert reload(payment).amount == eur("70.00")
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_balance_applied, invoice.amount_paid) == (
        InvoiceStatus.PAID,
        eur("30.00"),
        eur("70.00"),
    )
    assert billing_integrity_violations() == []


def test_issue_and_charge_makes_no_payment_when_credit_pays_it_all(staff, committed):
    draft = draft_invoice(amounts=["40.00"])
    saved_card(draft.member)
    money_balance_adjust(member=draft.member, amount=eur("50.00"), is_credit=True, note="Goodwill", actor=staff)

    with committed():
        invoice, payment = invoice_issue_and_charge(invoice=draft, actor=staff)

    assert payment is None
    assert reload(invoice).status == InvoiceStatus.PAID
    assert not Payment.objects.exists()
    assert not PaymentAttempt.objects.exists()
    assert not SandboxCharge.objects.exists()


def test_issue_and_charge_without_a_card_leaves_the_draft_a_draft(staff):
    draft = draft_invoice(member=MemberFactory(name="Grace Hopper"))

    with card_refused("Grace Hopper has no saved card. Add one, or record an external payment."):
        invoice_issue_and_charge(invoice=draft, actor=staff)

    draft = reload(draft)
    assert (draft.status, draft.number) == (InvoiceStatus.DRAFT, None)
    assert not NumberSequence.objects.exists()


def test_issue_and_charge_with_another_members_card_leaves_the_draft_a_draft(staff):
    draft = draft_invoice()
    saved_card(draft.member)
    other_card = saved_card(MemberFactory())

    with card_refused("This card belongs to another member."):
        invoice_issue_and_charge(invoice=draft, actor=staff, payment_method=other_card)

    assert reload(draft).status == InvoiceStatus.DRAFT


def test_issue_and_charge_is_for_staff_only():
    draft = draft_invoice()
    saved_card(draft.member)

    actor = member_actor(draft.member)

    with card_refused("Only the space's staff can issue and charge invoices."):
        invoice_issue_and_charge(invoice=draft, actor=actor)


def test_issue_and_charge_refuses_an_issued_invoice(staff):
    invoice = open_invoice()
    saved_card(invoice.member)

    with card_refused(f"{invoice.number} is already issued."):
        invoice_issue_and_charge(invoice=invoice, actor=staff)


# Cancel -------------------------------------------------------------------------------------------------------


def test_canceling_a_pending_payment_cancels_its_queued_attempt(staff, committed, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    payment_cancel(payment=payment, actor=staff, reason="Member asked to pay by transfer")

    payment = reload(payment)
    assert (payment.status, payment.next_retry_at) == (PaymentStatus.CANCELED, None)
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == AttemptStatus.CANCELED
    assert invoice_reserved(invoice) == eur("0")
    canceled = Activity.objects.get(verb="payment.canceled")
    assert (canceled.status_before, canceled.status_after, canceled.message) == (
        "pending",
        "canceled",
        "Member asked to pay by transfer",
    )

    attempt_execute_task.apply(args=[attempt.pk])  # the message was still in the queue

    assert not SandboxCharge.objects.exists()
    assert reload(payment).status == PaymentStatus.CANCELED
    assert billing_integrity_violations() == []


def test_canceling_a_failed_payment_stops_its_retries(staff, committed):
    invoice = open_invoice()
    saved_card(invoice.member, "4000000000000341")
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    assert reload(payment).next_retry_at is not None

    payment_cancel(payment=payment, actor=staff)

    payment = reload(payment)
    assert (payment.status, payment.next_retry_at) == (PaymentStatus.CANCELED, None)
    assert Activity.objects.get(verb="payment.canceled").message == "Canceled by staff"


def test_a_succeeded_payment_cannot_be_canceled(staff, committed):
    invoice = open_invoice()
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    with card_refused(f"{payment.number} is succeeded; only a pending or failed payment can be canceled."):
        payment_cancel(payment=payment, actor=staff)


def test_a_processing_payment_cannot_be_canceled(staff, committed, no_worker):
    from payments.services.attempt_execute import _attempt_claim

    invoice = open_invoice()
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    _attempt_claim(PaymentAttempt.objects.get().pk)

    with card_refused(f"{payment.number} is processing; only a pending or failed payment can be canceled."):
        payment_cancel(payment=payment, actor=staff)


def test_members_cannot_cancel_payments(staff, committed, no_worker):
    invoice = open_invoice()
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    actor = member_actor(invoice.member)

    with card_refused("Only the space's staff can cancel payments."):
        payment_cancel(payment=payment, actor=actor)


# Manual retry -------------------------------------------------------------------------------------------------


def _failed_payment(staff, committed, *, amount="100.00", number="4000000000000341"):
    invoice = open_invoice(amounts=[amount])
    saved_card(invoice.member, number)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    assert reload(payment).status == PaymentStatus.FAILED
    return invoice, reload(payment)


def test_a_manual_retry_at_the_same_amount_is_a_new_attempt_with_a_new_key(staff, committed):
    invoice, payment = _failed_payment(staff, committed)

    with committed():
        attempt = payment_retry(payment=payment, actor=staff)

    assert (attempt.amount, attempt.trigger) == (eur("100.00"), PaymentAttempt.Trigger.STAFF)
    attempts = list(PaymentAttempt.objects.order_by("pk"))
    assert len(attempts) == 2
    assert len({a.idempotency_key for a in attempts}) == 2
    charges = SandboxCharge.objects.order_by("created_at")
    assert [c.idempotency_key for c in charges] == [a.idempotency_key for a in attempts]
    assert reload(payment).status == PaymentStatus.FAILED  # the card still declines
    retried = Activity.objects.get(verb="payment.retried")
    assert (retried.status_before, retried.status_after, retried.amount) == ("failed", "processing", eur("100.00"))


def test_a_manual_retry_at_a_smaller_amount_with_another_card(staff, committed):
    invoice, payment = _failed_payment(staff, committed)
    other = saved_card(invoice.member, "5555555555554444")

    with committed():
        attempt = payment_retry(payment=payment, actor=staff, amount=eur("40.00"), payment_method=other)

    assert (attempt.amount, attempt.payment_method) == (eur("40.00"), other)
    payment = reload(payment)
    assert (payment.status, payment.amount, payment.payment_method) == ("succeeded", eur("40.00"), other)
    assert (payment.failure_code, payment.failure_message, payment.next_retry_at) == ("", "", None)
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("open", eur("40.00"), eur("60.00"))
    assert SandboxCharge.objects.filter(amount_minor=4000, status="succeeded").count() == 1
    assert Decimal(Activity.objects.get(verb="payment.retried").data["amount_before"]) == Decimal("100.00")
    assert billing_integrity_violations() == []


def test_a_manual_retry_for_more_than_the_payment_is_refused(staff, committed):
    _, payment = _failed_payment(staff, committed)

    with card_refused("€100.01 is more than the most this retry can charge (€100.00)."):
        payment_retry(payment=payment, actor=staff, amount=eur("100.01"))


def test_a_manual_retry_for_more_than_remains_is_refused(staff, committed):
    invoice, payment = _failed_payment(staff, committed)
    external_payment(invoice=invoice, amount="75.00")

    with card_refused("€30.00 is more than the most this retry can charge (€25.00)."):
        payment_retry(payment=payment, actor=staff, amount=eur("30.00"))


def test_only_a_failed_payment_is_retried(staff, committed):
    invoice = open_invoice()
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)

    with card_refused(f"{payment.number} is succeeded; only a failed payment is retried."):
        payment_retry(payment=payment, actor=staff)


def test_members_cannot_retry_payments(staff, committed):
    invoice, payment = _failed_payment(staff, committed)

    actor = member_actor(invoice.member)

    with card_refused("Only the space's staff can retry payments."):
        payment_retry(payment=payment, actor=actor)


def test_a_retry_of_a_paid_invoice_is_refused(staff, committed):
    invoice, payment = _failed_payment(staff, committed)
    external_payment(invoice=invoice)

    with card_refused(f"There is nothing to charge: {invoice.number} is paid."):
        payment_retry(payment=payment, actor=staff)


# Void and mark uncollectible while in flight ------------------------------------------------------------------


def test_an_invoice_with_a_charge_in_flight_cannot_be_voided_or_marked_uncollectible(staff, committed, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        payment_create_card(invoice=invoice, actor=staff, amount=eur("60.00"))

    with card_refused(
        f"{invoice.number} has a card payment of €60.00 in progress at the gateway; wait for its result before you "
        "void it."
    ):
        invoice_void(invoice=invoice, actor=staff)
    with card_refused(
        f"{invoice.number} has a card payment of €60.00 in progress at the gateway; wait for its result before you "
        "mark it uncollectible."
    ):
        invoice_mark_uncollectible(invoice=invoice, actor=staff)


def test_an_invoice_can_be_voided_once_its_charge_failed(staff, committed):
    invoice, _ = _failed_payment(staff, committed)

    invoice_void(invoice=invoice, actor=staff)

    assert reload(invoice).status == InvoiceStatus.VOID
