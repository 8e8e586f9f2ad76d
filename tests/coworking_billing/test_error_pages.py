"""The 403, 404 and 500 pages with DEBUG off: the admin's look (its header, a link home) under /admin/, the portal's
look (a link to the member's invoices) under /portal/; 500 pages are static templates."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import external_payment, open_invoice
from tests.members.portal.conftest import portal_member

ERROR_URLS = pytest.mark.urls("tests.coworking_billing.error_urls")


@pytest.fixture(autouse=True)
def debug_off(settings):
    settings.DEBUG = False


def template_names(response) -> list[str]:
    return [template.name for template in response.templates]


def test_an_unknown_admin_page_is_the_admins_404_with_a_link_home(staff_client, settings):
    response = staff_client.get("/admin/nowhere/")

    assert response.status_code == 404
    assert template_names(response)[0] == "admin/404.html"
    page = response.content.decode()
    assert f"{settings.BILLING_SPACE_NAME} billing" in page  # the admin's header
    assert f'href="{reverse("admin:index")}"' in page
    assert "Page not found" in page


def test_a_page_outside_the_admin_and_the_portal_is_the_admins_404_for_anyone(client, db):
    response = client.get("/nothing-here/")

    assert response.status_code == 404
    assert template_names(response)[0] == "admin/404.html"
    assert f'href="{reverse("admin:index")}"' in response.content.decode()


def test_a_staff_user_without_the_refund_permission_gets_the_admins_403(clerk_client):
    payment = external_payment(invoice=open_invoice(amounts=["40.00"]))
    client = clerk_client("payments.view_payment")
    url = reverse("admin:payments_payment_refund", args=[payment.pk])

    for response in (client.get(url), client.post(url, {"amount": "40.00", "reason": "requested_by_customer"})):
        assert response.status_code == 403
        assert template_names(response)[0] == "admin/403.html"
        page = response.content.decode()
        assert "You are not allowed to do this" in page
        assert f'href="{reverse("admin:index")}"' in page
    assert payment.refunds.count() == 0


def test_an_unknown_portal_page_is_the_portals_404_linking_to_the_invoices(client, db):
    member = portal_member(email="lea.martin@example.com", name="Léa Martin")
    client.force_login(member.user)

    for url in ("/portal/nowhere/", reverse("portal:invoice_detail", args=[999999999])):
        response = client.get(url)
        assert response.status_code == 404
        assert template_names(response)[0] == "portal/404.html"
        page = response.content.decode()
        assert f'href="{reverse("portal:invoice_list")}"' in page
        assert "Léa Martin" in page  # the portal's header, with who is logged in


def test_another_members_invoice_is_a_404_in_the_portal_look(client, db):
    invoice = open_invoice(amounts=["40.00"])
    member = portal_member(email="omar@example.com", name="Omar Haddad")
    client.force_login(member.user)

    response = client.get(reverse("portal:invoice_detail", args=[invoice.pk]))

    assert response.status_code == 404
    assert template_names(response)[0] == "portal/404.html"


@ERROR_URLS
def test_permission_denied_in_the_portal_is_the_portals_403(client, db):
    response = client.get("/portal/denied/")

    assert response.status_code == 403
    assert template_names(response)[0] == "portal/403.html"
    assert f'href="{reverse("portal:invoice_list")}"' in response.content.decode()


@ERROR_URLS
@pytest.mark.parametrize(
    ("url", "template", "home"),
    [("/admin/fails/", "admin/500.html", "/admin/"), ("/portal/fails/", "portal/500.html", "/portal/")],
)
def test_a_server_error_is_a_static_page_of_the_admin_or_the_portal(db, url, template, home, settings):
    client = Client(raise_request_exception=False)

    response = client.get(url)

    assert response.status_code == 500
    assert template_names(response) == [template]  # nothing else: no base template, no context processors
    page = response.content.decode()
    assert f'href="{home}"' in page
    assert settings.BILLING_SPACE_NAME in page
