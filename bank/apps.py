from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class BankConfig(AppConfig):
    name = "bank"
    verbose_name = gettext_lazy("Bank transfers")
