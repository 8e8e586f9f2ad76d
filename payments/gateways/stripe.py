"""Stripe, through the official SDK. The only module that imports `stripe`; it answers with the dataclasses of
`payments.gateways.base` and turns Stripe's errors into ours."""

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


def _error_code(error: stripe.StripeError) -> tuple[str, str]:
    detail = error.error
    code = (detail.decline_code or detail.code) if detail else ""
    return code or "card_declined", (error.user_message or str(error) or "The payment was declined.")


class StripeGateway:
    name = "stripe"

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

    def charge_prepare(self, *, customer_id, payment_method_id, amount_minor, currency, idempotency_key, metadata):
        try:
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "customer": customer_id,
                    "payment_method": payment_method_id,
                    "metadata": metadata,
                },
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
            outcome = (
                ChargeOutcome.AUTHENTICATION_REQUIRED if code == "authentication_required" else ChargeOutcome.DECLINED
            )
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
        if intent.status in ("requires_confirmation",) or (
            intent.status == "requires_payment_method" and not intent.last_payment_error
        ):
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


def webhook_event_verify(*, payload: bytes, signature: str) -> GatewayEvent:
    """Verify a Stripe webhook's signature with STRIPE_WEBHOOK_SECRET; raise InvalidWebhook otherwise."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise InvalidWebhook("No webhook secret is configured.")
    try:
        event = stripe.Webhook.construct_event(payload, signature or "", settings.STRIPE_WEBHOOK_SECRET)
    except (ValueError, stripe.SignatureVerificationError) as error:
        raise InvalidWebhook(str(error) or "The webhook signature does not verify.") from error
    return GatewayEvent(event_id=event.id, type=event.type, payload=event.to_dict())
