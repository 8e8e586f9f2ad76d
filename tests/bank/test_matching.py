"""Each matching rule, in order of confidence; a proposal records nothing."""

import datetime

import pytest
from djmoney.money import Money

from bank.matching import allocation_plan, invoices_adding_up
from bank.models import BankTransactionStatus, MatchRule, MemberBankAccount
from payments.models import Payment
from tests.bank.statements import transfer
from tests.factories import MemberFactory, open_invoice

pytestmark = pytest.mark.django_db

IBAN = "DE02120300000000202051"


def proposal(bank_transaction):
    return (
        bank_transaction.status,
        bank_transaction.member,
        bank_transaction.match_rule,
        [(p.invoice, p.amount) for p in bank_transaction.proposed.order_by("pk")],
    )


def test_an_rf_reference_in_the_remittance_proposes_its_invoice():
    invoice = open_invoice(amounts=["120.00"])
    other = open_invoice(member=invoice.member, amounts=["50.00"])

    bank_transaction = transfer("120.00", remittance=f"Thanks! {invoice.payment_reference.lower()}")

    assert proposal(bank_transaction) == ("matched", invoice.member, MatchRule.REFERENCE, [(invoice, None)])
    assert bank_transaction.confidence == 95
    assert other.pk != invoice.pk
    assert Payment.objects.count() == 0


def test_invoice_numbers_in_the_remittance_propose_those_invoices_oldest_first():
    member = MemberFactory()
    first = open_invoice(member=member, amounts=["10.00"])
    second = open_invoice(member=member, amounts=["20.00"])

    bank_transaction = transfer("30.00", remittance=f"{second.number} and {first.number.replace('-', ' ')}")

    assert proposal(bank_transaction) == ("matched", member, MatchRule.REFERENCE, [(first, None), (second, None)])


def test_references_to_two_members_invoices_propose_nothing_from_the_text():
    one, two = open_invoice(amounts=["10.00"]), open_invoice(amounts=["10.00"])

    bank_transaction = transfer("20.00", remittance=f"{one.number} {two.number}")

    assert proposal(bank_transaction) == ("unmatched", None, "", [])


def test_a_reference_to_a_paid_invoice_proposes_the_member_for_review():
    invoice = open_invoice(amounts=["10.00"])
    transfer_once = transfer("10.00", remittance=invoice.number)
    from bank.services.bank_transaction_record import bank_transaction_record
    from tests.factories import SYSTEM

    bank_transaction_record(bank_transaction=transfer_once, actor=SYSTEM)

    again = transfer("10.00", remittance=invoice.number)

    assert proposal(again) == ("matched", invoice.member, MatchRule.IBAN, [])
    assert again.confidence < 80


def test_a_known_iban_with_an_invoice_of_exactly_that_amount_remaining():
    member = MemberFactory()
    MemberBankAccount.objects.create(member=member, iban=IBAN)
    open_invoice(member=member, amounts=["40.00"])
    exact = open_invoice(member=member, amounts=["75.00"])

    bank_transaction = transfer("75.00", iban="DE02 1203 0000 0000 2020 51")

    assert proposal(bank_transaction) == ("matched", member, MatchRule.IBAN_EXACT, [(exact, None)])
    assert bank_transaction.confidence == 85


def test_a_known_iban_with_open_invoices_adding_up_to_the_amount_oldest_first():
    member = MemberFactory()
    MemberBankAccount.objects.create(member=member, iban=IBAN)
    first = open_invoice(member=member, amounts=["40.00"])
    second = open_invoice(member=member, amounts=["35.00"])
    open_invoice(member=member, amounts=["99.00"])

    bank_transaction = transfer("75.00", iban=IBAN)

    assert proposal(bank_transaction) == ("matched", member, MatchRule.IBAN_SUM, [(first, None), (second, None)])
    assert bank_transaction.confidence == 70


