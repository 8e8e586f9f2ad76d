"""Each rule exists once (STYLE principle 8): the transitions state it (`conditions=`, `permission=`), the pages show
a button exactly when `can_proceed` and `has_transition_perm` allow it, and a POST that bypasses a hidden button is
refused by the service, with the words the service gives when it is called directly, and nothing changes."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_fsm import can_proceed, has_transition_perm

from billing.activity import Actor
from billing.errors import BillingError
from billing.models import CreditNote, Invoice, InvoiceLine, invoice_accepts_payment
from billing.services.credit_note_issue import credit_note_issue
from billing.services.credit_note_void import CREDIT_NOTE_VOID_REFUSALS, credit_note_void
from billing.services.invoice_issue import INVOICE_ISSUE_REFUSALS, invoice_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import (
    INVOICE_MARK_UNCOLLECTIBLE_REFUSALS,
    INVOICE_VOID_REFUSALS,
    invoice_mark_uncollectible,
    invoice_void,
)
from billing.services.money_balance_adjust import money_balance_adjust
from members.portal.selectors import invoice_amounts
from payments.admin.payments import payment_retry_limit
from payments.models import Payment, PaymentAttempt, payment_has_something_to_refund
from payments.rules import PAYMENT_CANCEL_REFUSALS, PAYMENT_RETRY_REFUSALS, PAYMENT_VOID_REFUSALS
from payments.services.payment_apply import payment_apply
from payments.services.payment_card import payment_cancel, payment_retry
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund
from tests.factories import (
    SYSTEM,
    MemberFactory,
    UserFactory,
    books_snapshot,
    card_payment,
    draft_invoice,
    eur,
    external_payment,
    open_invoice,
    reload,
)
from tests.members.portal.conftest import portal_member
from tests.payments.admin.helpers import messages_of

pytestmark = pytest.mark.django_db

SUPERUSER = None  # every permission


def _login(client, permissions: tuple[str, ...] | None):
    """A staff user with the permissions (a superuser for None), logged in; a fresh copy (permissions are cached)."""
    if permissions is None:
        user = get_user_model().objects.create_superuser("boss", "boss@space.example", "boss-password")
    else:
        user = UserFactory(is_staff=True)
        user.save()
        for permission in permissions:
            app_label, codename = permission.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client.force_login(user)
    return type(user).objects.get(pk=user.pk)


def _buttons(response) -> set[str]:
    return {action.label for action in response.context["actions"]}


def _service_refusal(service, *args) -> str:
    """The words of the service's refusal when it is called directly (and that nothing changed)."""
    before = books_snapshot(extra_models=(CreditNote, PaymentAttempt))
    with pytest.raises(BillingError) as refusal:
        service(*args)
    assert books_snapshot(extra_models=(CreditNote, PaymentAttempt)) == before
    return refusal.value.message


def test_every_condition_of_a_button_s_transition_has_words():
    """A service refuses a transition with the words of the condition that failed: every condition has some."""
    for model, name, refusals in (
        (Invoice, "issue", INVOICE_ISSUE_REFUSALS),
        (Invoice, "void", INVOICE_VOID_REFUSALS),
        (Invoice, "mark_uncollectible", INVOICE_MARK_UNCOLLECTIBLE_REFUSALS),
        (CreditNote, "void", CREDIT_NOTE_VOID_REFUSALS),
        (Payment, "void", PAYMENT_VOID_REFUSALS),
        (Payment, "retry", PAYMENT_RETRY_REFUSALS),
        (Payment, "cancel", PAYMENT_CANCEL_REFUSALS),
    ):
        meta = getattr(model, name)._django_fsm
        conditions = {condition for transition in meta.transitions.values() for condition in transition.conditions}
        assert conditions, f"{model.__name__}.{name} states no rule"
        assert conditions <= {refusal.holds for refusal in refusals}, f"{model.__name__}.{name}"
        assert all(transition.permission for transition in meta.transitions.values()), f"{model.__name__}.{name}"


# Invoices --------------------------------------------------------------------------------------------------------


