"""Automatic retries of failed card payments, with the clock frozen and moved by hand (spec 6)."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from djmoney.money import Money

from billing.models import Activity, InvoiceStatus
from billing.services.credit_note_issue import credit_note_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from coworking_billing.celery import app as celery_app
from payments.gateways.base import HARD_DECLINE_CODES, ChargeOutcome, ChargeResult
from payments.integrity import billing_integrity_violations
from payments.models import AttemptStatus, Payment, PaymentAttempt, PaymentStatus
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxCard, SandboxCharge
from payments.services.attempt_execute import _attempt_claim, attempt_record_outcome
from payments.services.payment_apply import payment_apply
from payments.services.payment_card import invoices_pay_with_card, payment_create_card, payment_retry
from payments.services.payment_retries import payment_retries_run
from tests.factories import (
    MemberFactory,
    external_payment,
    member_actor,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
DECLINES = "4000000000000341"  # saved, then every charge is declined (generic_decline, a soft decline)


def days(n: float) -> datetime.timedelta:
    return datetime.timedelta(days=n)


@pytest.fixture
def clock(time_machine):
    """`clock(days=3)` moves the frozen clock to T0 + 3 days and returns that time."""

    def move(**delta) -> datetime.datetime:
        now = T0 + datetime.timedelta(**delta)
        time_machine.move_to(now, tick=False)
        return now

    move()
    return move


def failed_card_payment(staff, committed, *, amount="100.00", card=DECLINES):
    invoice = open_invoice(amounts=[amount])
    saved_card(invoice.member, card)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    payment = reload(payment)
    assert payment.status == PaymentStatus.FAILED
    return invoice, payment


def test_a_soft_decline_is_retried_3_5_and_7_days_after_each_failure_then_fails_for_good(
    staff, committed, clock, mailoutbox, settings
):
    settings.BILLING_PORTAL_URL = "https://space.example/portal/"
    invoice, payment = failed_card_payment(staff, committed)
    assert (payment.next_retry_at, payment.automatic_retries) == (T0 + days(3), 0)
    assert mailoutbox == []  # retries follow: nobody is told yet

    schedule = []
    for day in (3, 8, 15):
        now = clock(days=day)
        with committed():
            summary = payment_retries_run(now=now)
        assert (summary.due, summary.retried, summary.canceled, summary.refused) == (1, 1, 0, 0)
        payment = reload(payment)
        schedule.append((payment.status, payment.automatic_retries, payment.next_retry_at))

    assert schedule == [
        (PaymentStatus.FAILED, 1, T0 + days(8)),
        (PaymentStatus.FAILED, 2, T0 + days(15)),
        (PaymentStatus.FAILED, 3, None),
    ]
    attempts = list(PaymentAttempt.objects.order_by("pk"))
    assert [a.trigger for a in attempts] == ["staff", "automatic", "automatic", "automatic"]
    assert [a.status for a in attempts] == [AttemptStatus.FAILED] * 4
    assert len({a.idempotency_key for a in attempts}) == 4
    assert SandboxCharge.objects.count() == 4
    member_mail, admin_mail = mailoutbox
    assert member_mail.to == [invoice.member.email]
    assert "https://space.example/portal/" in member_mail.body
    assert payment.number in admin_mail.subject + admin_mail.body
    assert admin_mail.to == [staff.user.email]

    clock(days=60)
    assert payment_retries_run().due == 0
    assert PaymentAttempt.objects.count() == 4
    assert billing_integrity_violations() == []


def test_a_retry_that_is_not_due_does_nothing(staff, committed, clock):
    _, payment = failed_card_payment(staff, committed)
    now = clock(days=3, seconds=-1)

    with committed():
        summary = payment_retries_run(now=now)

    assert (summary.due, summary.retried) == (0, 0)
    assert PaymentAttempt.objects.count() == 1
    assert reload(payment).next_retry_at == T0 + days(3)


def test_an_automatic_retry_that_succeeds_pays_the_invoice(staff, committed, clock):
    invoice, payment = failed_card_payment(staff, committed)
    # The card starts working again at the gateway (the member's bank lifted a block).
    SandboxCard.objects.filter(pk=payment.payment_method.gateway_id).update(behaviour=SandboxCard.Behaviour.SUCCEEDS)
    now = clock(days=3)

    with committed():
        payment_retries_run(now=now)

    payment = reload(payment)
    assert (payment.status, payment.next_retry_at, payment.failure_code) == (PaymentStatus.SUCCEEDED, None, "")
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_authentication_required_is_a_hard_decline_with_no_retry(staff, committed, clock, mailoutbox):
    invoice, payment = failed_card_payment(staff, committed, card="4000002500003155")

    assert (payment.failure_code, payment.next_retry_at) == ("authentication_required", None)
    assert len(mailoutbox) == 2
    clock(days=30)
    assert payment_retries_run().due == 0
    assert PaymentAttempt.objects.count() == 1


@pytest.mark.parametrize("code", sorted(HARD_DECLINE_CODES))
def test_hard_declines_are_not_retried_automatically(staff, committed, no_worker, clock, mailoutbox, code):
    """The gateway's answer for a queued charge, as a worker or a webhook records it."""
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    attempt, _ = _attempt_claim(PaymentAttempt.objects.get().pk)
    celery_app.conf.task_always_eager = True  # a worker is back: the mail it queues is sent at once

    with committed():
        attempt_record_outcome(
            attempt_id=attempt.pk,
            result=ChargeResult(ChargeOutcome.DECLINED, "pi_x", decline_code=code, message="Declined."),
        )

    payment = reload(payment)
    assert (payment.status, payment.failure_code, payment.next_retry_at) == (PaymentStatus.FAILED, code, None)
    assert [mail.to for mail in mailoutbox] == [[invoice.member.email], [staff.user.email]]
    clock(days=30)
    assert payment_retries_run().due == 0


