"""The activity log read as sentences: “Front desk recorded €40.00 in cash from Léa Martin for INV-2026-00015.”

One sentence per verb the services write (`SENTENCES`; tests/billing/admin/test_activity_sentences.py fails when a
verb is written without one). A sentence is a translatable core, then the optional phrases of the parts the record
has (“from <member>”, “for <invoice>”): a part the record lacks is left out, never printed as “None”. Amounts carry
their currency (`money_format`), times are in the space's time zone to the minute, and the objects link to their
admin pages. The rows' related objects come in the list's one query (`activities_prepare`), never one per row.
"""

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html import unescape

from django.db.models import Case, OuterRef, QuerySet, Subquery, When
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.html import conditional_escape, escape, format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from billing.money import money_format
from payments.models import ExternalKind, Payment

TIME_FORMAT = "Y-m-d H:i"

# The target types with an admin page, as (app label, model) of their content type.
ADMIN_PAGES = {
    ("billing", "invoice"),
    ("members", "member"),
    ("billing", "creditnote"),
    ("billing", "moneybalanceentry"),
    ("payments", "payment"),
    ("payments", "webhookevent"),
    ("bank", "banktransaction"),
    ("bank", "statementimport"),
}


@dataclass(frozen=True)
class Sentence:
    """`core` names the parts every record of the verb has; `phrases` follow it, each only when its part is there,
    in their order. The parts: actor, amount, member, invoice, payment, credit_note, card, method, reason, when,
    invoices, event."""

    core: Promise
    phrases: tuple[tuple[str, Promise], ...] = ()


FROM_MEMBER = ("member", gettext_lazy("from %(member)s"))
TO_MEMBER = ("member", gettext_lazy("to %(member)s"))
OF_MEMBER = ("member", gettext_lazy("of %(member)s"))
FOR_INVOICE = ("invoice", gettext_lazy("for %(invoice)s"))
ON_INVOICE = ("invoice", gettext_lazy("on %(invoice)s"))
TO_INVOICE = ("invoice", gettext_lazy("to %(invoice)s"))
FROM_INVOICE = ("invoice", gettext_lazy("from %(invoice)s"))
OF_PAYMENT = ("payment", gettext_lazy("of payment %(payment)s"))
ON_CARD = ("card", gettext_lazy("on %(card)s"))

