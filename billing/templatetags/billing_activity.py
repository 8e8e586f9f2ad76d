"""The activity sections of the object pages (invoice, payment, credit note) read as sentences."""

from django import template

from billing.admin.activity_sentences import activity_rows as rows_of

register = template.Library()


@register.filter
def activity_rows(activities):
    """The page's activity records as rows (time, sentence, note, raw data), from the records' one query."""
    return rows_of(activities)
