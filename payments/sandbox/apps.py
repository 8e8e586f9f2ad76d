from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "payments.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox gateway"
