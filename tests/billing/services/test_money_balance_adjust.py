import pytest
from djmoney.money import Money

from billing.models import Activity, MoneyBalanceEntry
from billing.selectors import member_money_balance, member_money_balances
from billing.services.money_balance_adjust import money_balance_adjust
from payments.integrity import billing_integrity_violations
from tests.factories import MemberFactory, member_actor, refused


def test_a_credit_adds_an_entry_and_raises_the_balance(db, staff):
    member = MemberFactory()

    entry = money_balance_adjust(
        member=member, amount=Money("50.00", "EUR"), is_credit=True, note="  Broken coffee machine  ", actor=staff
    )

    entry = MoneyBalanceEntry.objects.get(pk=entry.pk)
    assert entry.member == member
    assert entry.amount == Money("50.00", "EUR")
    assert entry.kind == MoneyBalanceEntry.Kind.ADJUSTMENT
    assert entry.invoice is None
    assert entry.note == "Broken coffee machine"
    assert entry.created_by == staff.user
    assert entry.actor_label == "manager"
    assert member_money_balance(member=member, currency="EUR") == Money("50.00", "EUR")
    activity = Activity.objects.get()
    assert activity.verb == "balance.credited"
    assert activity.member == member
    assert activity.target == entry
    assert activity.amount == Money("50.00", "EUR")
    assert activity.message == "Broken coffee machine"
    assert activity.data == {"balance_after": "50.00"}
    assert billing_integrity_violations() == []


def test_a_debit_adds_a_negative_entry_and_lowers_the_balance(db, staff):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=Money("50.00", "EUR"), is_credit=True, note="Goodwill", actor=staff)

    entry = money_balance_adjust(
        member=member, amount=Money("20.00", "EUR"), is_credit=False, note="Correction", actor=staff
    )

    assert MoneyBalanceEntry.objects.get(pk=entry.pk).amount == Money("-20.00", "EUR")
    assert member_money_balance(member=member, currency="EUR") == Money("30.00", "EUR")
    activity = Activity.objects.get(verb="balance.debited")
    assert activity.amount == Money("20.00", "EUR")
    assert activity.data == {"balance_after": "30.00"}
    assert billing_integrity_violations() == []


def test_a_debit_may_take_the_balance_to_exactly_zero(db, staff):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=Money("50.00", "EUR"), is_credit=True, note="Goodwill", actor=staff)

    money_balance_adjust(member=member, amount=Money("50.00", "EUR"), is_credit=False, note="Undo", actor=staff)

    assert member_money_balance(member=member, currency="EUR") == Money("0.00", "EUR")
    assert billing_integrity_violations() == []


def test_a_debit_below_zero_is_refused(db, staff):
    member = MemberFactory(name="Ada Lovelace")
    money_balance_adjust(member=member, amount=Money("30.00", "EUR"), is_credit=True, note="Goodwill", actor=staff)

    with refused("Ada Lovelace has €30.00 of money balance; a debit of €30.01 would take it below zero"):
        money_balance_adjust(member=member, amount=Money("30.01", "EUR"), is_credit=False, note="Oops", actor=staff)

    assert member_money_balance(member=member, currency="EUR") == Money("30.00", "EUR")


def test_a_debit_with_no_balance_is_refused(db, staff):
    member = MemberFactory()

    with refused("has €0.00 of money balance; a debit of €1.00 would take it below zero"):
        money_balance_adjust(member=member, amount=Money("1.00", "EUR"), is_credit=False, note="Oops", actor=staff)


def test_balances_are_kept_per_currency(db, staff):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=Money("30.00", "USD"), is_credit=True, note="Goodwill", actor=staff)
    money_balance_adjust(member=member, amount=Money("1000", "JPY"), is_credit=True, note="Goodwill", actor=staff)

    assert member_money_balances(member=member) == {"JPY": Money("1000", "JPY"), "USD": Money("30.00", "USD")}
    assert member_money_balance(member=member, currency="EUR") == Money("0.00", "EUR")
    with refused("a debit of €10.00 would take it below zero"):
        money_balance_adjust(member=member, amount=Money("10.00", "EUR"), is_credit=False, note="x", actor=staff)


@pytest.mark.parametrize("note", ["", "   ", None])
def test_a_note_is_required(db, staff, note):
    member = MemberFactory()

    with refused("Write a note that says why the balance changes"):
        money_balance_adjust(member=member, amount=Money("10.00", "EUR"), is_credit=True, note=note, actor=staff)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Money("0.00", "EUR"), "greater than zero, not 0.00"),
        (Money("-10.00", "EUR"), "greater than zero, not -10.00"),
        (Money("10.005", "EUR"), "EUR amounts have 2 decimals at most: 10.005 cannot be paid exactly"),
        (Money("10.5", "JPY"), "JPY has no minor unit: enter a whole amount, not 10.5"),
        (Money("1234567890123", "EUR"), "too large: at most 12 digits"),
        ("10.00", "The amount must be a sum of money"),
    ],
)
@pytest.mark.parametrize("is_credit", [True, False])
def test_bad_amounts_are_refused(db, staff, amount, message, is_credit):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=Money("100.00", "EUR"), is_credit=True, note="Start", actor=staff)

    with refused(message):
        money_balance_adjust(member=member, amount=amount, is_credit=is_credit, note="Bad", actor=staff)


def test_a_member_cannot_adjust_a_balance(db):
    member = MemberFactory()
    actor = member_actor(member)

    with refused("Only the space's staff can adjust money balances"):
        money_balance_adjust(member=member, amount=Money("10.00", "EUR"), is_credit=True, note="Free", actor=actor)


def test_entries_are_never_updated_or_deleted(db, staff):
    member = MemberFactory()
    entry = money_balance_adjust(member=member, amount=Money("10.00", "EUR"), is_credit=True, note="x", actor=staff)

    entry.note = "changed"
    with pytest.raises(ValueError, match="immutable"):
        entry.save()
    with pytest.raises(ValueError, match="never deleted"):
        entry.delete()

    assert MoneyBalanceEntry.objects.get(pk=entry.pk).note == "x"
