"""No server error from any input (issue #10, deliverable 7; spec 11).

Every admin form (the custom pages of `payments/admin/*.py`), every portal form and the webhook endpoint get bad
values: empty, blank, too long, NUL characters, NaN and infinities, exponents, negative, zero, huge numbers,
wrong-scale amounts, ids that cannot be ids and other members' ids, unknown choices, malformed or far dates, wrong
types (several values, a file), unicode oddities, SQL- and HTML-looking strings. Each answers without a server
error, and writes nothing: every row of the members, billing and payments apps (the sandbox gateway's tables
included) is the same before and after.

Each POST is built the way a browser sends it: the page is fetched first and every `<input type="hidden">` of its
form is copied (so hidden fields added to a form, such as a one-time key, are sent as rendered), then the fields
are filled in with a valid submission and one field (or a few that go together) is replaced by a bad value. After
its bad values, each form is sent once valid, and that submission must act: the bad value alone was refused.

The table is fixed (no randomness): the same cases run everywhere, and `test_the_table_has_enough_cases` counts
them.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlsafe_base64_encode
from djmoney.money import Money
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st

from billing.models import CreditNoteReason
from billing.services.money_balance_adjust import money_balance_adjust
from payments.models import Payment, PaymentStatus, Refund, WebhookEvent
from payments.services.payment_card import payment_create_card
from tests.factories import (
    SYSTEM,
    UserFactory,
    draft_invoice,
    external_payment,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)
from tests.members.portal.conftest import MEMBER_PASSWORD, portal_member
from tests.support.forms import FormClient

pytestmark = pytest.mark.django_db

# The bad values ---------------------------------------------------------------------------------------------------


def upload() -> SimpleUploadedFile:
    """A file where a text field is expected (a wrong type a form can receive)."""
    return SimpleUploadedFile("amount.txt", b"10.00", content_type="text/plain")


ABSENT = object()  # the field is left out of the submission
FILE = object()  # a file is sent in place of the field's text

NUL = ["\x00", "a\x00b", "10\x00"]
SQL_HTML = ["' OR '1'='1' --", "1; DROP TABLE payments_payment; --", "<script>alert(1)</script>", "{{ 7|add:7 }}"]
UNICODE_ODDITIES = ["\u202e10", "\ufeff10", "1\u200b0", "١٢٫٥", "🙂", "Ω≈ç√∫"]
SPECIAL_NUMBERS = ["NaN", "nan", "sNaN", "-NaN", "Infinity", "-Infinity", "inf", "1e999", "-1e999", "1e-999"]
HUGE_IDS = ["99999999999999999999", "9223372036854775808", "-9223372036854775809"]

# Amounts the reader refuses in the space's locale (en in these tests): the checks of a positive amount with the
# currency's decimals, nothing Python's Decimal alone would read (exponents, underscores, other digits, signs), and
# `12,50`, ambiguous in en.
AMOUNTS_NOT_ZERO = [
    "abc",
    *SPECIAL_NUMBERS,
    "1e3",
    "1E3",
    "1_000",
    "１２",
    "12,50",
    "1.000,00",
    "+5",
    "-5",
    "-0.01",
    "10.005",
    "0.001",
    "1234567890123",
    "9" * 40,
    "1.2.3",
    "1..0",
    "+-1",
    "0x10",
    *NUL,
    *UNICODE_ODDITIES,
    *SQL_HTML,
    ["abc", "NaN"],
    FILE,
]
ZERO_AMOUNTS = ["0", "0.00"]
BLANKS = ["", " ", "\t\n", ABSENT]
AMOUNTS_REQUIRED = [*BLANKS, *ZERO_AMOUNTS, *AMOUNTS_NOT_ZERO]
AMOUNTS_OPTIONAL = [*ZERO_AMOUNTS, *AMOUNTS_NOT_ZERO]
AMOUNTS_ZERO_ALLOWED = AMOUNTS_NOT_ZERO

# Quantities and tax rates: numbers written with digits and a point, in range.
NUMBERS_BAD = [
    *BLANKS[:2],
    "abc",
    *SPECIAL_NUMBERS,
    "1e3",
    "1E2",
    "-1",
    "1,5",
    "1_0",
    "١",
    "𝟏",
    "1.2.3",
    "0x10",
    *NUL,
    SQL_HTML[0],
    FILE,
]
QUANTITIES_BAD = [*NUMBERS_BAD, "0", "0.0001", "1000000.001", "9" * 30]
TAX_RATES_BAD = [*NUMBERS_BAD, "-0.01", "100.01", "101", "0.001"]

DATES_FAR = [
    "0001-01-01",
    "9999-12-31",
    "1999-12-31",
    "2100-01-01",
    "2026-02-30",
    "2026-13-01",
    "2026-00-10",
    "31/12/2026",
    "yesterday",
    "99999-01-01",
    "-2026-01-01",
    "2026-01-01\x00",
    "\x00",
    SQL_HTML[0],
    ["2026-02-30", "0001-01-01"],
]
DATES_REQUIRED = ["", ABSENT, *DATES_FAR]
DATES_OPTIONAL = DATES_FAR

CHOICES_BAD = ["bogus", "CASH", " cash", "cash\x00", "x" * 1000, *SQL_HTML[:3], ["bogus", "other-bogus"], FILE]
CHOICES_REQUIRED = ["", ABSENT, *CHOICES_BAD]

# Shorter lists for the fields that read their values with the same code as a field that gets the full list.
AMOUNTS_SHORT_NOT_ZERO = ["abc", "NaN", "sNaN", "-Infinity", "1e999", "-5", "10.005", "1234567890123", "a\x00b"]
AMOUNTS_SHORT_NOT_ZERO += ["١٢٫٥", SQL_HTML[1], FILE]
AMOUNTS_SHORT = ["", ABSENT, "0", *AMOUNTS_SHORT_NOT_ZERO]
DATES_SHORT = ["0001-01-01", "9999-12-31", "2026-02-30", "2100-01-01", "yesterday", "2026-01-01\x00"]
CHOICES_SHORT = ["", "bogus", "cash\x00", "x" * 1000, FILE]

IDS_NOT_IDS = ["abc", "-1", "0", "1.5", "1e3", *HUGE_IDS, "²", "１", *NUL, SQL_HTML[0], "<b>1</b>", [" ", "abc"]]
IDS_REQUIRED = ["", ABSENT, *IDS_NOT_IDS]
IDS_SHORT = ["", "abc", "1.5", HUGE_IDS[0], "²", "1\x00"]

URL_IDS = ["abc", "0", "-1", *HUGE_IDS, "1.5", "%00", "%F0%9F%99%82"]


def long_text(length: int) -> list[str]:
    """Text one character longer than a field holds, in ASCII, accented and in emoji."""
    return ["x" * (length + 1), "é" * (length + 1), "🙂" * (length + 1)]


TEXT_REQUIRED = ["", " ", "\t\n", ABSENT, *NUL]


def optional(values: list) -> list:
    """The values that are bad for an optional field too: not empty, and not a file (a file is no field of the
    form's data, so it reads as an empty field)."""
    return [value for value in values if value not in ("", " ", "\t\n") and value is not ABSENT and value is not FILE]


# Running the cases ------------------------------------------------------------------------------------------------

# Every row a request could write: the models of the project's own apps (members, billing, payments with the sandbox
# gateway's tables, and any app added later), not Django's (sessions, django-axes' login attempts).
BOOK_MODELS = [
    model
    for config in apps.get_app_configs()
    if Path(config.path).is_relative_to(settings.BASE_DIR) and ".venv" not in Path(config.path).parts
    for model in config.get_models()
]


def row_counts() -> tuple[int, ...]:
    """The number of rows of every book table, in one query."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(model._meta.db_table)})" for model in BOOK_MODELS)
        )
        return tuple(cursor.fetchone())


def counts_difference(before: tuple, after: tuple) -> list[str]:
    return [
        f"{model._meta.label}: {count_before} -> {count_after} rows"
        for model, count_before, count_after in zip(BOOK_MODELS, before, after, strict=True)
        if count_before != count_after
    ]


def books() -> dict:
    """Every row of every book table, to compare before and after a batch of requests (updates too)."""
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in BOOK_MODELS}


def books_difference(before: dict, after: dict) -> list[str]:
    return [
        f"{label}: {len(before[label])} -> {len(after[label])} rows"
        if len(before[label]) != len(after[label])
        else f"{label}: rows changed"
        for label in before
        if before[label] != after[label]
    ]


class FormsParser(HTMLParser):
    """The forms of a page: where each posts, and its hidden inputs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = {"action": attributes.get("action", ""), "method": attributes.get("method", "get").lower()}
            self._form["hidden"] = {}
            self.forms.append(self._form)
        elif (
            tag == "input"
            and self._form is not None
            and attributes.get("type", "").lower() == "hidden"
            and attributes.get("name")
        ):
            self._form["hidden"][attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def hidden_inputs(client: Client, page: str, action: str) -> dict[str, str]:
    """The hidden inputs of the page's form that posts to `action` (the CSRF token aside: the test client does not
    check it)."""
    response = client.get(page)
    assert response.status_code == 200, f"GET {page} answered {response.status_code}"
    parser = FormsParser()
    parser.feed(response.content.decode())
    for form in parser.forms:
        target = urljoin(page, form["action"]) if form["action"] else page
        if form["method"] == "post" and urlsplit(target).path == urlsplit(action).path:
            return {name: value for name, value in form["hidden"].items() if name != "csrfmiddlewaretoken"}
    raise AssertionError(f"No form on {page} posts to {action}.")


def submission(data: dict) -> dict:
    """What the test client posts: ABSENT fields left out, FILE fields as an uploaded file."""
    return {name: upload() if value is FILE else value for name, value in data.items() if value is not ABSENT}


def shown(value) -> str:
    if value is ABSENT:
        return "(absent)"
    if value is FILE:
        return "(a file)"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} characters)"


