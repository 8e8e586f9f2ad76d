"""Confirming a match records an external bank-transfer payment with the transaction's state, in one transaction;
undoing voids it."""

import pytest
from djmoney.money import Money

from bank.models import BankTransaction, BankTransactionPayment, BankTransactionStatus, MemberBankAccount
from bank.services.bank_transaction_match import bank_transaction_ignore, bank_transaction_match
from bank.services.bank_transaction_record import bank_transaction_record, bank_transaction_undo
from billing.models import Activity, InvoiceStatus
from payments.integrity import billing_integrity_violations
from payments.models import ExternalKind, Payment, PaymentStatus
from payments.services.payment_void import payment_void
from tests.bank.statements import transfer
from tests.factories import MemberFactory, eur, member_actor, open_invoice, refused, reload

pytestmark = pytest.mark.django_db

IBAN = "DE02120300000000202051"


def bank_state(bank_transaction):
    return reload(bank_transaction).status


def test_confirming_a_reference_match_pays_the_invoice_and_learns_the_iban(staff):
    invoice = open_invoice(amounts=["120.00"])
    bank_transaction = transfer("120.00", remittance=invoice.payment_reference, iban=IBAN, name="Ada")

    payment = bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    assert (payment.member, payment.amount, payment.external_kind, payment.reference, payment.received_on) == (
        invoice.member,
        eur("120.00"),
        ExternalKind.BANK_TRANSFER,
        bank_transaction.bank_reference,
        bank_transaction.booking_date,
    )
    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("120.00"), eur("0.00"))
    assert reload(invoice).status == InvoiceStatus.PAID
    assert bank_state(bank_transaction) == BankTransactionStatus.RECORDED
    assert list(MemberBankAccount.objects.values_list("member", "iban")) == [(invoice.member_id, IBAN)]
    assert BankTransactionPayment.objects.get().payment == payment
    recorded = Activity.objects.get(verb="bank_transaction.recorded")
    assert (recorded.actor_user, recorded.data["payment"], recorded.data["iban_learned"]) == (
        staff.user,
        payment.number,
        True,
    )
    assert billing_integrity_violations() == []


def test_a_partial_transfer_leaves_the_invoice_partially_paid(staff):
    invoice = open_invoice(amounts=["120.00"])
    bank_transaction = transfer("50.00", remittance=invoice.number)

    bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("open", eur("50.00"), eur("70.00"))


def test_an_overpayment_keeps_the_excess_as_the_members_credit(staff):
    invoice = open_invoice(amounts=["120.00"])
    bank_transaction = transfer("145.00", remittance=invoice.payment_reference)

    payment = bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("120.00"), eur("25.00"))
    assert reload(invoice).status == InvoiceStatus.PAID
    assert Activity.objects.filter(verb="payment.excess_unallocated", amount=eur("25.00")).count() == 1
    assert billing_integrity_violations() == []


def test_several_invoices_are_paid_oldest_first(staff):
    member = MemberFactory()
    MemberBankAccount.objects.create(member=member, iban=IBAN)
    old, new = open_invoice(member=member, amounts=["40.00"]), open_invoice(member=member, amounts=["35.00"])
    bank_transaction = transfer("50.00", iban=IBAN)

    bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    assert (reload(old).status, reload(old).amount_remaining) == ("paid", eur("0.00"))
    assert (reload(new).status, reload(new).amount_remaining) == ("open", eur("25.00"))
    assert MemberBankAccount.objects.count() == 1
    assert Activity.objects.get(verb="bank_transaction.recorded").data["iban_learned"] is False


def test_a_split_set_by_hand_is_followed(staff):
    member = MemberFactory()
    old, new = open_invoice(member=member, amounts=["40.00"]), open_invoice(member=member, amounts=["35.00"])
    bank_transaction = transfer("60.00", remittance="for both")
    bank_transaction_match(
        bank_transaction=bank_transaction, member=member, invoices=[(old, eur("10.00")), (new, None)], actor=staff
    )

    payment = bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    assert reload(old).amount_remaining == eur("30.00")
    assert reload(new).amount_remaining == eur("0.00")
    assert payment.amount_unallocated == eur("15.00")


def test_a_transfer_matched_to_a_member_without_invoices_is_a_standalone_payment(staff):
    member = MemberFactory()
    bank_transaction = transfer("80.00", remittance="Deposit")
    bank_transaction_match(bank_transaction=bank_transaction, member=member, invoices=[], actor=staff)

    payment = bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    assert (payment.invoice, payment.amount_unallocated, payment.member) == (None, eur("80.00"), member)
    assert billing_integrity_violations() == []


def test_an_invoice_paid_meanwhile_is_skipped_and_the_money_kept_as_credit(staff):
    invoice = open_invoice(amounts=["30.00"])
    bank_transaction = transfer("30.00", remittance=invoice.number)
    from tests.factories import external_payment

    external_payment(invoice=invoice)

    payment = bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    assert (payment.amount_allocated, payment.amount_unallocated) == (eur("0.00"), eur("30.00"))


def test_an_unmatched_transaction_is_refused_and_nothing_is_written(staff):
    bank_transaction = transfer("30.00", remittance="who knows")

    with refused("is unmatched: match it to a member first", extra_models=(BankTransaction, MemberBankAccount)):
        bank_transaction_record(bank_transaction=bank_transaction, actor=staff)


