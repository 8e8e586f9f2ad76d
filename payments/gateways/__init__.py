"""The payment gateway, chosen by settings: Stripe when STRIPE_SECRET_KEY is set, else the embedded sandbox."""

from django.conf import settings

from payments.gateways.base import Gateway

_override: Gateway | None = None


def gateway_get() -> Gateway:
    if _override is not None:
        return _override
    if settings.PAYMENT_GATEWAY == "stripe":
        from payments.gateways.stripe import StripeGateway

        return StripeGateway()
    from payments.gateways.sandbox import SandboxGateway

    return SandboxGateway(latency_seconds=settings.SANDBOX_LATENCY_SECONDS)


def gateway_override(gateway: Gateway | None) -> None:
    """Use this gateway instance until reset with None (tests and benchmarks inject failures this way)."""
    global _override
    _override = gateway