@dataclass
class Outcome:
    """The cases run by one test, and the failures among them."""

    cases: int = 0
    failures: list[str] = field(default_factory=list)

    def request(self, label: str, send: Callable[[], object], *, allowed=(200, 302, 400, 403, 404, 405, 429)):
        """Send a request that must insert or delete nothing and answer one of `allowed` (no 500, no exception)."""
        self.cases += 1
        before = row_counts()
        try:
            response = send()
        except Exception as error:  # noqa: BLE001 (every exception is the failure being looked for)
            self.failures.append(f"{label}: raised {type(error).__name__}: {error}")
            return None
        if response.status_code not in allowed:
            self.failures.append(f"{label}: answered {response.status_code}")
        changed = counts_difference(before, row_counts())
        if changed:
            self.failures.append(f"{label}: wrote {'; '.join(changed)}")
        return response

    def batch(self, name: str, run: Callable[[], None]) -> None:
        """Run requests that must not change any row either (an update is no new row): every row is compared
        before and after the batch."""
        before = books()
        run()
        changed = books_difference(before, books())
        if changed:
            self.failures.append(f"{name}: the requests changed {'; '.join(changed)}")

    def check(self):
        assert self.failures == [], f"{len(self.failures)} of {self.cases} cases failed:\n" + "\n".join(self.failures)


@dataclass
class FormCase:
    """A form: the page that shows it, where it posts, a valid submission, and the bad values per field (a value
    replaces the field; a dict of fields replaces several that only make sense together)."""

    name: str
    page: str
    valid: dict
    bad: dict[str, list]
    action: str = ""
    valid_acts: Callable[[object, dict, dict], bool] | None = None

    @property
    def target(self) -> str:
        return self.action or self.page

    def variants(self):
        for name, values in self.bad.items():
            for value in values:
                yield (f"{name}={shown(value)}", value if isinstance(value, dict) else {name: value})

    @property
    def count(self) -> int:
        return sum(len(values) for values in self.bad.values())


def form_run(client: Client, case: FormCase, outcome: Outcome) -> None:
    """Post each bad variant, then the valid submission, which must act.

    The page is fetched once for the bad variants: none of them may write anything (each is checked), so a hidden
    one-time key they carry is still unused when the next one is sent. The valid submission gets a fresh page."""

    def bad_variants():
        hidden = hidden_inputs(client, case.page, case.target)
        for label, overrides in case.variants():
            data = {**hidden, **case.valid, **overrides}
            outcome.request(f"{case.name} {label}", lambda data=data: client.post(case.target, submission(data)))

    outcome.batch(case.name, bad_variants)
    data = {**hidden_inputs(client, case.page, case.target), **case.valid}
    before = books()
    response = client.post(case.target, submission(data))
    after = books()
    acts = case.valid_acts or (lambda response, before, after: response.status_code == 302 and before != after)
    if not acts(response, before, after):
        outcome.failures.append(f"{case.name}: the valid submission did not act: {response_summary(response)}")


def response_summary(response) -> str:
    """The status, and the messages and form errors a refused submission shows."""
    context = getattr(response, "context", None) or {}
    shown_errors = [str(message) for message in context.get("messages", [])]
    for name in ("form", "lines", "adminform"):
        errors = getattr(context.get(name), "errors", None)
        if errors:
            shown_errors.append(f"{name}: {errors}")
    return f"{response.status_code} {shown_errors}"


def get_run(client: Client, name: str, url: str, params: list[dict], outcome: Outcome, *, allowed=(200, 400, 404)):
    def run():
        for query in params:
            label = f"{name} " + " ".join(f"{key}={shown(value)}" for key, value in query.items())
            outcome.request(label, lambda query=query: client.get(url, query), allowed=allowed)

    outcome.batch(name, run)


