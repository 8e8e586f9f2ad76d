"""System checks of the billing settings: `manage.py check`, every other command and the web processes refuse to
start with a bank account that invoices could not print (an IBAN or BIC that is not valid)."""

from django.conf import settings
from django.core.checks import Error, register

from billing.bank_transfer import bank_account_problems


@register()
def bank_account_check(app_configs=None, **kwargs) -> list[Error]:
    return [
        Error(
            problem,
            hint="Set BILLING_BANK_IBAN, BILLING_BANK_BIC and BILLING_BANK_ACCOUNT_HOLDER to the space's bank account.",
            id="billing.E010",
        )
        for problem in bank_account_problems(
            iban=settings.BILLING_BANK_IBAN, bic=settings.BILLING_BANK_BIC, holder=settings.BILLING_BANK_ACCOUNT_HOLDER
        )
    ]
