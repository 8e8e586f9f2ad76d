import datetime

import pytest
from djmoney.money import Money

from billing.activity import Actor
from billing.models import Activity, InvoiceStatus
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Payment, PaymentStatus
from payments.services.payment_external import payment_create_external, payment_create_standalone
from tests.factories import (
    MemberFactory,
    draft_invoice,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    reload,
)


def test_a_payment_of_the_full_amount_pays_the_invoice(db, staff, today):
    invoice = open_invoice(amounts=["100.00"])

    payment = payment_create_external(
        invoice=invoice,
        actor=staff,
        kind="check",
        amount=Money("100.00", "EUR"),
        reference="  Check 000123  ",
        note="Front desk",
    )

    payment = reload(payment)
    assert payment.number.startswith(f"PAY-{today.year}-")
    assert payment.member == invoice.member
    assert payment.invoice == invoice
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.method == "external"
    assert payment.external_kind == "check"
    assert payment.get_method_label() == "External (check)"
    assert payment.reference == "Check 000123"
    assert payment.note == "Front desk"
    assert payment.received_on == today
    assert payment.created_by == staff.user
    assert payment.amount == Money("100.00", "EUR")
    assert payment.amount_allocated == Money("100.00", "EUR")
    assert payment.amount_unallocated == Money("0.00", "EUR")
    allocation = Allocation.objects.get()
    assert allocation.number.startswith(f"ALC-{today.year}-")
    assert (allocation.payment, allocation.invoice) == (payment, invoice)
    assert allocation.amount == allocation.original_amount == Money("100.00", "EUR")
    assert allocation.created_by == staff.user
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.paid_at is not None
    assert invoice.amount_paid == Money("100.00", "EUR")
    assert invoice.amount_remaining == Money("0.00", "EUR")
    assert [(a.verb, a.amount) for a in Activity.objects.exclude(verb="invoice.issued").order_by("pk")] == [
        ("payment.received", Money("100.00", "EUR")),
        ("payment.allocated", Money("100.00", "EUR")),
        ("invoice.paid", Money("0.00", "EUR")),
    ]
    assert billing_integrity_violations() == []


def test_a_partial_payment_leaves_the_invoice_open(db, staff):
    invoice = open_invoice(amounts=["100.00"])

    payment = payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("40.00", "EUR"))

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.shown_status() == "partially_paid"
    assert invoice.amount_paid == Money("40.00", "EUR")
    assert invoice.amount_remaining == Money("60.00", "EUR")
    assert invoice.paid_at is None
    assert reload(payment).amount_allocated == Money("40.00", "EUR")
    assert reload(payment).amount_unallocated == Money("0.00", "EUR")
    assert not Activity.objects.filter(verb__in=["invoice.paid", "invoice.overpaid"]).exists()
    assert billing_integrity_violations() == []


def test_two_partial_payments_pay_the_invoice(db, staff, today):
    invoice = open_invoice(amounts=["100.00"])

    first = payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("40.00", "EUR"))
    second = payment_create_external(invoice=invoice, actor=staff, kind="bank_transfer", amount=Money("60.00", "EUR"))

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_paid == Money("100.00", "EUR")
    allocations = list(Allocation.objects.order_by("pk"))
    assert [allocation.payment for allocation in allocations] == [first, second]
    assert allocations[0].number.startswith(f"ALC-{today.year}-")
    assert allocations[0].number < allocations[1].number
    assert billing_integrity_violations() == []


