"""The payment gateway, chosen by settings: Stripe when STRIPE_SECRET_KEY is set, else the embedded sandbox (with
DEBUG on, or when PAYMENT_GATEWAY=sandbox chooses it by name)."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.gateways.base import Gateway

_override: Gateway | None = None


def gateway_get() -> Gateway:
    if _override is not None:
        return _override
    if settings.PAYMENT_GATEWAY == "stripe":
        from payments.gateways.stripe import StripeGateway

        return StripeGateway()
    if not settings.PAYMENT_SANDBOX_ALLOWED:
        # `billing.E001` stops manage.py; this stops the processes that run no system check (gunicorn, Celery).
        raise ImproperlyConfigured(
            "DEBUG is off and no Stripe key is set: set STRIPE_SECRET_KEY, or PAYMENT_GATEWAY=sandbox to run the "
            "sandbox on purpose."
        )
    from payments.sandbox.gateway import SandboxGateway

    return SandboxGateway(latency_seconds=settings.SANDBOX_LATENCY_SECONDS)


def gateway_override(gateway: Gateway | None) -> None:
    """Use this gateway instance until reset with None (tests and benchmarks inject failures this way)."""
    global _override
    _override = gateway