def test_an_external_payment_meanwhile_lowers_the_next_retry_to_what_remains(staff, committed, clock):
    invoice, payment = failed_card_payment(staff, committed)
    clock(days=1)
    external_payment(invoice=invoice, amount="30.00")
    now = clock(days=3)

    with committed():
        payment_retries_run(now=now)

    retry = PaymentAttempt.objects.latest("pk")
    assert (retry.amount, retry.trigger) == (Money("70.00", "EUR"), PaymentAttempt.Trigger.AUTOMATIC)
    assert SandboxCharge.objects.get(idempotency_key=retry.idempotency_key).amount_minor == 7000
    payment = reload(payment)
    assert (payment.amount, payment.status, payment.next_retry_at) == (Money("70.00", "EUR"), "failed", T0 + days(8))
    assert billing_integrity_violations() == []


def _pay_in_full_with_another_card(invoice, staff, committed):
    card = saved_card(invoice.member, "4242424242424242")
    with committed():
        payment_create_card(invoice=invoice, actor=staff, payment_method=card)


def _apply_a_standalone_payment(invoice, staff, committed):
    payment = standalone_payment(member=invoice.member, amount="100.00", actor=staff)
    payment_apply(invoice=invoice, applications=[(payment, Money("100.00", "EUR"))], actor=staff)


def _apply_money_balance(invoice, staff, committed):
    money_balance_adjust(
        member=invoice.member, amount=Money("100.00", "EUR"), is_credit=True, note="Goodwill", actor=staff
    )
    invoice_apply_money_balance(invoice=invoice, actor=staff)


ENDINGS = {
    # How the invoice stops needing the money: (what is done, the invoice's status after it).
    "an external payment": (lambda invoice, staff, committed: external_payment(invoice=invoice, actor=staff), "paid"),
    "an applied payment": (_apply_a_standalone_payment, "paid"),
    "money balance": (_apply_money_balance, "paid"),
    "a credit note": (
        lambda invoice, staff, committed: credit_note_issue(
            invoice=invoice, actor=staff, reason="other", amount=Money("100.00", "EUR")
        ),
        "paid",
    ),
    "another card payment": (_pay_in_full_with_another_card, "paid"),
    "void": (lambda invoice, staff, committed: invoice_void(invoice=invoice, actor=staff), "void"),
    "uncollectible": (
        lambda invoice, staff, committed: invoice_mark_uncollectible(invoice=invoice, actor=staff),
        "uncollectible",
    ),
}


