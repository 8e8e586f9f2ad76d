from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = gettext_lazy("Members")

    def ready(self):
        # Connects the login signal that puts a user's chosen language into their session.
        from members import languages  # noqa: F401
