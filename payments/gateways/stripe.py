"""Stripe, through the official SDK. The only module that imports `stripe`; it answers with the dataclasses of
`payments.gateways.base` and turns Stripe's errors into ours."""

import datetime
import json
import math
import time

import stripe
from django.conf import settings

from payments.gateways.base import (
    CardDetails,
    CardRejected,
    ChargeOutcome,
    ChargeResult,
    GatewayError,
    GatewayEvent,
    GatewayUnavailable,
    InvalidWebhook,
    RefundOutcome,
    RefundResult,
)

API_VERSION = "2026-10-28.endive"


def _client() -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        stripe_version=API_VERSION,
        base_addresses={"api": base} if base else {},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def _customer_id(method) -> str | None:
    """The customer a PaymentMethod is attached to (an id, or an expanded object), None when it is not."""
    customer = method.to_dict().get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer


def _intent_params(customer_id: str, payment_method_id: str, amount_minor: int, currency: str, metadata: dict) -> dict:
    """What every PaymentIntent of a charge is created with."""
    return {
        "amount": amount_minor,
        "currency": currency.lower(),
        "customer": customer_id,
        "payment_method": payment_method_id,
        "metadata": metadata,
    }


def _declined_outcome(code: str) -> str:
    return ChargeOutcome.AUTHENTICATION_REQUIRED if code == "authentication_required" else ChargeOutcome.DECLINED


def _error_code(error: stripe.StripeError) -> tuple[str, str]:
    detail = error.error
    code = (detail.decline_code or detail.code) if detail else ""
    return code or "card_declined", (error.user_message or str(error) or "The payment was declined.")