def url_with(name: str, *args, bad: str) -> str:
    """The URL `name` with its last argument replaced by `bad` (which the URL's converter may not accept)."""
    sentinel = 987654321
    url = reverse(name, args=[*args, sentinel])
    return url.replace(str(sentinel), bad)


# The world the forms act on -----------------------------------------------------------------------------------------


@dataclass
class World:
    member: object
    other: object
    card: object
    second_card: object
    other_card: object
    draft: object
    unpaid: object
    paid: object
    external: object
    standalone: object
    failed: object
    other_invoice: object
    other_payment: object
    missing_id: str = "999999"


@pytest.fixture
def world(db, committed) -> World:
    """Léa (a portal member) with two saved cards, a draft, an unpaid invoice (100.00), an invoice paid by cash
    (50.00), a standalone payment (30.00 unallocated), 20.00 of money balance and a declined card payment on a third
    invoice (40.00); Omar, another member, with a card, an invoice and a payment."""
    member = portal_member(email="lea.martin@example.com", name="Léa Martin")
    other = portal_member(email="omar@example.com", name="Omar Haddad")
    card = saved_card(member)
    second_card = saved_card(member, "5555555555554444")
    other_card = saved_card(other)
    draft = draft_invoice(member=member, amounts=["80.00"])
    unpaid = open_invoice(member=member, amounts=["100.00"])
    paid = open_invoice(member=member, amounts=["50.00"])
    external = external_payment(invoice=paid)
    standalone = standalone_payment(member=member, amount="30.00")
    money_balance_adjust(member=member, amount=Money("20.00", "EUR"), is_credit=True, note="Goodwill", actor=SYSTEM)
    declined_invoice = open_invoice(member=member, amounts=["40.00"])
    declining = saved_card(member, "4000000000000341")
    with committed():
        failed = payment_create_card(invoice=declined_invoice, actor=SYSTEM, payment_method=declining)
    failed = reload(failed)
    assert failed.status == PaymentStatus.FAILED
    other_invoice = open_invoice(member=other, amounts=["10.00"])
    other_payment = external_payment(invoice=other_invoice)
    return World(
        member=member,
        other=other,
        card=card,
        second_card=second_card,
        other_card=other_card,
        draft=draft,
        unpaid=unpaid,
        paid=paid,
        external=external,
        standalone=standalone,
        failed=failed,
        other_invoice=other_invoice,
        other_payment=other_payment,
    )


@pytest.fixture
def staff_client(db) -> Client:
    user = UserFactory(username="fuzz-manager", is_staff=True, is_superuser=True)
    user.save()
    client = Client()
    client.force_login(user)
    return client


def other_ids(world: World, *objects) -> list[str]:
    """Ids that are ids, but not of a choice the form offers: other members' objects and a missing one."""
    return [str(obj.pk) for obj in objects] + [world.missing_id]


def today() -> str:
    return timezone.localdate().isoformat()


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def lines_data(prefix: str = "lines") -> dict:
    """One line filled in, and the blank rows as a browser sends them (with their initial quantity and rate)."""
    blank_rows = {
        f"{prefix}-{index}-{name}": value
        for index in range(1, 5)
        for name, value in (("description", ""), ("quantity", "1"), ("unit_amount", ""), ("tax_rate", "0"))
    }
    return {
        **blank_rows,
        f"{prefix}-0-description": "Hot desk, March",
        f"{prefix}-0-quantity": "2",
        f"{prefix}-0-unit_amount": "150.00",
        f"{prefix}-0-tax_rate": "20",
    }


# The admin's invoice pages ------------------------------------------------------------------------------------------


def draft_line_bad(*, short: bool = False) -> dict[str, list]:
    if short:
        return {
            "lines-0-description": ["", "\x00", *long_text(500)[:1]],
            "lines-0-quantity": ["NaN", "sNaN", "Infinity", "1e3", "0", "-1", "abc", "1\x00"],
            "lines-0-unit_amount": ["", *AMOUNTS_SHORT_NOT_ZERO],
            "lines-0-tax_rate": ["NaN", "sNaN", "-Infinity", "1e999", "101", "-1", "0.001", "abc"],
            "lines-TOTAL_FORMS": ["abc", "-1", "5000", "\x00"],
        }
    return {
        "lines-0-description": [*TEXT_REQUIRED, *long_text(500)],
        "lines-0-quantity": QUANTITIES_BAD,
        "lines-0-unit_amount": ["", *AMOUNTS_SHORT_NOT_ZERO],
        "lines-0-tax_rate": TAX_RATES_BAD,
        "lines-TOTAL_FORMS": ["", "abc", "-1", "NaN", "1e3", "201", "5000", *HUGE_IDS[:1], "\x00", ABSENT],
        "lines-INITIAL_FORMS": ["abc", "-1", "\x00", ABSENT],
    }


def draft_cases(world: World) -> list[FormCase]:
    add = admin_url("billing_invoice_add")
    return [
        FormCase(
            "draft create",
            add,
            valid={"member": str(world.member.pk), "currency": "", "issue_date": "", "due_date": "", **lines_data()},
            bad={
                "member": [*IDS_SHORT, *other_ids(world)],
                "currency": optional(CHOICES_BAD),
                "issue_date": DATES_SHORT,
                "due_date": DATES_SHORT,
                "memo": NUL[:1],
                **draft_line_bad(),
            },
        ),
        FormCase(
            "draft edit",
            admin_url("billing_invoice_change", world.draft.pk),
            valid={"issue_date": "", "due_date": "", "memo": "", **lines_data()},
            bad={"issue_date": DATES_SHORT, "due_date": DATES_SHORT, "memo": NUL[:1], **draft_line_bad(short=True)},
        ),
    ]


def test_draft_create_page_with_a_member_that_is_no_id(staff_client, world):
    outcome = Outcome()
    get_run(
        staff_client,
        "draft create ?member",
        admin_url("billing_invoice_add"),
        [{"member": value} for value in IDS_NOT_IDS if isinstance(value, str)],
        outcome,
    )
    outcome.check()


