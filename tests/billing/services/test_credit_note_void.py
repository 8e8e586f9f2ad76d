"""Voiding a credit note through `credit_note_void` (spec 5.11): issued -> void while nothing it settled has left the
system; it restores the invoice's amounts, is recorded, and is refused with a clear message otherwise."""

import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django_fsm import can_proceed, has_transition_perm
from djmoney.money import Money

from billing.activity import Actor
from billing.documents import credit_note_pdf, invoice_pdf
from billing.errors import BillingError
from billing.intents import Intent, IntentRepeated
from billing.models import (
    Activity,
    CreditNote,
    CreditNoteReason,
    CreditNoteStatus,
    InvoiceStatus,
    MoneyBalanceEntry,
)
from billing.selectors import member_money_balance
from billing.services.credit_note_issue import credit_note_issue
from billing.services.credit_note_void import credit_note_void, credit_note_void_refusal
from billing.services.money_balance_adjust import money_balance_adjust
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Refund
from payments.services.payment_apply import payment_apply
from payments.services.refund import payment_refund
from tests.billing.test_documents import pdf_text
from tests.factories import (
    MemberFactory,
    UserFactory,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    reload,
    standalone_payment,
)
from tests.members.portal.conftest import portal_member
from tests.payments.refunds.helpers import REFUND_MODELS
from tests.support.races import POSTGRES_ONLY, race

pytestmark = pytest.mark.django_db

OTHER = CreditNoteReason.OTHER


def issue(invoice, amount: str, *, actor, **splits) -> CreditNote:
    return credit_note_issue(
        invoice=invoice,
        actor=actor,
        reason=OTHER,
        amount=eur(amount),
        **{f"{name}_amount": eur(value) for name, value in splits.items()},
    )


def invoice_amounts(invoice) -> tuple:
    invoice = reload(invoice)
    return (
        invoice.status,
        invoice.amount_credited,
        invoice.amount_balance_applied,
        invoice.amount_paid,
        invoice.amount_remaining,
    )


def payment_amounts(payment) -> tuple:
    payment = reload(payment)
    return (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated)


def void_refused(message: str):
    """The exact message, and nothing written (the credit note stays issued)."""
    return refused(f"^{re.escape(message)}$", extra_models=REFUND_MODELS)


# Allowed ---------------------------------------------------------------------------------------------------------


def test_a_credit_note_on_an_open_invoice_is_voided_and_the_invoice_owes_it_again(staff):
    invoice = open_invoice(amounts=["100.00"])
    credit_note = issue(invoice, "30.00", actor=staff)
    assert invoice_amounts(invoice) == (InvoiceStatus.OPEN, eur("30.00"), eur("0.00"), eur("0.00"), eur("70.00"))
    assert credit_note_void_refusal(reload(credit_note)) is None

    voided = credit_note_void(credit_note=credit_note, actor=staff, reason="Issued by mistake")

    credit_note = reload(credit_note)
    assert voided.status == credit_note.status == CreditNoteStatus.VOID
    assert (credit_note.void_reason, credit_note.voided_by) == ("Issued by mistake", staff.user)
    assert credit_note.voided_at is not None
    assert invoice_amounts(invoice) == (InvoiceStatus.OPEN, eur("0.00"), eur("0.00"), eur("0.00"), eur("100.00"))
    recorded = Activity.objects.get(verb="credit_note.voided")
    assert (recorded.target, recorded.invoice, recorded.amount, recorded.actor_user, recorded.message) == (
        credit_note,
        invoice,
        eur("30.00"),
        staff.user,
        "Issued by mistake",
    )
    assert (recorded.status_before, recorded.status_after) == ("issued", "void")
    assert Decimal(recorded.data["owed_again"]) == Decimal("30.00")
    assert billing_integrity_violations() == []


