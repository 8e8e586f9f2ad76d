"""billing_integrity_violations() finds every kind of corruption that writing rows or columns directly can make,
and nothing on books kept by the services."""

from dataclasses import dataclass

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Activity, Invoice, InvoiceLine, InvoiceStatus, MoneyBalanceEntry, NumberSequence
from billing.numbering import ALLOCATION, PAYMENT, number_next
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Payment
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_void import payment_void
from tests.factories import (
    MemberFactory,
    card_payment,
    draft_invoice,
    eur,
    external_payment,
    open_invoice,
    reload,
    standalone_payment,
)


@dataclass
class Books:
    member: Member
    other_member: Member
    partly_paid: Invoice  # 100.00: 30.00 money balance + 40.00 cash
    paid: Invoice  # 50.00: paid by the standalone payment
    uncollectible: Invoice  # 80.00, nothing paid
    void: Invoice  # 20.00, 5.00 of balance applied then returned
    draft: Invoice
    cash: Payment  # 40.00 on partly_paid
    standalone: Payment  # 70.00: 50.00 on paid, 20.00 unallocated
    voided: Payment
    balance_credit: MoneyBalanceEntry


@pytest.fixture
def books(db, staff) -> Books:
    member = MemberFactory()
    other_member = MemberFactory()
    balance_credit = money_balance_adjust(
        member=member, amount=eur("100.00"), is_credit=True, note="Goodwill", actor=staff
    )
    partly_paid = open_invoice(member=member, amounts=["100.00"])
    invoice_apply_money_balance(invoice=partly_paid, actor=staff, amount=eur("30.00"))
    cash = external_payment(invoice=partly_paid, amount="40.00")
    paid = open_invoice(member=member, amounts=["25.00", "20.00"], tax_rate="11.11")
    standalone = standalone_payment(member=member, amount="70.00")
    payment_apply(invoice=paid, applications=[(standalone, eur("50.00"))], actor=staff)
    uncollectible = open_invoice(member=member, amounts=["80.00"])
    invoice_mark_uncollectible(invoice=uncollectible, actor=staff)
    void = open_invoice(member=member, amounts=["20.00"])
    invoice_apply_money_balance(invoice=void, actor=staff, amount=eur("5.00"))
    invoice_void(invoice=void, actor=staff)
    voided = external_payment(invoice=open_invoice(member=other_member, amounts=["10.00"]))
    payment_void(payment=voided, actor=staff)
    removed = external_payment(invoice=open_invoice(member=other_member, amounts=["10.00"]))
    allocation_remove(allocation=removed.allocations.get(), actor=staff)
    card_payment(invoice=uncollectible, amount="10.00", status="failed")
    standalone_payment(member=other_member, amount="1500", currency="JPY")
    return Books(
        member=member,
        other_member=other_member,
        partly_paid=reload(partly_paid),
        paid=reload(paid),
        uncollectible=reload(uncollectible),
        void=reload(void),
        draft=draft_invoice(member=member, amounts=["12.34"], tax_rate="20"),
        cash=reload(cash),
        standalone=reload(standalone),
        voided=reload(voided),
        balance_credit=balance_credit,
    )


def violations_about(*texts: str) -> list[str]:
    """The violations found, after checking that one of them mentions all of `texts`."""
    found = billing_integrity_violations()
    assert any(all(text in violation for text in texts) for violation in found), found
    return found


def test_books_kept_by_the_services_have_no_violation(books):
    assert reload(books.partly_paid).status == InvoiceStatus.OPEN
    assert reload(books.paid).status == InvoiceStatus.PAID
    assert reload(books.paid).tax_total == eur("5.00")  # 2.78 + 2.22
    assert reload(books.standalone).amount_unallocated == eur("20.00")

    assert billing_integrity_violations() == []


def test_an_empty_database_has_no_violation(db):
    assert billing_integrity_violations() == []


# Invoices


def test_a_wrong_cached_paid_amount_is_found(books):
    Invoice.objects.filter(pk=books.partly_paid.pk).update(amount_paid=eur("45.00"))

    violations_about(books.partly_paid.number, "amount_paid is 45", "add up to 40")


def test_a_wrong_cached_balance_applied_is_found(books):
    Invoice.objects.filter(pk=books.partly_paid.pk).update(amount_balance_applied=eur("0.00"))

    violations_about(books.partly_paid.number, "amount_balance_applied is 0", "add up to 30")


def test_a_credited_amount_without_credit_notes_is_found(books):
    Invoice.objects.filter(pk=books.uncollectible.pk).update(amount_credited=eur("10.00"))

    violations_about(books.uncollectible.number, "amount_credited is 10")