def invoice_cases(world: World) -> list[FormCase]:
    unpaid, card = world.unpaid, world.card
    issued_page = admin_url("billing_invoice_change", unpaid.pk)
    return [
        FormCase(
            "invoice details",
            issued_page,
            valid={"due_date": "2030-01-31", "memo": "Paid by transfer"},
            bad={"due_date": ["", *DATES_SHORT], "memo": NUL[:1]},
        ),
        FormCase(
            "create payment",
            admin_url("billing_invoice_create_payment", unpaid.pk),
            valid={
                "amount": "60.00",
                "method": "external",
                "kind": "cash",
                "reference": "R-1",
                "received_on": today(),
                "note": "",
            },
            bad={
                "amount": AMOUNTS_REQUIRED,
                "method": CHOICES_REQUIRED,
                "kind": CHOICES_REQUIRED,
                "reference": [*long_text(200), *NUL],
                "received_on": DATES_REQUIRED,
                "note": NUL[:1],
            },
        ),
        FormCase(
            "create payment, charging a card",
            admin_url("billing_invoice_create_payment", unpaid.pk),
            valid={"amount": "60.00", "method": str(card.pk)},
            bad={
                "amount": [*AMOUNTS_SHORT, "100.01", "999999999.00"],
                "method": [*IDS_REQUIRED, *other_ids(world, world.other_card)],
            },
        ),
        FormCase(
            "issue and charge",
            admin_url("billing_invoice_issue_and_charge", world.draft.pk),
            valid={"payment_method": str(card.pk)},
            bad={"payment_method": [*IDS_SHORT, *other_ids(world, world.other_card)]},
        ),
        FormCase(
            "apply existing payments",
            admin_url("billing_invoice_apply_payment", unpaid.pk),
            valid={f"amount_{world.standalone.pk}": "10.00"},
            bad={f"amount_{world.standalone.pk}": ["0", *optional(AMOUNTS_SHORT_NOT_ZERO), "30.01", "100.01"]},
        ),
        FormCase(
            "apply money balance",
            admin_url("billing_invoice_apply_balance", unpaid.pk),
            valid={"amount": "10.00"},
            bad={"amount": [*AMOUNTS_SHORT, "20.01", "100.01"]},
        ),
        FormCase(
            "void invoice",
            admin_url("billing_invoice_void", unpaid.pk),
            valid={},
            bad={},
        ),
        FormCase(
            "issue (confirmation)",
            admin_url("billing_invoice_issue", world.draft.pk),
            valid={},
            bad={"confirmed": ["", ABSENT, "False"], "version": ["", ABSENT, "x" * 1000, *NUL]},
        ),
        FormCase(
            "mark uncollectible (confirmation)",
            admin_url("billing_invoice_mark_uncollectible", unpaid.pk),
            valid={},
            bad={"confirmed": ["", ABSENT, "False"]},
        ),
    ]


def credit_note_case(world: World) -> FormCase:
    invoice = world.unpaid
    line = invoice.lines.get()
    line_field = f"line_{line.pk}"
    return FormCase(
        "credit note",
        admin_url("billing_invoice_credit_note", invoice.pk),
        valid={"amount": "10.00", "reason": CreditNoteReason.ORDER_CHANGE, "memo": "Two days less"},
        bad={
            "amount": [*AMOUNTS_NOT_ZERO, *ZERO_AMOUNTS, "100.01"],
            line_field: [{"amount": "", line_field: value} for value in [*optional(AMOUNTS_SHORT_NOT_ZERO), "100.01"]],
            "reason": CHOICES_REQUIRED,
            "memo": NUL[:1],
            "refund_amount": [*optional(AMOUNTS_SHORT_NOT_ZERO), "5.00"],
            "credit_amount": [*optional(AMOUNTS_SHORT_NOT_ZERO)[:6], "5.00"],
            "out_of_band_amount": [*optional(AMOUNTS_SHORT_NOT_ZERO)[:6], "5.00"],
            "_preview": [{"_preview": "1", "amount": value} for value in AMOUNTS_SHORT_NOT_ZERO],
        },
    )


def test_invoice_urls_with_ids_that_are_no_invoice(staff_client, world):
    outcome = Outcome()
    names = ["change", "create_payment", "issue_and_charge", "apply_payment", "apply_balance", "void", "issue"]
    names += ["credit_note", "credit_note_preview", "pdf"]
    for name in names:
        for bad in URL_IDS:
            url = url_with(f"admin:billing_invoice_{name}", bad=bad)
            outcome.request(f"GET {url}", lambda url=url: staff_client.get(url))
    for name in ["issue", "mark_uncollectible"]:
        for bad in [*URL_IDS, str(world.paid.pk)]:  # a paid invoice cannot be issued or marked uncollectible
            url = url_with(f"admin:billing_invoice_{name}", bad=bad)
            outcome.request(f"POST {url}", lambda url=url: staff_client.post(url))
    outcome.check()


def test_credit_note_preview_endpoint(staff_client, world):
    invoice = world.unpaid
    line = invoice.lines.get()
    url = admin_url("billing_invoice_credit_note_preview", invoice.pk)
    values = [value for value in AMOUNTS_REQUIRED if isinstance(value, str)]
    params = [{"amount": value} for value in values]
    params += [{f"line_{line.pk}": value} for value in values]
    params += [{"amount": "10.00", "refund_amount": value} for value in values[:10]]
    params += [{"amount": ["1", "NaN"]}, {"amount": "10.00", f"line_{line.pk}": "5.00"}]
    outcome = Outcome()
    get_run(staff_client, "credit note preview", url, params, outcome)
    outcome.check()


# The admin's payment pages ------------------------------------------------------------------------------------------


def payment_cases(world: World) -> list[FormCase]:
    standalone, external, failed = world.standalone, world.external, world.failed
    refund_reasons = [value for value in Refund.Reason.values if value != Refund.Reason.CREDIT_NOTE]
    return [
        FormCase(
            "standalone payment",
            admin_url("payments_payment_record_standalone"),
            valid={
                "member": str(world.member.pk),
                "amount": "25.00",
                "currency": "EUR",
                "kind": "bank_transfer",
                "reference": "",
                "received_on": today(),
                "note": "",
            },
            bad={
                "member": IDS_REQUIRED + [world.missing_id],
                "amount": AMOUNTS_SHORT,
                "currency": [*CHOICES_REQUIRED, "XXX", "eur", "SEK"],
                "kind": CHOICES_SHORT,
                "reference": [*long_text(200)[:1], *NUL[:1]],
                "received_on": ["", *DATES_SHORT],
                "note": NUL[:1],
            },
        ),
        FormCase(
            "void payment",
            admin_url("payments_payment_void", external.pk),
            valid={"reason": "The check bounced."},
            bad={"reason": [*TEXT_REQUIRED, *long_text(500)]},
        ),
        FormCase(
            "apply payment",
            admin_url("payments_payment_apply", standalone.pk),
            valid={"invoice": str(world.unpaid.pk), "amount": "10.00"},
            bad={
                "invoice": [*IDS_SHORT, *other_ids(world, world.other_invoice, world.paid, world.draft)],
                "amount": [*AMOUNTS_SHORT, "30.01"],
            },
        ),
        FormCase(
            "retry",
            admin_url("payments_payment_retry", failed.pk),
            valid={"amount": "40.00", "payment_method": str(world.card.pk)},
            bad={
                "amount": [*AMOUNTS_SHORT, "40.01"],
                "payment_method": [*IDS_SHORT, *other_ids(world, world.other_card)],
            },
        ),
        FormCase(
            "cancel",
            admin_url("payments_payment_cancel", failed.pk),
            valid={"reason": ""},
            bad={"reason": [*long_text(500), *NUL]},
        ),
        FormCase(
            "refund",
            admin_url("payments_payment_refund", standalone.pk),
            valid={"amount": "5.00", "reason": refund_reasons[0], "note": ""},
            bad={
                "amount": [*AMOUNTS_SHORT, "30.01"],
                "reason": [*CHOICES_SHORT, Refund.Reason.CREDIT_NOTE],
                "note": NUL[:1],
                "invoice_handling": optional(CHOICES_SHORT),
                "_preview": [{"_preview": "1", "amount": value} for value in AMOUNTS_SHORT_NOT_ZERO],
                "next": [
                    {"next": value, "amount": "abc"}
                    for value in ["javascript:alert(1)", "//evil.example/", "\x00", "http://[::1", "x" * 5000]
                ],
            },
        ),
        FormCase(
            "unallocate (confirmation)",
            admin_url("payments_payment_unallocate", external.allocations.get().pk),
            valid={},
            bad={"confirmed": ["", ABSENT, "False"], "next": [{"next": "//evil.example/", "confirmed": ""}]},
        ),
    ]