def test_a_void_credit_note_no_longer_counts_in_the_cap(staff):
    invoice = open_invoice(amounts=["100.00"])
    credit_note = issue(invoice, "100.00", actor=staff)
    assert reload(invoice).status == InvoiceStatus.PAID

    credit_note_void(credit_note=credit_note, actor=staff)

    assert invoice_amounts(invoice) == (InvoiceStatus.OPEN, eur("0.00"), eur("0.00"), eur("0.00"), eur("100.00"))
    again = issue(reload(invoice), "100.00", actor=staff)
    assert reload(again).status == CreditNoteStatus.ISSUED
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("100.00"), eur("0.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


def test_member_credit_goes_back_to_the_invoice_and_it_is_paid_again(staff):
    invoice = open_invoice(amounts=["100.00"])
    older = external_payment(invoice=invoice, amount="60.00")
    newer = external_payment(invoice=invoice, amount="40.00")
    credit_note = issue(invoice, "50.00", actor=staff, credit="50.00")
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("50.00"), eur("0.00"), eur("50.00"), eur("0.00"))
    assert payment_amounts(newer) == (eur("0.00"), eur("0.00"), eur("40.00"))
    assert payment_amounts(older) == (eur("50.00"), eur("0.00"), eur("10.00"))
    newer_allocation = Allocation.objects.get(payment=newer)
    older_allocation = Allocation.objects.get(payment=older)

    credit_note_void(credit_note=credit_note, actor=staff, reason="Wrong invoice")

    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("0.00"), eur("0.00"), eur("100.00"), eur("0.00"))
    assert payment_amounts(newer) == (eur("40.00"), eur("0.00"), eur("0.00"))
    assert payment_amounts(older) == (eur("60.00"), eur("0.00"), eur("0.00"))
    # The partly shrunk allocation grew back; the one the credit note removed was allocated anew.
    assert (reload(older_allocation).amount, reload(older_allocation).status) == (eur("60.00"), "active")
    assert reload(newer_allocation).status == "removed"
    renewed = Allocation.objects.get(payment=newer, status="active")
    assert (renewed.invoice, renewed.amount) == (invoice, eur("40.00"))
    assert billing_integrity_violations() == []


def test_a_paid_invoice_with_a_pre_payment_part_reopens(staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="60.00")
    credit_note = issue(invoice, "50.00", actor=staff, credit="10.00")
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("50.00"), eur("0.00"), eur("50.00"), eur("0.00"))

    credit_note_void(credit_note=credit_note, actor=staff)

    assert invoice_amounts(invoice) == (InvoiceStatus.OPEN, eur("0.00"), eur("0.00"), eur("60.00"), eur("40.00"))
    assert payment_amounts(payment) == (eur("60.00"), eur("0.00"), eur("0.00"))
    assert "invoice.reopened" in Activity.objects.values_list("verb", flat=True)
    assert billing_integrity_violations() == []


def test_money_balance_it_returned_is_applied_again(staff):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("30.00"), is_credit=True, note="Goodwill", actor=staff)
    invoice = open_invoice(member=member, amounts=["100.00"], apply_credit=True)
    payment = external_payment(invoice=invoice, amount="70.00")
    credit_note = issue(invoice, "80.00", actor=staff, credit="80.00")
    assert member_money_balance(member=member, currency="EUR") == eur("10.00")
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("80.00"), eur("20.00"), eur("0.00"), eur("0.00"))

    credit_note_void(credit_note=credit_note, actor=staff)

    assert member_money_balance(member=member, currency="EUR") == eur("0.00")
    applied = MoneyBalanceEntry.objects.filter(kind=MoneyBalanceEntry.Kind.APPLIED).order_by("pk").last()
    assert (applied.amount, applied.invoice, applied.note) == (
        eur("-10.00"),
        invoice,
        f"{reload(credit_note).number} voided",
    )
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("0.00"), eur("30.00"), eur("70.00"), eur("0.00"))
    assert payment_amounts(payment) == (eur("70.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


def test_the_same_form_voids_once(staff_user):
    invoice = open_invoice(amounts=["100.00"])
    actor = Actor.staff(staff_user)
    credit_note = issue(invoice, "30.00", actor=actor)
    intent = Intent(key=uuid.uuid4(), action="admin:billing_creditnote_void")
    keyed = Actor.staff(staff_user, intent=intent)

    credit_note_void(credit_note=credit_note, actor=keyed)
    with pytest.raises(IntentRepeated):
        credit_note_void(credit_note=credit_note, actor=keyed)

    assert Activity.objects.filter(verb="credit_note.voided").count() == 1
    assert billing_integrity_violations() == []


# Refused ---------------------------------------------------------------------------------------------------------


def test_a_credit_note_with_a_refund_part_is_not_voided(staff):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="100.00")
    credit_note = issue(invoice, "40.00", actor=staff, refund="40.00")
    number = reload(credit_note).number

    with void_refused(
        f"{number}: {eur('40.00')} was refunded to the member from {Refund.objects.get().payment}; it cannot be "
        "voided. Issue an invoice for the amount instead."
    ):
        credit_note_void(credit_note=credit_note, actor=staff)
    assert reload(credit_note).status == CreditNoteStatus.ISSUED
    assert not can_proceed(reload(credit_note).void)


def test_a_credit_note_with_an_out_of_band_part_is_not_voided(staff):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="100.00")
    credit_note = issue(invoice, "40.00", actor=staff, out_of_band="40.00")
    number = reload(credit_note).number

    with void_refused(
        f"{number}: {eur('40.00')} was returned to the member outside the system; it cannot be voided. Issue an "
        "invoice for the amount instead."
    ):
        credit_note_void(credit_note=credit_note, actor=staff)


