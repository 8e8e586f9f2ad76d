"""Refunds through `payment_refund`, with the sandbox gateway and Celery tasks run as a commit would (spec 5.9)."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from billing.models import Activity, CreditNote, CreditNoteReason, InvoiceStatus, ShownStatus
from billing.services.credit_note_issue import credit_note_issue
from coworking_billing.celery import app as celery_app
from payments.integrity import billing_integrity_violations
from payments.models import (
    Allocation,
    Payment,
    PaymentAttempt,
    PaymentStatus,
    Refund,
    RefundAllocation,
    RefundStatus,
)
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxCharge, SandboxRefund
from payments.services.payment_apply import payment_apply
from payments.services.payment_card import payment_create_card
from payments.services.payment_retries import payment_retries_run
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund, refund_plan
from payments.tasks import refund_execute_task
from tests.factories import (
    MemberFactory,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)
from tests.payments.refunds.helpers import card_paid, refund_refused, verbs

pytestmark = pytest.mark.django_db

BY_MEMBER = Refund.Reason.REQUESTED_BY_MEMBER
REOPEN = Refund.InvoiceHandling.REOPEN
CREDIT_NOTE = Refund.InvoiceHandling.CREDIT_NOTE


def refund(payment, amount: str | Money, *, actor, handling: str = "", reason: str = BY_MEMBER, note: str = ""):
    return payment_refund(
        payment=payment,
        amount=eur(amount) if isinstance(amount, str) else amount,
        reason=reason,
        actor=actor,
        invoice_handling=handling,
        note=note,
    )


def paid_twice(staff):
    """A standalone payment of 150.00 applied to an older invoice (100.00) then a newer one (50.00)."""
    member = MemberFactory()
    older = open_invoice(member=member, amounts=["100.00"])
    newer = open_invoice(member=member, amounts=["50.00"])
    payment = standalone_payment(member=member, amount="150.00")
    payment_apply(invoice=older, applications=[(payment, eur("100.00"))], actor=staff)
    payment_apply(invoice=newer, applications=[(payment, eur("50.00"))], actor=staff)
    return payment, older, newer


def amounts(payment) -> tuple:
    payment = reload(payment)
    return (
        payment.amount_allocated,
        payment.amount_refunded,
        payment.amount_refund_pending,
        payment.amount_unallocated,
    )


# Unallocated money first -----------------------------------------------------------------------------------------


def test_an_external_payment_s_credit_is_refunded_and_recorded_at_once(staff, committed, mailoutbox):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="150.00")

    with committed():
        made = refund(payment, "30.00", actor=staff, note="Paid too much")

    made = reload(made)
    assert (made.payment, made.amount, made.kind, made.status) == (
        payment,
        eur("30.00"),
        Refund.Kind.RECORDED,
        RefundStatus.SUCCEEDED,
    )
    assert (made.reason, made.note, made.invoice_handling, made.credit_note) == (BY_MEMBER, "Paid too much", "", None)
    assert (made.gateway, made.gateway_refund_id, made.created_by, made.actor_label) == ("", "", staff.user, "manager")
    assert made.finished_at is not None
    assert amounts(payment) == (eur("100.00"), eur("30.00"), eur("0.00"), eur("20.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("100.00"),
        eur("0.00"),
    )
    assert not RefundAllocation.objects.exists()
    assert not CreditNote.objects.exists()
    assert verbs(verb__startswith="refund.") + verbs(verb="payment.refunded") == ["refund.recorded", "payment.refunded"]
    refunded = Activity.objects.get(verb="payment.refunded")
    assert (refunded.target, refunded.amount, refunded.actor_user, refunded.message) == (
        payment,
        eur("30.00"),
        staff.user,
        "Paid too much",
    )
    assert refunded.data == {
        "refund": str(made.uid),
        "from_unallocated": "30.00",
        "invoices": {},
        "invoice_handling": "",
    }
    [mail] = mailoutbox
    assert (mail.to, mail.subject) == ([invoice.member.email], f"Refund of €30.00 on payment {payment.number}")
    assert billing_integrity_violations() == []


def test_the_refund_takes_the_unallocated_money_before_any_invoice(staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="150.00")

    plan = refund_plan(payment=reload(payment), amount=eur("70.00"))
    refund(payment, "70.00", actor=staff, handling=REOPEN)

    assert (plan.from_unallocated, [(a.invoice, take) for a, take in plan.from_invoices]) == (
        eur("50.00"),
        [(invoice, eur("20.00"))],
    )
    assert amounts(payment) == (eur("80.00"), eur("70.00"), eur("0.00"), eur("0.00"))
    assert Allocation.objects.get().amount == eur("80.00")
    take = RefundAllocation.objects.get()
    assert (take.amount, take.credit_note) == (eur("20.00"), None)
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("80.00"),
        eur("20.00"),
    )
    assert billing_integrity_violations() == []


def test_taking_allocated_money_without_choosing_what_happens_to_the_invoices_is_refused(staff):
    member = MemberFactory()
    older = open_invoice(member=member, amounts=["100.00"])
    newer = open_invoice(member=member, amounts=["30.00"])
    payment = standalone_payment(member=member, amount="150.00")
    payment_apply(invoice=older, applications=[(payment, eur("100.00"))], actor=staff)
    payment_apply(invoice=newer, applications=[(payment, eur("30.00"))], actor=staff)

    with refund_refused(
        f"This refund takes €30.00 from {newer.number}, €30.00 from {older.number}: choose whether to reopen the "
        "invoice balance or to reduce the invoice with a credit note."
    ):
        refund(payment, "80.00", actor=staff)


def test_a_refund_of_only_unallocated_money_needs_no_choice_but_one_more_cent_does(staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="120.00")

    with refund_refused(
        f"This refund takes €0.01 from {invoice.number}: choose whether to reopen the invoice balance or to reduce "
        "the invoice with a credit note."
    ):
        refund(payment, "20.01", actor=staff)
    refund(payment, "20.00", actor=staff)

    assert amounts(payment) == (eur("100.00"), eur("20.00"), eur("0.00"), eur("0.00"))
    assert reload(invoice).status == InvoiceStatus.PAID


# Reopen the balance ----------------------------------------------------------------------------------------------


def test_reopen_shrinks_the_newest_allocation_first_and_reopens_the_invoices(staff):
    payment, older, newer = paid_twice(staff)
    older_allocation, newer_allocation = Allocation.objects.order_by("pk")

    made = refund(payment, "60.00", actor=staff, handling=REOPEN)

    newer_allocation, older_allocation = reload(newer_allocation), reload(older_allocation)
    assert (newer_allocation.status, newer_allocation.amount, newer_allocation.original_amount) == (
        Allocation.Status.REMOVED,
        eur("0.00"),
        eur("50.00"),
    )
    assert newer_allocation.removed_reason == f"Refund of {payment.number}"
    assert (older_allocation.status, older_allocation.amount, older_allocation.original_amount) == (
        Allocation.Status.ACTIVE,
        eur("90.00"),
        eur("100.00"),
    )
    assert [(take.allocation, take.amount, take.credit_note) for take in RefundAllocation.objects.all()] == [
        (newer_allocation, eur("50.00"), None),
        (older_allocation, eur("10.00"), None),
    ]
    assert reload(made).invoice_handling == REOPEN
    newer, older = reload(newer), reload(older)
    assert (newer.status, newer.amount_paid, newer.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("0.00"),
        eur("50.00"),
    )
    assert (older.status, older.amount_paid, older.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("90.00"),
        eur("10.00"),
    )
    assert older.shown_status() == ShownStatus.PARTIALLY_PAID
    assert amounts(payment) == (eur("90.00"), eur("60.00"), eur("0.00"), eur("0.00"))
    assert not CreditNote.objects.exists()
    reopened = Activity.objects.filter(verb="invoice.reopened").order_by("pk")
    assert [(a.invoice, a.status_before, a.status_after, a.amount) for a in reopened] == [
        (older, InvoiceStatus.PAID, InvoiceStatus.OPEN, eur("10.00")),
        (newer, InvoiceStatus.PAID, InvoiceStatus.OPEN, eur("50.00")),
    ]
    taken = Activity.objects.get(verb="payment.refunded").data["invoices"]
    assert {number: Decimal(amount) for number, amount in taken.items()} == {
        newer.number: Decimal("50.00"),
        older.number: Decimal("10.00"),
    }
    assert billing_integrity_violations() == []


def test_a_reopened_invoice_does_not_restart_automatic_retries(staff, committed):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member, "4000000000000341")  # attaches, then every charge is declined
    with committed():
        declined = payment_create_card(invoice=invoice, actor=staff)
    declined = reload(declined)
    assert declined.status == PaymentStatus.FAILED
    first_retry_at = declined.next_retry_at
    assert first_retry_at is not None
    cash = external_payment(invoice=invoice, amount="100.00")  # paying the invoice ends the retries
    assert reload(declined).next_retry_at is None
    with committed():
        stopped = payment_retries_run(now=first_retry_at + datetime.timedelta(minutes=1))
    assert (stopped.due, stopped.retried) == (0, 0)
    attempts_before = PaymentAttempt.objects.count()

    refund(cash, "100.00", actor=staff, handling=REOPEN)

    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("100.00"))
    declined = reload(declined)
    assert (declined.status, declined.next_retry_at) == (PaymentStatus.FAILED, None)
    with committed():
        later = payment_retries_run(now=timezone.now() + datetime.timedelta(days=30))
    assert (later.due, later.retried) == (0, 0)
    assert PaymentAttempt.objects.count() == attempts_before
    assert not Payment.objects.filter(status__in=[PaymentStatus.PENDING, PaymentStatus.PROCESSING]).exists()
    assert billing_integrity_violations() == []


# Reduce the invoices with credit notes ---------------------------------------------------------------------------


def test_credit_note_handling_issues_one_credit_note_per_invoice_and_keeps_them_paid(staff, today):
    payment, older, newer = paid_twice(staff)
    older_allocation, newer_allocation = Allocation.objects.order_by("pk")

    made = refund(payment, "70.00", actor=staff, handling=CREDIT_NOTE, reason=Refund.Reason.DUPLICATE)

    first, second = CreditNote.objects.order_by("number")
    assert (first.number, first.invoice, first.amount) == (f"CN-{today.year}-00001", newer, eur("50.00"))
    assert (second.number, second.invoice, second.amount) == (f"CN-{today.year}-00002", older, eur("20.00"))
    for credit_note in (first, second):
        assert credit_note.reason == CreditNoteReason.DUPLICATE
        assert (credit_note.pre_payment_amount, credit_note.refund_amount) == (eur("0.00"), credit_note.amount)
        assert (credit_note.credit_amount, credit_note.out_of_band_amount) == (eur("0.00"), eur("0.00"))
        assert credit_note.memo == f"Settled by a refund of {payment.number}."
        assert credit_note.created_by == staff.user
    made = reload(made)
    assert (made.invoice_handling, made.kind, made.status, made.credit_note) == (
        CREDIT_NOTE,
        Refund.Kind.RECORDED,
        RefundStatus.SUCCEEDED,
        None,
    )
    assert [
        (take.allocation, take.refund, take.credit_note, take.amount) for take in RefundAllocation.objects.all()
    ] == [
        (newer_allocation, made, first, eur("50.00")),
        (older_allocation, made, second, eur("20.00")),
    ]
    newer, older = reload(newer), reload(older)
    assert (newer.status, newer.amount_credited, newer.amount_paid, newer.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("50.00"),
        eur("0.00"),
        eur("0.00"),
    )
    assert (older.status, older.amount_credited, older.amount_paid, older.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("20.00"),
        eur("80.00"),
        eur("0.00"),
    )
    assert amounts(payment) == (eur("80.00"), eur("70.00"), eur("0.00"), eur("0.00"))
    issued = Activity.objects.filter(verb="credit_note.issued").order_by("pk")
    assert [(a.invoice, a.target, a.amount) for a in issued] == [
        (newer, first, eur("50.00")),
        (older, second, eur("20.00")),
    ]
    assert not Activity.objects.filter(verb="invoice.reopened").exists()
    assert billing_integrity_violations() == []


def test_a_refund_by_credit_note_of_another_reason_gives_credit_notes_of_reason_other(staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")

    refund(payment, "25.00", actor=staff, handling=CREDIT_NOTE)

    credit_note = CreditNote.objects.get()
    assert (credit_note.reason, credit_note.amount, credit_note.refund_amount) == (
        CreditNoteReason.OTHER,
        eur("25.00"),
        eur("25.00"),
    )
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_credited, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("25.00"),
        eur("0.00"),
    )
    assert billing_integrity_violations() == []


# Card refunds ----------------------------------------------------------------------------------------------------


def test_a_card_refund_is_pending_until_the_gateway_answers(staff, committed, no_worker, mailoutbox):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)

    with committed():
        made = refund(payment, "40.00", actor=staff, handling=REOPEN)

    made = reload(made)
    assert (made.kind, made.status, made.gateway, made.gateway_refund_id, made.sent_at) == (
        Refund.Kind.GATEWAY,
        RefundStatus.PENDING,
        "sandbox",
        "",
        None,
    )
    assert amounts(payment) == (eur("60.00"), eur("0.00"), eur("40.00"), eur("0.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_remaining) == (InvoiceStatus.OPEN, eur("40.00"))
    assert not SandboxRefund.objects.exists()
    assert verbs(verb__startswith="refund.") == ["refund.requested"]
    assert mailoutbox == []
    assert billing_integrity_violations() == []
    celery_app.conf.task_always_eager = True  # a worker is back: the mail it queues is sent at once

    with committed():
        assert refund_execute_task.apply(args=[made.pk]).get() == RefundStatus.SUCCEEDED

    made = reload(made)
    sandbox_refund = SandboxRefund.objects.get()
    assert (made.status, made.gateway_refund_id) == (RefundStatus.SUCCEEDED, sandbox_refund.id)
    assert made.sent_at is not None and made.finished_at is not None
    assert (sandbox_refund.charge, sandbox_refund.amount_minor, sandbox_refund.status) == (
        SandboxCharge.objects.get(),
        4000,
        "succeeded",
    )
    assert sandbox_refund.idempotency_key == made.idempotency_key
    assert amounts(payment) == (eur("60.00"), eur("40.00"), eur("0.00"), eur("0.00"))
    assert verbs(verb__startswith="refund.") == ["refund.requested", "refund.succeeded"]
    succeeded = Activity.objects.get(verb="refund.succeeded")
    assert (succeeded.actor_kind, succeeded.target, succeeded.amount) == ("system", payment, eur("40.00"))
    [mail] = mailoutbox
    assert mail.subject == f"Refund of €40.00 on payment {payment.number}"
    assert "to your Visa •••• 4242" in mail.body

    assert refund_execute_task.apply(args=[made.pk]).get() == RefundStatus.SUCCEEDED  # a redelivered task
    assert SandboxRefund.objects.count() == 1
    assert billing_integrity_violations() == []


def test_a_refund_in_flight_counts_against_what_is_left_to_refund(staff, committed, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)
    with committed():
        first = refund(payment, "40.00", actor=staff, handling=REOPEN)
    assert reload(first).status == RefundStatus.PENDING

    message = "{amount} is more than what is left to refund on {payment} (€60.00, counting refunds in progress)."
    for amount in ("100.00", "60.01"):
        with refund_refused(message.format(amount=f"€{amount}", payment=payment.number)):
            refund(payment, amount, actor=staff, handling=REOPEN)
    with committed():
        rest = refund(payment, "60.00", actor=staff, handling=REOPEN)

    assert reload(rest).status == RefundStatus.PENDING
    assert amounts(payment) == (eur("0.00"), eur("0.00"), eur("100.00"), eur("0.00"))
    with refund_refused(message.format(amount="€0.01", payment=payment.number).replace("€60.00", "€0.00")):
        refund(payment, "0.01", actor=staff, handling=REOPEN)
    for pending in (first, rest):
        refund_execute_task.apply(args=[pending.pk])
    assert amounts(payment) == (eur("0.00"), eur("100.00"), eur("0.00"), eur("0.00"))
    assert sorted(SandboxRefund.objects.values_list("amount_minor", flat=True)) == [4000, 6000]
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("0.00"),
        eur("100.00"),
    )
    assert billing_integrity_violations() == []


def test_a_failed_gateway_refund_gives_the_money_back_to_the_payment(staff, committed, use_gateway, mailoutbox):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)
    use_gateway(SandboxGateway(fail_refunds=True))

    with committed():
        made = refund(payment, "40.00", actor=staff, handling=REOPEN)

    made = reload(made)
    sandbox_refund = SandboxRefund.objects.get()
    assert (made.status, made.failure_message, made.gateway_refund_id) == (
        RefundStatus.FAILED,
        "The card issuer refused the refund (injected failure).",
        sandbox_refund.id,
    )
    assert made.finished_at is not None
    assert (sandbox_refund.amount_minor, sandbox_refund.status) == (4000, "failed")
    assert amounts(payment) == (eur("60.00"), eur("0.00"), eur("0.00"), eur("40.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("60.00"),
        eur("40.00"),
    )
    failed = Activity.objects.get(verb="refund.failed")
    assert (failed.target, failed.amount, failed.message) == (
        payment,
        eur("40.00"),
        "The card issuer refused the refund (injected failure).",
    )
    assert [mail for mail in mailoutbox if mail.subject.startswith("Refund")] == []
    assert billing_integrity_violations() == []

    use_gateway(None)
    with committed():
        again = refund(payment, "40.00", actor=staff)

    assert reload(again).status == RefundStatus.SUCCEEDED
    assert amounts(payment) == (eur("60.00"), eur("40.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


def test_a_failed_refund_by_credit_note_leaves_the_credit_note_settled_by_credit(staff, committed, use_gateway):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed)
    use_gateway(SandboxGateway(fail_refunds=True))

    with committed():
        made = refund(payment, "30.00", actor=staff, handling=CREDIT_NOTE)

    assert reload(made).status == RefundStatus.FAILED
    credit_note = CreditNote.objects.get()
    assert (credit_note.amount, credit_note.pre_payment_amount) == (eur("30.00"), eur("0.00"))
    assert (credit_note.refund_amount, credit_note.credit_amount, credit_note.out_of_band_amount) == (
        eur("0.00"),
        eur("30.00"),
        eur("0.00"),
    )
    assert amounts(payment) == (eur("70.00"), eur("0.00"), eur("0.00"), eur("30.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_credited, invoice.amount_paid) == (
        InvoiceStatus.PAID,
        eur("30.00"),
        eur("70.00"),
    )
    assert billing_integrity_violations() == []


def test_a_failed_refund_part_of_a_credit_note_is_re_split_as_credit(staff, committed, use_gateway):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed, amount=eur("80.00"))
    use_gateway(SandboxGateway(fail_refunds=True))

    with committed():
        credit_note = credit_note_issue(
            invoice=invoice,
            actor=staff,
            reason=CreditNoteReason.OTHER,
            amount=eur("50.00"),
            refund_amount=eur("20.00"),
            credit_amount=eur("10.00"),
        )

    assert Refund.objects.get().status == RefundStatus.FAILED
    credit_note = reload(credit_note)
    assert (credit_note.pre_payment_amount, credit_note.refund_amount) == (eur("20.00"), eur("0.00"))
    assert (credit_note.credit_amount, credit_note.out_of_band_amount) == (eur("30.00"), eur("0.00"))
    assert (
        credit_note.pre_payment_amount
        + credit_note.refund_amount
        + credit_note.credit_amount
        + credit_note.out_of_band_amount
        == credit_note.amount
    )
    assert amounts(payment) == (eur("50.00"), eur("0.00"), eur("0.00"), eur("30.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_credited, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("50.00"),
        eur("0.00"),
    )
    assert billing_integrity_violations() == []


def test_refunding_the_credit_left_on_a_card_payment_sends_it_back_to_the_card(staff, committed):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    payment = card_paid(invoice=invoice, actor=staff, committed=committed, amount=eur("80.00"))
    credit_note_issue(
        invoice=invoice, actor=staff, reason=CreditNoteReason.OTHER, amount=eur("50.00"), credit_amount=eur("30.00")
    )
    assert amounts(payment) == (eur("50.00"), eur("0.00"), eur("0.00"), eur("30.00"))

    with committed():
        made = refund(payment, "30.00", actor=staff)

    made = reload(made)
    assert (made.kind, made.status, made.invoice_handling) == (Refund.Kind.GATEWAY, RefundStatus.SUCCEEDED, "")
    assert SandboxRefund.objects.get().amount_minor == 3000
    assert amounts(payment) == (eur("50.00"), eur("30.00"), eur("0.00"), eur("0.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_credited, invoice.amount_paid) == (
        InvoiceStatus.PAID,
        eur("50.00"),
        eur("50.00"),
    )
    assert not RefundAllocation.objects.filter(refund=made).exists()
    assert billing_integrity_violations() == []


# Refusals --------------------------------------------------------------------------------------------------------


def test_a_void_payment_is_not_refunded(staff):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")
    payment_void(payment=payment, actor=staff)

    with refund_refused(f"{payment.number} is void; only received money is refunded."):
        refund(payment, "10.00", actor=staff)


def test_a_failed_card_payment_is_not_refunded(staff, committed):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member, "4000000000000341")
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    assert reload(payment).status == PaymentStatus.FAILED

    with refund_refused(f"{payment.number} is failed; only received money is refunded."):
        refund(payment, "10.00", actor=staff, handling=REOPEN)


def test_a_card_payment_still_at_the_gateway_is_not_refunded(staff, committed, no_worker):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    assert reload(payment).status == PaymentStatus.PENDING

    with refund_refused(f"{payment.number} is pending; only received money is refunded."):
        refund(payment, "10.00", actor=staff, handling=REOPEN)


def test_more_than_was_paid_is_not_refunded(staff):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")

    with refund_refused(
        f"€75.01 is more than what is left to refund on {payment.number} (€75.00, counting refunds in progress)."
    ):
        refund(payment, "75.01", actor=staff)


def test_a_payment_refunded_in_full_has_nothing_left_to_refund(staff):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")
    refund(payment, "75.00", actor=staff)

    with refund_refused(
        f"€0.01 is more than what is left to refund on {payment.number} (€0.00, counting refunds in progress)."
    ):
        refund(payment, "0.01", actor=staff)
    assert amounts(payment) == (eur("0.00"), eur("75.00"), eur("0.00"), eur("0.00"))


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        pytest.param(Money("0.00", "EUR"), "The amount must be greater than zero, not 0.00.", id="zero"),
        pytest.param(Money("-5.00", "EUR"), "The amount must be greater than zero, not -5.00.", id="negative"),
        pytest.param(
            Money("10.005", "EUR"), "EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly.", id="scale"
        ),
        pytest.param(Money("10.00", "USD"), "This amount is in USD, but it must be in EUR.", id="currency"),
        pytest.param(
            Money("1000000000000", "EUR"),
            "The amount 1000000000000 is too large: at most 12 digits before the point.",
            id="too-large",
        ),
        pytest.param(Decimal("10.00"), "The amount must be a sum of money.", id="not-money"),
    ],
)
def test_a_wrong_amount_is_refused(staff, amount, message):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")

    with refund_refused(message):
        refund(payment, amount, actor=staff)


def test_a_yen_refund_of_a_fraction_of_a_yen_is_refused(staff):
    payment = standalone_payment(member=MemberFactory(), amount="1500", currency="JPY")

    with refund_refused("JPY has no minor unit: enter a whole amount, not 10.5."):
        refund(payment, Money("10.5", "JPY"), actor=staff)
    refund(payment, Money("500", "JPY"), actor=staff)

    payment = reload(payment)
    assert (payment.amount_refunded, payment.amount_unallocated) == (Money("500", "JPY"), Money("1000", "JPY"))
    assert billing_integrity_violations() == []


def test_a_member_cannot_refund(staff):
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="75.00")
    actor = member_actor(member)

    with refund_refused("Only the space's staff can refund payments."):
        refund(payment, "10.00", actor=actor)


@pytest.mark.parametrize("reason", ["", "credit_note", "because"])
def test_a_refund_needs_a_reason(staff, reason):
    payment = standalone_payment(member=MemberFactory(), amount="75.00")

    with refund_refused("Choose a reason for the refund."):
        refund(payment, "10.00", actor=staff, reason=reason)


def test_an_unknown_invoice_handling_is_refused(staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")

    with refund_refused("Choose what happens to the invoices this payment paid."):
        refund(payment, "10.00", actor=staff, handling="forget")
