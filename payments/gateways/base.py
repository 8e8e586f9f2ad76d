"""What every gateway answers, as plain values. Only `payments/gateways/stripe.py` knows the Stripe SDK."""

import datetime
import enum
from dataclasses import dataclass
from typing import Protocol


class ChargeOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    AUTHENTICATION_REQUIRED = "authentication_required"
    # The gateway may or may not have charged (timeout, 5xx during confirmation, still processing): ask again later.
    UNKNOWN = "unknown"
    # The call failed before anything could be charged (connection refused while preparing): safe to call again.
    RETRYABLE_ERROR = "retryable_error"


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    gateway_payment_id: str = ""
    gateway_charge_id: str = ""
    decline_code: str = ""
    message: str = ""


class RefundOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class RefundResult:
    outcome: RefundOutcome
    gateway_refund_id: str = ""
    message: str = ""


@dataclass(frozen=True)
class CardDetails:
    gateway_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class GatewayEvent:
    """A verified webhook event."""

    event_id: str
    type: str
    payload: dict


class GatewayError(Exception):
    """A gateway call that did not do what was asked; `message` is fit to show a person."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code


class CardRejected(GatewayError):
    """The card cannot be saved (declined at attach, invalid number)."""


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached or answered with a server error."""


class InvalidWebhook(GatewayError):
    """A webhook whose signature or payload does not verify."""


class Gateway(Protocol):
    name: str
    # How long the gateway answers a key sent again with the first call's outcome (Stripe keeps keys 24 hours);
    # after that, a charge whose answer was lost is found by its metadata (`charge_find`).
    idempotency_key_lifetime: datetime.timedelta

    def customer_create(self, *, email: str, name: str, idempotency_key: str) -> str: ...

    def card_attach(self, *, customer_id: str, card_token: str) -> CardDetails: ...

    def card_detach(self, *, gateway_id: str) -> None: ...

    def setup_intent_create(self, *, customer_id: str) -> tuple[str, str]:
        """Start collecting a card in the member's browser (Stripe.js confirms it); return the setup's id and the
        client secret the page needs. Gateways that collect cards with their own form raise GatewayError."""

    def charge_create(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        """Create the payment and charge it off-session, in one call. The same key sent again within
        `idempotency_key_lifetime` answers the first call's outcome and charges nothing more. Never raises for an
        outcome: a lost answer is UNKNOWN (without the payment's id when none came back). Raises GatewayUnavailable
        only when the gateway was not reached, so nothing was charged."""

    def charge_find(self, *, customer_id: str, attempt: str) -> ChargeResult | None:
        """The charged payment whose metadata names this attempt (`{"attempt": attempt}`); None when the gateway
        has none, or only one never confirmed (nothing was charged). Raises GatewayUnavailable when it cannot ask."""

    def charge_prepare(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str:
        """Create the gateway's payment object without confirming it; return its id. Nothing is charged yet."""

    def charge_confirm(self, *, gateway_payment_id: str, idempotency_key: str) -> ChargeResult:
        """Charge off-session. Never raises for an outcome: declines and unknowns are results."""

    def charge_retrieve(self, *, gateway_payment_id: str) -> ChargeResult | None:
        """The payment's state now; None when it was never confirmed."""

    def refund_create(self, *, gateway_payment_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Refund to the original card. Raises GatewayUnavailable when the gateway could not be asked."""

    def refund_retrieve(self, *, gateway_refund_id: str) -> RefundResult: ...

    def webhook_event_verify(self, *, payload: bytes, signature: str) -> GatewayEvent: ...


# Declines a retry cannot fix: no automatic retries for these.
HARD_DECLINE_CODES = frozenset(
    {
        "lost_card",
        "stolen_card",
        "pickup_card",
        "fraudulent",
        "incorrect_number",
        "invalid_account",
        "expired_card",
        "authentication_required",
    }
)
