"""The one-time key of a form that acts (spec 11, once per intent)."""

import uuid

from django import template
from django.utils.html import format_html

from billing.form_intents import INTENT_FIELD
from billing.intents import intent_parse
from billing.models import FormIntent

register = template.Library()


@register.simple_tag(takes_context=True)
def intent_field(context, reuse: bool = False) -> str:
    """The hidden key field: a fresh key, or with `reuse` (the page's own form, shown again after a POST that did
    not act: invalid input or a refusal) the key it was sent with, so that the corrected form is still the same
    intent. A key that acted already is never rendered again."""
    request = context.get("request")
    key = None
    if reuse and request is not None and request.method == "POST":
        key = intent_parse(request.POST.get(INTENT_FIELD))
        if key is not None and FormIntent.objects.filter(key=key).exists():
            key = None
    return format_html('<input type="hidden" name="{}" value="{}">', INTENT_FIELD, key or uuid.uuid4())
