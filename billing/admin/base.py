"""What every billing admin page shares: custom URLs, permission checks, calling one service and turning its
refusal into a message, and rendering a page in the admin's look."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_fsm import can_proceed, has_transition_perm

from billing.activity import Actor
from billing.admin.lists import EstimatedCountPaginator, list_filters_media
from billing.errors import BillingError
from billing.form_intents import INTENT_OUT_OF_DATE, intent_from_post, intent_redirect, intent_repeat_response
from billing.intents import IntentRepeated, intent_check_unused

ACTION_FORM_TEMPLATE = "admin/payments/action_form.html"
CONFIRM_TEMPLATE = "admin/payments/action_confirm.html"

# The permissions the buttons ask for (superusers have them all).
ISSUE_INVOICE = "billing.issue_invoice"
VOID_INVOICE = "billing.void_invoice"
MARK_UNCOLLECTIBLE = "billing.mark_uncollectible_invoice"
ADJUST_MONEY_BALANCE = "billing.adjust_money_balance"
RECORD_EXTERNAL_PAYMENT = "payments.record_external_payment"
VOID_PAYMENT = "payments.void_payment"
ALLOCATE_PAYMENT = "payments.allocate_payment"
CHARGE_PAYMENT = "payments.charge_payment"
MANAGE_PAYMENT_METHODS = "payments.manage_payment_methods"
REFUND_PAYMENT = "payments.refund_payment"
ISSUE_CREDIT_NOTE = "billing.issue_credit_note"
VIEW_BILLING_REPORTS = "payments.view_billing_reports"


@dataclass(frozen=True)
class ResultMessage:
    """What a successful call tells the user, when it is not plain good news (a charge the gateway declined)."""

    text: str
    level: int = messages.SUCCESS


@dataclass(frozen=True)
class ObjectAction:
    """A button of an object page or of a row's (...) menu: a link to a page (a form or a confirmation; nothing acts
    in one click), or (`form`) a submit button of the page's form with that id, sent to `url` with `name` (the
    draft's Issue: its edits are saved first, then the confirmation is shown)."""

    label: str
    url: str
    danger: bool = False
    form: str = ""
    name: str = ""
    download: bool = False


def transition_allowed(transition, user) -> bool:
    """Whether a page shows the button of the bound `transition`: its state machine allows it now (its source and
    its conditions) and the user has its permission. The service asks the same machine when the button is used."""
    return can_proceed(transition) and has_transition_perm(transition, user)


DATE_PART = re.compile(r"[0-9]{1,4}")


def changelist_query_valid(query) -> bool:
    """Whether a list page's filters can be asked of the database. Django's list answers a bad filter by sending
    the page again with `?e=1`, but not a NUL character (PostgreSQL refuses it) or a year beyond any date (an
    overflow), which it lets through to a server error."""
    for name, values in query.lists():
        for value in values:
            if "\x00" in name or "\x00" in value:
                return False
            if name.endswith(("__year", "__month", "__day")) and not DATE_PART.fullmatch(value):
                return False
    return True


