from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from payments.views import stripe_webhook

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("portal/", include("members.portal.urls")),
    path("webhooks/stripe/", stripe_webhook, name="stripe-webhook"),
]

# The portal's look under /portal/, the admin's elsewhere (coworking_billing/views.py).
handler403 = "coworking_billing.views.permission_denied"
handler404 = "coworking_billing.views.page_not_found"
handler500 = "coworking_billing.views.server_error"
