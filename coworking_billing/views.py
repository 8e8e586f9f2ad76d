"""The error pages (handler403, handler404, handler500 in urls.py): the portal's look under /portal/, the admin's
everywhere else (the site's home is the admin). 403 and 404 show the header and a link home; 500 is a static
page (the error may be in what the other pages need: the database, the session, the context)."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token

from members.portal.selectors import portal_member

PORTAL_PREFIX = "/portal/"


def in_portal(request: HttpRequest) -> bool:
    return request.path.startswith(PORTAL_PREFIX)


def error_page(request: HttpRequest, status: int, title: str) -> HttpResponse:
    if in_portal(request):
        if not hasattr(request, "member") and request.user.is_authenticated:
            request.member = portal_member(request.user)  # the header's menu, as on the page that failed
        return render(request, f"portal/{status}.html", {"title": title}, status=status)
    context = {**admin.site.each_context(request), "title": title}
    return render(request, f"admin/{status}.html", context, status=status)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_page(request, 403, _("Permission denied"))


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_page(request, 404, _("Page not found"))


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    template = "portal/500.html" if in_portal(request) else "admin/500.html"
    home = reverse("portal:invoice_list") if in_portal(request) else reverse("admin:index")
    context = {"home_url": home, "space_name": settings.BILLING_SPACE_NAME}
    return HttpResponse(loader.get_template(template).render(context), status=500)