class BillingAdminMixin:
    """Custom admin views that parse input with a form, call one service as the staff user, show the service's
    refusal as an error message, and redirect on success.

    Every form and button that acts carries a one-time key (`{% intent_field %}`): the service claims it with its
    effect, and the same form sent again shows the first outcome instead of acting again (billing/form_intents.py).
    """

    class Media:
        css = {"all": ["payments/admin.css"]}
        js = ["payments/submit-once.js"]

    @property
    def media(self):
        # Each admin class adds its Media above to this (Django's MediaDefiningClass); a subclass must not define
        # `media` itself, or that Media (submit-once.js, the stylesheet) is lost.
        return super().media + list_filters_media(self)

    # Lists of tables that grow without bound: no full COUNT, an estimate past a size (billing/admin/lists.py).
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def url_name(self, name: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{name}"

    def url_for(self, name: str, *args) -> str:
        return reverse(f"{self.admin_site.name}:{self.url_name(name)}", args=args)

    def view_path(self, route: str, view: Callable, name: str, *, post_only: bool = False) -> URLPattern:
        if post_only:
            view = require_POST(view)
        return path(route, self.admin_site.admin_view(view), name=self.url_name(name))

    def changelist_view(self, request, extra_context=None):
        if not changelist_query_valid(request.GET):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context=extra_context)

    def get_search_results(self, request, queryset, search_term):
        """A search with a NUL character finds nothing: PostgreSQL refuses NUL in a query. The changelist's search
        form refuses it already; the autocomplete of the member fields does not."""
        if "\x00" in search_term:
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    def object_get(self, request: HttpRequest, object_id: str):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(
                _("There is no %(name)s with the id “%(id)s”.") % {"name": self.opts.verbose_name, "id": object_id}
            )
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    @staticmethod
    def actor(request: HttpRequest) -> Actor:
        """The staff user, with the key of the form they sent (set by `form_page` and `action_post`)."""
        return Actor.staff(request.user, intent=getattr(request, "billing_intent", None))

    @staticmethod
    def permission_require(request: HttpRequest, permission: str | tuple[str, ...] | None) -> None:
        """Refuse the request unless the user has the permission (all of them, for a tuple)."""
        if permission is None:
            return
        permissions = (permission,) if isinstance(permission, str) else permission
        if not request.user.has_perms(permissions):
            raise PermissionDenied

    @staticmethod
    def permission_require_any(request: HttpRequest, permissions: tuple[str, ...]) -> None:
        """Refuse the request unless the user has at least one of the permissions."""
        if not any(request.user.has_perm(permission) for permission in permissions):
            raise PermissionDenied

    @staticmethod
    def form_data(request: HttpRequest):
        """The submitted data on POST, nothing (an unbound form) on GET."""
        return request.POST if request.method == "POST" else None

    @staticmethod
    def next_url(request: HttpRequest, *, default: str) -> str:
        url = request.POST.get("next") or request.GET.get("next")
        if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
            return url
        return default

    def page_context(
        self,
        request: HttpRequest,
        *,
        obj,
        title: str,
        form: forms.Form | None = None,
        fieldsets: list[tuple[str | None, dict]] | None = None,
        **extra,
    ) -> dict:
        """The context of a billing admin page; `fieldsets` groups the form's fields (one group by default)."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": title,
            "change": obj is not None,
            "add": obj is None,
            "has_view_permission": self.has_view_permission(request, obj),
            "media": self.media + (form.media if form is not None else forms.Media()),
        }
        if form is not None:
            fieldsets = fieldsets or [(None, {"fields": list(form.fields)})]
            context["form"] = form
            context["adminform"] = helpers.AdminForm(form, fieldsets, {}, model_admin=self)
            context["errors"] = helpers.AdminErrorList(form, [])
        return {**context, **extra}

    @staticmethod
    def service_run(request: HttpRequest, call: Callable[[], Any], *, success: Callable[[Any], str | ResultMessage]):
        """Call the service; returns (True, its result) after a success message (or the `ResultMessage` that
        `success` returns), (False, None) after its refusal was shown as an error message."""
        try:
            result = call()
        except BillingError as error:
            messages.error(request, error.message)
            return False, None
        message = success(result)
        if isinstance(message, ResultMessage):
            messages.add_message(request, message.level, message.text)
        else:
            messages.success(request, message)
        return True, result

    def intent_act(
        self,
        request: HttpRequest,
        *,
        call: Callable[[], Any],
        success: Callable[[Any], str | ResultMessage],
        success_url: str | Callable[[Any], str],
    ) -> HttpResponse | None:
        """Call the service once for the form's key: the redirect after a success (its message kept with the key),
        or None after a refusal, shown as an error message (the key stays free for the corrected form)."""
        try:
            result = call()
        except BillingError as error:
            messages.error(request, error.message)
            return None
        message = success(result)
        if not isinstance(message, ResultMessage):
            message = ResultMessage(message)
        url = success_url(result) if callable(success_url) else success_url
        return intent_redirect(request, url, message=message.text, level=message.level)

    def action_post(
        self,
        request: HttpRequest,
        *,
        permission: str | tuple[str, ...],
        call: Callable[[], Any],
        success: Callable[[Any], str | ResultMessage],
        redirect_url: str,
    ) -> HttpResponse:
        """A button that acts at once (the view is POST-only)."""
        self.permission_require(request, permission)
        request.billing_intent = intent_from_post(request)
        if request.billing_intent is None:
            messages.error(request, INTENT_OUT_OF_DATE)
            return HttpResponseRedirect(redirect_url)
        try:
            intent_check_unused(actor=self.actor(request))
            response = self.intent_act(request, call=call, success=success, success_url=redirect_url)
        except IntentRepeated as repeated:
            return intent_repeat_response(request, repeated, fallback_url=redirect_url)
        return response or HttpResponseRedirect(redirect_url)

    def form_page(
        self,
        request: HttpRequest,
        *,
        obj,
        permission: str | tuple[str, ...] | None,
        form: forms.Form,
        call: Callable[[], Any],
        success: Callable[[Any], str | ResultMessage],
        success_url: str | Callable[[Any], str],
        title: str,
        submit_label: str,
        cancel_url: str,
        template: str = ACTION_FORM_TEMPLATE,
        **extra,
    ) -> HttpResponse:
        """A page with a form (or a confirmation): GET shows it, a valid POST calls the service and redirects;
        invalid input or a refusal shows the page again with what was typed (and the same key). A form sent again
        shows the first outcome, even when the first submission changed what the form accepts."""
        self.permission_require(request, permission)
        if request.method == "POST":
            request.billing_intent = intent_from_post(request)
            try:
                if request.billing_intent is not None:
                    intent_check_unused(actor=self.actor(request))
                if not form.is_valid():
                    if request.billing_intent is not None:
                        intent_check_unused(actor=self.actor(request))
                elif request.billing_intent is None:
                    form.add_error(None, INTENT_OUT_OF_DATE)
                else:
                    response = self.intent_act(request, call=call, success=success, success_url=success_url)
                    if response is not None:
                        return response
            except IntentRepeated as repeated:
                return intent_repeat_response(request, repeated, fallback_url=cancel_url)
        context = self.page_context(
            request, obj=obj, title=title, form=form, submit_label=submit_label, cancel_url=cancel_url, **extra
        )
        return TemplateResponse(request, template, context)


class ReadOnlyAdmin(BillingAdminMixin, admin.ModelAdmin):
    """Rows that only services write: listed and shown, never added, edited or deleted here."""

    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
