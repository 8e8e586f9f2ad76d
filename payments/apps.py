from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = gettext_lazy("Payments")

    def ready(self) -> None:
        # Registers the tasks with the Celery app in every process, not only in a worker (whose autodiscovery would
        # do it): the outbox hands a row's task over by its name, from the app's registry, and imports no task.
        from payments import (
            checks,  # noqa: F401 (registers the system checks)
            tasks,  # noqa: F401
        )
