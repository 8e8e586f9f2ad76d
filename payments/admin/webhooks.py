"""The gateway's webhook events, read-only: what arrived, whether it was processed, and the error of those that
failed. Those not processed can be reprocessed (a permission of their own)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.admin.base import ReadOnlyAdmin
from billing.errors import BillingError
from payments.dashboard import webhook_events_failed
from payments.models import WebhookEvent
from payments.services.webhook import webhook_event_reprocess

REPROCESS_WEBHOOK_EVENT = "payments.reprocess_webhookevent"


class WebhookEventStateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("failed", _("Failed for good")), ("waiting", _("Waiting")), ("processed", _("Processed"))]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return webhook_events_failed(queryset)
        if self.value() == "waiting":
            return queryset.filter(processed_at__isnull=True, failed_at__isnull=True)
        if self.value() == "processed":
            return queryset.filter(processed_at__isnull=False)
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "type", "event_id", "state_badge", "attempts", "processing_error")
    list_filter = (WebhookEventStateFilter, "type", "gateway")
    search_fields = ("event_id", "type", "processing_error")
    date_hierarchy = "received_at"
    actions = ["reprocess"]
    fields = (
        "gateway",
        "event_id",
        "type",
        "received_at",
        "processed_at",
        "failed_at",
        "attempts",
        "last_attempt_at",
        "processing_error",
        "payload",
    )

    @admin.display(description=gettext_lazy("State"))
    def state_badge(self, event: WebhookEvent) -> str:
        labels = {"processed": _("Processed"), "failed": _("Failed"), "waiting": _("Waiting")}
        badge = {"processed": "succeeded", "failed": "failed", "waiting": "pending"}[event.state]
        return format_html('<span class="billing-badge billing-badge--{}">{}</span>', badge, labels[event.state])

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPROCESS_WEBHOOK_EVENT)

    @admin.action(description=gettext_lazy("Reprocess the selected events"), permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        for event in queryset.order_by("received_at", "pk"):
            try:
                event = webhook_event_reprocess(webhook_event=event, actor=self.actor(request))
            except BillingError as error:
                messages.error(request, error.message)
                continue
            values = {"type": event.type, "event_id": event.event_id, "error": event.processing_error}
            if event.processed_at is not None:
                messages.success(request, _("%(type)s %(event_id)s reprocessed: processed.") % values)
            elif event.attempts:
                messages.warning(
                    request,
                    _(
                        "%(type)s %(event_id)s was tried again and failed: %(error)s It is tried again by the "
                        "periodic sweep."
                    )
                    % values,
                )
            else:
                messages.success(request, _("%(type)s %(event_id)s is queued to be processed again.") % values)