def _draft_without_lines():
    invoice = draft_invoice()
    InvoiceLine.objects.filter(invoice=invoice).delete()
    return invoice


def _partly_paid():
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")
    return invoice


def _card_in_flight(*, uncollectible: bool = False):
    invoice = open_invoice(amounts=["100.00"])
    if uncollectible:
        invoice_mark_uncollectible(invoice=invoice, actor=SYSTEM)
    card_payment(invoice=invoice, amount="100.00", status="processing")
    return invoice


def _credited():
    invoice = open_invoice(amounts=["100.00"])
    credit_note_issue(invoice=invoice, actor=SYSTEM, reason="other", amount=eur("30.00"))
    return invoice


def _uncollectible():
    return invoice_mark_uncollectible(invoice=open_invoice(amounts=["100.00"]), actor=SYSTEM)


def _paid():
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    return invoice


def _paid_by_money_balance():
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("100.00"), is_credit=True, note="Goodwill", actor=SYSTEM)
    invoice = open_invoice(member=member, amounts=["100.00"])
    return invoice_apply_money_balance(invoice=invoice, actor=SYSTEM)


def _void():
    return invoice_void(invoice=open_invoice(amounts=["100.00"]), actor=SYSTEM)


# state: (make it, {transition: None when it may proceed, else a part of the service's refusal})
INVOICE_STATES = {
    "draft": (
        draft_invoice,
        {
            "issue": None,
            "mark_uncollectible": "is draft; only an open invoice can be marked uncollectible.",
            "void": "is a draft: delete it instead of voiding it.",
        },
    ),
    "draft without lines": (
        _draft_without_lines,
        {
            "issue": "Add at least one line before issuing the invoice.",
            "mark_uncollectible": "is draft; only an open invoice",
            "void": "is a draft: delete it",
        },
    ),
    "open": (
        lambda: open_invoice(amounts=["100.00"]),
        {"issue": "is already issued.", "mark_uncollectible": None, "void": None},
    ),
    "open, partly paid": (
        _partly_paid,
        {
            "issue": "is already issued.",
            "mark_uncollectible": None,
            "void": "allocated; refund or unallocate it first, or issue a credit note.",
        },
    ),
    "open, card payment in flight": (
        _card_in_flight,
        {
            "issue": "is already issued.",
            "mark_uncollectible": "in progress at the gateway; wait for its result before you mark it uncollectible.",
            "void": "has a card payment of €100.00 in progress at the gateway; wait for its result before you void it.",
        },
    ),
    "open, credit note": (
        _credited,
        {
            "issue": "is already issued.",
            "mark_uncollectible": None,
            "void": "has credit notes and cannot be voided; issue a credit note for the rest.",
        },
    ),
    "uncollectible": (
        _uncollectible,
        {
            "issue": "is already issued.",
            "mark_uncollectible": "is uncollectible; only an open invoice can be marked uncollectible.",
            "void": None,
        },
    ),
    "uncollectible, card payment in flight": (
        lambda: _card_in_flight(uncollectible=True),
        {
            "issue": "is already issued.",
            "mark_uncollectible": "is uncollectible; only an open invoice",
            "void": "in progress at the gateway; wait for its result before you void it.",
        },
    ),
    "paid": (
        _paid,
        {
            "issue": "is already issued.",
            "mark_uncollectible": "is paid; only an open invoice can be marked uncollectible.",
            "void": "allocated; refund or unallocate it first",
        },
    ),
    "paid by money balance": (
        _paid_by_money_balance,
        {
            "issue": "is already issued.",
            "mark_uncollectible": "is paid; only an open invoice",
            "void": "is paid and cannot be voided; issue a credit note to reduce it.",
        },
    ),
    "void": (
        _void,
        {
            "issue": "is already issued.",
            "mark_uncollectible": "is void; only an open invoice can be marked uncollectible.",
            "void": "is already void.",
        },
    ),
}
INVOICE_BUTTONS = {"issue": "Issue", "mark_uncollectible": "Mark uncollectible", "void": "Void invoice"}
INVOICE_SERVICES = {
    "issue": lambda invoice, actor: invoice_issue(invoice=invoice, actor=actor),
    "mark_uncollectible": lambda invoice, actor: invoice_mark_uncollectible(invoice=invoice, actor=actor),
    "void": lambda invoice, actor: invoice_void(invoice=invoice, actor=actor),
}
INVOICE_USERS = {
    "superuser": SUPERUSER,
    "viewer": ("billing.view_invoice",),
    "clerk": ("billing.view_invoice", "billing.issue_invoice", "billing.void_invoice"),
}