class StripeGateway:
    name = "stripe"
    # Stripe answers a key sent again with the first call's outcome for 24 hours (it may forget it after that).
    idempotency_key_lifetime = datetime.timedelta(hours=24)

    def __init__(self):
        self.client = _client()

    def customer_create(self, *, email: str, name: str, idempotency_key: str) -> str:
        try:
            customer = self.client.v1.customers.create(
                params={"email": email, "name": name}, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        return customer.id

    def card_attach(self, *, customer_id: str, card_token: str) -> CardDetails:
        """`card_token` is a PaymentMethod id (pm_...) collected by Stripe.js or a SetupIntent. A card confirmed
        through a SetupIntent is already attached to the customer: it is taken as it is."""
        try:
            method = self.client.v1.payment_methods.retrieve(card_token)
            if _customer_id(method) != customer_id:
                method = self.client.v1.payment_methods.attach(card_token, params={"customer": customer_id})
        except stripe.CardError as error:
            code, message = _error_code(error)
            raise CardRejected(message, code=code) from error
        except stripe.InvalidRequestError as error:
            raise CardRejected(error.user_message or "Stripe does not know this payment method.") from error
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        card = method.card
        return CardDetails(method.id, card.brand or "", card.last4, int(card.exp_month), int(card.exp_year))

    def setup_intent_create(self, *, customer_id: str) -> tuple[str, str]:
        try:
            intent = self.client.v1.setup_intents.create(
                params={"customer": customer_id, "payment_method_types": ["card"], "usage": "off_session"}
            )
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        return intent.id, intent.client_secret

    def card_detach(self, *, gateway_id: str) -> None:
        try:
            self.client.v1.payment_methods.detach(gateway_id)
        except stripe.InvalidRequestError:
            pass  # Already detached or unknown at Stripe: nothing left to remove.
        except stripe.StripeError as error:
            raise self._unavailable(error) from error

    def charge_create(self, *, customer_id, payment_method_id, amount_minor, currency, idempotency_key, metadata):
        try:
            intent = self.client.v1.payment_intents.create(
                params={
                    **_intent_params(customer_id, payment_method_id, amount_minor, currency, metadata),
                    "confirm": True,
                    "off_session": True,
                },
                options={"idempotency_key": f"{idempotency_key}-charge"},
            )
        except stripe.CardError as error:
            code, message = _error_code(error)
            outcome = _declined_outcome(code)
            return ChargeResult(outcome, self._declined_intent_id(error), decline_code=code, message=message)
        except stripe.StripeError as error:
            # Timeouts, connection errors, 5xx, the same key still running: the charge may have happened. The same
            # key sent again answers the first call's outcome; reconciliation does that, or finds it by metadata.
            return ChargeResult(ChargeOutcome.UNKNOWN, message=str(error))
        return self._result(intent)

    def _declined_intent_id(self, error: stripe.CardError) -> str:
        """The PaymentIntent a declined create-and-confirm made: Stripe puts it in the error; a server that only
        names the charge (localstripe) is asked for the charge's PaymentIntent. "" when it cannot be known."""
        detail = error.error
        intent = getattr(detail, "payment_intent", None) if detail else None
        if intent:
            return intent if isinstance(intent, str) else intent.get("id", "")
        charge_id = getattr(detail, "charge", None) if detail else None
        if not charge_id:
            return ""
        try:
            charge = self.client.v1.charges.retrieve(charge_id)
        except stripe.StripeError:
            return ""
        found = charge.to_dict().get("payment_intent")
        return (found if isinstance(found, str) else (found or {}).get("id", "")) or ""

    def charge_find(self, *, customer_id: str, attempt: str) -> ChargeResult | None:
        try:
            intents = self._intents_of_attempt(customer_id=customer_id, attempt=attempt)
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        charged = [intent for intent in intents if not _never_confirmed(intent)]
        if not charged:
            return None
        charged.sort(key=lambda intent: (intent.get("status") != "succeeded", -(intent.get("created") or 0)))
        return charge_result_from_payment_intent(charged[0])

    def _intents_of_attempt(self, *, customer_id: str, attempt: str) -> list[dict]:
        """Stripe's search by metadata; where search is not offered (some accounts, localstripe), the customer's
        PaymentIntents listed and filtered here; where the list takes no customer (localstripe), all of them."""
        try:
            found = self.client.v1.payment_intents.search(params={"query": f"metadata['attempt']:'{attempt}'"})
            return [intent.to_dict() for intent in found.auto_paging_iter()]
        except stripe.InvalidRequestError:
            pass
        try:
            listed = self.client.v1.payment_intents.list(params={"customer": customer_id, "limit": 100})
        except stripe.InvalidRequestError:
            listed = self.client.v1.payment_intents.list(params={"limit": 100})
        intents = (intent.to_dict() for intent in listed.auto_paging_iter())
        return [intent for intent in intents if (intent.get("metadata") or {}).get("attempt") == attempt]

    def charge_prepare(self, *, customer_id, payment_method_id, amount_minor, currency, idempotency_key, metadata):
        try:
            intent = self.client.v1.payment_intents.create(
                params=_intent_params(customer_id, payment_method_id, amount_minor, currency, metadata),
                options={"idempotency_key": f"{idempotency_key}-create"},
            )
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        return intent.id

    def charge_confirm(self, *, gateway_payment_id: str, idempotency_key: str) -> ChargeResult:
        try:
            intent = self.client.v1.payment_intents.confirm(
                gateway_payment_id,
                params={"off_session": True},
                options={"idempotency_key": f"{idempotency_key}-confirm"},
            )
        except stripe.CardError as error:
            code, message = _error_code(error)
            outcome = _declined_outcome(code)
            return ChargeResult(outcome, gateway_payment_id, decline_code=code, message=message)
        except stripe.StripeError as error:
            # Timeouts, connection errors, 5xx: the charge may have happened. Reconciliation will ask.
            return ChargeResult(ChargeOutcome.UNKNOWN, gateway_payment_id, message=str(error))
        return self._result(intent)

    def charge_retrieve(self, *, gateway_payment_id: str) -> ChargeResult | None:
        try:
            intent = self.client.v1.payment_intents.retrieve(gateway_payment_id)
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        if _never_confirmed(intent.to_dict()):
            return None
        return self._result(intent)

    @staticmethod
    def _result(intent) -> ChargeResult:
        return charge_result_from_payment_intent(intent.to_dict())

    def refund_create(self, *, gateway_payment_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        try:
            refund = self.client.v1.refunds.create(
                params={"payment_intent": gateway_payment_id, "amount": amount_minor},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as error:
            return RefundResult(RefundOutcome.FAILED, message=error.user_message or str(error))
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        return refund_result_from_refund(refund.to_dict())

    def refund_retrieve(self, *, gateway_refund_id: str) -> RefundResult:
        try:
            refund = self.client.v1.refunds.retrieve(gateway_refund_id)
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        return refund_result_from_refund(refund.to_dict())

    def webhook_event_verify(self, *, payload: bytes, signature: str) -> GatewayEvent:
        return webhook_event_verify(payload=payload, signature=signature)

    @staticmethod
    def _unavailable(error: stripe.StripeError) -> GatewayError:
        return GatewayUnavailable(f"Stripe could not be reached or refused the request: {error.user_message or error}")


def _never_confirmed(intent: dict) -> bool:
    """A PaymentIntent that charged nothing yet and was never tried."""
    status = intent.get("status")
    return status == "requires_confirmation" or (
        status == "requires_payment_method" and not intent.get("last_payment_error")
    )


def charge_result_from_payment_intent(intent: dict) -> ChargeResult:
    """Map a PaymentIntent (from the API or from a webhook event) to our outcome."""
    charge = intent.get("latest_charge")
    charge_id = charge if isinstance(charge, str) else (charge or {}).get("id", "")
    status = intent.get("status")
    if status == "succeeded":
        return ChargeResult(ChargeOutcome.SUCCEEDED, intent["id"], gateway_charge_id=charge_id or "")
    if status == "requires_action":
        return ChargeResult(
            ChargeOutcome.AUTHENTICATION_REQUIRED,
            intent["id"],
            decline_code="authentication_required",
            message="The card needs the member's authentication (3-D Secure).",
        )
    if status in ("requires_payment_method", "canceled"):
        error = intent.get("last_payment_error") or {}
        return ChargeResult(
            ChargeOutcome.DECLINED,
            intent["id"],
            decline_code=error.get("decline_code") or error.get("code") or "card_declined",
            message=error.get("message") or "The payment was declined.",
        )
    return ChargeResult(ChargeOutcome.UNKNOWN, intent["id"], message=f"Stripe reports the payment as {status}.")


def refund_result_from_refund(refund: dict) -> RefundResult:
    """Map a Refund (from the API or a webhook event) to our outcome; Stripe's canceled counts as failed."""
    status = refund.get("status")
    if status == "succeeded":
        outcome = RefundOutcome.SUCCEEDED
    elif status in ("failed", "canceled"):
        outcome = RefundOutcome.FAILED
    else:
        outcome = RefundOutcome.PENDING
    return RefundResult(outcome, refund.get("id", ""), refund.get("failure_reason") or "")


# Stripe's own tolerance for the signature's timestamp (a replayed event is older; a clock far ahead is no better).
WEBHOOK_TOLERANCE_SECONDS = stripe.Webhook.DEFAULT_TOLERANCE
# Stripe's events are a few kilobytes; a body beyond this is not one.
WEBHOOK_MAX_BYTES = 512 * 1024
# Stripe's objects nest a few levels deep; a body nested deeper is not an event.
WEBHOOK_MAX_DEPTH = 32
# The columns the event is stored in (WebhookEvent.event_id and .type).
WEBHOOK_EVENT_ID_MAX_LENGTH = 255
WEBHOOK_EVENT_TYPE_MAX_LENGTH = 100


def webhook_event_verify(*, payload: bytes, signature: str) -> GatewayEvent:
    """Verify a Stripe webhook: signed with STRIPE_WEBHOOK_SECRET, its timestamp within the tolerance either way,
    and its body an event object that can be stored as it is. Raise InvalidWebhook otherwise."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidWebhook("No webhook secret is configured.")
    if len(payload) > WEBHOOK_MAX_BYTES:
        raise InvalidWebhook(f"The body is larger than {WEBHOOK_MAX_BYTES} bytes: it is not a Stripe event.")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidWebhook("The body is not UTF-8 text.") from None
    try:
        stripe.WebhookSignature.verify_header(text, signature or "", secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
    except (ValueError, TypeError, stripe.SignatureVerificationError) as error:
        raise InvalidWebhook(str(error) or "The webhook signature does not verify.") from error
    timestamp = _signature_timestamp(signature)
    if timestamp > time.time() + WEBHOOK_TOLERANCE_SECONDS:
        raise InvalidWebhook(
            f"The signature's timestamp ({timestamp}) is more than {WEBHOOK_TOLERANCE_SECONDS} seconds in the future."
        )
    return webhook_event_parse(text)


def _signature_timestamp(header: str) -> int:
    """The `t=` of a Stripe-Signature header that verified (so it has one, and it is a number)."""
    return int(next(value for key, _, value in (item.partition("=") for item in header.split(",")) if key == "t"))


def _json_constant_refuse(name: str):
    raise ValueError(f"{name} is not a JSON number.")


def webhook_event_parse(text: str) -> GatewayEvent:
    """The event in a verified body: a JSON object with a string `id` and `type` and an object in `data.object`,
    every string storable (no NUL character, no lone surrogate) and every number finite."""
    try:
        data = json.loads(text, parse_constant=_json_constant_refuse)
    except (ValueError, RecursionError):
        raise InvalidWebhook("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise InvalidWebhook(f"The body is a JSON {type(data).__name__}, not an event object.")
    event_id, event_type, event_data = data.get("id"), data.get("type"), data.get("data")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= WEBHOOK_EVENT_ID_MAX_LENGTH:
        raise InvalidWebhook(f"The event has no id (a string of 1 to {WEBHOOK_EVENT_ID_MAX_LENGTH} characters).")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= WEBHOOK_EVENT_TYPE_MAX_LENGTH:
        raise InvalidWebhook(f"The event has no type (a string of 1 to {WEBHOOK_EVENT_TYPE_MAX_LENGTH} characters).")
    if not isinstance(event_data, dict) or not isinstance(event_data.get("object"), dict):
        raise InvalidWebhook("The event has no data.object.")
    _json_storable_check(data)
    return GatewayEvent(event_id=event_id, type=event_type, payload=data)


def _json_storable_check(data) -> None:
    """Refuse what the database cannot store in a JSON column: NUL characters and lone surrogates in strings
    (PostgreSQL's text refuses both), infinite numbers; and nesting deeper than any Stripe object."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > WEBHOOK_MAX_DEPTH:
            raise InvalidWebhook(f"The event is nested more than {WEBHOOK_MAX_DEPTH} levels deep.")
        if isinstance(value, dict):
            for key, item in value.items():
                _json_string_check(key)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _json_string_check(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidWebhook("The event holds a number too large to store.")


def _json_string_check(text: str) -> None:
    if "\x00" in text:
        raise InvalidWebhook("The event holds a NUL character.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidWebhook("The event holds text that is not valid Unicode.") from None
