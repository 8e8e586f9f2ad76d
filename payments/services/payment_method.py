"""A member's saved cards: add (attach at the gateway), set default, remove (detach at the gateway).

Gateway calls happen outside any transaction; the rows are written in short locked transactions around them.
Card numbers are passed to the gateway and never stored or logged.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.activity import Actor, activity_record
from billing.errors import BillingError, InvalidState
from billing.intents import intent_check_unused, intent_claim
from billing.lock_objects import member_lock
from members.models import Member
from payments.gateways import gateway_get
from payments.gateways.base import GatewayError
from payments.models import PaymentMethod, payment_method_being_charged
from payments.outbox import outbox_add


def _actor_check_member(actor: Actor, member: Member) -> None:
    if actor.kind == Actor.MEMBER:
        if member.user_id is None or member.user_id != getattr(actor.user, "pk", None):
            raise BillingError(_("You can only manage your own cards."))
    else:
        actor.require_permission("payments.manage_payment_methods", _("manage saved cards"))


def member_gateway_customer_ensure(*, member: Member) -> str:
    """The member's customer id at the gateway, created once (the idempotency key makes a race harmless)."""
    if member.gateway_customer_id:
        return member.gateway_customer_id
    gateway = gateway_get()
    try:
        customer_id = gateway.customer_create(
            email=member.email, name=member.name, idempotency_key=f"member-{member.pk}-customer"
        )
    except GatewayError as error:
        raise BillingError(
            _("The payment gateway could not be reached: %(error)s") % {"error": error.message}
        ) from error
    with transaction.atomic(durable=True):
        member = member_lock(member.pk)
        if not member.gateway_customer_id:
            member.gateway_customer_id = customer_id
            member.save(update_fields=["gateway_customer_id"])
    return member.gateway_customer_id


def payment_method_setup_start(*, member: Member, actor: Actor) -> str:
    """Start saving a card in the member's browser (Stripe.js and a SetupIntent): the client secret the page
    confirms the card with. The confirmed card is then saved with `payment_method_add`. Nothing is written here but
    the member's customer id at the gateway."""
    _actor_check_member(actor, member)
    customer_id = member_gateway_customer_ensure(member=member)
    try:
        _setup_intent_id, client_secret = gateway_get().setup_intent_create(customer_id=customer_id)
    except GatewayError as error:
        raise BillingError(_("The card form could not be prepared: %(error)s") % {"error": error.message}) from error
    return client_secret


def payment_method_add(*, member: Member, card_token: str, actor: Actor, make_default: bool = False) -> PaymentMethod:
    """Save a card: `card_token` is a gateway token (Stripe: a PaymentMethod id; sandbox: a test card number).
    The member's failed card payments are retried with it at once."""
    _actor_check_member(actor, member)
    card_token = (card_token or "").strip()
    if not card_token:
        raise BillingError(_("Enter the card."))
    intent_check_unused(actor=actor)
    customer_id = member_gateway_customer_ensure(member=member)
    try:
        card = gateway_get().card_attach(customer_id=customer_id, card_token=card_token)
    except GatewayError as error:
        raise BillingError(_("The card was not saved: %(error)s") % {"error": error.message}) from error
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(member.pk)
        saved = PaymentMethod.objects.filter(gateway_id=card.gateway_id).first()
        if saved is not None:
            # The same card sent twice (a form submitted again): saved once.
            if saved.member_id == member.pk and saved.removed_at is None:
                return saved
            raise BillingError(_("This card cannot be saved again; enter it in a new card form."))
        has_default = member.payment_methods.filter(is_default=True, removed_at__isnull=True).exists()
        if make_default and has_default:
            member.payment_methods.filter(is_default=True).update(is_default=False)
        payment_method = PaymentMethod.objects.create(
            member=member,
            gateway=gateway_get().name,
            gateway_id=card.gateway_id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            is_default=make_default or not has_default,
        )
        activity_record(
            actor=actor, verb="payment_method.added", member=member, target=payment_method, message=str(payment_method)
        )
        outbox_add(
            task="payments.tasks.payments_retry_with_new_card_task",
            member_id=member.pk,
            payment_method_id=payment_method.pk,
        )
    return payment_method


def payment_method_set_default(*, payment_method: PaymentMethod, actor: Actor) -> PaymentMethod:
    _actor_check_member(actor, payment_method.member)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(payment_method.member_id)
        payment_method = PaymentMethod.objects.select_for_update().get(pk=payment_method.pk)
        if payment_method.removed_at is not None:
            raise InvalidState(_("%(card)s was removed.") % {"card": payment_method})
        member.payment_methods.filter(is_default=True).exclude(pk=payment_method.pk).update(is_default=False)
        payment_method.is_default = True
        payment_method.save(update_fields=["is_default"])
        activity_record(
            actor=actor,
            verb="payment_method.default_set",
            member=member,
            target=payment_method,
            message=str(payment_method),
        )
    return payment_method


def payment_method_remove(*, payment_method: PaymentMethod, actor: Actor) -> PaymentMethod:
    """Remove a saved card (kept for the history of its payments) and detach it at the gateway."""
    _actor_check_member(actor, payment_method.member)
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        member = member_lock(payment_method.member_id)
        payment_method = PaymentMethod.objects.select_for_update().get(pk=payment_method.pk)
        if payment_method.removed_at is not None:
            raise InvalidState(_("%(card)s was already removed.") % {"card": payment_method})
        if payment_method_being_charged(payment_method):
            raise InvalidState(
                _("%(card)s is being charged right now; remove it when the payment is done.") % {"card": payment_method}
            )
        was_default = payment_method.is_default
        payment_method.removed_at = timezone.now()
        payment_method.is_default = False
        payment_method.save(update_fields=["removed_at", "is_default"])
        if was_default:
            successor = member.payment_methods.filter(removed_at__isnull=True).order_by("-created_at", "-pk").first()
            if successor:
                successor.is_default = True
                successor.save(update_fields=["is_default"])
        activity_record(
            actor=actor,
            verb="payment_method.removed",
            member=member,
            target=payment_method,
            message=str(payment_method),
        )
        outbox_add(task="payments.tasks.payment_method_detach_task", gateway_id=payment_method.gateway_id)
    return payment_method
