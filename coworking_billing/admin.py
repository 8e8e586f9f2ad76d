"""The admin site: Django's, branded with the space's name, with the billing reports among its pages and a home page
that says what needs doing (payments/admin/dashboard.py)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.languages import language_activate, session_language_remember, staff_language_set, user_language


class StaffLanguageForm(forms.Form):
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        required=False,
        choices=[("", gettext_lazy("Browser's language")), *settings.LANGUAGES],
    )


class BillingAdminSite(admin.AdminSite):
    # Listed after the billing apps, under their own heading on the home page.
    security_apps = ("auth", "axes")

    @property
    def site_header(self) -> str:
        return _("%(space)s billing") % {"space": settings.BILLING_SPACE_NAME}

    @property
    def site_title(self) -> str:
        return settings.BILLING_SPACE_NAME

    @property
    def index_title(self) -> str:
        return _("Billing administration")

    def get_urls(self):
        # Imported here: the reports import admin pages, which register themselves on this site while it is made.
        from payments.admin.reports import BillingReports

        # The reports first: `/admin/reports/` is no app label, and the site's catch-all would take it.
        own = [path("language/", self.admin_view(self.language_view), name="language")]
        return [*own, *BillingReports(self).get_urls(), *super().get_urls()]

    def get_app_list(self, request, app_label=None):
        """Django's list of apps (alphabetical), the security apps last: on the home page and in the side menu."""
        app_list = super().get_app_list(request, app_label)
        return sorted(app_list, key=lambda app: app["app_label"] in self.security_apps)

    def index(self, request, extra_context=None):
        from payments.admin.dashboard import dashboard_context

        return super().index(request, extra_context={**dashboard_context(self, request), **(extra_context or {})})

    def language_view(self, request: HttpRequest) -> HttpResponse:
        """The staff user's language for the admin's pages (kept per user, see members/languages.py)."""
        if request.method == "POST":
            form = StaffLanguageForm(request.POST)
            if form.is_valid():
                language = form.cleaned_data["language"]
                staff_language_set(user=request.user, language=language)
                session_language_remember(request, language)
                language_activate(request, language)
                messages.success(request, _("The admin's language is saved."))
                return redirect("admin:language")
        else:
            form = StaffLanguageForm(initial={"language": user_language(request.user)})
        context = {
            **self.each_context(request),
            "title": _("Language"),
            "form": form,
            "current_language": translation.get_language(),
        }
        return TemplateResponse(request, "admin/language.html", context)