def test_the_amount_defaults_to_what_remains(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")

    payment = payment_create_external(invoice=invoice, actor=staff, kind="cash")

    assert reload(payment).amount == Money("60.00", "EUR")
    assert reload(payment).amount_unallocated == Money("0.00", "EUR")
    assert reload(invoice).status == InvoiceStatus.PAID
    assert billing_integrity_violations() == []


def test_more_than_remains_leaves_the_excess_unallocated_as_credit(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")

    payment = payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("100.00", "EUR"))

    payment = reload(payment)
    assert payment.amount == Money("100.00", "EUR")
    assert payment.amount_allocated == Money("60.00", "EUR")
    assert payment.amount_unallocated == Money("40.00", "EUR")
    assert payment.allocations.get().amount == Money("60.00", "EUR")
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_paid == Money("100.00", "EUR")
    assert invoice.amount_remaining == Money("0.00", "EUR")
    overpaid = Activity.objects.get(verb="invoice.overpaid")
    assert overpaid.amount == Money("40.00", "EUR")
    assert overpaid.invoice == invoice
    assert overpaid.target == payment
    assert payment.number in overpaid.message
    assert "stays unallocated as the member's credit" in overpaid.message
    assert billing_integrity_violations() == []


def test_an_uncollectible_invoice_paid_in_full_becomes_paid(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    invoice_mark_uncollectible(invoice=invoice, actor=staff)

    payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("30.00", "EUR"))
    assert reload(invoice).status == InvoiceStatus.UNCOLLECTIBLE
    payment_create_external(invoice=invoice, actor=staff, kind="cash")

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_remaining == Money("0.00", "EUR")
    assert Activity.objects.get(verb="invoice.paid").status_before == InvoiceStatus.UNCOLLECTIBLE
    assert billing_integrity_violations() == []


def test_a_past_date_received_is_kept(db, staff, today):
    invoice = open_invoice()
    received_on = today - datetime.timedelta(days=20)

    payment = payment_create_external(invoice=invoice, actor=staff, kind="check", received_on=received_on)

    assert reload(payment).received_on == received_on


def test_a_zero_decimal_currency_invoice_is_paid_in_whole_units(db, staff):
    invoice = open_invoice(amounts=["15000"], currency="JPY")

    payment = payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("10000", "JPY"))

    assert reload(payment).amount_allocated == Money("10000", "JPY")
    assert reload(invoice).amount_remaining == Money("5000", "JPY")
    assert billing_integrity_violations() == []


def test_a_draft_cannot_be_paid(db, staff):
    invoice = draft_invoice()

    with refused(r"Draft #\d+ is a draft: issue it before recording payments"):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("10.00", "EUR"))


def test_a_void_invoice_cannot_be_paid(db, staff, today):
    invoice = open_invoice()
    invoice_void(invoice=invoice, actor=staff)

    with refused(f"INV-{today.year}-00001 is void and cannot be paid"):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("10.00", "EUR"))


def test_a_paid_invoice_cannot_be_paid_again(db, staff, today):
    invoice = open_invoice()
    external_payment(invoice=invoice)

    with refused(f"INV-{today.year}-00001 is already paid in full. Record a standalone payment"):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("10.00", "EUR"))


def test_a_date_received_in_the_future_is_refused(db, staff, today):
    invoice = open_invoice()
    tomorrow = today + datetime.timedelta(days=1)

    with refused(f"The date received \\({tomorrow:%Y-%m-%d}\\) cannot be in the future"):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", received_on=tomorrow)


def test_a_date_received_that_is_not_a_date_is_refused(db, staff):
    invoice = open_invoice()

    with refused("The date received must be a date"):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", received_on="2026-01-01")


@pytest.mark.parametrize("kind", ["card", "", "crypto", None])
def test_an_unknown_kind_is_refused(db, staff, kind):
    invoice = open_invoice()

    with refused("Choose how the money was received: cash, check, bank transfer, other"):
        payment_create_external(invoice=invoice, actor=staff, kind=kind, amount=Money("10.00", "EUR"))


def test_a_member_cannot_record_an_external_payment(db):
    invoice = open_invoice()
    actor = member_actor(invoice.member)

    with refused("Only the space's staff can record external payments"):
        payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=Money("150.00", "EUR"))


def test_the_gateway_cannot_record_an_external_payment(db):
    invoice = open_invoice()

    with refused("Only the space's staff can record external payments"):
        payment_create_external(invoice=invoice, actor=Actor.gateway(), kind="cash", amount=Money("10.00", "EUR"))


BAD_AMOUNTS = [
    (Money("0.00", "EUR"), "greater than zero, not 0.00"),
    (Money("-10.00", "EUR"), "greater than zero, not -10.00"),
    (Money("10.005", "EUR"), "EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly"),
    (Money("1234567890123", "EUR"), "too large: at most 12 digits"),
    (Money("10.00", "USD"), "This amount is in USD, but it must be in EUR"),
    ("10.00", "The amount must be a sum of money"),
    (10, "The amount must be a sum of money"),
]


@pytest.mark.parametrize(("amount", "message"), BAD_AMOUNTS)
def test_bad_amounts_are_refused(db, staff, amount, message):
    invoice = open_invoice()

    with refused(message):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=amount)


def test_a_fraction_of_a_yen_is_refused(db, staff):
    invoice = open_invoice(amounts=["15000"], currency="JPY")

    with refused("JPY has no minor unit: enter a whole amount, not 10.5"):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", amount=Money("10.5", "JPY"))


