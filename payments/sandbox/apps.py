from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class SandboxConfig(AppConfig):
    name = "payments.sandbox"
    label = "sandbox"
    verbose_name = gettext_lazy("Sandbox gateway")