def _invoice_url(invoice, name: str) -> str:
    return reverse(f"admin:billing_invoice_{name}", args=[invoice.pk])


@pytest.mark.parametrize("user_kind", INVOICE_USERS)
@pytest.mark.parametrize("state", INVOICE_STATES)
def test_the_invoice_page_shows_a_button_exactly_when_its_transition_may_proceed(client, state, user_kind):
    make, rules = INVOICE_STATES[state]
    invoice = reload(make())
    user = _login(client, INVOICE_USERS[user_kind])

    response = client.get(_invoice_url(invoice, "change"))

    assert response.status_code == 200
    buttons, content = _buttons(response), response.content.decode()
    for name, label in INVOICE_BUTTONS.items():
        transition = getattr(invoice, name)
        assert can_proceed(transition) == (rules[name] is None), name
        allowed = can_proceed(transition) and has_transition_perm(transition, user)
        assert (label in buttons) == allowed, name
        assert (_invoice_url(invoice, name) in content) == allowed, name
    if user_kind == "viewer":
        assert buttons & set(INVOICE_BUTTONS.values()) == set()
    if user_kind == "clerk":  # no right to mark invoices uncollectible
        assert "Mark uncollectible" not in buttons


@pytest.mark.parametrize("state", INVOICE_STATES)
def test_a_post_past_a_hidden_invoice_button_is_refused_with_the_service_s_words(client, state):
    make, rules = INVOICE_STATES[state]
    invoice = reload(make())
    user = _login(client, SUPERUSER)
    for name, expected in rules.items():
        if expected is None:
            continue
        words = _service_refusal(INVOICE_SERVICES[name], invoice, Actor.staff(user))
        assert expected in words, name
        before = books_snapshot()

        # The confirmation as sent (the service checks its rules before the draft's version).
        response = client.post(_invoice_url(invoice, name), {"confirmed": "True", "version": ""}, follow=True)

        assert messages_of(response) == [words], name
        assert books_snapshot() == before
        assert reload(invoice).status == invoice.status


@pytest.mark.parametrize("name", INVOICE_BUTTONS)
def test_a_post_without_the_transition_s_permission_is_forbidden(client, name):
    invoice = draft_invoice() if name == "issue" else open_invoice(amounts=["100.00"])
    _login(client, ("billing.view_invoice", "billing.change_invoice"))
    before = books_snapshot()

    assert client.post(_invoice_url(invoice, name)).status_code == 403
    assert books_snapshot() == before


# Credit notes ----------------------------------------------------------------------------------------------------


def _credit_note_issued():
    return credit_note_issue(
        invoice=open_invoice(amounts=["100.00"]), actor=SYSTEM, reason="other", amount=eur("30.00")
    )


def _credit_note_returned_outside():
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="100.00")
    return credit_note_issue(
        invoice=invoice, actor=SYSTEM, reason="other", amount=eur("40.00"), out_of_band_amount=eur("40.00")
    )


def _credit_note_credit_applied_elsewhere():
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")
    credit_note = credit_note_issue(
        invoice=invoice, actor=SYSTEM, reason="other", amount=eur("40.00"), credit_amount=eur("40.00")
    )
    other = open_invoice(member=member, amounts=["30.00"])
    payment_apply(invoice=other, applications=[(reload(payment), eur("30.00"))], actor=SYSTEM)
    return credit_note


def _credit_note_void():
    return credit_note_void(credit_note=_credit_note_issued(), actor=SYSTEM)


