"""Run one payment attempt at the gateway and record its outcome.

Three steps, never holding a lock across the network: (1) a short transaction claims the attempt (its idempotency
key was committed with it), (2) one gateway call creates and confirms the charge with that key, its payment id
stored as soon as it is known, (3) a second short transaction records the outcome. Running the steps again for the
same attempt (a retried task, a worker that died, reconciliation) sends the same key again within the gateway's key
lifetime, which answers the first call's outcome without charging again; after the lifetime it first looks the
charge up by the attempt in its metadata. An attempt whose payment id is stored is asked about by that id. So it
never charges twice. Recording only moves state forward: a settled attempt is never settled again.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django_fsm import can_proceed

from billing.activity import Actor, activities_save, activity_build, activity_record
from billing.lock_objects import member_lock
from billing.models import InvoiceStatus, invoice_accepts_payment
from billing.money import money_from_db, money_sum, money_to_minor_units, zero
from billing.numbering import ALLOCATION, numbers_next
from payments.allocations import allocations_create
from payments.amounts import invoice_amounts_move
from payments.gateways import gateway_get
from payments.gateways.base import HARD_DECLINE_CODES, ChargeOutcome, ChargeResult, Gateway
from payments.lock_objects import attempt_lock_with_payment
from payments.models import AttemptStatus, Payment, PaymentAttempt, PaymentStatus, PaymentTarget
from payments.outbox import outbox_mail_add
from payments.retry_schedule import payments_retry_scheduled

SYSTEM = Actor.system("card payments")


def attempt_execute(*, attempt_id: int, gateway: Gateway | None = None) -> PaymentAttempt:
    """Charge the attempt (or find out what happened to it) and record the outcome when the gateway knows it."""
    gateway = gateway or gateway_get()
    attempt, claimed = _attempt_claim(attempt_id)
    if not claimed:
        return attempt
    result = _attempt_call_gateway(attempt, gateway)
    return attempt_record_outcome(
        attempt_id=attempt.pk, result=result, payment_id=attempt.payment_id, member_id=attempt.payment.member_id
    )


def attempt_claim_lease() -> datetime.timedelta:
    """How long one worker may talk to the gateway about an attempt before another may resume it."""
    return datetime.timedelta(seconds=3 * settings.STRIPE_TIMEOUT_SECONDS + 30)


def _attempt_claim(attempt_id: int) -> tuple[PaymentAttempt, bool]:
    """Claim the attempt: True when this worker may call the gateway for it. A processing attempt claimed by
    another worker is left alone: that worker records its result, or reconciliation finds it once the claim lapsed.
    The attempt comes back with its payment, member and card read, which the gateway call needs."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        attempt = attempt_lock_with_payment(attempt_id, related=("payment__member", "payment_method"))
        payment = attempt.payment
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
    """One call for a new attempt: create and confirm with the attempt's key. A resumed attempt is asked about by
    its stored payment id; without one, its key is sent again within the gateway's key lifetime (which answers the
    first call's outcome), and after it the charge is first looked up by the attempt in its metadata.
    May raise GatewayUnavailable before anything was charged; the caller retries the same attempt later."""
    payment = attempt.payment
    customer_id = payment.member.gateway_customer_id
    if attempt.gateway_payment_id:
        known = gateway.charge_retrieve(gateway_payment_id=attempt.gateway_payment_id)
        if known is not None:
            return known
        # Prepared (two calls, before charges were made in one) and never confirmed: confirm it with its key.
        return gateway.charge_confirm(
            gateway_payment_id=attempt.gateway_payment_id, idempotency_key=attempt.idempotency_key
        )
    sent_at = attempt.sent_at or attempt.created_at
    if timezone.now() - sent_at >= gateway.idempotency_key_lifetime:
        found = gateway.charge_find(customer_id=customer_id, attempt=str(attempt.uid))
        if found is not None:
            return found
        # The gateway has no charge for this attempt: nothing was charged, so charging it now charges it once.
    result = gateway.charge_create(
        customer_id=customer_id,
        payment_method_id=attempt.payment_method.gateway_id,
        amount_minor=money_to_minor_units(attempt.amount),
        currency=attempt.amount.currency.code,
        idempotency_key=attempt.idempotency_key,
        metadata={"attempt": str(attempt.uid), "payment": payment.number},
    )
    if result.gateway_payment_id:
        # Write-ahead: whoever resumes this attempt asks the gateway about this id, and a webhook about it finds the
        # attempt, even when this worker dies before recording the outcome.
        PaymentAttempt.objects.filter(pk=attempt.pk, gateway_payment_id="").update(
            gateway_payment_id=result.gateway_payment_id
        )
    return result


def _outcome_lock(*, attempt_id: int, payment_id: int, member_id: int) -> tuple:
    """The locks of recording an outcome, in the order of every service: the member, the invoices the payment is
    meant to pay (a card payment at the gateway has no allocation yet, and its targets cannot change while the
    member is locked), the payment, then the attempt. Returns the member, the invoices by id, the targets and the
    attempt with its payment."""
    member = member_lock(member_id, only_id=True)
    # The targets with their invoices, the invoices locked in the order of their ids (one query); with each, whether
    # a failed card payment for the invoice has a retry scheduled (read after the member's lock, which no such
    # payment changes without), so that paying the invoice looks for them only then.
    targets = list(
        PaymentTarget.objects.filter(payment_id=payment_id)
        .select_related("invoice")
        .annotate(invoice_retries_scheduled=Exists(payments_retry_scheduled(OuterRef("invoice_id"))))
        .select_for_update(of=("invoice",))
        .order_by("invoice_id")
    )
    targets.sort(key=lambda target: (target.position, target.pk))
    invoices = {target.invoice_id: target.invoice for target in targets}
    for invoice in invoices.values():
        invoice.member = member  # the member is locked and read: the allocation's activity needs no second read
    attempt = attempt_lock_with_payment(attempt_id)
    payment = attempt.payment
    payment.member = member
    if payment.invoice_id in invoices:
        payment.invoice = invoices[payment.invoice_id]
    return member, invoices, targets, attempt