def test_a_known_iban_alone_proposes_the_member_with_their_open_invoices_for_review():
    member = MemberFactory()
    MemberBankAccount.objects.create(member=member, iban=IBAN)
    first = open_invoice(member=member, amounts=["40.00"])
    second = open_invoice(member=member, amounts=["35.00"])

    bank_transaction = transfer("50.00", iban=IBAN)

    assert proposal(bank_transaction) == ("matched", member, MatchRule.IBAN, [(first, None), (second, None)])
    assert bank_transaction.confidence == 40


def test_an_iban_known_on_two_members_proposes_nothing():
    for _ in range(2):
        MemberBankAccount.objects.create(member=MemberFactory(), iban=IBAN)

    assert proposal(transfer("50.00", iban=IBAN))[0] == "unmatched"


def test_nothing_known_leaves_the_transaction_unmatched():
    open_invoice(amounts=["50.00"])

    assert proposal(transfer("50.00", remittance="Day passes", iban=IBAN)) == ("unmatched", None, "", [])


@pytest.mark.parametrize(("currency", "indicator"), [("EUR", "DBIT"), ("SEK", "CRDT")])
def test_debits_and_other_currencies_are_stored_but_never_matched(currency, indicator):
    invoice = open_invoice(amounts=["50.00"])

    bank_transaction = transfer("50.00", remittance=invoice.number, currency=currency, indicator=indicator)

    assert bank_transaction.status == BankTransactionStatus.UNMATCHED
    assert bank_transaction.member is None


def test_an_invoice_in_another_currency_is_not_proposed():
    invoice = open_invoice(amounts=["50.00"], currency="GBP")

    assert transfer("50.00", remittance=invoice.number).status == BankTransactionStatus.UNMATCHED


def test_the_sum_search_prefers_the_oldest_invoices_in_a_row():
    member = MemberFactory()
    invoices = [open_invoice(member=member, amounts=[amount]) for amount in ("10.00", "20.00", "30.00", "25.00")]

    assert invoices_adding_up(invoices, Money("30.00", "EUR")) == invoices[:2]
    assert invoices_adding_up(invoices, Money("35.00", "EUR")) == [invoices[0], invoices[3]]
    assert invoices_adding_up(invoices, Money("1.00", "EUR")) is None


def test_the_plan_pays_set_amounts_first_then_the_oldest_and_keeps_the_excess():
    member = MemberFactory()
    old, new = open_invoice(member=member, amounts=["40.00"]), open_invoice(member=member, amounts=["30.00"])

    applications, excess = allocation_plan(Money("100.00", "EUR"), [new, old], {new.pk: Money("10.00", "EUR")})

    assert applications == [(old, Money("40.00", "EUR")), (new, Money("10.00", "EUR"))]
    assert excess == Money("50.00", "EUR")
    assert allocation_plan(Money("50.00", "EUR"), [old, new], {}) == (
        [(old, Money("40.00", "EUR")), (new, Money("10.00", "EUR"))],
        Money("0.00", "EUR"),
    )


def test_the_booking_date_is_kept(today):
    booked = today - datetime.timedelta(days=3)

    assert transfer("5.00", booked=booked).booking_date == booked


def test_every_candidate_is_listed_most_confident_first():
    from bank.matching import bank_transaction_candidates

    member = MemberFactory()
    MemberBankAccount.objects.create(member=member, iban=IBAN)
    first = open_invoice(member=member, amounts=["40.00"])
    second = open_invoice(member=member, amounts=["35.00"])
    named = open_invoice(member=member, amounts=["75.00"])

    bank_transaction = transfer("75.00", iban=IBAN, remittance=named.payment_reference)

    assert [(c.rule, c.invoices) for c in bank_transaction_candidates(bank_transaction)] == [
        (MatchRule.REFERENCE, [named]),
        (MatchRule.IBAN_SUM, [first, second]),
        (MatchRule.IBAN, [first, second, named]),
    ]