# state: (make it, None when it may be voided, else a part of the service's refusal)
CREDIT_NOTE_STATES = {
    "issued": (_credit_note_issued, None),
    "returned outside the system": (
        _credit_note_returned_outside,
        "€40.00 was returned to the member outside the system; it cannot be voided.",
    ),
    "credit applied elsewhere": (
        _credit_note_credit_applied_elsewhere,
        "of it is still unallocated (it was applied elsewhere or refunded); it cannot be voided.",
    ),
    "void": (_credit_note_void, "is already void."),
}
CREDIT_NOTE_USERS = {
    "superuser": SUPERUSER,
    "viewer": ("billing.view_creditnote",),
    "clerk": ("billing.view_creditnote", "billing.void_credit_note"),
}


def _credit_note_url(credit_note, name: str) -> str:
    return reverse(f"admin:billing_creditnote_{name}", args=[credit_note.pk])


@pytest.mark.parametrize("user_kind", CREDIT_NOTE_USERS)
@pytest.mark.parametrize("state", CREDIT_NOTE_STATES)
def test_the_credit_note_page_shows_void_exactly_when_its_transition_may_proceed(client, state, user_kind):
    make, expected = CREDIT_NOTE_STATES[state]
    credit_note = reload(make())
    user = _login(client, CREDIT_NOTE_USERS[user_kind])

    response = client.get(_credit_note_url(credit_note, "change"))

    assert response.status_code == 200
    assert can_proceed(credit_note.void) == (expected is None)
    allowed = can_proceed(credit_note.void) and has_transition_perm(credit_note.void, user)
    assert ("Void credit note" in _buttons(response)) == allowed
    assert (_credit_note_url(credit_note, "void") in response.content.decode()) == allowed
    if user_kind == "viewer":
        assert not allowed
    # Why not, for an issued credit note that a user who may void it cannot void.
    refused_here = state in ("returned outside the system", "credit applied elsewhere") and user_kind != "viewer"
    assert (response.context["void_refused"] is not None) == refused_here
    if refused_here:
        assert expected in response.context["void_refused"]


@pytest.mark.parametrize("state", [state for state, (_, expected) in CREDIT_NOTE_STATES.items() if expected])
def test_a_post_past_the_hidden_void_credit_note_button_is_refused_with_the_service_s_words(client, state):
    make, expected = CREDIT_NOTE_STATES[state]
    credit_note = reload(make())
    user = _login(client, SUPERUSER)
    words = _service_refusal(lambda: credit_note_void(credit_note=credit_note, actor=Actor.staff(user)))
    assert expected in words
    before = books_snapshot(extra_models=(CreditNote,))

    response = client.post(_credit_note_url(credit_note, "void"), {"reason": "Bypassing the page"}, follow=True)

    assert messages_of(response) == [words]
    assert books_snapshot(extra_models=(CreditNote,)) == before


# Payments --------------------------------------------------------------------------------------------------------


def _external():
    return external_payment(invoice=open_invoice(amounts=["100.00"]), amount="40.00")


def _external_refunded():
    payment = _external()
    payment_refund(
        payment=payment, amount=eur("10.00"), reason="requested_by_member", actor=SYSTEM, invoice_handling="reopen"
    )
    return payment


def _external_void():
    return payment_void(payment=_external(), actor=SYSTEM)


def _card(status: str):
    return lambda: card_payment(invoice=open_invoice(amounts=["100.00"]), amount="100.00", status=status)


def _card_failed_invoice_paid_since():
    invoice = open_invoice(amounts=["100.00"])
    payment = card_payment(invoice=invoice, amount="100.00", status="failed")
    external_payment(invoice=invoice)
    return payment


