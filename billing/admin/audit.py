"""Read-only lists of the audit trail and the money balance ledger: rows are written by services only."""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.activity import Actor
from billing.admin.activity_sentences import (
    activities_prepare,
    activity_actor,
    activity_data_json,
    activity_note,
    activity_sentence,
    activity_target_url,
    activity_when,
)
from billing.admin.base import ReadOnlyAdmin
from billing.admin.lists import MemberFilter, currency_filter, distinct_values, values_filter
from billing.models import Activity, MoneyBalanceEntry

ACTOR_KINDS = (Actor.STAFF, Actor.MEMBER, Actor.SYSTEM, Actor.GATEWAY)


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    """Each record as a sentence with its objects linked, in the space's time zone; the raw codes and data one click
    away (a <details> in the list, the record's page)."""

    list_display = ("when", "sentence")
    list_display_links = ("when",)
    list_filter = (
        values_filter("verb", gettext_lazy("verb"), lambda model: distinct_values(model.objects.all(), "verb")),
        values_filter("actor_kind", gettext_lazy("actor kind"), lambda model: ACTOR_KINDS),
    )
    search_fields = ("verb", "actor_label", "member__name", "invoice__number", "message")
    list_select_related = ("member", "invoice", "actor_user", "target_type")
    date_hierarchy = "created_at"
    fields = ("when", "sentence", "actor", "member", "invoice", "target", "raw_data")
    readonly_fields = fields

    def get_queryset(self, request):
        return activities_prepare(super().get_queryset(request))

    @admin.display(description=gettext_lazy("when"), ordering="created_at")
    def when(self, activity):
        return activity_when(activity)

    @admin.display(description=gettext_lazy("activity"))
    def sentence(self, activity):
        note = activity_note(activity)
        return format_html(
            '{}{}<details class="billing-quiet"><summary>{}</summary><pre>{}</pre></details>',
            activity_sentence(activity),
            format_html('<div class="billing-quiet">{}</div>', note) if note else "",
            gettext_lazy("Data"),
            activity_data_json(activity),
        )

    @admin.display(description=gettext_lazy("actor"))
    def actor(self, activity):
        return activity_actor(activity)

    @admin.display(description=gettext_lazy("object"))
    def target(self, activity):
        url = activity_target_url(activity)
        if activity.target_type is None:
            return "–"
        label = _("%(type)s #%(id)s") % {"type": activity.target_type.name, "id": activity.target_id}
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description=gettext_lazy("data"))
    def raw_data(self, activity):
        return format_html("<pre>{}</pre>", activity_data_json(activity))


@admin.register(MoneyBalanceEntry)
class MoneyBalanceEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "member", "kind", "amount", "invoice", "note", "actor_label")
    list_filter = ("kind", currency_filter("amount_currency"), MemberFilter)
    search_fields = ("member__name", "invoice__number", "note")
    list_select_related = ("member", "invoice")
    date_hierarchy = "created_at"
