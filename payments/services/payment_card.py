"""Card payments: create one (Charge, Issue and charge), retry it, cancel it.

The charge itself runs in a Celery task after commit (`payments.services.attempt_execute`); here we only commit
the payment and its attempt, under the locks, with the amount checked against remaining - reserved.
"""

import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.errors import BillingError, InvalidState
from billing.intents import intent_claim
from billing.lock_objects import invoice_lock, invoices_lock, member_lock
from billing.models import Invoice, InvoiceStatus
from billing.money import money_check_entered, money_from_db, money_sum, zero
from billing.numbering import PAYMENT, number_next
from billing.rules import transition_check
from billing.services.invoice_issue import invoice_issue_locked
from members.models import Member
from payments.amounts import invoice_reserved
from payments.gateways import gateway_get
from payments.lock_objects import payment_lock_with_invoices
from payments.models import (
    AttemptStatus,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    PaymentTarget,
)
from payments.outbox import outbox_add
from payments.rules import (
    PAYMENT_CANCEL_REFUSALS,
    PAYMENT_RETRY_REFUSALS,
    amount_check_at_most,
    invoice_check_accepts_payment,
)
from payments.selectors import invoice_available_to_charge


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
    outbox_add(task="payments.tasks.attempt_execute_task", attempt_id=attempt.pk)
    return attempt


def payment_method_for_charge(*, member: Member, payment_method: PaymentMethod | None) -> PaymentMethod:
    """The chosen card, or the member's default; it must be the member's and still saved."""
    if payment_method is None:
        payment_method = member.payment_methods.filter(removed_at__isnull=True).order_by("-is_default", "-id").first()
        if payment_method is None:
            raise BillingError(
                _("%(member)s has no saved card. Add one, or record an external payment.") % {"member": member}
            )
        return payment_method
    payment_method = PaymentMethod.objects.get(pk=payment_method.pk)
    if payment_method.member_id != member.pk:
        raise BillingError(_("This card belongs to another member."))
    if payment_method.removed_at is not None:
        raise BillingError(_("%(card)s was removed; choose another card.") % {"card": payment_method})
    return payment_method


def _member_partial_payment_check(*, amount: Money, available: Money) -> None:
    """Members pay what remains, unless the space allows partial payments (with a minimum)."""
    if amount == available:
        return
    if not settings.BILLING_PORTAL_PARTIAL_PAYMENTS:
        raise BillingError(
            _("Pay the full %(amount)s; this space does not take partial payments online.") % {"amount": available}
        )
    minimum = money_from_db(Decimal(settings.BILLING_PORTAL_PARTIAL_MINIMUM), amount.currency.code)
    if amount < minimum:
        raise BillingError(_("A partial payment is at least %(minimum)s.") % {"minimum": minimum})


def _card_payment_create_locked(
    *,
    member: Member,
    charges: list[tuple[Invoice, Money | None]],
    payment_method: PaymentMethod | None,
    actor: Actor,
    trigger: str,
) -> Payment:
    """One card payment for the invoices (locked, in the order given), each for its amount or all it can take."""
    payment_method = payment_method_for_charge(member=member, payment_method=payment_method)
    targets = []
    for invoice, amount in charges:
        invoice_check_accepts_payment(invoice)
        charge = invoice_available_to_charge(invoice)
        available = charge.available
        if available.amount <= 0:
            raise InvalidState(
                _(
                    "%(invoice)s has %(reserved)s being charged already; nothing more can be charged until the "
                    "gateway answers."
                )
                % {"invoice": invoice, "reserved": charge.reserved}
            )
        if amount is None:
            amount = available
        amount_check_at_most(
            amount, available, what=_("what can still be charged on %(invoice)s") % {"invoice": invoice}
        )
        if actor.kind == Actor.MEMBER:
            _member_partial_payment_check(amount=amount, available=available)
        targets.append((invoice, amount))
    currencies = {invoice.currency for invoice, _amount in targets}
    if len(currencies) != 1:
        raise BillingError(_("One payment pays invoices of one currency; pay the others separately."))
    currency = currencies.pop()
    total = money_sum((amount for _invoice, amount in targets), currency)
    payment = Payment.objects.create(
        number=number_next(series=PAYMENT, year=timezone.localdate().year),
        member=member,
        invoice=targets[0][0] if len(targets) == 1 else None,
        currency=currency,
        amount=total,
        method=PaymentMethodKind.CARD,
        payment_method=payment_method,
        status=PaymentStatus.PENDING,
        # The cached amounts are zero until the charge succeeds, in the payment's currency (not the field's default).
        amount_allocated=zero(currency),
        amount_refunded=zero(currency),
        amount_refund_pending=zero(currency),
        amount_unallocated=zero(currency),
        created_by=actor.user,
    )
    PaymentTarget.objects.bulk_create(
        PaymentTarget(payment=payment, invoice=invoice, amount=amount, position=position)
        for position, (invoice, amount) in enumerate(targets)
    )
    attempt_create_locked(payment=payment, payment_method=payment_method, amount=total, trigger=trigger)
    for invoice, amount in targets:
        activity_record(
            actor=actor,
            verb="payment.charge_requested",
            member=member,
            invoice=invoice,
            target=payment,
            amount=amount,
            status_after=payment.status,
            data={"payment": payment.number, "card": str(payment_method), "payment_amount": str(total.amount)},
        )
    return payment