CARD_VOID = "was collected by card: refund it instead of voiding it."
# state: (make it, {transition: None when it may proceed, else a part of the service's refusal},
#         Retry shown to a superuser, Refund shown to a superuser)
PAYMENT_STATES = {
    "external": (
        _external,
        {"void": None, "cancel": "is succeeded; only a pending or failed", "retry": "is not a card payment."},
        False,
        True,
    ),
    "external, refunded": (
        _external_refunded,
        {
            "void": "has refunds; a refunded payment cannot be voided.",
            "cancel": "is succeeded; only a pending",
            "retry": "is not a card payment.",
        },
        False,
        True,
    ),
    "external, void": (
        _external_void,
        {"void": "is already void.", "cancel": "is void; only a pending", "retry": "is not a card payment."},
        False,
        False,
    ),
    "card, pending": (
        _card("pending"),
        {"void": CARD_VOID, "cancel": None, "retry": "is pending; only a failed payment is retried."},
        False,
        False,
    ),
    "card, processing": (
        _card("processing"),
        {
            "void": CARD_VOID,
            "cancel": "is processing; only a pending or failed payment can be canceled.",
            "retry": "is processing; only a failed payment",
        },
        False,
        False,
    ),
    "card, failed": (_card("failed"), {"void": CARD_VOID, "cancel": None, "retry": None}, True, False),
    "card, failed, invoice paid since": (
        _card_failed_invoice_paid_since,
        {"void": CARD_VOID, "cancel": None, "retry": None},
        False,  # the machine allows a retry, but nothing is left to charge
        False,
    ),
    "card, succeeded": (
        _card("succeeded"),
        {"void": CARD_VOID, "cancel": "is succeeded; only a pending", "retry": "is succeeded; only a failed"},
        False,
        True,
    ),
    "card, canceled": (
        _card("canceled"),
        {"void": CARD_VOID, "cancel": "is canceled; only a pending", "retry": "is canceled; only a failed"},
        False,
        False,
    ),
}
PAYMENT_BUTTONS = {"void": "Void payment", "cancel": "Cancel payment", "retry": "Retry payment"}
PAYMENT_SERVICES = {
    "void": lambda payment, actor: payment_void(payment=payment, actor=actor, reason="Bypassing the page"),
    "cancel": lambda payment, actor: payment_cancel(payment=payment, actor=actor),
    "retry": lambda payment, actor: payment_retry(payment=payment, actor=actor, amount=eur("100.00")),
}
PAYMENT_USERS = {
    "superuser": SUPERUSER,
    "viewer": ("payments.view_payment",),
    "clerk": ("payments.view_payment", "payments.charge_payment", "payments.refund_payment"),
}


def _payment_url(payment, name: str) -> str:
    return reverse(f"admin:payments_payment_{name}", args=[payment.pk])


def _payment_post(client, payment, name: str):
    if name == "retry":
        data = {"amount": "100.00", "payment_method": payment.payment_method_id}
    else:
        data = {"reason": "Bypassing the page"}
    return client.post(_payment_url(payment, name), data, follow=True)


@pytest.mark.parametrize("user_kind", PAYMENT_USERS)
@pytest.mark.parametrize("state", PAYMENT_STATES)
def test_the_payment_page_shows_a_button_exactly_when_its_transition_may_proceed(client, state, user_kind):
    make, rules, retry_shown, refund_shown = PAYMENT_STATES[state]
    payment = reload(make())
    user = _login(client, PAYMENT_USERS[user_kind])

    response = client.get(_payment_url(payment, "change"))

    assert response.status_code == 200
    buttons, content = _buttons(response), response.content.decode()
    for name, label in PAYMENT_BUTTONS.items():
        transition = getattr(payment, name)
        assert can_proceed(transition) == (rules[name] is None), name
        allowed = can_proceed(transition) and has_transition_perm(transition, user)
        if name == "retry":  # and something is left to charge on its invoice
            allowed = allowed and payment_retry_limit(payment) is not None
        assert (label in buttons) == allowed, name
        assert (_payment_url(payment, name) in content) == allowed, name
    refund_allowed = payment_has_something_to_refund(payment) and user.has_perm("payments.refund_payment")
    assert ("Refund" in buttons) == refund_allowed
    if user_kind == "superuser":
        assert ("Retry payment" in buttons, "Refund" in buttons) == (retry_shown, refund_shown)
    if user_kind == "viewer":
        assert buttons == set()
    if user_kind == "clerk":  # no right to void payments
        assert "Void payment" not in buttons