def test_standalone_payment_page_with_a_member_that_is_no_id(staff_client, world):
    outcome = Outcome()
    get_run(
        staff_client,
        "standalone ?member",
        admin_url("payments_payment_record_standalone"),
        [{"member": value} for value in IDS_NOT_IDS if isinstance(value, str)],
        outcome,
    )
    outcome.check()


def test_payment_urls_with_ids_that_are_no_payment(staff_client, world):
    outcome = Outcome()
    for name in ["change", "void", "apply", "retry", "cancel", "refund", "refund_preview", "receipt_pdf"]:
        for bad in URL_IDS:
            url = url_with(f"admin:payments_payment_{name}", bad=bad)
            outcome.request(f"GET {url}", lambda url=url: staff_client.get(url))
    for bad in [*URL_IDS, world.missing_id]:
        url = url_with("admin:payments_payment_unallocate", bad=bad)
        outcome.request(f"POST {url}", lambda url=url: staff_client.post(url))
    outcome.check()


def test_refund_preview_endpoint(staff_client, world):
    url = admin_url("payments_payment_refund_preview", world.standalone.pk)
    params = [{"amount": value} for value in AMOUNTS_REQUIRED if isinstance(value, str)]
    params += [{"amount": "30.01"}, {"amount": ["1", "NaN"]}, {}]
    outcome = Outcome()
    get_run(staff_client, "refund preview", url, params, outcome)
    outcome.check()


# The admin's member pages -------------------------------------------------------------------------------------------


def member_cases(world: World) -> list[FormCase]:
    member = world.member
    this_year = timezone.localdate().year
    return [
        FormCase(
            "member details",
            admin_url("members_member_change", member.pk),
            valid={
                "name": "Léa Martin-Durand",
                "kind": "person",
                "email": member.email,
                "billing_address": "",
                "default_currency": "EUR",
                "user": str(member.user_id),
            },
            bad={
                "name": [*TEXT_REQUIRED, *long_text(200)],
                "kind": CHOICES_SHORT,
                "email": ["abc", "a@", "x" * 250 + "@example.com", "lea@example.com\x00"],
                "billing_address": NUL[:1],
                "default_currency": [*CHOICES_SHORT, "ZZZ", "XXX", "eu"],
                "user": IDS_SHORT[1:],
            },
        ),
        FormCase(
            "adjust money balance",
            admin_url("members_member_adjust_balance", member.pk),
            valid={"direction": "credit", "amount": "5.00", "currency": "EUR", "note": "Goodwill"},
            bad={
                "direction": CHOICES_SHORT,
                "amount": AMOUNTS_SHORT,
                "currency": [*CHOICES_SHORT, "XXX"],
                "note": TEXT_REQUIRED,
                "debit": [{"direction": "debit", "amount": "20.01"}],  # more than the balance
            },
        ),
        FormCase(
            "add a card",
            admin_url("members_member_card_add", member.pk),
            valid={"card_number": "378282246310005", "exp_month": "", "exp_year": ""},
            bad={
                "card_number": [
                    *TEXT_REQUIRED,
                    "4242",
                    "4242424242424241",
                    "4000000000000002",
                    "x" * 41,
                    "١٢٣٤٥٦٧٨٩٠١٢٣٤",
                    *SQL_HTML[:2],
                ],
                "exp_month": ["0", "13", "-1", "abc", "NaN", "1e1", *HUGE_IDS[:1], "\x00", "1.5"],
                "exp_year": [str(this_year - 1), str(this_year + 31), "abc", "1e4", *HUGE_IDS[:1], "\x00"],
                "expiry": [{"exp_month": "12", "exp_year": ""}, {"exp_month": "", "exp_year": str(this_year + 1)}],
            },
        ),
        FormCase(
            "remove a card",
            admin_url("members_member_card_remove", member.pk, world.second_card.pk),
            valid={},
            bad={},
        ),
        FormCase(
            "set the default card (button)",
            admin_url("members_member_change", member.pk),
            action=admin_url("members_member_card_set_default", member.pk, world.second_card.pk),
            valid={},
            bad={},
        ),
    ]


def test_member_urls_with_ids_of_nothing_or_of_another_member(staff_client, world):
    outcome = Outcome()
    member = world.member
    for bad in [*URL_IDS, str(world.other_card.pk), world.missing_id]:
        for name in ["members_member_card_set_default", "members_member_card_remove"]:
            url = url_with(f"admin:{name}", member.pk, bad=bad)
            outcome.request(f"POST {url}", lambda url=url: staff_client.post(url))
    for bad in URL_IDS:
        for name in ["members_member_adjust_balance", "members_member_card_add"]:
            url = url_with(f"admin:{name}", bad=bad)
            outcome.request(f"GET {url}", lambda url=url: staff_client.get(url))
    outcome.check()


def admin_cases(world: World) -> list[FormCase]:
    return [
        *draft_cases(world),
        *invoice_cases(world),
        credit_note_case(world),
        *payment_cases(world),
        *member_cases(world),
    ]


ADMIN_FORMS = [
    "draft create",
    "draft edit",
    "invoice details",
    "create payment",
    "create payment, charging a card",
    "issue and charge",
    "apply existing payments",
    "apply money balance",
    "void invoice",
    "issue (confirmation)",
    "mark uncollectible (confirmation)",
    "credit note",
    "standalone payment",
    "void payment",
    "apply payment",
    "retry",
    "cancel",
    "refund",
    "unallocate (confirmation)",
    "member details",
    "adjust money balance",
    "add a card",
    "remove a card",
    "set the default card (button)",
]


