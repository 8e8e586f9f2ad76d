from django.contrib.admin.apps import AdminConfig


class BillingAdminConfig(AdminConfig):
    """`django.contrib.admin` with `BillingAdminSite` as `admin.site`."""

    default_site = "coworking_billing.admin.BillingAdminSite"
