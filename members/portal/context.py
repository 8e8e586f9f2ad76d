"""What every template may show about the space (the portal's header, its printed documents)."""

from django.conf import settings
from django.http import HttpRequest


def space(request: HttpRequest) -> dict:
    return {"space_name": settings.BILLING_SPACE_NAME}