SENTENCES: dict[str, Sentence] = {
    # Payments
    "payment.received": Sentence(
        gettext_lazy("%(actor)s recorded %(amount)s"), (("method", "%(method)s"), FROM_MEMBER, FOR_INVOICE)
    ),
    "payment.charge_requested": Sentence(
        gettext_lazy("%(actor)s requested a card charge of %(amount)s"), (ON_CARD, FROM_MEMBER, FOR_INVOICE)
    ),
    "payment.succeeded": Sentence(gettext_lazy("The card payment of %(amount)s succeeded"), (FROM_MEMBER, FOR_INVOICE)),
    "payment.failed": Sentence(
        gettext_lazy("The card payment of %(amount)s failed"),
        (FROM_MEMBER, FOR_INVOICE, ("when", gettext_lazy("(next retry on %(when)s)"))),
    ),
    "payment.retried": Sentence(
        gettext_lazy("%(actor)s retried the card payment of %(amount)s"), (ON_CARD, FROM_MEMBER, FOR_INVOICE)
    ),
    "payment.canceled": Sentence(
        gettext_lazy("%(actor)s canceled the card payment of %(amount)s"), (FROM_MEMBER, FOR_INVOICE)
    ),
    "payment.voided": Sentence(
        gettext_lazy("%(actor)s voided the payment of %(amount)s"),
        (FROM_MEMBER, ("invoices", gettext_lazy("and reopened %(invoices)s"))),
    ),
    "payment.refunded": Sentence(
        gettext_lazy("%(actor)s refunded %(amount)s of a payment"),
        (TO_MEMBER, ("invoices", gettext_lazy("taken back from %(invoices)s"))),
    ),
    "payment.allocated": Sentence(gettext_lazy("%(actor)s allocated %(amount)s"), (OF_PAYMENT, TO_INVOICE)),
    "payment.unallocated": Sentence(gettext_lazy("%(actor)s unallocated %(amount)s"), (OF_PAYMENT, FROM_INVOICE)),
    "payment.reallocated": Sentence(gettext_lazy("%(actor)s allocated %(amount)s again"), (OF_PAYMENT, TO_INVOICE)),
    "payment.disputed": Sentence(
        gettext_lazy("The gateway reported a dispute on a card payment"),
        (FROM_MEMBER, FOR_INVOICE, ("reason", gettext_lazy("(reason: %(reason)s)"))),
    ),
    "payment.needs_review": Sentence(
        gettext_lazy("The card charge of %(amount)s needs review: the gateway's answer is still unknown"),
        (FROM_MEMBER, FOR_INVOICE),
    ),
    "payment.retries_stopped": Sentence(
        gettext_lazy("The automatic retries of the card payment of %(amount)s stopped"), (FROM_MEMBER, FOR_INVOICE)
    ),
    "payment.retries_canceled": Sentence(
        gettext_lazy("The automatic retries of the card payment of %(amount)s were canceled"),
        (FROM_MEMBER, FOR_INVOICE),
    ),
    # Saved cards
    "payment_method.added": Sentence(gettext_lazy("%(actor)s saved the card %(card)s"), (OF_MEMBER,)),
    "payment_method.default_set": Sentence(gettext_lazy("%(actor)s made %(card)s the default card"), (OF_MEMBER,)),
    "payment_method.removed": Sentence(gettext_lazy("%(actor)s removed the card %(card)s"), (OF_MEMBER,)),
    # Refunds
    "refund.requested": Sentence(
        gettext_lazy("%(actor)s requested a refund of %(amount)s to the card"), (OF_PAYMENT, TO_MEMBER)
    ),
    "refund.recorded": Sentence(gettext_lazy("%(actor)s recorded a refund of %(amount)s"), (OF_PAYMENT, TO_MEMBER)),
    "refund.succeeded": Sentence(gettext_lazy("The refund of %(amount)s to the card succeeded"), (TO_MEMBER,)),
    "refund.failed": Sentence(gettext_lazy("The refund of %(amount)s to the card failed"), (TO_MEMBER,)),
    "refund.failed_after_success": Sentence(
        gettext_lazy(
            "The refund of %(amount)s failed after it had succeeded: the money is back on the payment as credit"
        ),
        (OF_MEMBER,),
    ),
    "refund.needs_review": Sentence(
        gettext_lazy("The refund of %(amount)s needs review: the gateway's answer is still unknown"), (TO_MEMBER,)
    ),
    # Invoices
    "invoice.issued": Sentence(gettext_lazy("%(actor)s issued %(invoice)s for %(amount)s"), (TO_MEMBER,)),
    "invoice.updated": Sentence(gettext_lazy("%(actor)s edited the draft %(invoice)s"), (OF_MEMBER,)),
    "invoice.draft_deleted": Sentence(gettext_lazy("%(actor)s deleted a draft invoice of %(amount)s"), (OF_MEMBER,)),
    "invoice.voided": Sentence(gettext_lazy("%(actor)s voided %(invoice)s of %(amount)s"), (OF_MEMBER,)),
    "invoice.marked_uncollectible": Sentence(
        gettext_lazy("%(actor)s marked %(invoice)s uncollectible with %(amount)s remaining"), (OF_MEMBER,)
    ),
    "invoice.paid": Sentence(gettext_lazy("%(invoice)s is paid in full"), (OF_MEMBER,)),
    "invoice.reopened": Sentence(gettext_lazy("%(invoice)s is open again with %(amount)s remaining"), (OF_MEMBER,)),
    "invoice.overpaid": Sentence(
        gettext_lazy("%(amount)s paid beyond %(invoice)s stays unallocated as credit"), (OF_MEMBER,)
    ),
    # Credit notes
    "credit_note.issued": Sentence(
        gettext_lazy("%(actor)s issued the credit note %(credit_note)s of %(amount)s"), (FOR_INVOICE, TO_MEMBER)
    ),
    "credit_note.voided": Sentence(
        gettext_lazy("%(actor)s voided the credit note %(credit_note)s of %(amount)s"), (FOR_INVOICE, OF_MEMBER)
    ),
    # Money balance
    "balance.credited": Sentence(gettext_lazy("%(actor)s credited %(amount)s to the money balance"), (OF_MEMBER,)),
    "balance.debited": Sentence(gettext_lazy("%(actor)s debited %(amount)s from the money balance"), (OF_MEMBER,)),
    "balance.applied": Sentence(gettext_lazy("%(actor)s applied %(amount)s of money balance"), (OF_MEMBER, TO_INVOICE)),
    "balance.returned": Sentence(
        gettext_lazy("%(actor)s gave %(amount)s back to the money balance"), (OF_MEMBER, FROM_INVOICE)
    ),
    "payment.excess_unallocated": Sentence(
        gettext_lazy("%(amount)s of a payment is more than its invoices asked for and stays unallocated as credit"),
        (OF_MEMBER,),
    ),
    # Bank transfers
    "bank_statement.imported": Sentence(gettext_lazy("%(actor)s imported a bank statement")),
    "bank_transaction.matched": Sentence(
        gettext_lazy("%(actor)s proposed a match for a bank transfer of %(amount)s"), (FROM_MEMBER,)
    ),
    "bank_transaction.recorded": Sentence(
        gettext_lazy("%(actor)s confirmed a bank transfer of %(amount)s"), (FROM_MEMBER, OF_PAYMENT)
    ),
    "bank_transaction.ignored": Sentence(gettext_lazy("%(actor)s ignored a bank transaction of %(amount)s")),
    "bank_transaction.undone": Sentence(
        gettext_lazy("%(actor)s undid a bank transfer of %(amount)s"), (FROM_MEMBER, OF_PAYMENT)
    ),
    # Webhooks
    "webhook.reprocessed": Sentence(gettext_lazy("%(actor)s asked to process the gateway event %(event)s again")),
}

