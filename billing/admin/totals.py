"""Totals of an admin list's filtered rows: per currency, summed by the database in one query, shown above the
rows (templates/admin/billing/list_totals.html)."""

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet, Sum
from djmoney.money import Money

from billing.admin.lists import ESTIMATE_FROM
from billing.money import money_from_db

# What a list shows where an amount means nothing (the remaining of a void invoice).
NO_AMOUNT = "—"


@dataclass(frozen=True)
class ListSum:
    """One column of the totals: `field` summed over the rows that meet `condition` (all of them when None)."""

    name: str
    label: str
    field: str
    condition: Q | None = None


@dataclass(frozen=True)
class ListTotalRow:
    currency: str
    count: int
    amounts: list[Money]


@dataclass(frozen=True)
class ListTotalsSpec:
    """What a list's totals sum: the rows per `currency_field` (the count titled `count_label`) and the `sums`;
    `note` says what they leave out."""

    currency_field: str
    count_label: str
    sums: list[ListSum]
    note: str = ""


@dataclass(frozen=True)
class ListTotals:
    """The totals of a list, one row per currency; `unsummed` when the list is a large table shown unfiltered,
    which is not summed (as it is not counted: billing/admin/lists.py)."""

    spec: ListTotalsSpec
    rows: list[ListTotalRow] = field(default_factory=list)
    unsummed: bool = False

    @property
    def labels(self) -> list[str]:
        return [column.label for column in self.spec.sums]


def list_totals(queryset: QuerySet, spec: ListTotalsSpec) -> ListTotals:
    """The rows of `queryset` and the spec's sums, per currency, in one grouped query."""
    currency_field = spec.currency_field
    rows = (
        queryset.order_by()
        .values(currency_field)
        .annotate(
            list_rows=Count("pk"),
            **{f"list_sum_{column.name}": Sum(column.field, filter=column.condition) for column in spec.sums},
        )
        .order_by(currency_field)
    )
    return ListTotals(
        spec=spec,
        rows=[
            ListTotalRow(
                currency=row[currency_field],
                count=row["list_rows"],
                amounts=[money_from_db(row[f"list_sum_{column.name}"], row[currency_field]) for column in spec.sums],
            )
            for row in rows
        ],
    )


class ListTotalsMixin:
    """A ModelAdmin whose list shows the totals of its filtered rows (`list_totals` in the context), as its
    `list_totals_spec` says.

    A large table listed without a filter or a search is not summed, since a sum reads every row as a count does:
    from ESTIMATE_FROM rows, the list asks for a filter instead."""

    list_totals_spec: ListTotalsSpec

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None)
        changelist = context.get("cl") if context else None
        if changelist is not None:
            if changelist.has_active_filters or changelist.query or changelist.result_count < ESTIMATE_FROM:
                context["list_totals"] = list_totals(changelist.queryset, self.list_totals_spec)
            else:
                context["list_totals"] = ListTotals(self.list_totals_spec, unsummed=True)
        return response