@pytest.mark.parametrize("how", ENDINGS)
def test_an_invoice_that_no_longer_needs_the_money_cancels_the_schedule_at_once(staff, committed, clock, how):
    """Spec 6: a fully paid, void or uncollectible invoice cancels the schedule, in the transaction that got it
    there; the payment stays failed, with no next retry, and an activity says why. The retry job then does
    nothing for it."""
    invoice, payment = failed_card_payment(staff, committed)
    clock(days=1)
    end, status = ENDINGS[how]

    end(invoice, staff, committed)

    invoice = reload(invoice)
    assert invoice.status == status
    payment = reload(payment)
    assert (payment.status, payment.next_retry_at, payment.automatic_retries) == (PaymentStatus.FAILED, None, 0)
    canceled = Activity.objects.get(verb="payment.retries_canceled")
    assert (canceled.target_id, canceled.invoice, canceled.amount) == (payment.pk, invoice, Money("100.00", "EUR"))
    # The actor of what paid the invoice: staff, or the system recording the other card payment's success.
    assert canceled.actor_label == ("card payments" if how == "another card payment" else staff.label)
    assert (
        canceled.message
        == f"{invoice.number} is {invoice.get_status_display().lower()}: the automatic retries of {payment.number} are canceled."
    )
    assert canceled.data == {"reason": f"invoice_{status}", "next_retry_was_at": (T0 + days(3)).isoformat()}
    attempts = PaymentAttempt.objects.filter(payment=payment).count()
    assert attempts == 1

    for later in (3, 8, 15):
        with committed():
            summary = payment_retries_run(now=clock(days=later))
        assert (summary.due, summary.retried, summary.canceled, summary.refused) == (0, 0, 0, 0)
    assert PaymentAttempt.objects.filter(payment=payment).count() == attempts
    assert reload(payment).status == PaymentStatus.FAILED
    assert Activity.objects.filter(verb="payment.retries_canceled").count() == 1
    assert billing_integrity_violations() == []


def test_a_payment_of_several_invoices_keeps_retrying_while_one_of_them_is_open(staff, committed, clock):
    member = MemberFactory()
    saved_card(member, DECLINES)
    first, second = (open_invoice(member=member, amounts=[amount]) for amount in ("40.00", "60.00"))
    with committed():
        payment = invoices_pay_with_card(member=member, invoices=[first, second], actor=staff)
    assert reload(payment).next_retry_at == T0 + days(3)
    clock(days=1)

    external_payment(invoice=first)

    assert reload(payment).next_retry_at == T0 + days(3)
    assert not Activity.objects.filter(verb="payment.retries_canceled").exists()

    invoice_void(invoice=second, actor=staff)

    assert reload(payment).next_retry_at is None
    canceled = Activity.objects.get(verb="payment.retries_canceled")
    assert (canceled.invoice, canceled.data["reason"]) == (reload(second), "invoice_void")
    assert billing_integrity_violations() == []


def test_a_payment_without_a_schedule_gets_no_activity_when_its_invoice_is_paid(staff, committed):
    invoice, payment = failed_card_payment(staff, committed)
    Payment.objects.filter(pk=payment.pk).update(next_retry_at=None)  # as after its last retry

    external_payment(invoice=invoice)

    assert reload(payment).status == PaymentStatus.FAILED
    assert not Activity.objects.filter(verb="payment.retries_canceled").exists()


def test_a_manual_retry_that_fails_restarts_the_schedule_from_that_failure(staff, committed, clock):
    _, payment = failed_card_payment(staff, committed)
    now = clock(days=3)
    with committed():
        payment_retries_run(now=now)
    assert (reload(payment).automatic_retries, reload(payment).next_retry_at) == (1, T0 + days(8))

    clock(days=4)
    with committed():
        payment_retry(payment=payment, actor=staff)

    payment = reload(payment)
    assert (payment.status, payment.automatic_retries, payment.next_retry_at) == ("failed", 0, T0 + days(7))
    assert payment_retries_run(now=T0 + days(7) - datetime.timedelta(seconds=1)).due == 0
    now = clock(days=7)
    with committed():
        assert payment_retries_run(now=now).retried == 1
    payment = reload(payment)
    assert (payment.automatic_retries, payment.next_retry_at) == (1, T0 + days(12))


def test_a_new_card_from_the_member_retries_their_failed_payments_at_once(staff, committed, clock):
    member = MemberFactory()
    saved_card(member, DECLINES)
    invoices = [open_invoice(member=member, amounts=[amount]) for amount in ("40.00", "60.00")]
    payments = []
    for invoice in invoices:
        with committed():
            payments.append(payment_create_card(invoice=invoice, actor=staff))
    assert [reload(p).status for p in payments] == ["failed", "failed"]
    actor = member_actor(member)
    clock(hours=2)

    with committed():
        card = saved_card(reload(member), "5555555555554444", actor=actor)

    for payment, invoice in zip(payments, invoices, strict=True):
        payment = reload(payment)
        assert (payment.status, payment.payment_method, payment.next_retry_at) == ("succeeded", card, None)
        assert reload(invoice).status == InvoiceStatus.PAID
    retries = PaymentAttempt.objects.filter(trigger=PaymentAttempt.Trigger.NEW_CARD)
    assert sorted(a.amount.amount for a in retries) == [40, 60]
    assert billing_integrity_violations() == []