def _actor_check_can_charge(actor: Actor, member: Member) -> str:
    """Staff charge any member; a member pays only their own invoices. Returns the attempt's trigger."""
    if actor.kind == Actor.MEMBER:
        if member.user_id is None or member.user_id != getattr(actor.user, "pk", None):
            raise BillingError(_("You can only pay your own invoices."))
        return PaymentAttempt.Trigger.MEMBER
    actor.require_permission("payments.charge_payment", _("charge cards"))
    return PaymentAttempt.Trigger.STAFF


def payment_create_card(
    *, invoice: Invoice, actor: Actor, amount: Money | None = None, payment_method: PaymentMethod | None = None
) -> Payment:
    """Charge a saved card for the invoice (all that can be charged when no amount is given)."""
    if amount is not None:
        amount = money_check_entered(amount, currency=invoice.currency)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        trigger = _actor_check_can_charge(actor, member)
        invoice = invoice_lock(invoice.pk)
        return _card_payment_create_locked(
            member=member, charges=[(invoice, amount)], payment_method=payment_method, actor=actor, trigger=trigger
        )


def invoices_pay_with_card(
    *, member: Member, invoices: list[Invoice], actor: Actor, payment_method: PaymentMethod | None = None
) -> Payment:
    """One card payment for all that can be charged on several of the member's invoices, allocated oldest first."""
    if not invoices:
        raise BillingError(_("Choose at least one invoice to pay."))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(member.pk)
        trigger = _actor_check_can_charge(actor, member)
        locked = invoices_lock(invoice.pk for invoice in invoices)
        if len(locked) != len({invoice.pk for invoice in invoices}) or any(i.member_id != member.pk for i in locked):
            raise BillingError(_("You can only pay your own invoices."))
        oldest_first = sorted(locked, key=lambda invoice: (invoice.issue_date or datetime.date.max, invoice.pk))
        return _card_payment_create_locked(
            member=member,
            charges=[(invoice, None) for invoice in oldest_first],
            payment_method=payment_method,
            actor=actor,
            trigger=trigger,
        )