def attempt_record_outcome(
    *,
    attempt_id: int,
    result: ChargeResult,
    actor: Actor = SYSTEM,
    payment_id: int | None = None,
    member_id: int | None = None,
) -> PaymentAttempt:
    """Record what the gateway said. Unknown outcomes leave the attempt processing for reconciliation.
    `payment_id` and `member_id` are the attempt's, when the caller knows them already."""
    if payment_id is None or member_id is None:
        payment_id, member_id = PaymentAttempt.objects.values_list("payment_id", "payment__member_id").get(
            pk=attempt_id
        )
    with transaction.atomic(durable=True):
        member, invoices, targets, attempt = _outcome_lock(
            attempt_id=attempt_id, payment_id=payment_id, member_id=member_id
        )
        payment = attempt.payment
        attempt.last_checked_at = timezone.now()
        if attempt.status != AttemptStatus.PROCESSING:
            return attempt
        if result.gateway_payment_id and not attempt.gateway_payment_id:
            attempt.gateway_payment_id = result.gateway_payment_id
        if result.outcome == ChargeOutcome.SUCCEEDED:
            _record_success(
                member=member,
                invoices=invoices,
                targets=targets,
                payment=payment,
                attempt=attempt,
                result=result,
                actor=actor,
            )
        elif result.outcome in (ChargeOutcome.DECLINED, ChargeOutcome.AUTHENTICATION_REQUIRED):
            _record_failure(
                member=member, invoices=invoices, payment=payment, attempt=attempt, result=result, actor=actor
            )
        else:
            attempt.claimed_until = None
            attempt.save(update_fields=["last_checked_at", "gateway_payment_id", "claimed_until"])
    return attempt


def _record_success(
    *, member, invoices, targets, payment: Payment, attempt: PaymentAttempt, result: ChargeResult, actor
):
    """The charge succeeded: allocate it to its invoices in order, each up to what the invoice still needs; the
    rest (an invoice paid by other means meanwhile) stays unallocated as the member's credit.

    A card payment at the gateway has no allocation and no refund yet, so its cached amounts after this are what
    is allocated here and the rest unallocated: written once, with the payment's new status, at the end. Each
    invoice's cached amounts move by what is allocated to it (under its lock, no aggregate); the activity records
    go in one INSERT (before the records of the retries an invoice paid ends, in their order)."""
    now = timezone.now()
    attempt.succeed()
    attempt.gateway_charge_id = result.gateway_charge_id
    attempt.finished_at = now
    attempt.needs_review = False
    attempt.save(
        update_fields=[
            "status",
            "gateway_payment_id",
            "gateway_charge_id",
            "finished_at",
            "needs_review",
            "last_checked_at",
        ]
    )
    status_before = payment.status
    payment.succeed()
    payment.succeeded_at = now
    payment.received_on = timezone.localdate()
    payment.failure_code = payment.failure_message = ""
    payment.next_retry_at = None
    activities = [
        activity_build(
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
    ]
    applications = []
    for target in targets:
        invoice = invoices[target.invoice_id]
        applied = (
            min(target.amount, invoice.amount_remaining) if invoice_accepts_payment(invoice) else zero(invoice.currency)
        )
        applications.append((target, invoice, applied))
    paying = sum(1 for _target, _invoice, applied in applications if applied.amount > 0)
    numbers = numbers_next(counts={ALLOCATION: paying}, year=timezone.localdate().year).get(ALLOCATION, [])
    allocated = []
    for target, invoice, applied in applications:
        if applied.amount > 0:
            allocations_create(
                invoice=invoice,
                applications=[(payment, applied)],
                actor=actor,
                activities=activities,
                numbers=[numbers.pop(0)],
            )
            allocated.append(applied)
            invoice_amounts_move(
                invoice,
                actor=actor,
                paid=applied,
                activities=activities,
                retries_scheduled=target.invoice_retries_scheduled,
            )
        if target.amount > applied:
            activities.append(
                activity_build(
                    actor=actor,
                    verb="invoice.overpaid",
                    member=member,
                    invoice=invoice,
                    target=payment,
                    amount=target.amount - applied,
                    message=f"{invoice} was paid by other means while {payment} was at the gateway; the excess "
                    "stays unallocated as the member's credit.",
                )
            )
    activities_save(activities)
    payment.amount_allocated = money_sum(allocated, payment.currency)
    payment.amount_refunded = payment.amount_refund_pending = money_from_db(None, payment.currency)
    payment.amount_unallocated = payment.amount - payment.amount_allocated
    payment.save(
        update_fields=[
            "status",
            "succeeded_at",
            "received_on",
            "failure_code",
            "failure_message",
            "next_retry_at",
            "amount_allocated",
            "amount_allocated_currency",
            "amount_refunded",
            "amount_refunded_currency",
            "amount_refund_pending",
            "amount_refund_pending_currency",
            "amount_unallocated",
            "amount_unallocated_currency",
        ]
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