def test_a_new_card_also_retries_a_payment_that_needed_authentication(staff, committed):
    invoice, payment = failed_card_payment(staff, committed, card="4000002500003155")
    actor = member_actor(invoice.member)

    with committed():
        saved_card(reload(invoice.member), "4242424242424242", actor=actor)

    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID


def test_a_new_card_does_not_retry_the_payment_of_a_paid_invoice(staff, committed):
    invoice, payment = failed_card_payment(staff, committed)
    external_payment(invoice=invoice)

    with committed():
        saved_card(invoice.member, "4242424242424242")

    assert reload(payment).status == PaymentStatus.FAILED
    assert PaymentAttempt.objects.count() == 1


def test_a_due_retry_waits_while_another_card_payment_for_the_invoice_is_at_the_gateway(
    staff, committed, clock, request
):
    invoice, payment = failed_card_payment(staff, committed, amount="100.00")
    other_card = saved_card(invoice.member, "4242424242424242")
    request.getfixturevalue("no_worker")  # from here on, charges stay queued
    payment_create_card(invoice=invoice, actor=staff, payment_method=other_card)  # all of it, in flight
    now = clock(days=3)

    summary = payment_retries_run(now=now)

    assert (summary.due, summary.retried, summary.postponed, summary.refused) == (1, 0, 1, 0)
    payment = reload(payment)
    assert (payment.status, payment.next_retry_at, payment.automatic_retries) == (
        PaymentStatus.FAILED,
        now + datetime.timedelta(hours=1),
        0,
    )
    assert PaymentAttempt.objects.filter(payment=payment).count() == 1


def test_a_due_retry_without_any_saved_card_stops_the_retries_and_tells_the_member(staff, committed, clock, mailoutbox):
    from payments.services.payment_method import payment_method_remove

    invoice, payment = failed_card_payment(staff, committed)
    with committed():
        payment_method_remove(payment_method=payment.payment_method, actor=staff)
    mailoutbox.clear()
    now = clock(days=3)

    with committed():
        summary = payment_retries_run(now=now)

    assert (summary.due, summary.retried, summary.refused) == (1, 0, 1)
    payment = reload(payment)
    assert (payment.status, payment.next_retry_at) == (PaymentStatus.FAILED, None)
    stopped = Activity.objects.get(verb="payment.retries_stopped")
    assert "no saved card" in stopped.message
    assert [message.to for message in mailoutbox][0] == [invoice.member.email]
    assert billing_integrity_violations() == []


# The commands ---------------------------------------------------------------------------------------------------


def test_run_payment_retries_prints_its_summary(staff, committed, clock):
    failed_card_payment(staff, committed)
    invoice, payment = failed_card_payment(staff, committed)
    external_payment(invoice=invoice)
    # A schedule left from before paying an invoice ended its retries: the job cancels the payment when it is due.
    Payment.objects.filter(pk=payment.pk).update(next_retry_at=T0 + days(3))
    clock(days=3)
    out = io.StringIO()

    with committed():
        call_command("run_payment_retries", stdout=out)

    assert out.getvalue() == "2 due: 1 retried, 1 canceled, 0 postponed, 0 stopped.\n"


def test_reconcile_payments_prints_its_summary_and_fails_on_what_needs_review(
    staff, committed, no_worker, clock, use_gateway
):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=staff)
    use_gateway(SandboxGateway(fail_before_charge=True))
    clock(minutes=15)
    out = io.StringIO()

    call_command("reconcile_payments", stdout=out)

    assert out.getvalue() == (
        "Charges: 1 checked: 0 settled, 1 still unknown.\n"
        "Refunds: 0 checked: 0 settled, 0 still unknown.\n"
        "Webhook events: 0 due: 0 processed, 0 failed.\n"
        # Waiting: the charge (handed to a queue no worker reads), and the invoice's mail and the new card's retries
        # (the test's factories committed no transaction): the relay hands them over again.
        "Outbox: 3 due: 3 handed over, 0 not handed over.\n"
        "Done.\n"
    )

    clock(hours=25)
    out = io.StringIO()
    with pytest.raises(CommandError, match=f"^Needs review: {payment.number}$"):
        call_command("reconcile_payments", stdout=out)
    assert out.getvalue().splitlines()[0] == "Charges: 1 checked: 0 settled, 1 still unknown."

    use_gateway(SandboxGateway())
    clock(hours=26)
    out = io.StringIO()
    call_command("reconcile_payments", stdout=out)
    assert out.getvalue().splitlines()[0] == "Charges: 1 checked: 1 settled, 0 still unknown."
    assert out.getvalue().endswith("Done.\n")
    assert reload(payment).status == PaymentStatus.SUCCEEDED
    assert SandboxCharge.objects.count() == 1