@pytest.mark.parametrize("name", ADMIN_FORMS)
def test_admin_form(staff_client, world, name):
    """Each bad value alone is refused and writes nothing; the same form sent valid acts."""
    case = {case.name: case for case in admin_cases(world)}[name]
    outcome = Outcome()
    form_run(staff_client, case, outcome)
    outcome.check()


def test_stripe_card_id_in_the_admin(staff_client, world, settings):
    """With Stripe, staff type a PaymentMethod id; a malformed one is refused before the gateway is asked."""
    settings.PAYMENT_GATEWAY = "stripe"
    url = admin_url("members_member_card_add", world.member.pk)
    outcome = Outcome()
    for value in [*TEXT_REQUIRED, "abc", "pm_" + "a" * 253, "card_123", *SQL_HTML[:2], "pm_1\x00"]:
        data = {**hidden_inputs(staff_client, url, url), "payment_method_id": value}
        outcome.request(f"payment_method_id={shown(value)}", lambda data=data: staff_client.post(url, submission(data)))
    outcome.check()


def test_admin_lists_and_the_member_autocomplete(staff_client, world):
    """Django's own list pages and the member autocomplete that the forms above use, with bad search terms and
    filters (a NUL character in a query is what PostgreSQL refuses)."""
    outcome = Outcome()
    autocomplete = {"app_label": "billing", "model_name": "invoice", "field_name": "member"}
    texts = ["\x00", "a\x00b", "x" * 5000, *SQL_HTML[:3], "%", "_", "\\"]
    get_run(
        staff_client,
        "member autocomplete",
        reverse("admin:autocomplete"),
        [{**autocomplete, "term": text} for text in texts]
        + [{**autocomplete, "term": "Léa", "page": page} for page in ["abc", "-1", HUGE_IDS[0], "\x00"]],
        outcome,
        allowed=(200, 403, 404),
    )
    lists = {
        "billing_invoice": ["member__id__exact", "shown_status", "due_date__gte", "currency"],
        "payments_payment": ["member__id", "status", "needs_review", "received_on__gte"],
        "billing_moneybalanceentry": ["member__id__exact", "created_at__year"],
        "billing_activity": ["created_at__year", "verb"],
        "billing_creditnote": ["created_at__month", "reason"],
        "members_member": ["kind", "default_currency"],
    }
    for name, filters in lists.items():
        params = [{"q": text} for text in texts]
        params += [{name: value} for name in filters for value in ["abc", "\x00", HUGE_IDS[0], "0001-01-01", "-1"]]
        params += [{"o": value} for value in ["abc", "99", "-1.2", "\x00"]]
        params += [{"p": value} for value in ["abc", HUGE_IDS[0], "-1"]]
        get_run(staff_client, name, reverse(f"admin:{name}_changelist"), params, outcome, allowed=(200, 302))
    outcome.check()


# The admin's reports --------------------------------------------------------------------------------------------------


def test_reports_filters_and_csv(staff_client, world):
    outcome = Outcome()
    bad_choices = [value for value in CHOICES_BAD if value is not FILE]
    bad_dates = [value for value in DATES_FAR]
    for export in ({}, {"format": "csv"}):
        payments = reverse("admin:billing_report_payments")
        params = [{"date_from": value, **export} for value in bad_dates]
        params += [{"date_to": value, **export} for value in bad_dates[:6]]
        params += [{"date_from": "2026-03-01", "date_to": "2026-01-01", **export}]
        params += [{name: value, **export} for name in ("method", "status", "currency") for value in bad_choices[:6]]
        params += [{"page": value, **export} for value in ["abc", "-1", "0", *HUGE_IDS, "NaN", "\x00", "1e3"]]
        get_run(staff_client, "payments report", payments, params, outcome, allowed=(200,))
        aging = reverse("admin:billing_report_aging")
        params = [{"as_of": value, **export} for value in bad_dates]
        params += [{"currency": value, **export} for value in bad_choices[:6]]
        get_run(staff_client, "aging report", aging, params, outcome, allowed=(200,))
        credit = reverse("admin:billing_report_member_credit")
        get_run(
            staff_client,
            "member credit report",
            credit,
            [{"currency": value, **export} for value in bad_choices[:6]],
            outcome,
            allowed=(200,),
        )
    get_run(
        staff_client,
        "payments report format",
        reverse("admin:billing_report_payments"),
        [{"format": value} for value in ["csv\x00", "xlsx", "CSV", ["csv", "html"]]],
        outcome,
        allowed=(200,),
    )
    outcome.check()


# The portal --------------------------------------------------------------------------------------------------------


@pytest.fixture
def member_client(world) -> FormClient:
    client = FormClient()
    client.force_login(world.member.user)
    return client


def new_card(number="4242424242424242", expiry="12/40") -> dict:
    return {"card": "new", "card_number": number, "card_expiry": expiry}


CARD_NUMBERS_BAD = ["", " ", "abc", "4242", "4242424242424241", "4242 4242 4242 4242 42", "x" * 33]
CARD_NUMBERS_BAD += ["١٢٣٤٥٦٧٨٩٠١٢٣٤٥", "4242424242424242\x00", *SQL_HTML[:2], "4000000000000002"]
CARD_EXPIRIES_BAD = ["", "13/30", "00/30", "01/20", "12/99", "aa/bb", "\x00", "12/2026/1", "1e3", "12-30", "1/2"]
CARD_EXPIRIES_BAD += ["x" * 8, "٠١/٣٠"]


def card_choice_bad(world: World) -> list:
    return [*IDS_REQUIRED, *other_ids(world, world.other_card), "new\x00", "NEW"]


def portal_cases(world: World) -> list[FormCase]:
    unpaid = world.unpaid
    pay = reverse("portal:invoice_pay", args=[unpaid.pk])
    pay_all = reverse("portal:invoices_pay_all", args=["EUR"])
    cards = reverse("portal:card_list")
    return [
        FormCase(
            "pay (the amount shown)",
            pay,
            valid={"card": str(world.card.pk)},
            bad={
                "amount": [*AMOUNTS_SHORT, "99.99", "100.01"],
                "card": card_choice_bad(world),
                "card_number": [new_card(number=value) for value in CARD_NUMBERS_BAD],
                "card_expiry": [new_card(expiry=value) for value in CARD_EXPIRIES_BAD],
            },
        ),
        FormCase(
            "pay all",
            pay_all,
            valid={"card": str(world.card.pk)},
            bad={
                "expected_total": ["", ABSENT, "abc", "0", "1.00", "\x00", "x" * 33, "NaN", "140.00\x00"],
                "card": card_choice_bad(world),
                "card_number": [new_card(number=value) for value in CARD_NUMBERS_BAD[:6]],
                "card_expiry": [new_card(expiry=value) for value in CARD_EXPIRIES_BAD[:6]],
            },
        ),
        FormCase(
            "add a card",
            cards,
            action=reverse("portal:card_add"),
            valid={"card_number": "378282246310005", "card_expiry": "12/40"},
            bad={
                "card_number": [{"card_number": value} for value in CARD_NUMBERS_BAD],
                "card_expiry": [{"card_expiry": value} for value in CARD_EXPIRIES_BAD],
                "make_default": [{"make_default": value, "card_number": "abc"} for value in ["\x00", "x" * 1000]],
            },
        ),
        FormCase(
            "set the default card (button)",
            cards,
            action=reverse("portal:card_set_default", args=[world.second_card.pk]),
            valid={},
            bad={},
        ),
        FormCase(
            "remove a card (confirmation)",
            reverse("portal:card_remove", args=[world.second_card.pk]),
            valid={},
            bad={"confirmed": ["", ABSENT, "0", *NUL]},
        ),
    ]


