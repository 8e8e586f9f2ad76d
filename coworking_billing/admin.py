"""The admin site: Django's, branded with the space's name, with the billing reports among its pages."""

from django.conf import settings
from django.contrib import admin


class BillingAdminSite(admin.AdminSite):
    index_template = "admin/index.html"

    def __init__(self, name: str = "admin"):
        super().__init__(name)
        self.site_header = f"{settings.BILLING_SPACE_NAME} billing"
        self.site_title = settings.BILLING_SPACE_NAME
        self.index_title = "Billing administration"

    def get_urls(self):
        from payments.admin.reports import BillingReports

        # The reports first: `/admin/reports/` is no app label, and the site's catch-all would take it.
        return [*BillingReports(self).get_urls(), *super().get_urls()]
