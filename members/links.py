"""Absolute links into the portal, for mail: the portal's root as members reach it (settings.BILLING_PORTAL_URL)
followed by the page's path inside the portal.

Here, not in the portal package: the mails (`payments.notifications`) are domain modules, and no domain module
imports a page. A link is a name in the URL configuration, so nothing of the portal is imported."""

from django.conf import settings
from django.urls import reverse


def portal_link(view_name: str = "portal:invoice_list", *args) -> str:
    root = reverse("portal:invoice_list")
    path = reverse(view_name, args=args).removeprefix(root)
    return settings.BILLING_PORTAL_URL.rstrip("/") + "/" + path