def test_a_wrong_remaining_amount_is_found(books):
    Invoice.objects.filter(pk=books.partly_paid.pk).update(amount_remaining=eur("29.00"))

    violations_about(books.partly_paid.number, "amount_remaining is 29", "expected 30")


def test_a_subtotal_that_is_not_the_sum_of_the_lines_is_found(books):
    InvoiceLine.objects.filter(invoice=books.paid, position=1).update(amount=eur("24.00"))

    violations_about(books.paid.number, "subtotal 45", "is not the sum of its lines 44")


def test_a_tax_total_that_is_not_the_sum_of_the_lines_is_found(books):
    InvoiceLine.objects.filter(invoice=books.paid, position=2).update(tax=eur("2.23"))

    violations_about(books.paid.number, "tax 5", "is not the sum of its lines' taxes")


def test_a_total_that_is_not_subtotal_plus_tax_is_found(books):
    Invoice.objects.filter(pk=books.uncollectible.pk).update(total=eur("81.00"), amount_remaining=eur("81.00"))

    violations_about(books.uncollectible.number, "total 81", "is not subtotal + tax")


def test_a_draft_s_totals_are_checked_too(books):
    Invoice.objects.filter(pk=books.draft.pk).update(total=eur("1.00"))

    violations_about(f"Draft #{books.draft.pk}", "is not subtotal + tax")


def test_an_amount_in_another_currency_than_the_invoice_is_found(books):
    Invoice.objects.filter(pk=books.partly_paid.pk).update(amount_paid_currency="USD")

    violations_about(books.partly_paid.number, "amount_paid is in USD, the invoice in EUR")


def test_a_paid_status_with_money_remaining_is_found(books):
    Invoice.objects.filter(pk=books.partly_paid.pk).update(status=InvoiceStatus.PAID)

    violations_about(books.partly_paid.number, "status paid but 30", "remains")


@pytest.mark.parametrize("status", [InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE])
def test_an_unpaid_status_with_nothing_remaining_is_found(books, status):
    Invoice.objects.filter(pk=books.paid.pk).update(status=status)

    violations_about(books.paid.number, f"status {status} but nothing remains; it should be paid")


def test_a_void_invoice_with_payments_is_found(books):
    Invoice.objects.filter(pk=books.partly_paid.pk).update(status=InvoiceStatus.VOID)

    violations_about(books.partly_paid.number, "void but still has payments, money balance applied or credit notes")


def test_a_draft_with_payments_is_found(books):
    Invoice.objects.filter(pk=books.paid.pk).update(status=InvoiceStatus.DRAFT)

    violations_about(books.paid.number, "a draft has payments, money balance applied or credit notes")


def test_more_paid_than_the_total_is_found(books):
    allocation = books.paid.allocations.get()
    Allocation.objects.filter(pk=allocation.pk).update(amount=eur("60.00"), original_amount=eur("60.00"))

    violations_about(books.paid.number, "total - credited - balance applied - paid is -10", "below zero")


def test_more_money_balance_returned_than_applied_is_found(books, staff):
    entry = MoneyBalanceEntry.objects.create(
        member=books.member,
        amount=eur("31.00"),
        kind=MoneyBalanceEntry.Kind.RETURNED,
        invoice=books.partly_paid,
        note="Forged",
    )
    Activity.objects.create(actor_kind="staff", verb="balance.returned", target=entry)

    violations_about(books.partly_paid.number, "more money balance returned than was applied")


# Payments


def test_a_wrong_cached_allocated_amount_is_found(books):
    Payment.objects.filter(pk=books.standalone.pk).update(
        amount_allocated=eur("40.00"), amount_unallocated=eur("30.00")
    )

    violations_about(books.standalone.number, "amount_allocated is 40", "allocations add up to 50")


def test_terms_that_do_not_add_up_to_the_amount_are_found(books):
    Payment.objects.filter(pk=books.standalone.pk).update(amount_unallocated=eur("25.00"))

    violations_about(books.standalone.number, "allocated + refunded + in flight + unallocated = 75", "not 70")


def test_a_payment_column_in_another_currency_is_found(books):
    Payment.objects.filter(pk=books.cash.pk).update(amount_unallocated_currency="USD")

    violations_about(books.cash.number, "amount_unallocated is in USD, the payment in EUR")


@pytest.mark.parametrize("status", ["failed", "canceled", "void", "pending"])
def test_a_payment_not_succeeded_that_holds_money_is_found(books, status):
    Payment.objects.filter(pk=books.standalone.pk).update(status=status)

    violations_about(books.standalone.number, f"{status} but has allocations, refunds or unallocated money")


def test_a_void_payment_with_unallocated_money_is_found(books):
    Payment.objects.filter(pk=books.voided.pk).update(amount_unallocated=eur("10.00"))

    violations_about(books.voided.number, "void but has allocations, refunds or unallocated money")