@pytest.mark.parametrize("state", PAYMENT_STATES)
def test_a_post_past_a_hidden_payment_button_is_refused_with_the_service_s_words(client, state):
    make, rules, _, _ = PAYMENT_STATES[state]
    payment = reload(make())
    user = _login(client, SUPERUSER)
    for name, expected in rules.items():
        if expected is None or (name == "retry" and payment.is_external):  # the form offers no card to choose
            continue
        words = _service_refusal(PAYMENT_SERVICES[name], payment, Actor.staff(user))
        assert expected in words, name
        before = books_snapshot(extra_models=(PaymentAttempt,))

        response = _payment_post(client, payment, name)

        assert messages_of(response) == [words], name
        assert books_snapshot(extra_models=(PaymentAttempt,)) == before
        assert reload(payment).status == payment.status


def test_retry_is_hidden_when_nothing_is_left_to_charge_though_the_machine_allows_it_and_a_post_is_refused(client):
    payment = reload(_card_failed_invoice_paid_since())
    user = _login(client, SUPERUSER)
    assert can_proceed(payment.retry) and has_transition_perm(payment.retry, user)
    assert "Retry payment" not in _buttons(client.get(_payment_url(payment, "change")))
    words = _service_refusal(PAYMENT_SERVICES["retry"], payment, Actor.staff(user))
    assert words == f"There is nothing to charge: {payment.invoice} is paid."
    before = books_snapshot(extra_models=(PaymentAttempt,))

    response = _payment_post(client, payment, "retry")

    assert messages_of(response) == [words]
    assert books_snapshot(extra_models=(PaymentAttempt,)) == before


# The portal: Pay -------------------------------------------------------------------------------------------------


def _portal_open(member):
    return open_invoice(member=member, amounts=["100.00"])


def _portal_partly_paid(member):
    return external_payment(invoice=_portal_open(member), amount="40.00").invoice


def _portal_card_in_flight(member):
    return card_payment(invoice=_portal_open(member), amount="100.00", status="processing").invoice


def _portal_uncollectible(member):
    return invoice_mark_uncollectible(invoice=_portal_open(member), actor=SYSTEM)


def _portal_paid(member):
    return external_payment(invoice=_portal_open(member)).invoice


def _portal_void(member):
    return invoice_void(invoice=_portal_open(member), actor=SYSTEM)


# state: (make it for the member, None when it can be paid, else the portal's refusal)
PORTAL_STATES = {
    "open": (_portal_open, None),
    "open, partly paid": (_portal_partly_paid, None),
    "open, card payment in flight": (
        _portal_card_in_flight,
        "€100.00 of {invoice} is being processed; check back in a moment.",
    ),
    "uncollectible": (_portal_uncollectible, None),
    "paid": (_portal_paid, "{invoice} is paid in full."),
    "void": (_portal_void, "{invoice} is void: there is nothing to pay."),
}


@pytest.mark.parametrize("state", PORTAL_STATES)
def test_the_portal_shows_pay_exactly_when_the_invoice_accepts_payment_and_refuses_a_bypassing_post(client, state):
    make, refusal = PORTAL_STATES[state]
    member = portal_member()
    invoice = reload(make(member))
    client.force_login(member.user)
    pay_url = reverse("portal:invoice_pay", args=[invoice.pk])
    payable = invoice_accepts_payment(invoice) and invoice_amounts(invoice).available.amount > 0
    assert payable == (refusal is None)

    for page in (reverse("portal:invoice_detail", args=[invoice.pk]), reverse("portal:invoice_list")):
        assert (pay_url in client.get(page).content.decode()) == payable, page

    if refusal is not None:
        before = books_snapshot()
        response = client.post(pay_url, {"amount": "100.00"}, follow=True)
        assert messages_of(response) == [refusal.format(invoice=invoice)]
        assert books_snapshot() == before