# Verbs whose message the service writes itself (it repeats the sentence); the others carry a person's note, a
# reason or the gateway's answer, shown under the sentence.
MESSAGE_REPEATS_SENTENCE = {
    "invoice.overpaid",
    "payment.excess_unallocated",
    "payment.retries_canceled",
    "refund.failed_after_success",
    "payment.needs_review",
    "refund.needs_review",
    "payment_method.added",
    "payment_method.default_set",
    "payment_method.removed",
}

METHODS = {
    ExternalKind.CASH: gettext_lazy("in cash"),
    ExternalKind.CHECK: gettext_lazy("by check"),
    ExternalKind.BANK_TRANSFER: gettext_lazy("by bank transfer"),
    ExternalKind.OTHER: gettext_lazy("by other means"),
}

ACTOR_KINDS = {
    "staff": gettext_lazy("Staff"),
    "member": gettext_lazy("The member"),
    "system": gettext_lazy("The system"),
    "gateway": gettext_lazy("The gateway"),
}


def activities_prepare(activities):
    """The rows with what their sentences read, in the same one query: a queryset gets its related rows joined and
    the kind of an external payment annotated; anything else (a list) is returned as it is."""
    if not isinstance(activities, QuerySet):
        return activities
    payment_kind = Payment.objects.filter(pk=OuterRef("target_id")).values("external_kind")[:1]
    return activities.select_related("member", "invoice", "actor_user", "target_type").annotate(
        payment_kind=Case(
            When(
                verb="payment.received",
                target_type__app_label="payments",
                target_type__model="payment",
                then=Subquery(payment_kind),
            )
        )
    )


def activity_when(activity) -> str:
    """The time in the space's time zone, to the minute: 2026-03-01 14:05."""
    return date_format(timezone.localtime(activity.created_at), TIME_FORMAT)


def _link(url: str | None, text) -> SafeString:
    return format_html('<a href="{}">{}</a>', url, text) if url else conditional_escape(text)


def _admin_url(app_label: str, model: str, pk) -> str | None:
    if pk is None or (app_label, model) not in ADMIN_PAGES:
        return None
    try:
        return reverse(f"admin:{app_label}_{model}_change", args=[pk])
    except NoReverseMatch:
        return None


def activity_target_url(activity) -> str | None:
    """The admin page of the record's object (a payment, a credit note, a balance entry), when it has one."""
    target_type = activity.target_type
    if target_type is None:
        return None
    return _admin_url(target_type.app_label, target_type.model, activity.target_id)


def _target_is(activity, app_label: str, model: str) -> bool:
    target_type = activity.target_type
    return target_type is not None and (target_type.app_label, target_type.model) == (app_label, model)


def activity_actor(activity) -> str:
    """Who acted: the staff user's full name (else their login), the member's name, the system task's label."""
    user = activity.actor_user
    if user is not None:
        full_name = user.get_full_name().strip()
        if full_name:
            return full_name
    if activity.actor_kind == "member" and activity.member is not None:
        return str(activity.member.name)
    if activity.actor_label:
        return capfirst(activity.actor_label)
    return str(ACTOR_KINDS.get(activity.actor_kind, activity.actor_kind or _("Someone")))


def _money(value, currency: str | None) -> str | None:
    if value in (None, "") or not currency:
        return None
    try:
        return money_format(Money(Decimal(str(value)), currency))
    except (InvalidOperation, ValueError, TypeError):
        return None


