"""Read-only lists of the audit trail and the money balance ledger: rows are written by services only."""

from django.contrib import admin
from django.utils.translation import gettext_lazy

from billing.activity import Actor
from billing.admin.base import ReadOnlyAdmin
from billing.admin.lists import MemberFilter, currency_filter, distinct_values, member_filter_media, values_filter
from billing.models import Activity, MoneyBalanceEntry

ACTOR_KINDS = (Actor.STAFF, Actor.MEMBER, Actor.SYSTEM, Actor.GATEWAY)


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "verb", "actor_label", "member", "invoice", "amount", "status_before", "status_after")
    list_filter = (
        values_filter("verb", gettext_lazy("verb"), lambda model: distinct_values(model.objects.all(), "verb")),
        values_filter("actor_kind", gettext_lazy("actor kind"), lambda model: ACTOR_KINDS),
    )
    search_fields = ("verb", "actor_label", "member__name", "invoice__number", "message")
    list_select_related = ("member", "invoice")
    date_hierarchy = "created_at"


@admin.register(MoneyBalanceEntry)
class MoneyBalanceEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "member", "kind", "amount", "invoice", "note", "actor_label")
    list_filter = ("kind", currency_filter("amount_currency"), MemberFilter)
    search_fields = ("member__name", "invoice__number", "note")
    list_select_related = ("member", "invoice")
    date_hierarchy = "created_at"

    @property
    def media(self):
        return super().media + member_filter_media(MoneyBalanceEntry)
