"""No input to the bank pages answers with a server error, and a refused one writes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bank.models import BankTransaction, BankTransactionStatus, ProposedAllocation, StatementImport
from billing.models import Activity
from tests.bank.statements import transfer
from tests.factories import MemberFactory, open_invoice, reload

pytestmark = pytest.mark.django_db

BAD_VALUES = ["", "abc", "0", "-1", "99999999999999999999999", "1e3", "NaN", "\x00", "<script>", "12,5,5", "💶" * 50]


def rows():
    return (BankTransaction.objects.count(), StatementImport.objects.count(), ProposedAllocation.objects.count())


@pytest.mark.parametrize("value", BAD_VALUES)
def test_the_match_page_refuses_bad_members_and_amounts(staff_client, value):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["40.00"])
    bank_transaction = transfer("10.00")
    url = reverse("admin:bank_banktransaction_match", args=[bank_transaction.pk])

    for data in (
        {"member": value},
        {"member": member.pk, f"invoice_{invoice.pk}": "on", f"amount_{invoice.pk}": value or "x"},
        {"member": value, "_show": "1"},
    ):
        response = staff_client.post(url + f"?member={member.pk}", data)
        assert response.status_code in (200, 302)
    assert staff_client.get(url + f"?member={value}").status_code == 200
    assert reload(bank_transaction).status == BankTransactionStatus.UNMATCHED
    assert Activity.objects.filter(verb="bank_transaction.matched").count() == 0


@pytest.mark.parametrize("value", BAD_VALUES)
def test_the_upload_and_ignore_pages_refuse_bad_values(staff_client, value):
    bank_transaction = transfer("10.00")
    before = rows()

    upload = staff_client.post(
        reverse("admin:bank_banktransaction_import"),
        {"file": SimpleUploadedFile("s.xml", value.encode()), "file_format": value, "mapping": value},
    )
    no_file = staff_client.post(reverse("admin:bank_banktransaction_import"), {"file_format": "camt053"})
    ignore = staff_client.post(
        reverse("admin:bank_banktransaction_ignore", args=[bank_transaction.pk]), {"reason": value}
    )

    assert (upload.status_code, no_file.status_code) == (200, 200)
    assert ignore.status_code in (200, 302)
    assert rows() == before
    if value.strip() in ("", "\x00"):
        assert reload(bank_transaction).status == BankTransactionStatus.UNMATCHED


@pytest.mark.parametrize("object_id", ["abc", "0", "99999999999999999999999", "%00"])
def test_ids_that_are_no_transaction_answer_404(staff_client, object_id):
    for name in ("change", "match", "ignore", "undo"):
        assert staff_client.get(f"/admin/bank/banktransaction/{object_id}/{name}/").status_code in (302, 404)
    assert staff_client.post(f"/admin/bank/banktransaction/{object_id}/record/").status_code == 404


@pytest.mark.parametrize("query", ["review=bogus", "q=%00", "status__exact=nothing", "statement_import__id__exact=abc"])
def test_the_list_answers_bad_filters(staff_client, query):
    transfer("10.00")

    assert staff_client.get(reverse("admin:bank_banktransaction_changelist") + "?" + query).status_code in (200, 302)
