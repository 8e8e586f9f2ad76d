"""The admin site: Django's, branded with the space's name, with the billing reports among its pages and a home page
that says what needs doing (payments/admin/dashboard.py)."""

from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext as _


class BillingAdminSite(admin.AdminSite):
    # Listed after the billing apps, under their own heading on the home page.
    security_apps = ("auth", "axes")

    @property
    def site_header(self) -> str:
        return _("%(space)s billing") % {"space": settings.BILLING_SPACE_NAME}

    @property
    def site_title(self) -> str:
        return settings.BILLING_SPACE_NAME

    @property
    def index_title(self) -> str:
        return _("Billing administration")

    def get_urls(self):
        # Imported here: the reports import admin pages, which register themselves on this site while it is made.
        from payments.admin.reports import BillingReports

        # The reports first: `/admin/reports/` is no app label, and the site's catch-all would take it.
        return [*BillingReports(self).get_urls(), *super().get_urls()]

    def get_app_list(self, request, app_label=None):
        """Django's list of apps (alphabetical), the security apps last: on the home page and in the side menu."""
        app_list = super().get_app_list(request, app_label)
        return sorted(app_list, key=lambda app: app["app_label"] in self.security_apps)

    def index(self, request, extra_context=None):
        from payments.admin.dashboard import dashboard_context

        return super().index(request, extra_context={**dashboard_context(self, request), **(extra_context or {})})