def _parts(activity) -> dict[str, SafeString]:
    """The record's parts as escaped HTML, links included; a part it lacks is not in the dict."""
    data = activity.data if isinstance(activity.data, dict) else {}
    parts: dict[str, SafeString] = {"actor": conditional_escape(activity_actor(activity))}
    target_url = activity_target_url(activity)
    if activity.amount is not None:
        parts["amount"] = _link(target_url, money_format(activity.amount))
    if activity.member_id is not None and activity.member is not None:
        parts["member"] = _link(_admin_url("members", "member", activity.member_id), activity.member.name)
    if activity.invoice_id is not None and activity.invoice is not None:
        parts["invoice"] = _link(_admin_url("billing", "invoice", activity.invoice_id), str(activity.invoice))
    if data.get("payment"):
        payment_url = target_url if _target_is(activity, "payments", "payment") else None
        parts["payment"] = _link(payment_url, data["payment"])
    if data.get("credit_note"):
        note_url = target_url if _target_is(activity, "billing", "creditnote") else None
        parts["credit_note"] = _link(note_url, data["credit_note"])
    card = data.get("card") or (activity.message if activity.verb.startswith("payment_method.") else "")
    if card:
        parts["card"] = conditional_escape(card)
    method = METHODS.get(getattr(activity, "payment_kind", None) or "")
    if method is not None:
        parts["method"] = conditional_escape(method)
    if data.get("reason") and activity.verb == "payment.disputed":
        parts["reason"] = conditional_escape(str(data["reason"]).replace("_", " "))
    retry_at = parse_datetime(data["next_retry_at"]) if isinstance(data.get("next_retry_at"), str) else None
    if retry_at is not None:
        parts["when"] = conditional_escape(date_format(timezone.localtime(retry_at), TIME_FORMAT))
    invoices = data.get("invoices_reopened") or (
        list(data["invoices"]) if isinstance(data.get("invoices"), dict) else []
    )
    if invoices:
        parts["invoices"] = conditional_escape(", ".join(str(number) for number in invoices))
    if data.get("event"):
        parts["event"] = _link(target_url, data["event"])
    return parts


def _fallbacks() -> dict[str, str]:
    """What a core reads when the record lacks a part it names (old or hand-written rows)."""
    return {
        "actor": _("Someone"),
        "amount": _("an amount"),
        "member": _("a member"),
        "invoice": _("an invoice"),
        "payment": _("a payment"),
        "credit_note": _("a credit note"),
        "card": _("a card"),
        "event": _("an event"),
    }


def activity_sentence(activity) -> SafeString:
    """The record as one sentence of HTML, its objects linked; a verb without a sentence reads as its code."""
    parts = _parts(activity)
    sentence = SENTENCES.get(activity.verb)
    if sentence is None:
        text = _("%(actor)s: %(verb)s") % {"actor": parts["actor"], "verb": escape(activity.verb)}
        return mark_safe(text + ".")
    values = {name: escape(value) for name, value in _fallbacks().items()} | parts
    pieces = [escape(str(sentence.core)) % values]
    for name, phrase in sentence.phrases:
        if name in parts:
            pieces.append(escape(str(phrase)) % parts)
    text = " ".join(pieces)
    if text[:1].isalpha():
        text = capfirst(text)
    return mark_safe(text + ".")


def activity_text(activity) -> str:
    """The sentence as plain text (tests, titles)."""
    return unescape(strip_tags(activity_sentence(activity)))


def activity_note(activity) -> str:
    """The person's note, reason or the gateway's answer recorded with it, when the sentence does not say it."""
    if activity.verb in MESSAGE_REPEATS_SENTENCE:
        return ""
    return activity.message.strip()


def activity_data_json(activity) -> str:
    """The raw record, for whoever needs the codes: verb, statuses and data, as indented JSON."""
    raw = {"verb": activity.verb, "actor": f"{activity.actor_kind}: {activity.actor_label}".rstrip(": ")}
    if activity.status_before or activity.status_after:
        raw["status"] = f"{activity.status_before or '–'} → {activity.status_after or '–'}"
    if activity.data:
        raw["data"] = activity.data
    return json.dumps(raw, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@dataclass(frozen=True)
class ActivityRow:
    """What a page shows of one record."""

    activity: object
    when: str
    sentence: SafeString
    note: str
    data_json: str
    url: str


def activity_rows(activities) -> list[ActivityRow]:
    """The rows of an activity section (the invoice, payment and credit note pages), from their one query."""
    return [
        ActivityRow(
            activity=activity,
            when=activity_when(activity),
            sentence=activity_sentence(activity),
            note=activity_note(activity),
            data_json=activity_data_json(activity),
            url=reverse("admin:billing_activity_change", args=[activity.pk]),
        )
        for activity in activities_prepare(activities)
    ]
