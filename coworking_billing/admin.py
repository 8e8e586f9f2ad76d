"""The admin site: Django's, branded with the space's name, with the billing reports among its pages."""

from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext as _


class BillingAdminSite(admin.AdminSite):
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