PORTAL_FORMS = [
    "pay (the amount shown)",
    "pay all",
    "add a card",
    "set the default card (button)",
    "remove a card (confirmation)",
]


@pytest.mark.parametrize("name", PORTAL_FORMS)
def test_portal_form(member_client, world, name):
    case = {case.name: case for case in portal_cases(world)}[name]
    outcome = Outcome()
    form_run(member_client, case, outcome)
    outcome.check()


def test_portal_partial_payment_amounts(member_client, world, settings):
    settings.BILLING_PORTAL_PARTIAL_PAYMENTS = True
    settings.BILLING_PORTAL_PARTIAL_MINIMUM = "10.00"
    case = FormCase(
        "pay (a part)",
        reverse("portal:invoice_pay", args=[world.unpaid.pk]),
        valid={"amount": "20.00", "card": str(world.card.pk)},
        bad={"amount": [*AMOUNTS_REQUIRED, "9.99", "100.01", "12,50"]},
    )
    outcome = Outcome()
    form_run(member_client, case, outcome)
    outcome.check()


def test_portal_stripe_card_tokens(member_client, world, settings):
    """With Stripe, the card form sends the PaymentMethod id Stripe.js created; a forged one is refused before the
    gateway is asked."""
    settings.PAYMENT_GATEWAY = "stripe"
    cards, add = reverse("portal:card_list"), reverse("portal:card_add")
    outcome = Outcome()
    for value in ["", ABSENT, "abc", "pm_", "pm_1\x00", "pm_" + "a" * 300, "pm_a b", "pm_<script>", "tok_visa"]:
        data = {**hidden_inputs(member_client, cards, add), "payment_method_token": value}
        outcome.request(f"token={shown(value)}", lambda data=data: member_client.post(add, submission(data)))
    outcome.check()


def test_portal_urls_with_ids_of_nothing_or_of_another_member(member_client, world):
    outcome = Outcome()
    urls = {
        "card_set_default": world.other_card,
        "card_remove": world.other_card,
        "payment_status": world.other_payment,
        "payment_status_json": world.other_payment,
        "receipt": world.other_payment,
        "receipt_pdf": world.other_payment,
        "invoice_detail": world.other_invoice,
        "invoice_pay": world.other_invoice,
        "invoice_pdf": world.other_invoice,
    }
    for name, others_object in urls.items():
        method = member_client.post if name.startswith("card_") else member_client.get
        for bad in [*HUGE_IDS[:2], str(others_object.pk), world.missing_id]:
            url = url_with(f"portal:{name}", bad=bad)
            outcome.request(f"{name} {url}", lambda url=url, method=method: method(url), allowed=(404,))
    for currency in ["XXX", "eur\x00", "x" * 300, "%00", "EU R"]:
        url = url_with("portal:invoices_pay_all", bad=currency)
        outcome.request(f"POST {url}", lambda url=url: member_client.post(url, {"card": str(world.card.pk)}))
    outcome.request("POST card setup (sandbox)", lambda: member_client.post(reverse("portal:card_setup")))
    for status in ["bogus", "\x00", "x" * 1000]:
        outcome.request(
            f"invoice list status={shown(status)}",
            lambda status=status: member_client.get("/portal/", {"status": status}),
        )
    outcome.check()


def test_portal_status_json(member_client, world):
    own = Payment.objects.filter(member=world.member, method="card").first()
    outcome = Outcome()
    response = outcome.request(
        "own payment", lambda: member_client.get(reverse("portal:payment_status_json", args=[own.pk]))
    )
    assert response.status_code == 200
    for bad in [str(world.other_payment.pk), world.missing_id, *HUGE_IDS[:2]]:
        url = url_with("portal:payment_status_json", bad=bad)
        outcome.request(f"GET {url}", lambda url=url: member_client.get(url), allowed=(404,))
    outcome.check()


def test_portal_password_reset_links_that_are_no_links(world):
    client = Client()
    outcome = Outcome()
    for uid in ["abc", "MA", urlsafe_base64_encode(b"99999999999999999999"), urlsafe_base64_encode(b"\x00"), "-" * 300]:
        for token in ["set-password", "abc-def", "x" * 300]:
            url = reverse("portal:password_reset_confirm", args=[uid, token])
            outcome.request(f"GET {url[:80]}", lambda url=url: client.get(url), allowed=(200, 302))
            outcome.request(
                f"POST {url[:80]}",
                lambda url=url: client.post(url, {"new_password1": "x\x00", "new_password2": "x\x00"}),
                allowed=(200, 302),
            )
    outcome.check()


def test_portal_login_and_password_reset(world, mailoutbox):
    from axes.utils import reset

    client = Client()
    login, password_reset = reverse("portal:login"), reverse("portal:password_reset")
    email = world.member.email
    emails_bad = ["", ABSENT, "abc", "a@", "@example.com", "x" * 250 + "@example.com", "\x00@example.com"]
    emails_bad += [f"{email}\x00", "' OR 1=1 --@example.com", "<script>@example.com", ["a@b.c", "d@e.f"]]
    outcome = Outcome()
    for case in [
        FormCase(
            "login",
            login,
            valid={"email": email, "password": MEMBER_PASSWORD},
            valid_acts=lambda response, before, after: (
                response.status_code == 302 and "_auth_user_id" in client.session
            ),
            bad={
                "email": emails_bad,
                "password": ["", ABSENT, "\x00", f"{MEMBER_PASSWORD}\x00", "x" * 5000],
            },
        ),
        FormCase(
            "password reset",
            password_reset,
            valid={"email": email},
            bad={"email": [*emails_bad, world.other.email.upper() + "\x00"]},
            valid_acts=lambda response, before, after: response.status_code == 302 and len(mailoutbox) == 1,
        ),
    ]:
        reset()  # the wrong passwords above count as failures for django-axes
        form_run(client, case, outcome)
        reset()
    outcome.check()


