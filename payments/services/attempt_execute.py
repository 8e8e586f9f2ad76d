"""Run one payment attempt at the gateway and record its outcome.

Three steps, never holding a lock across the network: (1) a short transaction marks the attempt as sent, (2) the
gateway is called with the attempt's idempotency key, its payment id stored as soon as it is known, (3) a second
short transaction records the outcome. Running the steps again for the same attempt (a retried task, a worker that
died, reconciliation) asks the gateway what happened before charging, and reuses the same key, so it never charges
twice. Recording only moves state forward: a settled attempt is never settled again.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from billing.activity import Actor, activity_record
from billing.models import InvoiceStatus, invoice_accepts_payment
from billing.money import money_to_minor_units, zero
from payments.allocations import allocation_create
from payments.amounts import invoice_refresh_amounts, payment_refresh_amounts
from payments.gateways import gateway_get
from payments.gateways.base import HARD_DECLINE_CODES, ChargeOutcome, ChargeResult, Gateway
from payments.lock_objects import payment_lock, payment_lock_with_invoices
from payments.models import AttemptStatus, Payment, PaymentAttempt, PaymentStatus
from payments.outbox import outbox_mail_add

SYSTEM = Actor.system("card payments")


def attempt_execute(*, attempt_id: int, gateway: Gateway | None = None) -> PaymentAttempt:
    """Charge the attempt (or find out what happened to it) and record the outcome when the gateway knows it."""
    gateway = gateway or gateway_get()
    attempt, claimed = _attempt_claim(attempt_id)
    if not claimed:
        return attempt
    result = _attempt_call_gateway(attempt, gateway)
    return attempt_record_outcome(attempt_id=attempt.pk, result=result)


def attempt_claim_lease() -> datetime.timedelta:
    """How long one worker may talk to the gateway about an attempt before another may resume it."""
    return datetime.timedelta(seconds=3 * settings.STRIPE_TIMEOUT_SECONDS + 30)


def _attempt_claim(attempt_id: int) -> tuple[PaymentAttempt, bool]:
    """Claim the attempt: True when this worker may call the gateway for it. A processing attempt claimed by
    another worker is left alone: that worker records its result, or reconciliation finds it once the claim lapsed."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        payment_id = PaymentAttempt.objects.values_list("payment_id", flat=True).get(pk=attempt_id)
        payment = payment_lock(payment_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status == AttemptStatus.PROCESSING:
            if attempt.claimed_until and attempt.claimed_until > now:
                return attempt, False
            attempt.claimed_until = now + attempt_claim_lease()
            attempt.save(update_fields=["claimed_until"])
            return attempt, True
        if attempt.status != AttemptStatus.QUEUED:
            return attempt, False
        if can_proceed(payment.start_processing):
            payment.start_processing()
            payment.save(update_fields=["status"])
        elif payment.status != PaymentStatus.PROCESSING:
            attempt.cancel()
            attempt.finished_at = now
            attempt.save(update_fields=["status", "finished_at"])
            return attempt, False
        attempt.claim()
        attempt.sent_at = now
        attempt.claimed_until = now + attempt_claim_lease()
        attempt.save(update_fields=["status", "sent_at", "claimed_until"])
        return attempt, True


def _attempt_call_gateway(attempt: PaymentAttempt, gateway: Gateway) -> ChargeResult:
    """May raise GatewayUnavailable before anything was charged; the caller retries the same attempt later."""
    attempt = PaymentAttempt.objects.select_related("payment__member", "payment_method").get(pk=attempt.pk)
    if attempt.gateway_payment_id:
        known = gateway.charge_retrieve(gateway_payment_id=attempt.gateway_payment_id)
        if known is not None:
            return known
        gateway_payment_id = attempt.gateway_payment_id
    else:
        payment = attempt.payment
        gateway_payment_id = gateway.charge_prepare(
            customer_id=payment.member.gateway_customer_id,
            payment_method_id=attempt.payment_method.gateway_id,
            amount_minor=money_to_minor_units(attempt.amount),
            currency=attempt.amount.currency.code,
            idempotency_key=attempt.idempotency_key,
            metadata={"attempt": str(attempt.uid), "payment": payment.number},
        )
        # Write-ahead: from here on, whoever resumes this attempt asks the gateway about this id first.
        PaymentAttempt.objects.filter(pk=attempt.pk, gateway_payment_id="").update(
            gateway_payment_id=gateway_payment_id
        )
    return gateway.charge_confirm(gateway_payment_id=gateway_payment_id, idempotency_key=attempt.idempotency_key)


def attempt_record_outcome(*, attempt_id: int, result: ChargeResult, actor: Actor = SYSTEM) -> PaymentAttempt:
    """Record what the gateway said. Unknown outcomes leave the attempt processing for reconciliation."""
    peek = PaymentAttempt.objects.select_related("payment").get(pk=attempt_id)
    with transaction.atomic(durable=True):
        member, invoices, payment = payment_lock_with_invoices(peek.payment_id, member_id=peek.payment.member_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        attempt.last_checked_at = timezone.now()
        if attempt.status != AttemptStatus.PROCESSING:
            return attempt
        if result.gateway_payment_id and not attempt.gateway_payment_id:
            attempt.gateway_payment_id = result.gateway_payment_id
        if result.outcome == ChargeOutcome.SUCCEEDED:
            _record_success(
                member=member, invoices=invoices, payment=payment, attempt=attempt, result=result, actor=actor
            )
        elif result.outcome in (ChargeOutcome.DECLINED, ChargeOutcome.AUTHENTICATION_REQUIRED):
            _record_failure(
                member=member, invoices=invoices, payment=payment, attempt=attempt, result=result, actor=actor
            )
        else:
            attempt.claimed_until = None
            attempt.save(update_fields=["last_checked_at", "gateway_payment_id", "claimed_until"])
    return attempt


def _record_success(*, member, invoices, payment: Payment, attempt: PaymentAttempt, result: ChargeResult, actor):
    """The charge succeeded: allocate it to its invoices in order, each up to what the invoice still needs; the
    rest (an invoice paid by other means meanwhile) stays unallocated as the member's credit."""
    now = timezone.now()
    attempt.succeed()
    attempt.gateway_charge_id = result.gateway_charge_id
    attempt.finished_at = now
    attempt.needs_review = False
    attempt.save()
    status_before = payment.status
    payment.succeed()
    payment.succeeded_at = now
    payment.received_on = timezone.localdate()
    payment.failure_code = payment.failure_message = ""
    payment.next_retry_at = None
    payment.save()
    payment_refresh_amounts(payment)
    activity_record(
        actor=actor,
        verb="payment.succeeded",
        member=member,
        invoice=payment.invoice,
        target=payment,
        amount=payment.amount,
        status_before=status_before,
        status_after=payment.status,
        data={"attempt": str(attempt.uid), "gateway_payment_id": attempt.gateway_payment_id},
    )
    for target in payment.targets.all():
        invoice = invoices[target.invoice_id]
        applied = (
            min(target.amount, invoice.amount_remaining) if invoice_accepts_payment(invoice) else zero(invoice.currency)
        )
        if applied.amount > 0:
            allocation_create(payment=payment, invoice=invoice, amount=applied, actor=actor)
            payment_refresh_amounts(payment)
            invoice_refresh_amounts(invoice, actor=actor)
        if target.amount > applied:
            activity_record(
                actor=actor,
                verb="invoice.overpaid",
                member=member,
                invoice=invoice,
                target=payment,
                amount=target.amount - applied,
                message=f"{invoice} was paid by other means while {payment} was at the gateway; the excess stays "
                "unallocated as the member's credit.",
            )
    outbox_mail_add(notification="payment_receipt", payment_id=payment.pk)


def _record_failure(*, member, invoices, payment: Payment, attempt: PaymentAttempt, result: ChargeResult, actor):
    now = timezone.now()
    code = result.decline_code or (
        "authentication_required" if result.outcome == ChargeOutcome.AUTHENTICATION_REQUIRED else "card_declined"
    )
    attempt.fail()
    attempt.decline_code = code
    attempt.failure_message = result.message
    attempt.finished_at = now
    attempt.needs_review = False
    attempt.save()
    status_before = payment.status
    payment.fail()
    payment.failure_code = code
    payment.failure_message = result.message
    if attempt.trigger != PaymentAttempt.Trigger.AUTOMATIC:
        payment.automatic_retries = 0  # A failed first charge or manual retry (re)starts the schedule.
    payment.next_retry_at = retry_next_at(
        payment=payment, invoices=list(invoices.values()), decline_code=code, failed_at=now
    )
    payment.save()
    activity_record(
        actor=actor,
        verb="payment.failed",
        member=member,
        invoice=payment.invoice,
        target=payment,
        amount=attempt.amount,
        status_before=status_before,
        status_after=payment.status,
        message=result.message,
        data={
            "decline_code": code,
            "next_retry_at": payment.next_retry_at.isoformat() if payment.next_retry_at else None,
        },
    )
    if payment.next_retry_at is None:
        payment_failed_for_good_mail_add(payment_id=payment.pk)


def retry_next_at(*, payment: Payment, invoices: list, decline_code: str, failed_at: datetime.datetime):
    """When to retry automatically, counted from this failure; None when no automatic retry follows."""
    schedule = settings.BILLING_RETRY_SCHEDULE_DAYS
    if decline_code in HARD_DECLINE_CODES:
        return None
    if not any(invoice.status == InvoiceStatus.OPEN for invoice in invoices):
        return None
    if payment.automatic_retries >= len(schedule):
        return None
    return failed_at + datetime.timedelta(days=schedule[payment.automatic_retries])


def payment_failed_for_good_mail_add(*, payment_id: int) -> None:
    """Inside the transaction that ends the payment's retries: the member's and the administrators' mails."""
    outbox_mail_add(notification="payment_failed_member", payment_id=payment_id)
    outbox_mail_add(notification="payment_failed_admin", payment_id=payment_id)
