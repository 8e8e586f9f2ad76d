"""The admin site is `BillingAdminSite`: Django's admin branded with the space's name, with the billing reports among
its own URLs (no monkeypatching of `admin.site`)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from billing.models import Invoice
from coworking_billing.admin import BillingAdminSite
from members.models import Member
from payments.models import Payment

pytestmark = pytest.mark.django_db


def test_the_admin_site_is_the_billing_site_and_holds_every_model():
    assert isinstance(admin.site, BillingAdminSite)
    for model in (Member, Invoice, Payment):
        assert admin.site.is_registered(model)


def test_the_reports_are_urls_of_the_site_itself():
    names = {getattr(pattern, "name", None) for pattern in admin.site.get_urls()}
    assert {
        "billing_reports",
        "billing_report_payments",
        "billing_report_aging",
        "billing_report_member_credit",
    } <= names
    assert reverse("admin:billing_reports") == "/admin/reports/"


def test_the_admin_pages_carry_the_space_name(staff_client, settings):
    settings.BILLING_SPACE_NAME = "Atelier Nord"
    response = staff_client.get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>Billing administration | Atelier Nord</title>" in page
    assert "Atelier Nord billing" in page
    assert reverse("admin:billing_reports") in page


def test_every_billing_admin_page_loads_the_stylesheet_and_the_submit_once_script():
    """The project's Media reaches every admin class, those with a member filter (whose autocomplete adds its own
    scripts) included: a page without submit-once.js would send a form twice on a double click."""
    from billing.admin.base import BillingAdminMixin
    from billing.admin.lists import MemberFilter

    billing_admins = [
        model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, BillingAdminMixin)
    ]
    assert len(billing_admins) >= 8
    for model_admin in billing_admins:
        media = str(model_admin.media)
        assert "payments/submit-once.js" in media and "payments/admin.css" in media, type(model_admin).__name__
        has_member_filter = any(
            isinstance(entry, type) and issubclass(entry, MemberFilter) for entry in model_admin.list_filter
        )
        assert ("admin/js/autocomplete.js" in media) == has_member_filter, type(model_admin).__name__
