"""Card payments: create one (Charge, Issue and charge), retry it, cancel it.

The charge itself runs in a Celery task after commit (`payments.services.attempt_execute`); here we only commit
the payment and its attempt, under the locks, with the amount checked against remaining - reserved.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.errors import BillingError, InvalidState
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice, InvoiceStatus
from billing.money import money_check_entered, money_from_db
from billing.numbering import PAYMENT, number_next
from members.models import Member
from payments.amounts import invoice_reserved
from payments.gateways import gateway_get
from payments.lock_objects import payment_lock
from payments.models import (
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
)
from payments.rules import amount_check_at_most, invoice_check_accepts_payment
from payments.services.invoice_issue import invoice_issue_locked


def _attempt_enqueue(attempt_id: int) -> None:
    from payments.tasks import attempt_execute_task

    attempt_execute_task.delay(attempt_id)


def attempt_create_locked(
    *, payment: Payment, payment_method: PaymentMethod, amount: Money, trigger: str
) -> PaymentAttempt:
    """Commit a new attempt (its idempotency key comes with it) and queue the charge once the transaction commits."""
    attempt = PaymentAttempt.objects.create(
        payment=payment,
        payment_method=payment_method,
        amount=amount,
        trigger=trigger,
        gateway=gateway_get().name,
    )
    transaction.on_commit(lambda: _attempt_enqueue(attempt.pk))
    return attempt


def payment_method_for_charge(*, member: Member, payment_method: PaymentMethod | None) -> PaymentMethod:
    """The chosen card, or the member's default; it must be the member's and still saved."""
    if payment_method is None:
        payment_method = member.payment_methods.filter(removed_at__isnull=True).order_by("-is_default", "-id").first()
        if payment_method is None:
            raise BillingError(f"{member} has no saved card. Add one, or record an external payment.")
        return payment_method
    payment_method = PaymentMethod.objects.get(pk=payment_method.pk)
    if payment_method.member_id != member.pk:
        raise BillingError("This card belongs to another member.")
    if payment_method.removed_at is not None:
        raise BillingError(f"{payment_method} was removed; choose another card.")
    return payment_method


def available_to_charge(invoice: Invoice) -> Money:
    """What may still be charged: remaining minus card payments already in flight."""
    return invoice.amount_remaining - invoice_reserved(invoice)


def _card_payment_create_locked(
    *,
    member: Member,
    invoice: Invoice,
    amount: Money | None,
    payment_method: PaymentMethod | None,
    actor: Actor,
    trigger: str,
) -> Payment:
    invoice_check_accepts_payment(invoice)
    payment_method = payment_method_for_charge(member=member, payment_method=payment_method)
    available = available_to_charge(invoice)
    if available.amount <= 0:
        raise InvalidState(
            f"{invoice} has {invoice_reserved(invoice)} being charged already; nothing more can be charged until "
            "the gateway answers."
        )
    amount = available if amount is None else amount
    amount_check_at_most(amount, available, what=f"what can still be charged on {invoice}")
    payment = Payment.objects.create(
        number=number_next(series=PAYMENT, year=timezone.localdate().year),
        member=member,
        invoice=invoice,
        currency=invoice.currency,
        amount=amount,
        method=PaymentMethodKind.CARD,
        payment_method=payment_method,
        status=PaymentStatus.PENDING,
        created_by=actor.user,
    )
    attempt_create_locked(payment=payment, payment_method=payment_method, amount=amount, trigger=trigger)
    activity_record(
        actor=actor,
        verb="payment.charge_requested",
        member=member,
        invoice=invoice,
        target=payment,
        amount=amount,
        status_after=payment.status,
        data={"payment": payment.number, "card": str(payment_method)},
    )
    return payment


def payment_create_card(
    *, invoice: Invoice, actor: Actor, amount: Money | None = None, payment_method: PaymentMethod | None = None
) -> Payment:
    """Charge a saved card for the invoice (all that can be charged when no amount is given)."""
    if actor.kind not in (Actor.STAFF, Actor.MEMBER):
        actor.require_staff("charge cards")
    if amount is not None:
        amount = money_check_entered(amount, currency=invoice.currency)
    trigger = PaymentAttempt.Trigger.MEMBER if actor.kind == Actor.MEMBER else PaymentAttempt.Trigger.STAFF
    with transaction.atomic(durable=True):
        member = member_lock(invoice.member_id)
        if actor.kind == Actor.MEMBER and member.user_id != getattr(actor.user, "pk", None):
            raise BillingError("You can only pay your own invoices.")
        invoice = invoice_lock(invoice.pk)
        return _card_payment_create_locked(
            member=member,
            invoice=invoice,
            amount=amount,
            payment_method=payment_method,
            actor=actor,
            trigger=trigger,
        )


def invoice_issue_and_charge(
    *, invoice: Invoice, actor: Actor, payment_method: PaymentMethod | None = None
) -> tuple[Invoice, Payment | None]:
    """Issue the draft and charge all that remains to the member's default (or chosen) card, in one step.
    No payment is made when credit applied at issue already paid it."""
    actor.require_staff("issue and charge invoices")
    with transaction.atomic(durable=True):
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        payment_method = payment_method_for_charge(member=member, payment_method=payment_method)
        invoice_issue_locked(
            member=member, invoice=invoice, actor=actor, apply_credit=settings.BILLING_APPLY_CREDIT_AT_ISSUE
        )
        if invoice.status != InvoiceStatus.OPEN:
            return invoice, None
        payment = _card_payment_create_locked(
            member=member,
            invoice=invoice,
            amount=None,
            payment_method=payment_method,
            actor=actor,
            trigger=PaymentAttempt.Trigger.STAFF,
        )
    return invoice, payment


def payment_retry(
    *,
    payment: Payment,
    actor: Actor,
    amount: Money | None = None,
    payment_method: PaymentMethod | None = None,
    trigger: str = PaymentAttempt.Trigger.STAFF,
) -> PaymentAttempt | None:
    """A new attempt (with a new idempotency key) for a failed card payment, at the same or a smaller amount.

    Automatic retries charge what remains on the invoice (never more than the payment's amount) and cancel the
    payment instead when the invoice no longer needs it. Returns None when nothing was retried.
    """
    automatic = trigger in (PaymentAttempt.Trigger.AUTOMATIC, PaymentAttempt.Trigger.NEW_CARD)
    if not automatic:
        actor.require_staff("retry payments")
    if amount is not None:
        amount = money_check_entered(amount, currency=payment.currency)
    with transaction.atomic(durable=True):
        member = member_lock(payment.member_id)
        invoice = invoice_lock(payment.invoice_id) if payment.invoice_id else None
        payment = payment_lock(payment.pk)
        if payment.method != PaymentMethodKind.CARD:
            raise InvalidState(f"{payment} is not a card payment.")
        if payment.status != PaymentStatus.FAILED:
            raise InvalidState(
                f"{payment} is {payment.get_status_display().lower()}; only a failed payment is retried."
            )
        if invoice is not None:
            if automatic and invoice.status != InvoiceStatus.OPEN:
                if trigger != PaymentAttempt.Trigger.AUTOMATIC:
                    raise InvalidState(f"{invoice} is {invoice.get_status_display().lower()}; it is not retried.")
                _payment_cancel_locked(
                    payment=payment, actor=actor, reason=f"{invoice} is {invoice.get_status_display().lower()}"
                )
                return None
            if invoice.status in (InvoiceStatus.VOID, InvoiceStatus.PAID) or invoice.amount_remaining.amount == 0:
                raise InvalidState(f"{invoice} is {invoice.get_status_display().lower()}; there is nothing to charge.")
            available = available_to_charge(invoice)
            if available.amount <= 0:
                raise InvalidState(f"{invoice} is being charged already; wait for the gateway's answer.")
            limit = min(payment.amount, available)
        else:
            limit = payment.amount
        if amount is None:
            amount = limit
        amount_check_at_most(amount, limit, what="the most this retry can charge")
        if payment_method is None and payment.payment_method.removed_at is None:
            payment_method = payment.payment_method
        payment_method = payment_method_for_charge(member=member, payment_method=payment_method)
        amount_before = payment.amount
        payment.amount = amount
        payment.payment_method = payment_method
        payment.next_retry_at = None
        if trigger == PaymentAttempt.Trigger.AUTOMATIC:
            payment.automatic_retries += 1
        payment.start_processing()
        payment.save()
        attempt = attempt_create_locked(payment=payment, payment_method=payment_method, amount=amount, trigger=trigger)
        activity_record(
            actor=actor,
            verb="payment.retried",
            member=member,
            invoice=invoice,
            target=payment,
            amount=amount,
            status_before=PaymentStatus.FAILED,
            status_after=payment.status,
            data={
                "trigger": trigger,
                "amount_before": str(money_from_db(amount_before.amount, payment.currency).amount),
                "card": str(payment_method),
            },
        )
    return attempt


def _payment_cancel_locked(*, payment: Payment, actor: Actor, reason: str) -> None:
    status_before = payment.status
    payment.cancel()
    payment.next_retry_at = None
    payment.save()
    PaymentAttempt.objects.filter(payment=payment, status=AttemptStatus.QUEUED).update(
        status=AttemptStatus.CANCELED, finished_at=timezone.now()
    )
    activity_record(
        actor=actor,
        verb="payment.canceled",
        member=payment.member,
        invoice=payment.invoice,
        target=payment,
        amount=payment.amount,
        status_before=status_before,
        status_after=payment.status,
        message=reason,
    )


def payment_cancel(*, payment: Payment, actor: Actor, reason: str = "") -> Payment:
    """Cancel a card payment that is queued or failed; nothing more will be charged for it."""
    actor.require_staff("cancel payments")
    with transaction.atomic(durable=True):
        member_lock(payment.member_id)
        if payment.invoice_id:
            invoice_lock(payment.invoice_id)
        payment = payment_lock(payment.pk)
        if payment.status not in (PaymentStatus.PENDING, PaymentStatus.FAILED):
            raise InvalidState(
                f"{payment} is {payment.get_status_display().lower()}; only a pending or failed payment can be "
                "canceled."
            )
        _payment_cancel_locked(payment=payment, actor=actor, reason=(reason or "").strip() or "Canceled by staff")
    return payment
