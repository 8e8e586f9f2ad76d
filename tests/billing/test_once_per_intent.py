"""Once per intent (spec 11, STYLE 13): every admin and portal form that moves money or changes a status carries a
one-time key; the service claims it with its effect, so the same form sent twice (a double click, a browser resubmit,
a retry after an error page), one after the other or at the same moment, acts once, and the second answer is the
first one: the same page, with the same message."""

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor
from billing.errors import BillingError
from billing.form_intents import INTENT_ALREADY_SUBMITTED, INTENT_FIELD, INTENT_OUT_OF_DATE
from billing.intents import Intent, IntentRepeated
from billing.models import Activity, CreditNote, FormIntent, Invoice, InvoiceStatus, MoneyBalanceEntry
from billing.selectors import invoice_draft_version
from billing.services.credit_note_issue import credit_note_issue
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.models import Allocation, Payment, PaymentAttempt, PaymentMethod, PaymentStatus, Refund
from payments.sandbox.models import SandboxCard, SandboxCharge, SandboxCustomer, SandboxRefund
from payments.services.payment_apply import payment_apply
from payments.services.payment_card import payment_create_card
from payments.services.payment_external import payment_create_external
from tests.factories import (
    SYSTEM,
    MemberFactory,
    books_snapshot,
    draft_invoice,
    eur,
    external_payment,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)
from tests.members.portal.conftest import portal_member
from tests.support.forms import FormClient
from tests.support.races import POSTGRES_ONLY, race

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
DECLINING_CARD = "4000000000000341"  # attaches; its charges are declined
REFUSED_AT_ATTACH = "4000000000000002"

# Every row a form can write, and the gateway's own (its charges, refunds and cards).
WRITTEN_MODELS = (
    Refund,
    CreditNote,
    PaymentAttempt,
    PaymentMethod,
    FormIntent,
    SandboxCharge,
    SandboxRefund,
    SandboxCard,
    SandboxCustomer,
)
# Counted for the races. Not SandboxCard: two card forms at the very same moment may each attach the card at the
# gateway (before the transaction that claims the key) while only one saves it (README, once per intent).
COUNTED_MODELS = (
    Payment,
    Allocation,
    MoneyBalanceEntry,
    Activity,
    Refund,
    CreditNote,
    PaymentAttempt,
    PaymentMethod,
    FormIntent,
    SandboxCharge,
    SandboxRefund,
)


def snapshot() -> dict:
    return books_snapshot(extra_models=WRITTEN_MODELS)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED_MODELS}


