import pytest

from billing.models import Activity, InvoiceStatus, MoneyBalanceEntry
from billing.selectors import member_money_balance
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from payments.integrity import billing_integrity_violations
from payments.services.payment_apply import allocation_remove
from tests.factories import (
    MemberFactory,
    card_payment,
    draft_invoice,
    eur,
    external_payment,
    member_actor,
    open_invoice,
    refused,
    reload,
)


def test_voiding_an_open_invoice(db, staff):
    invoice = open_invoice(amounts=["100.00"])

    invoice_void(invoice=invoice, actor=staff)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.VOID
    assert invoice.voided_at is not None
    assert invoice.total == eur("100.00")
    assert invoice.amount_paid == eur("0.00")
    assert invoice.amount_balance_applied == eur("0.00")
    activity = Activity.objects.get(verb="invoice.voided")
    assert (activity.invoice, activity.amount, activity.actor_user) == (invoice, eur("100.00"), staff.user)
    assert (activity.status_before, activity.status_after) == ("open", "void")
    assert not MoneyBalanceEntry.objects.exists()
    assert billing_integrity_violations() == []


def test_voiding_returns_the_money_balance_applied_to_the_member(db, staff):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("30.00"), is_credit=True, note="Goodwill", actor=staff)
    invoice = open_invoice(member=member, amounts=["100.00"])
    invoice_apply_money_balance(invoice=invoice, actor=staff)
    assert member_money_balance(member=member, currency="EUR") == eur("0.00")

    invoice_void(invoice=invoice, actor=staff)

    assert member_money_balance(member=member, currency="EUR") == eur("30.00")
    returned = MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.RETURNED)
    assert (returned.invoice, returned.amount) == (invoice, eur("30.00"))
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.VOID
    assert invoice.amount_balance_applied == eur("0.00")
    activity = Activity.objects.get(verb="balance.returned")
    assert (activity.target, activity.amount) == (returned, eur("30.00"))
    assert billing_integrity_violations() == []


def test_an_uncollectible_invoice_can_be_voided(db, staff):
    invoice = open_invoice()
    invoice_mark_uncollectible(invoice=invoice, actor=staff)

    invoice_void(invoice=invoice, actor=staff)

    assert reload(invoice).status == InvoiceStatus.VOID
    assert Activity.objects.get(verb="invoice.voided").status_before == "uncollectible"
    assert billing_integrity_violations() == []


def test_an_invoice_with_allocations_cannot_be_voided(db, staff, today):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")

    with refused(
        f"INV-{today.year}-00001 has €40.00 from {payment.number} allocated; refund or unallocate it first, "
        "or issue a credit note"
    ):
        invoice_void(invoice=invoice, actor=staff)


def test_a_paid_invoice_with_allocations_names_every_payment(db, staff, today):
    invoice = open_invoice(amounts=["100.00"])
    first = external_payment(invoice=invoice, amount="40.00")
    second = external_payment(invoice=invoice, amount="60.00")
    assert reload(invoice).status == InvoiceStatus.PAID

    with refused(f"€40.00 from {first.number}, €60.00 from {second.number} allocated"):
        invoice_void(invoice=invoice, actor=staff)


def test_an_invoice_can_be_voided_once_its_payments_are_unallocated(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")
    allocation_remove(allocation=payment.allocations.get(), actor=staff)

    invoice_void(invoice=invoice, actor=staff)

    assert reload(invoice).status == InvoiceStatus.VOID
    assert reload(payment).amount_unallocated == eur("40.00")
    assert billing_integrity_violations() == []


def test_an_invoice_paid_by_money_balance_cannot_be_voided(db, staff, today):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=eur("100.00"), is_credit=True, note="Goodwill", actor=staff)
    invoice = open_invoice(member=member, amounts=["100.00"])
    invoice_apply_money_balance(invoice=invoice, actor=staff)

    with refused(f"INV-{today.year}-00001 is paid and cannot be voided; issue a credit note to reduce it"):
        invoice_void(invoice=invoice, actor=staff)


