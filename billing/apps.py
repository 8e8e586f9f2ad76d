from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = gettext_lazy("Billing")

    def ready(self):
        from djmoney import money as djmoney_money

        from billing import checks  # noqa: F401 (registers the system checks)
        from billing.money import money_locale

        # django-money formats every shown amount (`str(money)`: templates, messages, mails, PDFs, admin columns)
        # in the locale `djmoney.money.get_current_locale` returns, the active translation language, which
        # overrides MONEY_FORMAT's locale. Amounts follow the space's BILLING_LOCALE instead, without activating
        # a translation.
        djmoney_money.get_current_locale = money_locale
