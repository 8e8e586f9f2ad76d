"""The activity log reads as sentences: one per verb the services write, amounts with their currency, times in the
space's time zone to the minute, links to the objects, never “None”, and the raw data one click away."""

import ast
import datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.admin.activity_sentences import (
    SENTENCES,
    activities_prepare,
    activity_sentence,
    activity_text,
    activity_when,
)
from billing.models import Activity
from billing.services.money_balance_adjust import money_balance_adjust
from tests.factories import SYSTEM, MemberFactory, external_payment, open_invoice

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("billing", "payments", "members", "coworking_billing", "bank")


def written_verbs() -> set[str]:
    """Every verb a module of the project writes or reads: the string constants given as `verb=` (directly or in
    a conditional expression). A `verb=` that is neither is only allowed as `verb=verb`, a function passing on its
    caller's verb (whose callers give it as a constant)."""
    verbs, unknown = set(), []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            source = path.read_text()
            for node in ast.walk(ast.parse(source)):
                if not isinstance(node, ast.keyword) or node.arg != "verb":
                    continue
                constants = [
                    child.value
                    for child in ast.walk(node.value)
                    if isinstance(child, ast.Constant) and isinstance(child.value, str)
                ]
                if constants:
                    verbs.update(constants)
                elif not (isinstance(node.value, ast.Name) and node.value.id == "verb"):
                    unknown.append(f"{path.relative_to(ROOT)}: verb={ast.get_source_segment(source, node.value)}")
    assert unknown == [], "Write verbs as string constants so that their sentences can be checked:\n" + "\n".join(
        unknown
    )
    return verbs


def test_every_verb_the_code_writes_has_a_sentence():
    verbs = written_verbs()

    assert len(verbs) > 30
    assert sorted(verbs - set(SENTENCES)) == [], "Add a sentence for these verbs to billing/admin/activity_sentences.py"


def test_a_sentence_of_a_verb_no_code_writes_any_more_is_noticed():
    assert sorted(set(SENTENCES) - written_verbs()) == []


def prepared(activity: Activity) -> Activity:
    return activities_prepare(Activity.objects.filter(pk=activity.pk)).get()


@pytest.fixture
def front_desk(db):
    user = get_user_model().objects.create_superuser("desk", "desk@space.example", "password")
    user.first_name, user.last_name = "Front", "desk"
    user.save()
    return Actor.staff(user)


def test_an_external_payment_reads_who_recorded_how_much_in_what_from_whom_for_which_invoice(front_desk):
    member = MemberFactory(name="Léa Martin")
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00", kind="cash", actor=front_desk)
    received = prepared(Activity.objects.get(verb="payment.received"))

    html = activity_sentence(received)

    assert activity_text(received) == f"Front desk recorded €40.00 in cash from Léa Martin for {invoice.number}."
    assert f'<a href="{reverse("admin:payments_payment_change", args=[payment.pk])}">€40.00</a>' in html
    assert f'<a href="{reverse("admin:members_member_change", args=[member.pk])}">Léa Martin</a>' in html
    assert f'<a href="{reverse("admin:billing_invoice_change", args=[invoice.pk])}">{invoice.number}</a>' in html


def test_sentences_of_an_issued_invoice_its_allocation_and_a_balance_credit(db):
    member = MemberFactory(name="Léa Martin")
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00", kind="check")
    money_balance_adjust(member=member, amount=Money("10.00", "EUR"), is_credit=True, note="goodwill", actor=SYSTEM)
    text = {activity.verb: activity_text(activity) for activity in activities_prepare(Activity.objects.all())}

    assert text["invoice.issued"] == f"Tests issued {invoice.number} for €100.00 to Léa Martin."
    assert text["payment.received"] == f"Tests recorded €40.00 by check from Léa Martin for {invoice.number}."
    assert text["payment.allocated"] == f"Tests allocated €40.00 of payment {payment.number} to {invoice.number}."
    assert text["balance.credited"] == "Tests credited €10.00 to the money balance of Léa Martin."


def test_a_record_without_actor_member_invoice_or_amount_never_reads_none(db):
    bare = activity_record(actor=Actor(kind=Actor.SYSTEM), verb="payment.received")
    unknown = activity_record(actor=Actor(kind=Actor.GATEWAY), verb="something.new")

    assert activity_text(prepared(bare)) == "The system recorded an amount."
    assert activity_text(prepared(unknown)) == "The gateway: something.new."
    for record in (bare, unknown):
        assert "None" not in activity_sentence(prepared(record))


@override_settings(TIME_ZONE="Europe/Paris")
def test_times_are_in_the_space_time_zone_to_the_minute(db):
    timezone.deactivate()
    activity = activity_record(actor=SYSTEM, verb="balance.credited", amount=Money("10.00", "EUR"))
    Activity.objects.filter(pk=activity.pk).update(
        created_at=datetime.datetime(2026, 3, 1, 13, 5, 7, 123456, tzinfo=datetime.UTC)
    )

    assert activity_when(Activity.objects.get(pk=activity.pk)) == "2026-03-01 14:05"


def test_the_list_and_the_record_page_read_sentences_and_keep_the_raw_data_one_click_away(staff_client):
    member = MemberFactory(name="Léa Martin")
    invoice = open_invoice(member=member, amounts=["100.00"])
    external_payment(invoice=invoice, amount="46.00")
    received = Activity.objects.get(verb="payment.received")

    listed = staff_client.get(reverse("admin:billing_activity_changelist")).content.decode()
    page = staff_client.get(reverse("admin:billing_activity_change", args=[received.pk])).content.decode()

    sentence = f'recorded <a href="{reverse("admin:payments_payment_change", args=[received.target_id])}">€46.00</a>'
    assert sentence in listed and sentence in page
    assert "<details" in listed and "&quot;payment.received&quot;" in listed
    assert "payment.received" in page
    assert "None" not in listed.split('id="result_list"')[1].split("</table>")[0]
    assert timezone.localtime(received.created_at).strftime("%Y-%m-%d %H:%M") in listed


def test_the_invoice_page_lists_its_activity_as_sentences(staff_client):
    member = MemberFactory(name="Léa Martin")
    invoice = open_invoice(member=member, amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00", kind="check")

    content = staff_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    section = content.split('id="activity"')[1]

    assert "by check from" in section
    assert "None" not in section
    assert "<code>payment.received</code>" not in section