def test_a_credit_note_settled_by_a_payment_s_refund_is_not_voided(staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")
    payment_refund(
        payment=payment, amount=eur("25.00"), reason="requested_by_member", actor=staff, invoice_handling="credit_note"
    )
    credit_note = CreditNote.objects.get()

    with void_refused(
        f"{credit_note.number}: {eur('25.00')} was refunded to the member from {payment}; it cannot be voided. "
        "Issue an invoice for the amount instead."
    ):
        credit_note_void(credit_note=credit_note, actor=staff)


def test_a_credit_note_whose_credit_was_applied_elsewhere_is_not_voided(staff):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")
    credit_note = issue(invoice, "40.00", actor=staff, credit="40.00")
    other = open_invoice(member=member, amounts=["30.00"])
    payment_apply(invoice=other, applications=[(reload(payment), eur("30.00"))], actor=staff)
    number = reload(credit_note).number

    with void_refused(
        f"{number} left {eur('40.00')} on {payment} as the member's credit, and only {eur('10.00')} of it is still "
        "unallocated (it was applied elsewhere or refunded); it cannot be voided. Issue an invoice for the amount "
        "instead."
    ):
        credit_note_void(credit_note=credit_note, actor=staff)


def test_a_credit_note_whose_credit_was_refunded_is_not_voided(staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")
    credit_note = issue(invoice, "40.00", actor=staff, credit="40.00")
    payment_refund(payment=reload(payment), amount=eur("40.00"), reason="requested_by_member", actor=staff)
    number = reload(credit_note).number

    with void_refused(
        f"{number} left {eur('40.00')} on {payment} as the member's credit, and only {eur('0.00')} of it is still "
        "unallocated (it was applied elsewhere or refunded); it cannot be voided. Issue an invoice for the amount "
        "instead."
    ):
        credit_note_void(credit_note=credit_note, actor=staff)


def test_a_credit_note_whose_money_balance_was_used_is_not_voided(staff):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("30.00"), is_credit=True, note="Goodwill", actor=staff)
    invoice = open_invoice(member=member, amounts=["100.00"], apply_credit=True)
    external_payment(invoice=invoice, amount="70.00")
    credit_note = issue(invoice, "80.00", actor=staff, credit="80.00")
    open_invoice(member=member, amounts=["5.00"], apply_credit=True)
    assert member_money_balance(member=member, currency="EUR") == eur("5.00")
    number = reload(credit_note).number

    with void_refused(
        f"{number} returned {eur('10.00')} to the member's money balance, which now holds {eur('5.00')}; it cannot "
        "be voided. Issue an invoice for the amount instead."
    ):
        credit_note_void(credit_note=credit_note, actor=staff)


def test_a_void_credit_note_is_not_voided_again(staff):
    invoice = open_invoice(amounts=["100.00"])
    credit_note = issue(invoice, "30.00", actor=staff)
    credit_note_void(credit_note=credit_note, actor=staff)

    with void_refused(f"{reload(credit_note).number} is already void."):
        credit_note_void(credit_note=credit_note, actor=staff)


def test_an_accountant_cannot_void_a_credit_note(staff):
    invoice = open_invoice(amounts=["100.00"])
    credit_note = issue(invoice, "30.00", actor=staff)
    accountant = UserFactory(is_staff=True)
    accountant.groups.add(Group.objects.get(name="Accountants"))
    manager = UserFactory(is_staff=True)
    manager.groups.add(Group.objects.get(name="Billing managers"))
    credit_note = reload(credit_note)
    assert not has_transition_perm(credit_note.void, accountant)
    assert has_transition_perm(credit_note.void, manager)

    with void_refused("You do not have permission to void credit notes."):
        credit_note_void(credit_note=credit_note, actor=Actor.staff(accountant))
    member = member_actor(invoice.member)
    with void_refused("Only the space's staff can void credit notes."):
        credit_note_void(credit_note=credit_note, actor=member)

    credit_note_void(credit_note=credit_note, actor=Actor.staff(manager))
    assert reload(credit_note).status == CreditNoteStatus.VOID


def test_a_void_credit_note_keeps_its_rows_and_the_integrity_check_counts_only_issued_ones(staff):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    standalone_payment(member=member, amount="10.00")
    first = issue(invoice, "20.00", actor=staff)
    second = issue(invoice, "30.00", actor=staff)
    credit_note_void(credit_note=first, actor=staff)

    assert CreditNote.objects.filter(status=CreditNoteStatus.VOID).get() == first
    assert invoice_amounts(invoice) == (InvoiceStatus.OPEN, eur("30.00"), eur("0.00"), eur("0.00"), eur("70.00"))
    assert reload(second).status == CreditNoteStatus.ISSUED
    assert billing_integrity_violations() == []


def test_status_is_protected(staff):
    invoice = open_invoice(amounts=["100.00"])
    credit_note = reload(issue(invoice, "30.00", actor=staff))
    with pytest.raises(AttributeError):
        credit_note.status = CreditNoteStatus.VOID
    assert isinstance(credit_note.amount, Money)


# Concurrency -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("", [pytest.param(marks=POSTGRES_ONLY)])
def test_two_voids_racing_void_once(staff_user):
    actor = Actor.staff(staff_user)
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")
    credit_note = issue(invoice, "40.00", actor=actor, credit="40.00")

    results = race([lambda: credit_note_void(credit_note=credit_note, actor=actor)] * 2)

    assert sorted(type(result).__name__ for result in results) == ["CreditNote", "InvalidState"]
    refusal = next(result for result in results if isinstance(result, BillingError))
    assert str(refusal) == f"{reload(credit_note).number} is already void."
    assert Activity.objects.filter(verb="credit_note.voided").count() == 1
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("0.00"), eur("0.00"), eur("100.00"), eur("0.00"))
    assert payment_amounts(payment) == (eur("100.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


# Documents and the portal ----------------------------------------------------------------------------------------


def test_a_void_credit_note_is_marked_void_on_its_pdf_the_invoice_pdf_and_the_portal(staff, client):
    member = portal_member()
    invoice = open_invoice(member=member, amounts=["100.00"])
    credit_note = issue(invoice, "30.00", actor=staff)
    number = reload(credit_note).number
    assert "VOID" not in pdf_text(credit_note_pdf(reload(credit_note)))

    credit_note_void(credit_note=credit_note, actor=staff)

    assert f"Credit note {number} — VOID" in pdf_text(credit_note_pdf(reload(credit_note)))
    assert f"{number} (VOID)" in pdf_text(invoice_pdf(reload(invoice)))
    client.force_login(member.user)
    html = client.get(reverse("portal:invoice_detail", args=[invoice.pk])).content.decode()
    assert f'<strong>{number}</strong> <span class="muted small">VOID</span>' in html