def invoice_issue_and_charge(
    *,
    invoice: Invoice,
    actor: Actor,
    payment_method: PaymentMethod | None = None,
    expected_version: str | None = None,
) -> tuple[Invoice, Payment | None]:
    """Issue the draft and charge all that remains to the member's default (or chosen) card, in one step.
    No payment is made when credit applied at issue already paid it. `expected_version`: as for `invoice_issue`."""
    actor.require_permission("billing.issue_invoice", _("issue and charge invoices"))
    actor.require_permission("payments.charge_payment", _("issue and charge invoices"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        payment_method = payment_method_for_charge(member=member, payment_method=payment_method)
        invoice_issue_locked(
            member=member,
            invoice=invoice,
            actor=actor,
            apply_credit=settings.BILLING_APPLY_CREDIT_AT_ISSUE,
            expected_version=expected_version,
        )
        if invoice.status != InvoiceStatus.OPEN:
            return invoice, None
        payment = _card_payment_create_locked(
            member=member,
            charges=[(invoice, None)],
            payment_method=payment_method,
            actor=actor,
            trigger=PaymentAttempt.Trigger.STAFF,
        )
    return invoice, payment


def _retry_targets(
    *, payment: Payment, invoices: dict[int, Invoice], amount: Money | None, automatic: bool
) -> list[tuple[PaymentTarget, Money]]:
    """What each target can take now: never more than before, nor than the invoice still needs."""
    targets = list(payment.targets.all())
    if amount is not None and len(targets) > 1:
        raise BillingError(
            _("%(payment)s pays several invoices; it is retried for what remains on them.") % {"payment": payment}
        )
    planned = []
    for target in targets:
        invoice = invoices[target.invoice_id]
        if automatic and invoice.status != InvoiceStatus.OPEN:
            continue
        limit = min(target.amount, invoice_available_to_charge(invoice).available)
        if limit.amount <= 0:
            continue
        if amount is not None:
            amount_check_at_most(amount, limit, what=_("the most this retry can charge"))
            limit = amount
        planned.append((target, limit))
    return planned


def payment_retry(
    *,
    payment: Payment,
    actor: Actor,
    amount: Money | None = None,
    payment_method: PaymentMethod | None = None,
    trigger: str = PaymentAttempt.Trigger.STAFF,
) -> PaymentAttempt | None:
    """A new attempt (with a new idempotency key) for a failed card payment, at the same or a smaller amount.

    Automatic retries charge what remains on the invoices (never more than before) and cancel the payment instead
    when no invoice needs it any more. Returns None when nothing was retried.
    """
    automatic = trigger in (PaymentAttempt.Trigger.AUTOMATIC, PaymentAttempt.Trigger.NEW_CARD)
    if not automatic:
        actor.require_permission("payments.charge_payment", _("retry payments"))
    if amount is not None:
        amount = money_check_entered(amount, currency=payment.currency)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member, invoices, payment = payment_lock_with_invoices(payment.pk, member_id=payment.member_id)
        transition_check(payment.retry, PAYMENT_RETRY_REFUSALS)
        planned = _retry_targets(payment=payment, invoices=invoices, amount=amount, automatic=automatic)
        if not planned:
            described = ", ".join(
                _("%(invoice)s is %(status)s") % {"invoice": invoice, "status": invoice.get_status_display().lower()}
                for invoice in invoices.values()
            )
            if any(invoice_reserved(invoice).amount > 0 for invoice in invoices.values()):
                raise InvalidState(
                    _("%(payment)s's invoices are being charged already; wait for the gateway's answer.")
                    % {"payment": payment}
                )
            if trigger == PaymentAttempt.Trigger.AUTOMATIC:
                _payment_cancel_locked(payment=payment, actor=actor, reason=described)
                return None
            raise InvalidState(_("There is nothing to charge: %(described)s.") % {"described": described})
        if payment_method is None and payment.payment_method.removed_at is None:
            payment_method = payment.payment_method
        payment_method = payment_method_for_charge(member=member, payment_method=payment_method)
        amount_before = payment.amount
        for target, target_amount in planned:
            target.amount = target_amount
            target.save(update_fields=["amount", "amount_currency"])
        payment.targets.exclude(pk__in=[target.pk for target, _amount in planned]).delete()
        payment.amount = money_sum((target_amount for _target, target_amount in planned), payment.currency)
        payment.payment_method = payment_method
        payment.next_retry_at = None
        if trigger == PaymentAttempt.Trigger.AUTOMATIC:
            payment.automatic_retries += 1
        payment.retry()
        payment.save()
        attempt = attempt_create_locked(
            payment=payment, payment_method=payment_method, amount=payment.amount, trigger=trigger
        )
        activity_record(
            actor=actor,
            verb="payment.retried",
            member=member,
            invoice=payment.invoice,
            target=payment,
            amount=payment.amount,
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
    for attempt in PaymentAttempt.objects.select_for_update().filter(payment=payment, status=AttemptStatus.QUEUED):
        attempt.cancel()
        attempt.finished_at = timezone.now()
        attempt.save(update_fields=["status", "finished_at"])
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
    actor.require_permission("payments.charge_payment", _("cancel payments"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        _member, _invoices, payment = payment_lock_with_invoices(payment.pk, member_id=payment.member_id)
        transition_check(payment.cancel, PAYMENT_CANCEL_REFUSALS)
        _payment_cancel_locked(payment=payment, actor=actor, reason=(reason or "").strip() or "Canceled by staff")
    return payment
