"""The three steps of `credit_note_issue` (validate, plan, apply) and the preview that shares the first two, so
that what the page previews is what the service does."""

import pytest
from django.contrib.auth.models import Group

from billing.activity import Actor
from billing.credit_notes import CreditNoteSplit
from billing.errors import BillingError
from billing.models import CreditNoteReason, MoneyBalanceEntry
from billing.services.credit_note_issue import (
    credit_note_issue,
    credit_note_plan,
    credit_note_preview,
    credit_note_request_validate,
    credit_note_rules_check,
)
from billing.services.invoice_void import invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from payments.models import RefundAllocation
from tests.factories import (
    MemberFactory,
    UserFactory,
    books_snapshot,
    draft_invoice,
    eur,
    external_payment,
    open_invoice,
    reload,
)
from tests.payments.refunds.helpers import REFUND_MODELS, refund_refused

pytestmark = pytest.mark.django_db


def split(refund="0.00", credit="0.00", out_of_band="0.00") -> CreditNoteSplit:
    return CreditNoteSplit(refund=eur(refund), credit=eur(credit), out_of_band=eur(out_of_band))


def invoice_paid_by_two_payments_and_balance(staff):
    """Invoice 100.00: 20.00 of money balance applied at issue, then 30.00 and 40.00 paid; 10.00 remains."""
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("20.00"), is_credit=True, note="Goodwill", actor=staff)
    invoice = open_invoice(member=member, amounts=["100.00"], apply_credit=True)
    older = external_payment(invoice=invoice, amount="30.00")
    newer = external_payment(invoice=invoice, amount="40.00")
    return reload(invoice), older, newer


def test_the_plan_takes_what_remains_then_the_newest_payments_then_the_money_balance(staff):
    invoice, older, newer = invoice_paid_by_two_payments_and_balance(staff)

    plan = credit_note_plan(invoice=invoice, amount=eur("95.00"))

    assert (plan.amount, plan.creditable, plan.pre_payment_amount, plan.post_payment_amount) == (
        eur("95.00"),
        eur("100.00"),
        eur("10.00"),
        eur("85.00"),
    )
    assert plan.remaining_after == eur("0.00")
    assert [(allocation.payment, take) for allocation, take in plan.from_payments] == [
        (newer, eur("40.00")),
        (older, eur("30.00")),
    ]
    assert (plan.refundable, plan.from_balance, plan.split) == (eur("70.00"), eur("15.00"), None)


def test_a_plan_with_a_split_keeps_it_when_it_settles_the_paid_part(staff):
    invoice, _older, _newer = invoice_paid_by_two_payments_and_balance(staff)
    chosen = split(refund="60.00", credit="20.00", out_of_band="5.00")

    plan = credit_note_plan(invoice=invoice, amount=eur("95.00"), split=chosen)

    assert plan.split == chosen
    assert (chosen.settled, chosen.cash_out) == (eur("85.00"), eur("65.00"))


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (
            split(refund="70.00", credit="14.99"),
            "€85.00 of this credit note was already paid and must be settled exactly: refund + credit + out of band "
            "is €84.99.",
        ),
        (
            split(refund="70.00", credit="10.00", out_of_band="5.00"),
            "Only €70.00 of it was paid by payments; the rest came from money balance and can only go back as credit.",
        ),
    ],
)
def test_a_plan_refuses_a_split_the_service_refuses_and_writes_nothing(staff, chosen, message):
    invoice, _older, _newer = invoice_paid_by_two_payments_and_balance(staff)
    before = books_snapshot(extra_models=REFUND_MODELS)

    with pytest.raises(BillingError) as planned:
        credit_note_plan(invoice=invoice, amount=eur("95.00"), split=chosen)
    with refund_refused(message):
        credit_note_issue(
            invoice=invoice,
            actor=staff,
            reason=CreditNoteReason.OTHER,
            amount=eur("95.00"),
            refund_amount=chosen.refund,
            credit_amount=chosen.credit,
            out_of_band_amount=chosen.out_of_band,
        )

    assert planned.value.message == message
    assert books_snapshot(extra_models=REFUND_MODELS) == before