def test_a_standalone_payment_stays_unallocated(db, staff, today):
    member = MemberFactory()

    payment = payment_create_standalone(
        member=member, actor=staff, amount=Money("75.00", "EUR"), kind="bank_transfer", reference="TRX-9"
    )

    payment = reload(payment)
    assert payment.number.startswith(f"PAY-{today.year}-")
    assert payment.invoice is None
    assert payment.member == member
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.external_kind == "bank_transfer"
    assert payment.reference == "TRX-9"
    assert payment.received_on == today
    assert payment.amount == Money("75.00", "EUR")
    assert payment.amount_allocated == Money("0.00", "EUR")
    assert payment.amount_unallocated == Money("75.00", "EUR")
    assert not Allocation.objects.exists()
    activity = Activity.objects.get()
    assert (activity.verb, activity.member, activity.invoice, activity.target) == (
        "payment.received",
        member,
        None,
        payment,
    )
    assert activity.amount == Money("75.00", "EUR")
    assert billing_integrity_violations() == []


def test_a_standalone_payment_can_be_in_another_currency(db, staff):
    payment = payment_create_standalone(
        member=MemberFactory(default_currency="EUR"), actor=staff, amount=Money("1500", "JPY"), kind="cash"
    )

    assert reload(payment).currency == "JPY"
    assert reload(payment).amount_unallocated == Money("1500", "JPY")
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        *[(amount, message) for amount, message in BAD_AMOUNTS if amount != Money("10.00", "USD")],
        (Money("10.5", "JPY"), "JPY has no minor unit"),
    ],
)
def test_bad_standalone_amounts_are_refused(db, staff, amount, message):
    member = MemberFactory()

    with refused(message):
        payment_create_standalone(member=member, actor=staff, amount=amount, kind="cash")


def test_a_standalone_payment_with_a_bad_kind_or_date_is_refused(db, staff, today):
    member = MemberFactory()

    with refused("Choose how the money was received"):
        payment_create_standalone(member=member, actor=staff, amount=Money("10.00", "EUR"), kind="card")
    with refused("cannot be in the future"):
        payment_create_standalone(
            member=member,
            actor=staff,
            amount=Money("10.00", "EUR"),
            kind="cash",
            received_on=today + datetime.timedelta(days=1),
        )


def test_a_member_cannot_record_a_standalone_payment(db):
    member = MemberFactory()
    actor = member_actor(member)

    with refused("Only the space's staff can record external payments"):
        payment_create_standalone(member=member, actor=actor, amount=Money("10.00", "EUR"), kind="cash")

    assert not Payment.objects.exists()


# Plausible dates received (spec 11): not in the future in the space's time zone, not before the earliest date.


@pytest.mark.parametrize(
    ("received_on", "message"),
    [
        (
            datetime.date(1, 1, 1),
            "The date received \\(0001-01-01\\) is before 2000-01-01, the earliest date this space accepts; check the "
            "year.",
        ),
        (datetime.date(1999, 12, 31), "The date received \\(1999-12-31\\) is before 2000-01-01"),
    ],
)
def test_a_date_received_before_the_earliest_date_is_refused(db, staff, received_on, message):
    invoice = open_invoice()
    member = MemberFactory()

    with refused(message):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", received_on=received_on)
    with refused(message):
        payment_create_standalone(
            member=member, actor=staff, amount=Money("10.00", "EUR"), kind="cash", received_on=received_on
        )


def test_the_earliest_date_received_is_accepted_and_can_be_changed(db, staff, settings):
    invoice = open_invoice(amounts=["100.00"])

    payment = payment_create_external(
        invoice=invoice, actor=staff, kind="cash", amount=Money("10.00", "EUR"), received_on=datetime.date(2000, 1, 1)
    )
    assert reload(payment).received_on == datetime.date(2000, 1, 1)

    settings.BILLING_EARLIEST_RECEIVED_DATE = datetime.date(2020, 1, 1)
    with refused("The date received \\(2019-12-31\\) is before 2020-01-01"):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", received_on=datetime.date(2019, 12, 31))


def test_the_future_begins_tomorrow_in_the_space_s_time_zone(db, staff, settings, time_machine):
    """At 20:00 UTC on 1 March it is already 2 March in Auckland: 2 March is today there, 3 March the future."""
    settings.TIME_ZONE = "Pacific/Auckland"
    time_machine.move_to(datetime.datetime(2026, 3, 1, 20, 0, tzinfo=datetime.UTC), tick=False)
    invoice = open_invoice(amounts=["100.00"])

    payment = payment_create_external(
        invoice=invoice, actor=staff, kind="cash", amount=Money("10.00", "EUR"), received_on=datetime.date(2026, 3, 2)
    )

    assert reload(payment).received_on == datetime.date(2026, 3, 2)
    with refused("The date received \\(2026-03-03\\) cannot be in the future"):
        payment_create_external(invoice=invoice, actor=staff, kind="cash", received_on=datetime.date(2026, 3, 3))
