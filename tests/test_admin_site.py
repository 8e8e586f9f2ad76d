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
