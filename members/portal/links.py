"""Absolute links into the portal, for mail: the portal's root as members reach it (settings.BILLING_PORTAL_URL)
followed by the page's path inside the portal."""

from django.conf import settings
from django.urls import reverse


def portal_link(view_name: str = "portal:invoice_list", *args) -> str:
    root = reverse("portal:invoice_list")
    path = reverse(view_name, args=args).removeprefix(root)
    return settings.BILLING_PORTAL_URL.rstrip("/") + "/" + path