@pytest.mark.parametrize(
    "column", ["amount_allocated", "amount_refunded", "amount_refund_pending", "amount_unallocated"]
)
def test_the_database_refuses_a_negative_payment_term(books, column):
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=books.standalone.pk).update(**{column: eur("-1.00")})

    assert billing_integrity_violations() == []


@pytest.mark.parametrize(
    "column", ["total", "amount_remaining", "amount_paid", "amount_credited", "amount_balance_applied"]
)
def test_the_database_refuses_a_negative_invoice_amount(books, column):
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=books.partly_paid.pk).update(**{column: eur("-1.00")})

    assert billing_integrity_violations() == []


# Allocations


def test_an_allocation_across_currencies_is_found(books):
    allocation = books.standalone.allocations.get()
    Payment.objects.filter(pk=books.standalone.pk).update(currency="USD")

    violations_about(allocation.number, "the payment's currency differs from the invoice's")


def test_an_allocation_of_another_member_s_payment_is_found(books):
    allocation = books.standalone.allocations.get()
    Payment.objects.filter(pk=books.standalone.pk).update(member=books.other_member)

    violations_about(allocation.number, "allocates one member's payment to another member's invoice")


# Money balances


def test_a_money_balance_below_zero_is_found(books):
    MoneyBalanceEntry.objects.filter(pk=books.balance_credit.pk).update(amount=eur("10.00"))

    violations_about(books.member.name, "money balance -20", "EUR is below zero")


def test_a_balance_entry_in_another_currency_than_its_invoice_is_found(books):
    entry = MoneyBalanceEntry.objects.get(invoice=books.partly_paid)
    MoneyBalanceEntry.objects.filter(pk=entry.pk).update(amount_currency="USD")

    violations_about(f"Money balance entry {entry.pk}", "its currency differs from its invoice's")


# Numbers


def test_a_gap_in_invoice_numbers_is_found(books):
    year = books.paid.issue_date.year
    Invoice.objects.filter(pk=books.paid.pk).update(number=f"INV-{year}-00009")

    violations_about(f"INV-{year}: numbers are not gapless (missing [2, 7, 8])")


def test_a_number_of_the_wrong_shape_is_found(books):
    Payment.objects.filter(pk=books.cash.pk).update(number="CASH-1")

    violations_about("CASH-1: not a PAY number")


def test_a_gap_in_allocation_and_payment_numbers_is_allowed(books):
    """PAY and ALC numbers may skip a value (a number taken by a transaction that stored nothing), unlike INV."""
    year = timezone.localdate().year
    with transaction.atomic():
        skipped = [number_next(series=PAYMENT, year=year), number_next(series=ALLOCATION, year=year)]
    invoice = open_invoice(member=books.paid.member, amounts=["10.00"])
    payment = external_payment(invoice=invoice)

    assert payment.number > skipped[0]
    assert payment.allocations.get().number > skipped[1]
    assert billing_integrity_violations() == []


def test_a_credit_note_sequence_ahead_of_the_numbers_used_is_found(books):
    year = books.paid.issue_date.year
    NumberSequence.objects.update_or_create(series="CN", year=year, defaults={"last_value": 99})

    violations_about(f"CN-{year}: the sequence is at 99", "used")


def test_a_sequence_whose_numbers_are_all_gone_is_found(books):
    NumberSequence.objects.create(series="INV", year=2001, last_value=2)

    violations_about("INV-2001: the sequence is at 2, 0 used")


# Activity


def test_a_payment_received_without_activity_is_found(books):
    Activity.objects.filter(verb="payment.received", target_id=books.cash.pk).update(verb="note")

    violations_about(books.cash.number, "no activity records how it was received")


def test_an_allocation_without_activity_is_found(books):
    allocation = books.standalone.allocations.get()
    Activity.objects.filter(verb="payment.allocated", data__allocation=allocation.number).update(verb="note")

    violations_about(allocation.number, "no activity records the allocation")


def test_a_balance_entry_without_activity_is_found(books):
    Activity.objects.filter(verb="balance.credited").update(target_id=None, target_type=None)

    violations_about(f"Money balance entry {books.balance_credit.pk}: no activity records it")


def test_an_issue_without_activity_is_found(books):
    Activity.objects.filter(verb="invoice.issued", invoice=books.uncollectible).update(verb="note")

    violations_about(books.uncollectible.number, "no activity records its issue")


def test_a_card_payment_in_flight_that_reserves_less_than_its_amount_is_found(books):
    from payments.models import PaymentTarget
    from tests.factories import card_payment

    payment = card_payment(invoice=books.partly_paid, amount="10.00")
    PaymentTarget.objects.filter(payment=payment).update(amount=eur("4.00"))

    violations_about(payment.number, "in flight for 10.000 but reserves 4.000")
