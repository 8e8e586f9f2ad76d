from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = gettext_lazy("Billing")

    def ready(self):
        from djmoney import money as djmoney_money

        from billing import checks  # noqa: F401 (registers the system checks)
        from billing.money import display_locale

        # django-money formats every shown amount (`str(money)`: templates, messages, mails, PDFs, admin columns)
        # in the locale `djmoney.money.get_current_locale` returns. Amounts follow `display_locale`: the space's
        # BILLING_LOCALE (with its territory) for the default language, else the active language's.
        djmoney_money.get_current_locale = display_locale