# The webhook ----------------------------------------------------------------------------------------------------------

WEBHOOK_URL = "/webhooks/stripe/"
WEBHOOK_SECRET = "whsec_fuzz_secret"


def stripe_signature(payload: bytes, *, timestamp: int | None = None, secret: str = WEBHOOK_SECRET) -> str:
    """The Stripe-Signature header Stripe sends: an HMAC-SHA256 of "timestamp.payload" with the endpoint's
    secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def event_body(**fields) -> dict:
    body = {
        "id": "evt_fuzz_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": "pi_unknown", "object": "payment_intent", "status": "succeeded"}},
    }
    for name, value in fields.items():
        if value is ABSENT:
            body.pop(name)
        else:
            body[name] = value
    return body


def encoded(body) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


WEBHOOK_BODIES_NOT_EVENTS = [
    b"",
    b" ",
    b"null",
    b"[]",
    b'[{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}}]',
    b'"evt_1"',
    b"42",
    b"1e999",
    b"true",
    b"{",
    b"{'id': 'evt_1'}",
    b'{"id": "evt_1", "id": ',
    b"\xff\xfe{}",
    b'{"id": "evt_\xc3\x28"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 100 + b"1" + b"}" * 100,
    b"\x00",
    event_body(id=ABSENT),
    event_body(type=ABSENT),
    event_body(data=ABSENT),
    event_body(id=""),
    event_body(id=123),
    event_body(id=None),
    event_body(id=["evt_1"]),
    event_body(id={"id": "evt_1"}),
    event_body(id="evt_" + "x" * 300),
    event_body(type=""),
    event_body(type=7),
    event_body(type="payment_intent." + "x" * 200),
    event_body(data=None),
    event_body(data=[]),
    event_body(data="payment_intent"),
    event_body(data={}),
    event_body(data={"object": None}),
    event_body(data={"object": "pi_1"}),
    event_body(data={"object": [{"id": "pi_1"}]}),
    event_body(id="evt_\x00"),
    event_body(type="payment_intent.succeeded\x00"),
    event_body(data={"object": {"id": "pi_1", "description": "a\x00b"}}),
    event_body(data={"object": {"id": "pi_1", "a\x00": 1}}),
    json.dumps(event_body()).replace('"pi_unknown"', '"\\ud800"').encode(),
    json.dumps(event_body()).replace('"succeeded"}', '"succeeded", "amount": NaN}').encode(),
    json.dumps(event_body()).replace('"succeeded"}', '"succeeded", "amount": Infinity}').encode(),
    json.dumps(event_body()).replace('"succeeded"}', '"succeeded", "amount": 1e999}').encode(),
    json.dumps(event_body()).replace('"succeeded"}', '"succeeded", "amount": ' + "9" * 5000 + "}").encode(),
    b'{"id": "evt_1", "type": "t", "data": {"object": {}}, "pad": "' + b"x" * (600 * 1024) + b'"}',
]


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def webhook_post(client: Client, payload: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    return client.post(WEBHOOK_URL, data=payload, content_type="application/json", **headers)


def test_webhook_bodies_that_are_not_events(client, world, webhook_secret):
    outcome = Outcome()
    for index, body in enumerate(WEBHOOK_BODIES_NOT_EVENTS):
        payload = encoded(body)
        outcome.request(
            f"body {index}: {shown(payload)}",
            lambda payload=payload: webhook_post(client, payload, stripe_signature(payload)),
            allowed=(400,),
        )
    outcome.check()
    assert not WebhookEvent.objects.exists()


def test_webhook_signatures_that_do_not_verify(client, world, webhook_secret):
    payload = encoded(event_body())
    now = int(time.time())
    signatures = [
        None,
        "",
        " ",
        "garbage",
        "t=,v1=",
        "t=abc,v1=00",
        f"t={now}",
        f"v1={'0' * 64}",
        f"t={now},v1={'0' * 64}",
        f"t={now},v0={stripe_signature(payload).split('v1=')[1]}",
        f"t={now},v1=é{'0' * 63}",
        f"t={'9' * 5000},v1=00",
        f"t={now}\x00,v1=00",
        stripe_signature(payload, secret="whsec_someone_else"),
        stripe_signature(payload + b" "),
        stripe_signature(payload, timestamp=now - 301),
        stripe_signature(payload, timestamp=now - 86400),
        stripe_signature(payload, timestamp=now + 360),
        stripe_signature(payload, timestamp=now + 86400 * 365),
        stripe_signature(payload, timestamp=0),
        stripe_signature(payload, timestamp=-1),
        "t=1,v1=" + "0" * 64 + "," * 1000,
    ]
    outcome = Outcome()
    for signature in signatures:
        outcome.request(
            f"signature {shown(signature)}",
            lambda signature=signature: webhook_post(client, payload, signature),
            allowed=(400,),
        )
    outcome.check()
    assert not WebhookEvent.objects.exists()


@settings_hypothesis(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(st.text(max_size=8).filter(lambda key: key not in ("id", "type", "data")), children)
            ),
            max_leaves=12,
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_webhook_random_signed_bodies(client, world, webhook_secret, body):
    """Random bytes and random JSON that is no event object (no id, type and data), signed: 400, nothing stored."""
    before = row_counts()

    response = webhook_post(client, body, stripe_signature(body))

    assert response.status_code == 400
    assert row_counts() == before


def test_a_webhook_body_beyond_what_django_reads_is_refused(client, world, webhook_secret):
    payload = b'{"id": "evt_1", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'

    response = webhook_post(client, payload, stripe_signature(payload))

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_valid_signed_event_is_stored_once(client, world, webhook_secret):
    """The valid body of the cases above is accepted: what they change alone is what is refused."""
    payload = encoded(event_body())
    now = int(time.time())
    for timestamp in (now - 240, now + 240):  # within the 300 s tolerance, with a margin for a slow run
        response = webhook_post(client, payload, stripe_signature(payload, timestamp=timestamp))
        assert response.status_code == 200
    stored = WebhookEvent.objects.get()
    assert (stored.event_id, stored.type, stored.payload) == (
        "evt_fuzz_1",
        "payment_intent.succeeded",
        json.loads(payload),
    )


# The table's size ----------------------------------------------------------------------------------------------------


def test_the_table_has_enough_cases(world):
    """At least 500 bad inputs are tried in the forms and the webhook alone (the URL and filter tests add more), and
    every form of the table runs."""
    admin, portal = admin_cases(world), portal_cases(world)
    assert [case.name for case in admin] == ADMIN_FORMS
    assert [case.name for case in portal] == PORTAL_FORMS
    count = sum(case.count for case in [*admin, *portal]) + len(WEBHOOK_BODIES_NOT_EVENTS)
    assert count >= 500, count
