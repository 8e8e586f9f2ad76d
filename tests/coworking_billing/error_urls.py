"""The project's URLs with pages that fail, to see the 403 and 500 pages under /admin/ and /portal/."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from coworking_billing.urls import handler403, handler404, handler500  # noqa: F401 (Django reads them here)
from coworking_billing.urls import urlpatterns as project_urlpatterns


def fails(request):
    raise RuntimeError("a bug in a page")


def denied(request):
    raise PermissionDenied


urlpatterns = [
    path("admin/fails/", fails),
    path("portal/fails/", fails),
    path("portal/denied/", denied),
    *project_urlpatterns,
]
