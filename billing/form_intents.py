"""What the admin and the portal pages share about one-time form keys (spec 11, once per intent; the domain side is
billing/intents.py): reading the key a form sent, remembering what the first submission showed, and answering a
submission sent again with that outcome."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from billing.intents import Intent, IntentRepeated, intent_outcome_store, intent_outcome_wait, intent_parse

INTENT_FIELD = "intent_key"
INTENT_OUT_OF_DATE = _("This form is out of date: reload the page and submit it again.")
INTENT_ALREADY_SUBMITTED = _("This form was already submitted.")


def intent_from_post(request: HttpRequest) -> Intent | None:
    """The key the submitted form carries, named after the form's page (its URL name); None when it is missing or
    malformed."""
    key = intent_parse(request.POST.get(INTENT_FIELD))
    if key is None:
        return None
    return Intent(key=key, action=request.resolver_match.url_name or request.path)


def intent_redirect(request: HttpRequest, url: str, *, message: str = "", level: int = messages.SUCCESS):
    """The answer to a submission that acted: its message, and the redirect; both are kept with the form's key for
    a repeat to show."""
    if message:
        messages.add_message(request, level, message)
    intent = getattr(request, "billing_intent", None)
    if intent is not None:
        intent_outcome_store(intent=intent, user=request.user, url=url, message=message, level=level)
    request.intent_answered = True
    return HttpResponseRedirect(url)


def intent_repeat_response(request: HttpRequest, repeated: IntentRepeated, *, fallback_url: str):
    """The answer to a form sent again: the first submission's page and message (only to the user who sent it, for
    the same form), after waiting briefly for the first to finish; else a neutral note on `fallback_url`. Messages
    this request queued before it knew it was a repeat (a refusal by the rules the first submission changed) are
    dropped: the first outcome is the answer."""
    for _message in messages.get_messages(request):
        pass
    if not repeated.belongs_to(user=request.user, action=request.billing_intent.action):
        messages.error(request, INTENT_OUT_OF_DATE)
        return HttpResponseRedirect(fallback_url)
    stored = intent_outcome_wait(repeated.intent)
    if stored is None:
        messages.info(request, INTENT_ALREADY_SUBMITTED)
        return HttpResponseRedirect(fallback_url)
    if stored.result_message:
        messages.add_message(request, stored.result_level or messages.SUCCESS, stored.result_message)
    return HttpResponseRedirect(stored.result_url)
