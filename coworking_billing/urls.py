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
