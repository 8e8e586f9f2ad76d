"""How members log in to the portal: by their login's email (any case) and password, rate limited by django-axes."""

import ipaddress
import math

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse


class MemberEmailBackend(ModelBackend):
    """Authenticates `email=` and `password=` for an active login linked to a member and never for staff (they
    use the admin, with their username). The admin's `username=` credentials do not reach this backend."""

    def authenticate(self, request: HttpRequest | None, email: str | None = None, password: str | None = None):
        if not email or password is None:
            return None
        candidates = list(
            get_user_model()
            .objects.filter(email__iexact=email.strip(), member__isnull=False, is_staff=False, is_superuser=False)
            .order_by("pk")[:2]
        )
        if len(candidates) != 1:
            # Same cost as a real check, so the answer's timing does not tell which emails have a login.
            get_user_model()().set_password(password)
            return None
        user = candidates[0]
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def axes_username(request: HttpRequest | None, credentials: dict | None = None) -> str | None:
    """The name django-axes counts failures under: the portal's email or the admin's username, in lower case so
    that changing the case does not reset the count."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if not value and request is not None:
        value = request.POST.get("email") or request.POST.get("username")
    value = (value or "").strip().lower()
    return value or None


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """django-axes' answer to a locked-out login (the portal's or the admin's): 429 and when to try again."""
    cool_off = settings.AXES_COOLOFF_TIME
    return render(
        request,
        "portal/locked_out.html",
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cool_off_minutes": math.ceil(cool_off.total_seconds() / 60) if cool_off else None,
            "from_portal": request.path.startswith(reverse("portal:invoice_list")),
        },
        status=429,
    )


def axes_client_ip(request: HttpRequest) -> str | None:
    """The address django-axes counts failed logins under: the client's, not the reverse proxy's.

    Each of the BILLING_TRUSTED_PROXIES proxies in front appends the address it received the request from to
    X-Forwarded-For (nginx's `$proxy_add_x_forwarded_for`), so the client is the entry that many places from the
    right; whatever stands left of it came from the client and is not trusted. With no proxy (development, the
    tests), or a header too short to hold that entry or holding no address there: REMOTE_ADDR.
    """
    remote_address = request.META.get("REMOTE_ADDR")
    proxies = settings.BILLING_TRUSTED_PROXIES
    if proxies <= 0:
        return remote_address
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote_address
    try:
        return str(ipaddress.ip_address(forwarded[-proxies]))
    except ValueError:
        return remote_address
