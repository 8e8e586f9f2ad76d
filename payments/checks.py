"""System checks of the payment settings: `manage.py check`, every other command and the web processes refuse to
start with a gateway that would take payments it should not."""

from django.conf import settings
from django.core.checks import Error, register

GATEWAYS = ("stripe", "sandbox")


@register()
def gateway_check(app_configs=None, **kwargs) -> list[Error]:
    gateway = settings.PAYMENT_GATEWAY
    if gateway not in GATEWAYS:
        return [
            Error(
                f"PAYMENT_GATEWAY is {gateway!r}; it must be one of {', '.join(GATEWAYS)}.",
                id="billing.E002",
            )
        ]
    if gateway == "stripe" and not settings.STRIPE_SECRET_KEY:
        return [
            Error(
                "PAYMENT_GATEWAY is stripe but STRIPE_SECRET_KEY is not set.",
                hint="Set STRIPE_SECRET_KEY (and STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET).",
                id="billing.E003",
            )
        ]
    if gateway == "sandbox" and not settings.PAYMENT_SANDBOX_ALLOWED:
        return [
            Error(
                "DEBUG is off and no Stripe key is set, so the sandbox gateway would take card payments: members "
                "could pay real invoices with test cards.",
                hint="Set STRIPE_SECRET_KEY (and STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET) to take real "
                "payments, or PAYMENT_GATEWAY=sandbox to run the sandbox on purpose (a demo or a staging site).",
                id="billing.E001",
            )
        ]
    return []