def test_the_service_does_what_the_preview_says(staff):
    invoice, older, newer = invoice_paid_by_two_payments_and_balance(staff)
    preview = credit_note_preview(invoice=invoice, amount=eur("95.00"))

    credit_note = credit_note_issue(
        invoice=invoice,
        actor=staff,
        reason=CreditNoteReason.OTHER,
        amount=eur("95.00"),
        refund_amount=preview.refundable,
        credit_amount=preview.post_payment_amount - preview.refundable,
    )

    credit_note = reload(credit_note)
    assert (credit_note.pre_payment_amount, credit_note.refund_amount, credit_note.credit_amount) == (
        preview.pre_payment_amount,
        eur("70.00"),
        eur("15.00"),
    )
    takes = RefundAllocation.objects.filter(credit_note=credit_note).order_by("pk")
    assert [(take.allocation_id, take.amount) for take in takes] == [
        (allocation.pk, take) for allocation, take in preview.from_payments
    ]
    returned = MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.RETURNED)
    assert (returned.invoice, returned.amount) == (invoice, preview.from_balance)
    assert reload(invoice).amount_remaining == preview.remaining_after


def test_the_preview_refuses_what_the_service_refuses_with_the_same_words(staff):
    draft = draft_invoice(amounts=["100.00"])
    void = invoice_void(invoice=open_invoice(amounts=["100.00"]), actor=staff)
    invoice = open_invoice(amounts=["100.00", "20.00"])
    first, _second = invoice.lines.order_by("position", "pk")
    cases = [
        (draft, {"amount": eur("10.00")}, f"{draft} is draft; credit notes reduce issued invoices only."),
        (void, {"amount": eur("10.00")}, f"{void.number} is void; credit notes reduce issued invoices only."),
        (
            invoice,
            {"amount": eur("120.01")},
            f"€120.01 is more than what is left to credit on {invoice.number} (€120.00 of €120.00).",
        ),
        (invoice, {"line_amounts": {first.pk: eur("100.01")}}, "“Line 1” has €100.00 left to credit, not €100.01."),
        (invoice, {"line_amounts": {first.pk: eur("5.00"), 0: eur("1.00")}}, "A line of another invoice was given."),
    ]
    for target, asked, message in cases:
        with refund_refused(message):
            credit_note_preview(invoice=reload(target), **asked)
        with refund_refused(message):
            credit_note_issue(invoice=target, actor=staff, reason=CreditNoteReason.OTHER, **asked)


def test_the_rules_give_the_amount_of_a_credit_note_per_line():
    invoice = open_invoice(amounts=["100.00", "20.00"])
    first, second = invoice.lines.order_by("position", "pk")

    amount = credit_note_rules_check(
        invoice=invoice, amount=None, line_amounts={first.pk: eur("12.50"), second.pk: eur("7.50")}
    )
    preview = credit_note_preview(invoice=invoice, line_amounts={first.pk: eur("12.50"), second.pk: eur("7.50")})

    assert amount == preview.amount == eur("20.00")


def test_validating_the_request_fills_in_the_parts_not_given_and_checks_permissions(staff):
    accountant = UserFactory(is_staff=True)
    accountant.groups.add(Group.objects.get(name="Accountants"))
    invoice = open_invoice(amounts=["100.00"])
    asked = {
        "invoice": invoice,
        "reason": CreditNoteReason.OTHER,
        "amount": eur("10.00"),
        "line_amounts": None,
        "memo": "Desk booked twice",
        "refund_amount": None,
        "credit_amount": eur("0"),
        "out_of_band_amount": None,
    }

    request = credit_note_request_validate(actor=staff, **asked)

    assert (request.reason, request.amount, request.line_amounts, request.memo) == (
        CreditNoteReason.OTHER,
        eur("10.00"),
        None,
        "Desk booked twice",
    )
    assert request.split == split()
    with pytest.raises(BillingError, match="^Choose a reason for the credit note.$"):
        credit_note_request_validate(actor=staff, **{**asked, "reason": "nonsense"})
    with pytest.raises(BillingError, match="^Enter the amount of the credit note, or an amount per line.$"):
        credit_note_request_validate(actor=staff, **{**asked, "amount": None})
    credit_note_request_validate(actor=Actor.staff(accountant), **asked)
    with pytest.raises(BillingError, match="^You do not have permission to send money back with a credit note.$"):
        credit_note_request_validate(actor=Actor.staff(accountant), **{**asked, "refund_amount": eur("1.00")})
