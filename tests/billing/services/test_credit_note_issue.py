"""Credit notes through `credit_note_issue` (spec 5.11): the preview, the cap, the split of the paid part, per-line
amounts, numbering, and what it does to payments and the money balance."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from billing.models import (
    Activity,
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    InvoiceStatus,
    MoneyBalanceEntry,
    NumberSequence,
)
from billing.selectors import member_money_balance
from billing.services.credit_note_issue import credit_note_issue, credit_note_line_creditable, credit_note_preview
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Refund, RefundAllocation, RefundStatus
from tests.factories import (
    MemberFactory,
    draft_invoice,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    reload,
)
from tests.payments.refunds.helpers import refund_refused, verbs

pytestmark = pytest.mark.django_db

OTHER = CreditNoteReason.OTHER


def issue(invoice, amount: str | Money | None = None, *, actor, reason=OTHER, **splits):
    """Issue a credit note; `splits` are refund / credit / out_of_band amounts as strings."""
    return credit_note_issue(
        invoice=invoice,
        actor=actor,
        reason=reason,
        amount=eur(amount) if isinstance(amount, str) else amount,
        **{f"{name}_amount": eur(value) for name, value in splits.items()},
    )


def parts(credit_note) -> tuple:
    credit_note = reload(credit_note)
    return (
        credit_note.amount,
        credit_note.pre_payment_amount,
        credit_note.refund_amount,
        credit_note.credit_amount,
        credit_note.out_of_band_amount,
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


# The preview -----------------------------------------------------------------------------------------------------


def test_the_preview_says_what_comes_off_what_remains_and_which_payments_the_rest_comes_from(staff):
    invoice = open_invoice(amounts=["100.00"])
    older = external_payment(invoice=invoice, amount="50.00")
    newer = external_payment(invoice=invoice, amount="30.00")
    invoice = reload(invoice)
    older_allocation, newer_allocation = Allocation.objects.order_by("pk")

    small = credit_note_preview(invoice=invoice, amount=eur("15.00"))
    exact = credit_note_preview(invoice=invoice, amount=eur("20.00"))
    large = credit_note_preview(invoice=invoice, amount=eur("70.00"))

    assert (small.amount, small.creditable, small.pre_payment_amount, small.post_payment_amount) == (
        eur("15.00"),
        eur("100.00"),
        eur("15.00"),
        eur("0.00"),
    )
    assert (small.remaining_after, small.from_payments, small.from_balance, small.refundable) == (
        eur("5.00"),
        [],
        None,
        eur("0.00"),
    )
    assert (exact.pre_payment_amount, exact.post_payment_amount, exact.remaining_after) == (
        eur("20.00"),
        eur("0.00"),
        eur("0.00"),
    )
    assert (large.pre_payment_amount, large.post_payment_amount, large.remaining_after) == (
        eur("20.00"),
        eur("50.00"),
        eur("0.00"),
    )
    assert [(allocation.payment, take) for allocation, take in large.from_payments] == [
        (newer, eur("30.00")),
        (older, eur("20.00")),
    ]
    assert [allocation for allocation, _ in large.from_payments] == [newer_allocation, older_allocation]
    assert (large.from_balance, large.refundable) == (None, eur("50.00"))


def test_the_preview_of_an_invoice_paid_partly_with_money_balance(staff):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("30.00"), is_credit=True, note="Goodwill", actor=staff)
    invoice = open_invoice(member=member, amounts=["100.00"], apply_credit=True)
    payment = external_payment(invoice=invoice, amount="70.00")

    preview = credit_note_preview(invoice=reload(invoice), amount=eur("90.00"))

    assert (preview.pre_payment_amount, preview.post_payment_amount) == (eur("0.00"), eur("90.00"))
    assert [(allocation.payment, take) for allocation, take in preview.from_payments] == [(payment, eur("70.00"))]
    assert (preview.from_balance, preview.refundable) == (eur("20.00"), eur("70.00"))


def test_credit_note_line_creditable_is_each_line_with_its_tax_less_what_was_credited(staff):
    invoice = open_invoice(amounts=["100.00", "40.00"], tax_rate="20")
    first, second = invoice.lines.order_by("position", "pk")
    credit_note_issue(
        invoice=invoice, actor=staff, reason=OTHER, line_amounts={first.pk: eur("20.00"), second.pk: eur("48.00")}
    )

    assert credit_note_line_creditable(reload(invoice)) == {first.pk: eur("100.00"), second.pk: eur("0.00")}


# The cap and the split -------------------------------------------------------------------------------------------


def test_credit_notes_add_up_to_the_total_at_most(staff, today):
    invoice = open_invoice(amounts=["100.00"])
    first = issue(invoice, "60.00", actor=staff)

    with refund_refused(f"€50.00 is more than what is left to credit on {invoice.number} (€40.00 of €100.00)."):
        issue(invoice, "50.00", actor=staff)
    last = issue(invoice, "40.00", actor=staff)

    assert (reload(first).number, reload(last).number) == (f"CN-{today.year}-00001", f"CN-{today.year}-00002")
    assert parts(last) == (eur("40.00"), eur("40.00"), eur("0.00"), eur("0.00"), eur("0.00"))
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("100.00"), eur("0.00"), eur("0.00"), eur("0.00"))
    with refund_refused(f"€0.01 is more than what is left to credit on {invoice.number} (€0.00 of €100.00)."):
        issue(invoice, "0.01", actor=staff)
    assert billing_integrity_violations() == []


def test_a_paid_invoice_is_credited_up_to_its_total_and_stays_paid(staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="100.00")

    with refund_refused(f"€100.01 is more than what is left to credit on {invoice.number} (€100.00 of €100.00)."):
        issue(invoice, "100.01", actor=staff, credit="100.01")
    credit_note = issue(invoice, "100.00", actor=staff, out_of_band="100.00")

    assert parts(credit_note) == (eur("100.00"), eur("0.00"), eur("0.00"), eur("0.00"), eur("100.00"))
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("100.00"), eur("0.00"), eur("0.00"), eur("0.00"))
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated) == (
        eur("0.00"),
        eur("100.00"),
        eur("0.00"),
    )
    returned = Refund.objects.get()
    assert (returned.kind, returned.status, returned.amount, returned.credit_note) == (
        Refund.Kind.OUT_OF_BAND,
        RefundStatus.SUCCEEDED,
        eur("100.00"),
        reload(credit_note),
    )
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    ("splits", "settled"),
    [
        pytest.param({}, "€0.00", id="nothing"),
        pytest.param({"refund": "10.00"}, "€10.00", id="too-little"),
        pytest.param({"refund": "20.00", "credit": "10.00", "out_of_band": "0.01"}, "€30.01", id="too-much"),
    ],
)
def test_a_split_of_the_paid_part_that_does_not_add_up_is_refused(staff, splits, settled):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="80.00")

    with refund_refused(
        "€30.00 of this credit note was already paid and must be settled exactly: refund + credit + out of band "
        f"is {settled}."
    ):
        issue(invoice, "50.00", actor=staff, **splits)


def test_a_split_whose_parts_add_up_only_in_decimals_is_accepted(staff):
    """Found by the corrections state machine: the database check that the parts add up compared a sum that
    SQLite computes in floats (220.57 + 14.47 + 6.54 is 241.57999999999998 there), so this credit note failed with
    an IntegrityError instead of being issued."""
    invoice = open_invoice(amounts=["241.58"])
    external_payment(invoice=invoice, amount="241.58")

    credit_note = issue(invoice, "241.58", actor=staff, refund="220.57", credit="14.47", out_of_band="6.54")

    assert parts(credit_note) == (eur("241.58"), eur("0.00"), eur("220.57"), eur("14.47"), eur("6.54"))
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("241.58"), eur("0.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


def test_a_split_is_refused_when_nothing_was_paid_yet(staff):
    invoice = open_invoice(amounts=["100.00"])

    with refund_refused(
        "€0.00 of this credit note was already paid and must be settled exactly: refund + credit + out of band is "
        "€5.00."
    ):
        issue(invoice, "50.00", actor=staff, refund="5.00")


def test_the_paid_part_comes_from_the_newest_payment_first(staff):
    invoice = open_invoice(amounts=["100.00"])
    older = external_payment(invoice=invoice, amount="60.00")
    newer = external_payment(invoice=invoice, amount="40.00")

    credit_note = issue(invoice, "70.00", actor=staff, refund="50.00", credit="20.00")

    assert parts(credit_note) == (eur("70.00"), eur("0.00"), eur("50.00"), eur("20.00"), eur("0.00"))
    older, newer = reload(older), reload(newer)
    assert (newer.amount_allocated, newer.amount_refunded, newer.amount_unallocated) == (
        eur("0.00"),
        eur("40.00"),
        eur("0.00"),
    )
    assert (older.amount_allocated, older.amount_refunded, older.amount_unallocated) == (
        eur("30.00"),
        eur("10.00"),
        eur("20.00"),
    )
    assert [(row.payment, row.amount, row.kind) for row in Refund.objects.order_by("pk")] == [
        (newer, eur("40.00"), Refund.Kind.RECORDED),
        (older, eur("10.00"), Refund.Kind.RECORDED),
    ]
    assert [(take.allocation.payment, take.amount) for take in RefundAllocation.objects.order_by("pk")] == [
        (newer, eur("40.00")),
        (older, eur("30.00")),
    ]
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("70.00"), eur("0.00"), eur("30.00"), eur("0.00"))
    assert billing_integrity_violations() == []


# Money balance applied to the invoice ----------------------------------------------------------------------------


def balance_paid_invoice(staff):
    """Invoice 100.00: 30.00 of money balance applied at issue, 70.00 paid in cash."""
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("30.00"), is_credit=True, note="Goodwill", actor=staff)
    invoice = open_invoice(member=member, amounts=["100.00"], apply_credit=True)
    payment = external_payment(invoice=invoice, amount="70.00")
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("0.00"), eur("30.00"), eur("70.00"), eur("0.00"))
    assert member_money_balance(member=member, currency="EUR") == eur("0.00")
    return member, invoice, payment


@pytest.mark.parametrize(
    "splits",
    [
        pytest.param({"refund": "100.00"}, id="all-refunded"),
        pytest.param({"refund": "50.00", "out_of_band": "21.00", "credit": "29.00"}, id="refund-and-out-of-band"),
    ],
)
def test_money_balance_applied_cannot_be_refunded(staff, splits):
    _, invoice, _ = balance_paid_invoice(staff)

    with refund_refused(
        "Only €70.00 of it was paid by payments; the rest came from money balance and can only go back as credit."
    ):
        issue(invoice, "100.00", actor=staff, **splits)


def test_money_balance_applied_goes_back_to_the_member_s_balance(staff):
    member, invoice, payment = balance_paid_invoice(staff)

    credit_note = issue(invoice, "100.00", actor=staff, refund="70.00", credit="30.00")

    assert parts(credit_note) == (eur("100.00"), eur("0.00"), eur("70.00"), eur("30.00"), eur("0.00"))
    returned = MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.RETURNED)
    assert (returned.member, returned.invoice, returned.amount) == (member, invoice, eur("30.00"))
    assert (returned.note, returned.created_by) == (f"Credited by {reload(credit_note).number}", staff.user)
    recorded = Activity.objects.get(verb="balance.returned")
    assert (recorded.target, recorded.invoice, recorded.amount, recorded.actor_user) == (
        returned,
        invoice,
        eur("30.00"),
        staff.user,
    )
    assert member_money_balance(member=member, currency="EUR") == eur("30.00")
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("100.00"), eur("0.00"), eur("0.00"), eur("0.00"))
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated) == (
        eur("0.00"),
        eur("70.00"),
        eur("0.00"),
    )
    assert billing_integrity_violations() == []


def test_a_credit_note_takes_payments_before_money_balance(staff):
    member, invoice, payment = balance_paid_invoice(staff)

    issue(invoice, "80.00", actor=staff, credit="80.00")

    assert MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.RETURNED).amount == eur("10.00")
    assert member_money_balance(member=member, currency="EUR") == eur("10.00")
    payment = reload(payment)
    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("0.00"), eur("70.00"))
    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("80.00"), eur("20.00"), eur("0.00"), eur("0.00"))
    assert billing_integrity_violations() == []


# Per-line amounts ------------------------------------------------------------------------------------------------


def test_a_credit_note_per_line(staff):
    invoice = open_invoice(amounts=["60.00", "40.00"], tax_rate="10")
    first, second = invoice.lines.order_by("position", "pk")

    credit_note = credit_note_issue(
        invoice=invoice,
        actor=staff,
        reason=CreditNoteReason.PRODUCT_UNSATISFACTORY,
        line_amounts={first.pk: eur("6.00"), second.pk: eur("44.00")},
        memo="Projector broken",
    )

    credit_note = reload(credit_note)
    assert (credit_note.amount, credit_note.pre_payment_amount, credit_note.memo) == (
        eur("50.00"),
        eur("50.00"),
        "Projector broken",
    )
    assert [(line.invoice_line, line.amount) for line in CreditNoteLine.objects.all()] == [
        (first, eur("6.00")),
        (second, eur("44.00")),
    ]
    assert invoice_amounts(invoice) == (InvoiceStatus.OPEN, eur("50.00"), eur("0.00"), eur("0.00"), eur("60.00"))
    assert billing_integrity_violations() == []


def test_a_line_is_credited_up_to_its_amount_with_tax(staff):
    invoice = open_invoice(amounts=["60.00", "40.00"], tax_rate="10")
    first, second = invoice.lines.order_by("position", "pk")
    credit_note_issue(invoice=invoice, actor=staff, reason=OTHER, line_amounts={second.pk: eur("14.00")})

    with refund_refused("“Line 2” has €30.00 left to credit, not €30.01."):
        credit_note_issue(
            invoice=invoice, actor=staff, reason=OTHER, line_amounts={first.pk: eur("1.00"), second.pk: eur("30.01")}
        )
    credit_note_issue(invoice=invoice, actor=staff, reason=OTHER, line_amounts={second.pk: eur("30.00")})

    assert credit_note_line_creditable(reload(invoice)) == {first.pk: eur("66.00"), second.pk: eur("0.00")}
    assert invoice_amounts(invoice) == (InvoiceStatus.OPEN, eur("44.00"), eur("0.00"), eur("0.00"), eur("66.00"))
    assert billing_integrity_violations() == []


def test_a_line_of_another_invoice_is_refused(staff):
    invoice = open_invoice(amounts=["60.00"])
    other = open_invoice(amounts=["60.00"])

    with refund_refused("A line of another invoice was given."):
        credit_note_issue(invoice=invoice, actor=staff, reason=OTHER, line_amounts={other.lines.get().pk: eur("10.00")})


@pytest.mark.parametrize(
    ("line_amount", "message"),
    [
        pytest.param(Money("0.00", "EUR"), "The amount must be greater than zero, not 0.00.", id="zero"),
        pytest.param(Money("-1.00", "EUR"), "The amount must be greater than zero, not -1.00.", id="negative"),
        pytest.param(
            Money("1.001", "EUR"), "EUR amounts have 2 decimals at most: 1.001 cannot be paid exactly.", id="scale"
        ),
        pytest.param(Money("1.00", "GBP"), "This amount is in GBP, but it must be in EUR.", id="currency"),
    ],
)
def test_a_wrong_line_amount_is_refused(staff, line_amount, message):
    invoice = open_invoice(amounts=["60.00"])

    with refund_refused(message):
        credit_note_issue(
            invoice=invoice, actor=staff, reason=OTHER, line_amounts={invoice.lines.get().pk: line_amount}
        )


@pytest.mark.parametrize("with_lines", [True, False], ids=["both", "neither"])
def test_either_an_amount_or_amounts_per_line(staff, with_lines):
    invoice = open_invoice(amounts=["60.00"])
    line_amounts = {invoice.lines.get().pk: eur("10.00")} if with_lines else None

    with refund_refused("Enter the amount of the credit note, or an amount per line."):
        credit_note_issue(
            invoice=invoice,
            actor=staff,
            reason=OTHER,
            amount=eur("10.00") if with_lines else None,
            line_amounts=line_amounts,
        )


# Invoice states --------------------------------------------------------------------------------------------------


def test_a_draft_is_not_credited(staff):
    invoice = draft_invoice(amounts=["100.00"])

    with refund_refused(f"Draft #{invoice.pk} is draft; credit notes reduce issued invoices only."):
        issue(invoice, "10.00", actor=staff)


def test_a_void_invoice_is_not_credited(staff):
    invoice = open_invoice(amounts=["100.00"])
    invoice_void(invoice=invoice, actor=staff)

    with refund_refused(f"{invoice.number} is void; credit notes reduce issued invoices only."):
        issue(invoice, "10.00", actor=staff)


def test_an_uncollectible_invoice_can_be_credited(staff):
    invoice = open_invoice(amounts=["100.00"])
    invoice_mark_uncollectible(invoice=invoice, actor=staff)

    issue(invoice, "30.00", actor=staff)
    assert invoice_amounts(invoice) == (
        InvoiceStatus.UNCOLLECTIBLE,
        eur("30.00"),
        eur("0.00"),
        eur("0.00"),
        eur("70.00"),
    )
    issue(invoice, "70.00", actor=staff)

    assert invoice_amounts(invoice) == (InvoiceStatus.PAID, eur("100.00"), eur("0.00"), eur("0.00"), eur("0.00"))
    paid = Activity.objects.get(verb="invoice.paid", invoice=invoice)
    assert (paid.status_before, paid.status_after) == (InvoiceStatus.UNCOLLECTIBLE, InvoiceStatus.PAID)
    assert billing_integrity_violations() == []


def test_an_invoice_with_a_credit_note_cannot_be_voided(staff):
    invoice = open_invoice(amounts=["100.00"])
    issue(invoice, "30.00", actor=staff)

    with refund_refused(f"{invoice.number} has credit notes and cannot be voided; issue a credit note for the rest."):
        invoice_void(invoice=invoice, actor=staff)
    assert reload(invoice).status == InvoiceStatus.OPEN


# Numbers and activity --------------------------------------------------------------------------------------------


def test_credit_note_numbers_are_gapless_per_year_across_refusals(staff, today):
    member = MemberFactory()
    first_invoice = open_invoice(member=member, amounts=["100.00"])
    second_invoice = open_invoice(member=member, amounts=["100.00"])

    issue(first_invoice, "10.00", actor=staff)
    with refund_refused(
        f"€100.01 is more than what is left to credit on {second_invoice.number} (€100.00 of €100.00)."
    ):
        issue(second_invoice, "100.01", actor=staff)
    issue(second_invoice, "20.00", actor=staff)
    with refund_refused(
        "€0.00 of this credit note was already paid and must be settled exactly: refund + credit + out of band is "
        "€5.00."
    ):
        issue(first_invoice, "50.00", actor=staff, refund="5.00")
    issue(first_invoice, "90.00", actor=staff)

    assert list(CreditNote.objects.order_by("pk").values_list("number", "invoice")) == [
        (f"CN-{today.year}-00001", first_invoice.pk),
        (f"CN-{today.year}-00002", second_invoice.pk),
        (f"CN-{today.year}-00003", first_invoice.pk),
    ]
    assert NumberSequence.objects.get(series="CN", year=today.year).last_value == 3
    assert billing_integrity_violations() == []


def test_issuing_a_credit_note_is_recorded(staff):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="80.00")

    credit_note = credit_note_issue(
        invoice=invoice,
        actor=staff,
        reason=CreditNoteReason.ORDER_CHANGE,
        amount=eur("50.00"),
        memo="One desk less",
        refund_amount=eur("5.00"),
        credit_amount=eur("10.00"),
        out_of_band_amount=eur("15.00"),
    )

    credit_note = reload(credit_note)
    assert (credit_note.reason, credit_note.memo, credit_note.created_by, credit_note.actor_label) == (
        CreditNoteReason.ORDER_CHANGE,
        "One desk less",
        staff.user,
        "manager",
    )
    issued = Activity.objects.get(verb="credit_note.issued")
    assert (issued.actor_user, issued.member, issued.invoice, issued.target, issued.amount) == (
        staff.user,
        invoice.member,
        invoice,
        credit_note,
        eur("50.00"),
    )
    assert (issued.status_before, issued.status_after, issued.message) == (
        InvoiceStatus.OPEN,
        InvoiceStatus.PAID,
        "One desk less",
    )
    assert {key: Decimal(value) if key != "credit_note" else value for key, value in issued.data.items()} == {
        "credit_note": credit_note.number,
        "pre_payment": Decimal("20.00"),
        "refund": Decimal("5.00"),
        "credit": Decimal("10.00"),
        "out_of_band": Decimal("15.00"),
    }
    assert verbs(invoice=invoice)[-2:] == ["invoice.paid", "credit_note.issued"]
    assert [(row.kind, row.amount) for row in Refund.objects.order_by("pk")] == [
        (Refund.Kind.RECORDED, eur("5.00")),
        (Refund.Kind.OUT_OF_BAND, eur("15.00")),
    ]
    assert billing_integrity_violations() == []


# Refusals --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        pytest.param(Money("0.00", "EUR"), "The amount must be greater than zero, not 0.00.", id="zero"),
        pytest.param(Money("-5.00", "EUR"), "The amount must be greater than zero, not -5.00.", id="negative"),
        pytest.param(
            Money("10.005", "EUR"), "EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly.", id="scale"
        ),
        pytest.param(Money("10.00", "USD"), "This amount is in USD, but it must be in EUR.", id="currency"),
    ],
)
def test_a_wrong_amount_is_refused(staff, amount, message):
    invoice = open_invoice(amounts=["100.00"])

    with refund_refused(message):
        issue(invoice, amount, actor=staff)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        pytest.param({"refund_amount": Money("-5.00", "EUR")}, "The amount cannot be negative (-5.00).", id="negative"),
        pytest.param(
            {"credit_amount": Money("5.001", "EUR")},
            "EUR amounts have 2 decimals at most: 5.001 cannot be paid exactly.",
            id="scale",
        ),
        pytest.param(
            {"out_of_band_amount": Money("5.00", "USD")}, "This amount is in USD, but it must be in EUR.", id="currency"
        ),
    ],
)
def test_a_wrong_split_amount_is_refused(staff, split, message):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="100.00")

    with refund_refused(message):
        credit_note_issue(invoice=invoice, actor=staff, reason=OTHER, amount=eur("10.00"), **split)


def test_a_yen_credit_note_in_fractions_of_a_yen_is_refused(staff):
    invoice = open_invoice(amounts=["1000"], currency="JPY")

    with refund_refused("JPY has no minor unit: enter a whole amount, not 0.5."):
        credit_note_issue(invoice=invoice, actor=staff, reason=OTHER, amount=Money("0.5", "JPY"))
    credit_note_issue(invoice=invoice, actor=staff, reason=OTHER, amount=Money("300", "JPY"))

    assert reload(invoice).amount_remaining == Money("700", "JPY")
    assert billing_integrity_violations() == []


@pytest.mark.parametrize("reason", ["", "because"])
def test_a_credit_note_needs_a_reason(staff, reason):
    invoice = open_invoice(amounts=["100.00"])

    with refund_refused("Choose a reason for the credit note."):
        issue(invoice, "10.00", actor=staff, reason=reason)


def test_a_member_cannot_issue_a_credit_note(staff):
    invoice = open_invoice(amounts=["100.00"])
    actor = member_actor(invoice.member)

    with refund_refused("Only the space's staff can issue credit notes."):
        issue(invoice, "10.00", actor=actor)
