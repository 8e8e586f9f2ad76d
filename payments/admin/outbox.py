"""The outbox, read-only: the work after a commit (tasks, mail) that waits for the broker or the mail server, with
the last error; the relay hands it over again (`payments.outbox.outbox_relay`)."""

from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.admin.base import ReadOnlyAdmin
from payments.models import OutboxMessage


class OutboxStateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("waiting", _("Waiting")), ("done", _("Done"))]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(done_at__isnull=True)
        if self.value() == "done":
            return queryset.filter(done_at__isnull=False)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "task", "arguments", "attempts", "next_attempt_at", "done_at", "last_error")
    list_filter = (OutboxStateFilter, "task")
    search_fields = ("task", "last_error")
    date_hierarchy = "created_at"