def admin(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def portal(name: str, *args) -> str:
    return reverse(f"portal:{name}", args=args)


@dataclass
class Form:
    """One form that acts: where it posts, what it sends, and who sends it ("staff" or "member")."""

    url: str
    data: dict = field(default_factory=dict)
    sender: str = "staff"
    page: str = ""  # the page that shows the form, when it is a button on another page


@dataclass
class World:
    """The users a case acts as, and how to run what a request queues after its commit (the charges, eagerly)."""

    staff_user: object
    committed: Callable
    member: object = None

    def portal_member(self):
        if self.member is None:
            self.member = portal_member()
        return self.member


def failed_card_payment(world: World, invoice: Invoice, *, good_card: bool = True):
    """A card payment declined by the sandbox, and (first, so that it does not retry the payment at once) a good
    card to retry it with."""
    good = saved_card(invoice.member, VISA) if good_card else None
    declining = saved_card(invoice.member, DECLINING_CARD)
    with world.committed():
        payment = payment_create_card(invoice=invoice, actor=SYSTEM, payment_method=declining)
    payment = reload(payment)
    assert payment.status == PaymentStatus.FAILED
    return payment, good


def card_paid(world: World, invoice: Invoice) -> Payment:
    saved_card(invoice.member, VISA)
    with world.committed():
        payment = payment_create_card(invoice=invoice, actor=SYSTEM)
    payment = reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


def today() -> str:
    return timezone.localdate().isoformat()


# Each case sets up its world and returns the form to send twice.


def create_payment(world: World) -> Form:
    invoice = open_invoice(amounts=["100.00"])
    data = {
        "amount": "40.00",
        "method": "external",
        "kind": "check",
        "reference": "CHK-1",
        "received_on": today(),
        "note": "",
    }
    return Form(admin("billing_invoice_create_payment", invoice.pk), data)


def standalone(world: World) -> Form:
    member = MemberFactory()
    data = {
        "member": member.pk,
        "amount": "50.00",
        "currency": "EUR",
        "kind": "bank_transfer",
        "reference": "TRF-1",
        "received_on": today(),
        "note": "",
    }
    return Form(admin("payments_payment_record_standalone"), data)


def charge(world: World) -> Form:
    invoice = open_invoice(amounts=["100.00"])
    card = saved_card(invoice.member, VISA)
    return Form(admin("billing_invoice_create_payment", invoice.pk), {"amount": "100.00", "method": str(card.pk)})


def issue_and_charge(world: World) -> Form:
    draft = draft_invoice(amounts=["80.00"])
    card = saved_card(draft.member, VISA)
    data = {"payment_method": card.pk, "version": invoice_draft_version(draft)}
    return Form(admin("billing_invoice_issue_and_charge", draft.pk), data)


def issue(world: World) -> Form:
    draft = draft_invoice(amounts=["80.00"])
    data = {"confirmed": "True", "version": invoice_draft_version(draft)}
    return Form(admin("billing_invoice_issue", draft.pk), data)


def retry(world: World) -> Form:
    payment, good = failed_card_payment(world, open_invoice(amounts=["100.00"]))
    return Form(admin("payments_payment_retry", payment.pk), {"amount": "100.00", "payment_method": good.pk})


def cancel(world: World) -> Form:
    payment, _ = failed_card_payment(world, open_invoice(amounts=["100.00"]), good_card=False)
    return Form(admin("payments_payment_cancel", payment.pk), {"reason": "Paid by transfer instead"})


def refund_card(world: World) -> Form:
    payment = card_paid(world, open_invoice(amounts=["100.00"]))
    data = {"amount": "30.00", "reason": "requested_by_member", "note": "", "invoice_handling": "reopen"}
    return Form(admin("payments_payment_refund", payment.pk), data)


def refund_external(world: World) -> Form:
    payment = standalone_payment(member=MemberFactory(), amount="60.00")
    data = {"amount": "20.00", "reason": "requested_by_member", "note": "", "invoice_handling": ""}
    return Form(admin("payments_payment_refund", payment.pk), data)


def credit_note(world: World) -> Form:
    invoice = open_invoice(amounts=["100.00"])
    data = {
        "amount": "30.00",
        "reason": "order_change",
        "memo": "",
        "refund_amount": "",
        "credit_amount": "",
        "out_of_band_amount": "",
    }
    return Form(admin("billing_invoice_credit_note", invoice.pk), data)


def credit_note_with_refund(world: World) -> Form:
    invoice = open_invoice(amounts=["100.00"])
    card_paid(world, invoice)
    data = {
        "amount": "30.00",
        "reason": "order_change",
        "memo": "",
        "refund_amount": "30.00",
        "credit_amount": "",
        "out_of_band_amount": "",
    }
    return Form(admin("billing_invoice_credit_note", invoice.pk), data)


def void_payment(world: World) -> Form:
    payment = external_payment(invoice=open_invoice(amounts=["100.00"]), amount="40.00")
    return Form(admin("payments_payment_void", payment.pk), {"reason": "The check bounced"})


def void_credit_note(world: World) -> Form:
    invoice = external_payment(invoice=open_invoice(amounts=["100.00"]), amount="100.00").invoice
    credit_note = credit_note_issue(
        invoice=invoice, actor=SYSTEM, reason="other", amount=Money("40.00", "EUR"), credit_amount=Money("40.00", "EUR")
    )
    return Form(admin("billing_creditnote_void", credit_note.pk), {"reason": "Issued on the wrong invoice"})


def apply_payment(world: World) -> Form:
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    return Form(admin("payments_payment_apply", payment.pk), {"invoice": invoice.pk, "amount": "30.00"})


def apply_existing_payments(world: World) -> Form:
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    return Form(admin("billing_invoice_apply_payment", invoice.pk), {f"amount_{payment.pk}": "30.00"})


def allocate_from_payment(world: World) -> Form:
    member = MemberFactory()
    payment = standalone_payment(member=member, amount="50.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    return Form(
        admin("payments_payment_allocate", payment.pk), {f"include_{invoice.pk}": "on", f"amount_{invoice.pk}": "30.00"}
    )


def allocate_from_member(world: World) -> Form:
    member = MemberFactory()
    standalone_payment(member=member, amount="20.00")
    standalone_payment(member=member, amount="30.00")
    invoice = open_invoice(member=member, amounts=["100.00"])
    return Form(
        admin("members_member_allocate", member.pk) + "?currency=EUR",
        {f"include_{invoice.pk}": "on", f"amount_{invoice.pk}": "45.00"},
    )


def unallocate(world: World) -> Form:
    invoice = open_invoice(amounts=["100.00"])
    member = invoice.member
    payment = standalone_payment(member=member, amount="50.00")
    [allocation] = payment_apply(invoice=invoice, applications=[(payment, eur("30.00"))], actor=SYSTEM)
    page = admin("billing_invoice_change", invoice.pk)
    return Form(admin("payments_payment_unallocate", allocation.pk), {"next": page, "confirmed": "True"})


def adjust_balance(world: World) -> Form:
    member = MemberFactory()
    data = {"direction": "credit", "amount": "25.00", "currency": "EUR", "note": "Goodwill"}
    return Form(admin("members_member_adjust_balance", member.pk), data)


def apply_balance(world: World) -> Form:
    invoice = open_invoice(amounts=["100.00"])
    money_balance_adjust(member=invoice.member, amount=eur("50.00"), is_credit=True, note="goodwill", actor=SYSTEM)
    return Form(admin("billing_invoice_apply_balance", invoice.pk), {"amount": "25.00"})


def void_invoice(world: World) -> Form:
    return Form(admin("billing_invoice_void", open_invoice(amounts=["100.00"]).pk))


def mark_uncollectible(world: World) -> Form:
    invoice = open_invoice(amounts=["100.00"])
    return Form(admin("billing_invoice_mark_uncollectible", invoice.pk), {"confirmed": "True"})


def admin_card_add(world: World) -> Form:
    return Form(admin("members_member_card_add", MemberFactory().pk), {"card_number": VISA})


def admin_card_set_default(world: World) -> Form:
    member = MemberFactory()
    saved_card(member, VISA)
    second = saved_card(member, MASTERCARD)
    return Form(
        admin("members_member_card_set_default", member.pk, second.pk), page=admin("members_member_change", member.pk)
    )


def admin_card_remove(world: World) -> Form:
    member = MemberFactory()
    card = saved_card(member, VISA)
    return Form(admin("members_member_card_remove", member.pk, card.pk))


def portal_pay(world: World) -> Form:
    member = world.portal_member()
    invoice = open_invoice(member=member, amounts=["100.00"])
    card = saved_card(member, VISA)
    return Form(portal("invoice_pay", invoice.pk), {"amount": "100.00", "card": str(card.pk)}, "member")


def portal_pay_with_new_card(world: World) -> Form:
    member = world.portal_member()
    invoice = open_invoice(member=member, amounts=["100.00"])
    data = {"amount": "100.00", "card": "new", "card_number": VISA, "card_expiry": "12/34"}
    return Form(portal("invoice_pay", invoice.pk), data, "member")


def portal_pay_all(world: World) -> Form:
    member = world.portal_member()
    open_invoice(member=member, amounts=["100.00"])
    open_invoice(member=member, amounts=["50.00"])
    card = saved_card(member, VISA)
    return Form(portal("invoices_pay_all", "EUR"), {"card": str(card.pk), "expected_total": "150.00"}, "member")


def portal_card_add(world: World) -> Form:
    world.portal_member()
    return Form(portal("card_add"), {"card_number": VISA, "card_expiry": "12/34"}, "member", portal("card_list"))


def portal_card_set_default(world: World) -> Form:
    member = world.portal_member()
    saved_card(member, VISA)
    second = saved_card(member, MASTERCARD)
    return Form(portal("card_set_default", second.pk), {}, "member", portal("card_list"))


def portal_card_remove(world: World) -> Form:
    member = world.portal_member()
    card = saved_card(member, VISA)
    return Form(portal("card_remove", card.pk), {"confirmed": "1"}, "member")


FORMS = [
    create_payment,
    standalone,
    charge,
    issue_and_charge,
    issue,
    retry,
    cancel,
    refund_card,
    refund_external,
    credit_note,
    credit_note_with_refund,
    void_payment,
    void_credit_note,
    apply_payment,
    apply_existing_payments,
    allocate_from_payment,
    allocate_from_member,
    unallocate,
    adjust_balance,
    apply_balance,
    void_invoice,
    mark_uncollectible,
    admin_card_add,
    admin_card_set_default,
    admin_card_remove,
    portal_pay,
    portal_pay_with_new_card,
    portal_pay_all,
    portal_card_add,
    portal_card_set_default,
    portal_card_remove,
]


def logged_in(world: World, form: Form, client_class=FormClient) -> Client:
    client = client_class()
    client.force_login(world.staff_user if form.sender == "staff" else world.portal_member().user)
    return client


def shown(response) -> list[tuple[int, str]]:
    """The messages the page shows (level, text)."""
    return [(message.level, str(message)) for message in response.context["messages"]]


def send(client: Client, form: Form, key) -> object:
    return client.post(form.url, {**form.data, INTENT_FIELD: str(key)}, follow=True)


@pytest.fixture
def world(staff_user, committed) -> World:
    return World(staff_user=staff_user, committed=committed)


# The same form sent twice, one after the other -------------------------------------------------------------------------


@pytest.mark.parametrize("case", FORMS, ids=lambda case: case.__name__)
def test_a_form_sent_twice_acts_once_and_answers_with_the_first_outcome(world, case):
    form = case(world)
    client = logged_in(world, form)
    key = uuid.uuid4()
    before = snapshot()

    with world.committed():
        first = send(client, form, key)
    after_first = snapshot()
    with world.committed():
        second = send(client, form, key)

    assert after_first != before, "the first submission acted"
    assert FormIntent.objects.filter(key=key).count() == 1
    assert snapshot() == after_first, "the second submission changed nothing"
    assert first.redirect_chain and second.redirect_chain
    assert second.redirect_chain[-1][0] == first.redirect_chain[-1][0]
    assert second.status_code == first.status_code == 200
    assert all(level == messages.SUCCESS for level, _ in shown(first))
    assert len(shown(first)) == (1 if form.sender == "staff" or "/cards/" in form.url else 0)
    assert shown(second) == shown(first)


@pytest.mark.parametrize("case", FORMS, ids=lambda case: case.__name__)
def test_each_form_carries_a_fresh_key_and_acts_with_it_as_a_browser_sends_it(world, case):
    """The page renders the key in the form; a browser that sends the form as it got it (here Django's plain client,
    which adds nothing) acts. Each page view renders a new key."""
    form = case(world)
    client = logged_in(world, form, client_class=Client)
    page = form.page or form.url

    keys = [rendered_key(client.get(page), form), rendered_key(client.get(page), form)]
    before = snapshot()
    with world.committed():
        response = client.post(form.url, {**form.data, INTENT_FIELD: keys[0]}, follow=True)

    assert keys[0] != keys[1]
    assert snapshot() != before
    assert FormIntent.objects.get(key=keys[0]).result_url == response.redirect_chain[-1][0]


def rendered_key(response, form: Form) -> str:
    """The key in the form that posts to `form.url` (or in the page's form, when the page is the form's own)."""
    assert response.status_code == 200
    html = response.content.decode()
    if form.page:
        html = re.search(rf'<form[^>]*action="{re.escape(form.url)}"[^>]*>(.*?)</form>', html, re.DOTALL)[1]
    return re.search(rf'name="{INTENT_FIELD}" value="([0-9a-f-]{{36}})"', html)[1]


def test_the_first_outcome_is_stored_with_the_key(world):
    form = create_payment(world)
    client = logged_in(world, form)
    key = uuid.uuid4()

    response = send(client, form, key)

    payment = Payment.objects.get()
    stored = FormIntent.objects.get(key=key)
    assert stored.user == world.staff_user
    assert stored.action == "billing_invoice_create_payment"
    assert stored.result_url == admin("billing_invoice_change", payment.invoice_id)
    assert stored.result_level == messages.SUCCESS
    assert stored.result_message == f"{payment} recorded: €40.00 applied to {payment.invoice}."
    assert shown(response) == [(messages.SUCCESS, stored.result_message)]


def test_a_repeat_that_finds_no_outcome_yet_says_the_form_was_sent_and_shows_the_object(world, settings):
    """The first submission is still finishing (or failed after its commit): after a short wait, a neutral note."""
    settings.BILLING_INTENT_OUTCOME_WAIT = 0.1
    form = void_invoice(world)
    client = logged_in(world, form)
    key = uuid.uuid4()
    FormIntent.objects.create(key=key, user=world.staff_user, action="billing_invoice_void")
    before = snapshot()

    response = send(client, form, key)

    invoice_id = int(form.url.rstrip("/").split("/")[-2])
    assert response.redirect_chain[-1][0] == admin("billing_invoice_change", invoice_id)
    assert shown(response) == [(messages.INFO, INTENT_ALREADY_SUBMITTED)]
    assert snapshot() == before
    assert Invoice.objects.get(pk=invoice_id).status == InvoiceStatus.OPEN


# Forms without a valid key -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", FORMS, ids=lambda case: case.__name__)
@pytest.mark.parametrize(
    "key", ["", "not-a-uuid", "12345678-1234-1234-1234-1234567890"], ids=["empty", "word", "short"]
)
def test_a_form_without_a_valid_key_is_refused_and_writes_nothing(world, case, key):
    form = case(world)
    client = logged_in(world, form)
    before = snapshot()

    with world.committed():
        response = client.post(form.url, {**form.data, INTENT_FIELD: key}, follow=True)

    assert snapshot() == before
    errors = [text for level, text in shown(response) if level == messages.ERROR]
    if response.context.get("form") is not None and response.context["form"].non_field_errors():
        errors += list(response.context["form"].non_field_errors())
    assert errors == [INTENT_OUT_OF_DATE]


@pytest.mark.parametrize("case", [create_payment, issue, refund_external, portal_pay, portal_card_remove])
def test_a_form_sent_with_no_key_field_at_all_is_refused(world, case):
    """Django's plain test client sends only what it is given, as a stale page or a script would."""
    form = case(world)
    client = logged_in(world, form, client_class=Client)
    before = snapshot()

    with world.committed():
        response = client.post(form.url, form.data, follow=True)

    assert snapshot() == before
    messages_shown = [text for _, text in shown(response)]
    form_errors = list(response.context["form"].non_field_errors()) if response.context.get("form") else []
    assert INTENT_OUT_OF_DATE in messages_shown + form_errors


@pytest.mark.parametrize("case", FORMS, ids=lambda case: case.__name__)
def test_another_users_key_is_refused_and_their_outcome_never_shown(world, case):
    """A key used first on the same kind of form by someone else (the manager, or another member), then sent by a
    clerk (or a member)."""
    key = uuid.uuid4()
    first_world = World(staff_user=world.staff_user, committed=world.committed)
    first_form = case(first_world)
    with world.committed():
        send(logged_in(first_world, first_form), first_form, key)
    stored = FormIntent.objects.get(key=key)
    assert stored.result_url
    form = case(world)
    if form.sender == "staff":
        world.staff_user = get_user_model().objects.create_superuser("clerk", "clerk@space.example", "password")
    client = logged_in(world, form)
    before = snapshot()

    with world.committed():
        response = send(client, form, key)

    assert snapshot() == before
    assert [text for _, text in shown(response)] == [INTENT_OUT_OF_DATE]


def test_a_key_of_another_form_is_refused(world):
    form = create_payment(world)
    client = logged_in(world, form)
    key = uuid.uuid4()
    send(client, standalone(world), key)
    before = snapshot()

    response = send(client, form, key)

    assert snapshot() == before
    assert [text for _, text in shown(response)] == [INTENT_OUT_OF_DATE]


# A refused submission leaves its key free ----------------------------------------------------------------------------


def test_a_refused_submission_then_the_corrected_one_with_the_same_key_acts(world):
    form = apply_balance(world)
    client = logged_in(world, form)
    key = uuid.uuid4()
    before = snapshot()

    refused = client.post(form.url, {"amount": "50.01", INTENT_FIELD: str(key)})
    assert refused.status_code == 200
    assert snapshot() == before
    assert not FormIntent.objects.filter(key=key).exists()
    assert f'name="{INTENT_FIELD}" value="{key}"' in refused.content.decode(), "the page keeps the key"

    corrected = client.post(form.url, {"amount": "25.00", INTENT_FIELD: str(key)}, follow=True)

    assert [level for level, _ in shown(corrected)] == [messages.SUCCESS]
    assert MoneyBalanceEntry.objects.filter(kind="applied").count() == 1
    assert FormIntent.objects.get(key=key).result_message == shown(corrected)[0][1]


def test_invalid_input_then_the_corrected_form_with_the_same_key_acts(world):
    form = create_payment(world)
    client = logged_in(world, form)
    key = uuid.uuid4()

    invalid = client.post(form.url, {**form.data, "amount": "abc", INTENT_FIELD: str(key)})
    assert invalid.status_code == 200
    assert Payment.objects.count() == 0

    corrected = send(client, form, key)

    assert Payment.objects.count() == 1
    assert [level for level, _ in shown(corrected)] == [messages.SUCCESS]


def test_a_portal_payment_refused_at_the_gateway_then_paid_with_another_card_under_the_same_key(world, committed):
    member = world.portal_member()
    invoice = open_invoice(member=member, amounts=["100.00"])
    form = Form(
        portal("invoice_pay", invoice.pk), {"amount": "100.00", "card": "new", "card_expiry": "12/34"}, "member"
    )
    client = logged_in(world, form)
    key = uuid.uuid4()
    before = counts()  # the gateway customer is created before the card is refused, as before

    with committed():
        refused = client.post(form.url, {**form.data, "card_number": REFUSED_AT_ATTACH, INTENT_FIELD: str(key)})
    assert refused.status_code == 200
    assert "Your card was declined." in " ".join(refused.context["form"].non_field_errors())
    assert counts() == before

    with committed():
        paid = client.post(form.url, {**form.data, "card_number": VISA, INTENT_FIELD: str(key)}, follow=True)

    assert paid.redirect_chain[-1][0] == portal("payment_status", Payment.objects.get().pk)
    assert reload(invoice).status == InvoiceStatus.PAID
    assert SandboxCharge.objects.count() == 1


def test_a_new_card_saved_before_the_payment_was_refused_gives_the_page_a_fresh_key(world, committed):
    """Pay with a new card: the card is saved (that used the key), then the payment is refused (not the full
    amount); the page shows the saved card chosen, with a new key, and that form pays."""
    member = world.portal_member()
    invoice = open_invoice(member=member, amounts=["100.00"])
    client = logged_in(world, Form("", sender="member"))
    url = portal("invoice_pay", invoice.pk)
    key = uuid.uuid4()
    data = {"amount": "99.00", "card": "new", "card_number": VISA, "card_expiry": "12/34", INTENT_FIELD: str(key)}

    with committed():
        refused = client.post(url, data)

    card = PaymentMethod.objects.get(member=member)
    assert "Pay the full €100.00" in " ".join(refused.context["form"].non_field_errors())
    assert Payment.objects.count() == 0
    fresh = re.search(rf'name="{INTENT_FIELD}" value="([^"]+)"', refused.content.decode())[1]
    assert fresh != str(key)

    with committed():
        paid = client.post(url, {"amount": "100.00", "card": str(card.pk), INTENT_FIELD: fresh}, follow=True)

    assert paid.redirect_chain[-1][0] == portal("payment_status", Payment.objects.get().pk)
    assert reload(invoice).status == InvoiceStatus.PAID
    assert PaymentMethod.objects.filter(member=member).count() == 1


# The same form sent twice at the same moment (PostgreSQL) ------------------------------------------------------------


@pytest.mark.parametrize("case", FORMS, ids=lambda case: case.__name__)
@pytest.mark.usefixtures("transactional_db")
@pytest.mark.parametrize("", [pytest.param(marks=POSTGRES_ONLY)])
def test_a_form_sent_twice_at_the_same_moment_acts_once(staff_user, committed, case):
    """Two submissions with the same key race: the second blocks on the key's unique index until the first
    commits, then answers with the first outcome; the effect is exactly that of one submission. Measured against
    the same form sent once in a world of its own (two worlds, one after the other, in one database)."""
    world = World(staff_user=staff_user, committed=committed)
    once = case(world)
    before = counts()
    send(logged_in(world, once), once, uuid.uuid4())
    one_submission = {name: count - before[name] for name, count in counts().items()}

    world = World(staff_user=staff_user, committed=committed)
    form = case(world)
    clients = [logged_in(world, form), logged_in(world, form)]
    key = uuid.uuid4()
    before = counts()

    first, second = race([lambda client=client: send(client, form, key) for client in clients])

    two_submissions = {name: count - before[name] for name, count in counts().items()}
    assert two_submissions == one_submission
    assert first.status_code == second.status_code == 200
    assert first.redirect_chain[-1][0] == second.redirect_chain[-1][0]
    assert shown(first) == shown(second)
    assert [level for level, _ in shown(first)] != [messages.ERROR]
    assert FormIntent.objects.filter(key=key).count() == 1


@pytest.mark.usefixtures("transactional_db")
@pytest.mark.parametrize("", [pytest.param(marks=POSTGRES_ONLY)])
def test_a_second_submission_waits_on_the_key_while_the_first_is_acting_and_never_reaches_the_rules(staff_user):
    """Made deterministic: the first submission claims the key, then waits on the member's row (held by the test);
    the second blocks on the key's unique index (not on the member). When the first commits, the second gets the
    repeat: it never reads the books the first changed."""
    invoice = open_invoice(amounts=["100.00"])
    intent = Intent(key=uuid.uuid4(), action="billing_invoice_create_payment")
    actor = Actor.staff(staff_user, intent=intent)
    member_locked, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def hold_member():
        with transaction.atomic():
            Member.objects.select_for_update().get(pk=invoice.member_id)
            member_locked.set()
            release.wait(timeout=30)
        connection.close()

    def submit(name: str):
        try:
            outcomes[name] = payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=eur("100.00"))
        except (BillingError, IntentRepeated) as error:
            outcomes[name] = error
        finally:
            connection.close()

    def waiting_on(kind: str) -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                " AND query ILIKE %s",
                [f"%{kind}%"],
            )
            return cursor.fetchone()[0]

    def wait_until(condition) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "the submission never got to wait"
            time.sleep(0.02)

    holder = threading.Thread(target=hold_member)
    holder.start()
    member_locked.wait(timeout=10)
    first = threading.Thread(target=submit, args=("first",))
    first.start()
    wait_until(lambda: waiting_on("members_member") == 1)
    second = threading.Thread(target=submit, args=("second",))
    second.start()
    wait_until(lambda: waiting_on("billing_formintent") == 1)
    release.set()
    for thread in (holder, first, second):
        thread.join(timeout=30)

    assert isinstance(outcomes["first"], Payment)
    assert isinstance(outcomes["second"], IntentRepeated)
    assert outcomes["second"].intent.key == intent.key
    assert Payment.objects.count() == 1
    assert reload(invoice).status == InvoiceStatus.PAID
    assert FormIntent.objects.filter(key=intent.key).count() == 1
