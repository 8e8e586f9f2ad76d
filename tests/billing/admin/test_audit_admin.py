import pytest
from django.urls import reverse
from djmoney.money import Money

from billing.models import Activity, MoneyBalanceEntry
from billing.services.money_balance_adjust import money_balance_adjust
from tests.factories import SYSTEM, MemberFactory, books_snapshot, external_payment, open_invoice


@pytest.fixture
def audit_rows(db):
    member = MemberFactory()
    money_balance_adjust(member=member, amount=Money("10.00", "EUR"), is_credit=True, note="goodwill", actor=SYSTEM)
    external_payment(invoice=open_invoice(member=member, amounts=["50.00"]))
    return {"activity": Activity.objects.first(), "moneybalanceentry": MoneyBalanceEntry.objects.get()}


@pytest.mark.parametrize("model_name", ["activity", "moneybalanceentry"])
def test_audit_rows_can_be_browsed_but_not_changed(staff_client, audit_rows, model_name):
    row = audit_rows[model_name]
    before = books_snapshot()

    changelist = staff_client.get(reverse(f"admin:billing_{model_name}_changelist"))
    page = staff_client.get(reverse(f"admin:billing_{model_name}_change", args=[row.pk]))
    posted = staff_client.post(reverse(f"admin:billing_{model_name}_change", args=[row.pk]), {"note": "edited"})

    assert changelist.status_code == 200
    assert reverse(f"admin:billing_{model_name}_add") not in changelist.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert posted.status_code == 403
    assert staff_client.get(reverse(f"admin:billing_{model_name}_add")).status_code == 403
    assert staff_client.post(reverse(f"admin:billing_{model_name}_delete", args=[row.pk])).status_code == 403
    assert books_snapshot() == before
