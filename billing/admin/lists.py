"""What keeps an admin list as fast with 100k rows as with 1k: a paginator that does not count a large table, a
currency filter that offers the space's currencies (no DISTINCT over the table) and a member filter that looks a
member up as the user types (no list of every member)."""

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy

from billing.admin.fields import ObjectAutocompleteSelect, currency_choices, object_id_parse
from members.models import Member

# From this many rows (PostgreSQL's estimate of the table), an unfiltered list shows the estimate instead of counting.
ESTIMATE_FROM = 10_000
# A filtered list counts its rows up to this many: past it, the list shows this many (its last pages are not linked).
COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """The admin's paginator, without a full COUNT of a large table.

    An unfiltered list of a table PostgreSQL estimates at ESTIMATE_FROM rows or more takes the estimate
    (`pg_class.reltuples`, kept by autovacuum and ANALYZE); a filtered one counts at most COUNT_CAP rows. Smaller
    tables and other databases count exactly. One query either way."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return super().count
        query = queryset.query
        if not query.where and not query.distinct and not query.combinator and not query.is_sliced:
            table = connection.ops.quote_name(queryset.model._meta.db_table)
            with connection.cursor() as cursor:
                # The estimate when it is large, else the exact count: one round trip.
                cursor.execute(
                    f"SELECT CASE WHEN c.reltuples >= %s THEN c.reltuples::bigint ELSE (SELECT COUNT(*) FROM {table}) "
                    "END FROM pg_class c WHERE c.oid = %s::regclass",
                    [ESTIMATE_FROM, queryset.model._meta.db_table],
                )
                return int(cursor.fetchone()[0])
        return queryset.order_by()[:COUNT_CAP].count()


class LargeListAdminMixin:
    """A list of a table that grows without bound: no full COUNT (Django shows "Show all" only when it knows the
    count), the paginator above."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator


def currency_filter(field_path: str, title=None) -> type[admin.SimpleListFilter]:
    """A filter on a currency code field offering `settings.BILLING_CURRENCIES`, with the parameter Django's own
    filter of the field uses (`?currency=JPY`)."""

    class CurrencyFilter(admin.SimpleListFilter):
        parameter_name = field_path

        def lookups(self, request, model_admin):
            return currency_choices()

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{field_path: self.value()})
            return queryset

    CurrencyFilter.title = title or gettext_lazy("currency")
    CurrencyFilter.__name__ = f"CurrencyFilter_{field_path}"
    return CurrencyFilter


class MemberFilter(admin.SimpleListFilter):
    """The list's rows of one member, chosen with the admin's autocomplete (search by name or email) rather than
    from a list of every member. The parameter is Django's own (`?member__id__exact=12`), so links keep working."""

    title = gettext_lazy("member")
    parameter_name = "member__id__exact"
    template = "admin/billing/member_filter.html"
    field_path = "member"

    def has_output(self) -> bool:
        return True

    def lookups(self, request, model_admin):
        member = self.member()
        return [(str(member.pk), str(member))] if member is not None else []

    def member(self) -> Member | None:
        member_id = object_id_parse(self.value()) if self.value() else None
        if member_id is None:
            return None
        return Member.objects.filter(pk=member_id).first()

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        member_id = object_id_parse(self.value())
        if member_id is None:
            return queryset.none()
        return queryset.filter(**{f"{self.field_path}_id": member_id})

    def widget_html(self, model) -> str:
        widget = ObjectAutocompleteSelect(model._meta.get_field(self.field_path), admin.site)
        widget = forms.ModelChoiceField(Member.objects.all(), widget=widget).widget  # its choices: the queryset
        return widget.render(self.parameter_name, self.value() or "", attrs={"id": "member-filter-select"})

    def choices(self, changelist):
        # The form of the template: the other filters and the search kept as hidden fields.
        self.hidden_params = [
            (name, value)
            for name, value in changelist.get_filters_params().items()
            if name != self.parameter_name
            for value in (value if isinstance(value, list) else [value])
        ]
        for name in ("q", "o"):
            if changelist.params.get(name):
                self.hidden_params.append((name, changelist.params[name]))
        self.select_html = self.widget_html(changelist.model)
        yield from super().choices(changelist)


def list_filters_media(model_admin) -> forms.Media:
    """The scripts of the list's member filters (the admin's autocomplete), for the admin's `media`."""
    media = forms.Media()
    for entry in model_admin.list_filter:
        if isinstance(entry, type) and issubclass(entry, MemberFilter):
            media += ObjectAutocompleteSelect(model_admin.model._meta.get_field(entry.field_path), admin.site).media
    return media


def member_filter(field_path: str = "member") -> type[MemberFilter]:
    return type(f"MemberFilter_{field_path}", (MemberFilter,), {"field_path": field_path})


def distinct_values(queryset: QuerySet, field: str) -> list[str]:
    """The distinct values of an indexed text column, in order. On PostgreSQL, one index probe per value (a loose
    index scan: the smallest value, then the smallest above it, and so on), not a scan of every row."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql" or queryset.query.where:
        return list(queryset.order_by(field).values_list(field, flat=True).distinct())
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    column = connection.ops.quote_name(queryset.model._meta.get_field(field).column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE value AS (SELECT MIN({column}) AS v FROM {table} "  # noqa: S608 (names from the model)
            f"UNION ALL SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > value.v) FROM value "
            "WHERE value.v IS NOT NULL) SELECT v FROM value WHERE v IS NOT NULL"
        )
        return [row[0] for row in cursor.fetchall()]


def values_filter(field: str, title, lookups) -> type[admin.SimpleListFilter]:
    """A filter on a text column whose choices `lookups(model)` gives (no DISTINCT over a large table), with the
    parameter Django's own filter of the column uses."""

    class ValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return [(value, value) for value in lookups(model_admin.model)]

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{field: self.value()})
            return queryset

    ValuesFilter.title = title
    ValuesFilter.__name__ = f"ValuesFilter_{field}"
    return ValuesFilter
