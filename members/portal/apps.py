from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "members.portal"
    label = "portal"
    verbose_name = "Member portal"
