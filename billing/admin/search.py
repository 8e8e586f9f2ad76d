"""The admin lists' search: each word typed is looked for without regard to accents or case (`lea` finds "Léa"), in
the list's text columns, and, when it reads as one, as an amount (`40.00`, or `40,00` as a decimal-comma space
types it) or as a card's last 4 digits.

Accents are removed in the database on both sides of the comparison: PostgreSQL's `unaccent` extension (created by
billing's migration 0007), and on SQLite a Python function registered on the connection that does the same for
the letters people type (decomposed accents, and ß, æ, œ, ø, ł, đ)."""

import re
import unicodedata
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import reduce
from operator import and_, or_

from django.conf import settings
from django.db.models import CharField, Expression, F, Func, Q, QuerySet, Value
from django.db.models.lookups import IContains
from django.utils.text import smart_split, unescape_string_literal

from billing.errors import BillingError
from billing.money import amount_read
from members.models import Member

SQLITE_FUNCTION = "BILLING_UNACCENT"

# The letters that Unicode does not decompose into a base letter and an accent, as PostgreSQL's unaccent reads them.
LETTERS_UNDECOMPOSED = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D"}
)

# An amount typed with a decimal point or comma and two decimals, as people type it whatever the space's locale.
AMOUNT_EITHER_SEPARATOR = re.compile(r"[1-9][0-9]{0,11}[.,][0-9]{2}|0[.,][0-9]{2}")
LAST_FOUR = re.compile(r"[0-9]{4}")


def text_unaccented(text: str | None) -> str | None:
    """`text` lowercased, without its accents: SQLite's stand-in for PostgreSQL's `unaccent` (lowercased too, since
    SQLite's LIKE ignores the case of ASCII letters only)."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", str(text).translate(LETTERS_UNDECOMPOSED))
    return "".join(character for character in decomposed if not unicodedata.combining(character)).casefold()


class Unaccent(Func):
    """Text without its accents, for comparisons that ignore them (on other databases, the text as it is)."""

    function = "UNACCENT"
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        # The cast picks `unaccent(text)` among the extension's functions for a parameter too.
        return self.as_sql(compiler, connection, template="UNACCENT((%(expressions)s)::text)", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        connection.ensure_connection()
        connection.connection.create_function(SQLITE_FUNCTION, 1, text_unaccented, deterministic=True)
        return self.as_sql(compiler, connection, function=SQLITE_FUNCTION, **extra_context)

    def as_sql(self, compiler, connection, **extra_context):
        if connection.vendor not in ("postgresql", "sqlite"):
            extra_context.setdefault("template", "%(expressions)s")
        return super().as_sql(compiler, connection, **extra_context)


def search_words(search_term: str) -> list[str]:
    """The words of a search, as Django's own search splits them ("quoted words" stay together)."""
    words = []
    for word in smart_split(search_term):
        if word.startswith(('"', "'")) and word[0] == word[-1] and len(word) > 1:
            word = unescape_string_literal(word)
        if word.strip():
            words.append(word)
    return words


def members_named(word: str) -> Q:
    """The rows of the members whose name or email contains `word`, accents and case aside: the members table is
    searched once (it is much smaller than their invoices or payments), the rows are found by their member."""
    return Q(member__in=Member.objects.filter(text_contains(["name", "email"], word)).values("pk"))


def text_contains(fields: Iterable[str | Expression], word: str) -> Q:
    """Any of the text `fields` contains `word`, accents and case aside."""
    wanted = Unaccent(Value(word, output_field=CharField()))
    return reduce(
        or_,
        (Q(IContains(Unaccent(F(field) if isinstance(field, str) else field), wanted)) for field in fields),
    )


def word_amounts(word: str) -> set[Decimal]:
    """The amounts `word` can be read as: in the space's locale (`1,234.50` in en, `1.234,50` in de), or with a
    decimal point or comma and two decimals as people type it anywhere (`40,00`, `40.00`). Empty when it is not an
    amount: the search then looks for it as text only."""
    amounts = set()
    for currency in dict.fromkeys([settings.BILLING_DEFAULT_CURRENCY, "EUR"]):
        try:
            amounts.add(amount_read(word, currency).amount)
            break
        except (BillingError, ArithmeticError, ValueError):
            continue
    if AMOUNT_EITHER_SEPARATOR.fullmatch(word):
        amounts.add(Decimal(word.replace(",", ".")))
    return {amount for amount in amounts if amount > 0 and not (word.startswith("0") and amount >= 1)}


def amount_equals(fields: Iterable[str], word: str) -> Q | None:
    """Any of the amount `fields` equals an amount `word` reads as, or None when it reads as none."""
    amounts = word_amounts(word)
    if not amounts:
        return None
    return reduce(or_, (Q(**{f"{field}__in": sorted(amounts)}) for field in fields))


def is_last_four(word: str) -> bool:
    return LAST_FOUR.fullmatch(word) is not None


def has_digit(word: str) -> bool:
    """Whether `word` may be a document number or a payment reference (check numbers, transfer ids): the searches
    of other tables' numbers and references, which read every row of those tables, are made for such words only,
    not for a name."""
    return any(character in "0123456789" for character in word)


def search_queryset(queryset: QuerySet, search_term: str, word_matches: Callable[[str], Q]) -> tuple[QuerySet, bool]:
    """The rows where every word of the search matches (`word_matches(word)`), as `get_search_results` answers:
    the matches are conditions on the row and EXISTS subqueries, so no row is listed twice."""
    words = search_words(search_term)
    if not words:
        return queryset, False
    return queryset.filter(reduce(and_, (word_matches(word) for word in words))), False


class WordSearchMixin:
    """A ModelAdmin whose search matches each word with `word_search(word)` (a Q on the list's model), accents
    and case aside. `search_fields` still shows the search box (and serves Django's autocomplete widgets' help)."""

    word_search: Callable[[str], Q]

    def get_search_results(self, request, queryset, search_term):
        if "\x00" in search_term:  # PostgreSQL refuses NUL in a query (the autocomplete does not refuse it).
            return queryset.none(), False
        return search_queryset(queryset, search_term, self.word_search)