def test_a_zero_total_invoice_is_paid_and_cannot_be_voided(db, staff):
    invoice = open_invoice(amounts=["0.00"])

    with refused("is paid and cannot be voided"):
        invoice_void(invoice=invoice, actor=staff)


def test_a_draft_is_deleted_not_voided(db, staff):
    invoice = draft_invoice()

    with refused(r"Draft #\d+ is a draft: delete it instead of voiding it"):
        invoice_void(invoice=invoice, actor=staff)


def test_voiding_twice_is_refused(db, staff, today):
    invoice = open_invoice()
    invoice_void(invoice=invoice, actor=staff)

    with refused(f"INV-{today.year}-00001 is already void"):
        invoice_void(invoice=invoice, actor=staff)


@pytest.mark.parametrize("status", ["pending", "processing"])
def test_a_card_payment_in_flight_blocks_voiding(db, staff, today, status):
    invoice = open_invoice(amounts=["100.00"])
    card_payment(invoice=invoice, amount="100.00", status=status)

    with refused(
        f"INV-{today.year}-00001 has a card payment of €100.00 in progress at the gateway; wait for its result "
        "before you void it"
    ):
        invoice_void(invoice=invoice, actor=staff)


def test_a_failed_card_payment_does_not_block_voiding(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    card_payment(invoice=invoice, amount="100.00", status="failed")

    invoice_void(invoice=invoice, actor=staff)

    assert reload(invoice).status == InvoiceStatus.VOID


def test_a_member_cannot_void_an_invoice(db):
    invoice = open_invoice()
    actor = member_actor(invoice.member)

    with refused("Only the space's staff can void invoices"):
        invoice_void(invoice=invoice, actor=actor)


def test_marking_an_open_invoice_uncollectible(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")

    invoice_mark_uncollectible(invoice=invoice, actor=staff)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
    assert invoice.shown_status() == "uncollectible"
    assert invoice.amount_paid == eur("40.00")
    assert invoice.amount_remaining == eur("60.00")
    activity = Activity.objects.get(verb="invoice.marked_uncollectible")
    assert (activity.invoice, activity.amount) == (invoice, eur("60.00"))
    assert (activity.status_before, activity.status_after) == ("open", "uncollectible")
    assert billing_integrity_violations() == []


def test_an_uncollectible_invoice_paid_in_full_becomes_paid(db, staff):
    invoice = open_invoice(amounts=["100.00"])
    invoice_mark_uncollectible(invoice=invoice, actor=staff)

    external_payment(invoice=invoice)

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_remaining == eur("0.00")
    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("draft", r"Draft #\d+ is draft; only an open invoice can be marked uncollectible"),
        ("paid", r"INV-\d{4}-00001 is paid; only an open invoice can be marked uncollectible"),
        ("void", r"INV-\d{4}-00001 is void; only an open invoice can be marked uncollectible"),
        ("uncollectible", r"INV-\d{4}-00001 is uncollectible; only an open invoice can be marked uncollectible"),
    ],
)
def test_only_an_open_invoice_can_be_marked_uncollectible(db, staff, state, message):
    invoice = draft_invoice() if state == "draft" else open_invoice()
    if state == "paid":
        external_payment(invoice=invoice)
    if state == "void":
        invoice_void(invoice=invoice, actor=staff)
    if state == "uncollectible":
        invoice_mark_uncollectible(invoice=invoice, actor=staff)

    with refused(message):
        invoice_mark_uncollectible(invoice=invoice, actor=staff)


def test_a_card_payment_in_flight_blocks_marking_uncollectible(db, staff, today):
    invoice = open_invoice(amounts=["100.00"])
    card_payment(invoice=invoice, amount="60.00")

    with refused(
        f"INV-{today.year}-00001 has a card payment of €60.00 in progress at the gateway; wait for its result "
        "before you mark it uncollectible"
    ):
        invoice_mark_uncollectible(invoice=invoice, actor=staff)


def test_a_member_cannot_mark_an_invoice_uncollectible(db):
    invoice = open_invoice()
    actor = member_actor(invoice.member)

    with refused("Only the space's staff can mark invoices uncollectible"):
        invoice_mark_uncollectible(invoice=invoice, actor=actor)