def test_recording_twice_is_refused(staff):
    invoice = open_invoice(amounts=["30.00"])
    bank_transaction = transfer("30.00", remittance=invoice.number)
    bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    with refused("recorded already", extra_models=(BankTransaction,)):
        bank_transaction_record(bank_transaction=bank_transaction, actor=staff)
    assert Payment.objects.count() == 1


def test_a_member_cannot_confirm(staff):
    invoice = open_invoice(amounts=["30.00"])
    bank_transaction = transfer("30.00", remittance=invoice.number)

    with refused("Only the space's staff", extra_models=(BankTransaction,)):
        bank_transaction_record(bank_transaction=bank_transaction, actor=member_actor())


def test_matching_by_hand_refuses_another_members_invoice_or_too_much(staff):
    member = MemberFactory()
    theirs = open_invoice(member=member, amounts=["30.00"])
    someone_elses = open_invoice(amounts=["30.00"])
    bank_transaction = transfer("20.00")

    with refused("belongs to another member", extra_models=(BankTransaction,)):
        bank_transaction_match(
            bank_transaction=bank_transaction, member=member, invoices=[(someone_elses, None)], actor=staff
        )
    with refused("more than the transfer", extra_models=(BankTransaction,)):
        bank_transaction_match(
            bank_transaction=bank_transaction, member=member, invoices=[(theirs, eur("25.00"))], actor=staff
        )
    with refused("more than what remains", extra_models=(BankTransaction,)):
        bank_transaction_match(
            bank_transaction=bank_transaction, member=member, invoices=[(theirs, eur("31.00"))], actor=staff
        )


def test_a_debit_cannot_be_matched(staff):
    bank_transaction = transfer("20.00", indicator="DBIT")
    member = MemberFactory()

    with refused("is a debit", extra_models=(BankTransaction,)):
        bank_transaction_match(bank_transaction=bank_transaction, member=member, invoices=[], actor=staff)


def test_ignoring_needs_a_reason_and_writes_an_activity(staff):
    bank_transaction = transfer("4.90", indicator="DBIT")

    with refused("Say why", extra_models=(BankTransaction,)):
        bank_transaction_ignore(bank_transaction=bank_transaction, actor=staff, reason="  ")
    bank_transaction_ignore(bank_transaction=bank_transaction, actor=staff, reason="Bank fees")

    assert (bank_state(bank_transaction), reload(bank_transaction).ignored_reason) == ("ignored", "Bank fees")
    assert Activity.objects.filter(verb="bank_transaction.ignored").count() == 1


def test_undo_voids_the_payment_reopens_the_invoice_and_allows_a_new_match(staff):
    invoice = open_invoice(amounts=["120.00"])
    bank_transaction = transfer("120.00", remittance=invoice.payment_reference)
    payment = bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    bank_transaction_undo(bank_transaction=bank_transaction, actor=staff, reason="Wrong member")

    assert reload(payment).status == PaymentStatus.VOID
    assert (reload(invoice).status, reload(invoice).amount_remaining) == ("open", eur("120.00"))
    assert bank_state(bank_transaction) == BankTransactionStatus.UNDONE
    assert Activity.objects.get(verb="bank_transaction.undone").message == "Wrong member"
    assert billing_integrity_violations() == []

    other = MemberFactory()
    bank_transaction_match(bank_transaction=bank_transaction, member=other, invoices=[], actor=staff)
    second = bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    assert second.member == other
    assert BankTransactionPayment.objects.filter(bank_transaction=bank_transaction).count() == 2
    assert billing_integrity_violations() == []


def test_undo_of_a_transaction_not_recorded_is_refused(staff):
    bank_transaction = transfer("20.00")

    with refused("only a recorded transaction can be undone", extra_models=(BankTransaction,)):
        bank_transaction_undo(bank_transaction=bank_transaction, actor=staff)


def test_the_integrity_check_finds_a_recorded_transaction_whose_payment_was_voided_behind_its_back(staff):
    invoice = open_invoice(amounts=["30.00"])
    bank_transaction = transfer("30.00", remittance=invoice.number)
    payment = bank_transaction_record(bank_transaction=bank_transaction, actor=staff)

    payment_void(payment=payment, actor=staff, reason="bypassing the bank page")

    assert billing_integrity_violations() == [
        f"Bank transaction {bank_transaction.bank_reference}: recorded with 0 payments that are not void "
        "(0 of its amount); it must have exactly one, of its amount."
    ]


def test_the_integrity_check_finds_a_payment_of_another_amount(staff):
    invoice = open_invoice(amounts=["30.00"])
    bank_transaction = transfer("30.00", remittance=invoice.number)
    bank_transaction_record(bank_transaction=bank_transaction, actor=staff)
    BankTransaction.objects.filter(pk=bank_transaction.pk).update(amount=Money("31.00", "EUR"))

    assert billing_integrity_violations() == [
        f"Bank transaction {bank_transaction.bank_reference}: recorded with 1 payments that are not void "
        "(0 of its amount); it must have exactly one, of its amount."
    ]
