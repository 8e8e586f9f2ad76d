from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = gettext_lazy("Payments")

    def ready(self) -> None:
        from payments import checks  # noqa: F401 (registers the system checks)
