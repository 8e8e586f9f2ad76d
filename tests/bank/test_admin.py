"""The bank pages of the admin: upload, the review list and its filters, confirm one or many, match by hand,
ignore, undo; and what a user without the permissions gets."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bank.models import BankTransaction, BankTransactionStatus, StatementImport
from billing.models import InvoiceStatus
from payments.models import Payment, PaymentStatus
from tests.bank.statements import camt_details, camt_entry, camt_statement, transfer
from tests.factories import MemberFactory, eur, external_payment, open_invoice, reload

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:bank_banktransaction_changelist"


def page_url(name: str, bank_transaction) -> str:
    return reverse(f"admin:bank_banktransaction_{name}", args=[bank_transaction.pk])


def upload(client, data: bytes, *, name="statement.xml", **fields):
    return client.post(
        reverse("admin:bank_banktransaction_import"),
        {"file": SimpleUploadedFile(name, data), "file_format": "", "mapping": "", **fields},
    )


def test_uploading_a_statement_lists_its_transactions_with_their_proposals(staff_client):
    invoice = open_invoice(amounts=["120.00"])
    data = camt_statement(
        [
            camt_entry(
                amount="120.00",
                reference="A",
                details=[camt_details(name="Ada", structured=invoice.payment_reference)],
            ),
            camt_entry(amount="9.00", reference="B", details=[camt_details(name="Nobody", ustrd="?")]),
        ]
    )

    response = upload(staff_client, data)

    statement = StatementImport.objects.get()
    assert response.status_code == 302
    assert response.url == reverse(CHANGELIST) + f"?statement_import__id__exact={statement.pk}"
    page = staff_client.get(response.url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "tatement.xml imported: 2 transactions, 2 new, 0 imported before." in text
    assert str(invoice.member) in text and str(invoice) in text and "95 %" in text

    again = upload(staff_client, data)
    assert "2 transactions, 0 new, 2 imported before" in staff_client.get(again.url).content.decode()
    assert BankTransaction.objects.count() == 2


def test_a_bad_upload_shows_the_error_and_writes_nothing(staff_client):
    response = upload(staff_client, camt_statement([camt_entry(amount="1.001", reference="X")]))

    assert response.status_code == 200
    assert "Entry 1 (X): EUR amounts have 2 decimals at most" in response.content.decode()
    assert StatementImport.objects.count() == 0 and BankTransaction.objects.count() == 0


def test_a_csv_upload_without_a_mapping_asks_for_one(staff_client):
    response = upload(staff_client, b"Date;Amount\n01.01.2026;1,00\n", name="statement.csv")

    assert "choose its column mapping" in response.content.decode()
    assert StatementImport.objects.count() == 0


@pytest.mark.parametrize(
    ("review", "expected"),
    [("matched", ["reference"]), ("needs_review", ["iban"]), ("unmatched", ["none"]), ("not_matchable", ["debit"])],
)
def test_the_review_filters(staff_client, review, expected):
    from bank.models import MemberBankAccount

    invoice = open_invoice(amounts=["10.00"])
    transfer("10.00", remittance=invoice.number, name="reference")
    member = MemberFactory()
    MemberBankAccount.objects.create(member=member, iban="NL91ABNA0417164300")
    transfer("3.00", iban="NL91ABNA0417164300", name="iban")
    transfer("4.00", name="none")
    transfer("5.00", remittance="debit", indicator="DBIT")

    response = staff_client.get(reverse(CHANGELIST) + f"?review={review}")

    shown = {name for name in ("reference", "iban", "none", "debit") if f">{name}<" in response.content.decode()}
    assert sorted(shown) == expected


def test_confirming_many_at_once_records_each_once(staff_client):
    first, second = open_invoice(amounts=["10.00"]), open_invoice(amounts=["20.00"])
    one = transfer("10.00", remittance=first.number)
    two = transfer("25.00", remittance=second.number)
    unmatched = transfer("4.00")

    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "confirm_selected", "_selected_action": [one.pk, two.pk, unmatched.pk]},
        follow=True,
    )

    text = response.content.decode()
    assert "2 payments recorded" in text
    assert "match it to a member first" in text
    assert (reload(first).status, reload(second).status) == (InvoiceStatus.PAID, InvoiceStatus.PAID)
    assert Payment.objects.get(amount=eur("25.00")).amount_unallocated == eur("5.00")

    staff_client.post(reverse(CHANGELIST), {"action": "confirm_selected", "_selected_action": [one.pk]})
    assert Payment.objects.count() == 2


def test_the_page_confirms_what_will_be_recorded_and_a_repeat_shows_the_first_outcome(staff_client):
    invoice = open_invoice(amounts=["10.00"])
    bank_transaction = transfer("12.50", remittance=invoice.number)
    page = staff_client.get(page_url("change", bank_transaction)).content.decode()
    assert "Confirm: record the payment" in page
    confirmation = staff_client.get(page_url("record", bank_transaction)).content.decode()
    assert f"€10.00 pays {invoice.number}." in confirmation
    assert "€2.50 stays as the member&#x27;s unallocated credit." in confirmation
    unconfirmed = staff_client.post(page_url("record", bank_transaction))
    assert unconfirmed.status_code == 200 and Payment.objects.count() == 0

    key = "8f0e3b36-5d0c-4d64-9d8c-5b1f8f6f0c11"
    first = staff_client.post(
        page_url("record", bank_transaction), {"intent_key": key, "confirmed": "True"}, follow=True
    )
    repeat = staff_client.post(
        page_url("record", bank_transaction), {"intent_key": key, "confirmed": "True"}, follow=True
    )

    assert "recorded: €12.50" in first.content.decode()
    assert "recorded: €12.50" in repeat.content.decode()
    assert Payment.objects.count() == 1
    assert "Undo (void the payment)" in repeat.content.decode()


def test_matching_by_hand_with_a_split_then_confirming(staff_client):
    member = MemberFactory(name="Grace Hopper")
    old, new = open_invoice(member=member, amounts=["40.00"]), open_invoice(member=member, amounts=["30.00"])
    bank_transaction = transfer("60.00", remittance="both")

    shown = staff_client.post(page_url("match", bank_transaction), {"member": member.pk, "_show": "1"})
    assert shown.url.endswith(f"?member={member.pk}")
    form = staff_client.get(shown.url).content.decode()
    assert str(old) in form and str(new) in form

    response = staff_client.post(
        shown.url,
        {
            "member": member.pk,
            f"invoice_{old.pk}": "on",
            f"amount_{old.pk}": "15.00",
            f"invoice_{new.pk}": "on",
            f"amount_{new.pk}": "",
        },
    )
    assert response.status_code == 302
    bank_transaction = reload(bank_transaction)
    assert (bank_transaction.status, bank_transaction.member, bank_transaction.confidence) == ("matched", member, 100)

    staff_client.post(page_url("record", bank_transaction), {"confirmed": "True"})
    assert reload(old).amount_remaining == eur("25.00")
    assert reload(new).amount_remaining == eur("0.00")
    assert Payment.objects.get().amount_unallocated == eur("15.00")


def test_matching_by_hand_refuses_an_amount_on_an_invoice_not_ticked(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["40.00"])
    bank_transaction = transfer("10.00")

    response = staff_client.post(
        page_url("match", bank_transaction) + f"?member={member.pk}",
        {"member": member.pk, f"amount_{invoice.pk}": "5.00"},
    )

    assert response.status_code == 200
    assert "Tick the invoice" in response.content.decode()
    assert reload(bank_transaction).status == BankTransactionStatus.UNMATCHED


def test_ignore_and_undo_pages(staff_client):
    invoice = open_invoice(amounts=["10.00"])
    fees = transfer("4.90", indicator="DBIT")
    paid = transfer("10.00", remittance=invoice.number)
    staff_client.post(page_url("record", paid), {"confirmed": "True"})

    staff_client.post(page_url("ignore", fees), {"reason": "Bank fees"})
    undo_page = staff_client.get(page_url("undo", paid)).content.decode()
    staff_client.post(page_url("undo", paid), {"reason": "Wrong"})

    assert reload(fees).status == BankTransactionStatus.IGNORED
    assert "becomes void" in undo_page
    assert reload(paid).status == BankTransactionStatus.UNDONE
    assert Payment.objects.get().status == PaymentStatus.VOID
    assert reload(invoice).status == InvoiceStatus.OPEN


def test_a_debit_is_named_with_its_sign_on_its_pages(staff_client):
    fees = transfer("4.90", indicator="DBIT")
    income = transfer("10.00", name="Ada")

    ignore_page = staff_client.get(page_url("ignore", fees)).content.decode()

    assert f"{fees.booking_date} −€4.90 " in str(fees) and f"Ignore {fees.booking_date} −€4.90 " in ignore_page
    assert "−" not in str(income) and "€10.00 Ada" in str(income)


def test_the_lists_and_their_filters_are_in_the_staff_users_language(staff_client):
    staff_client.post(reverse("admin:language"), {"language": "fr"})
    transfer("10.00", name="Ada")
    external_payment(invoice=open_invoice(amounts=["10.00"]), amount="4.00")

    bank_list = staff_client.get(reverse(CHANGELIST)).content.decode()
    payment_list = staff_client.get(reverse("admin:payments_payment_changelist")).content.decode()
    invoice_list = staff_client.get(reverse("admin:billing_invoice_changelist")).content.decode()

    index = staff_client.get(reverse("admin:index")).content.decode()
    for plural in ("Transactions bancaires", "Imports de relevés bancaires", "IBAN connus des membres"):
        assert plural in index
    assert "Correspondances de colonnes CSV" in index and "CSVs" not in index
    assert "Transactions bancaires" in bank_list and "Date de comptabilisation" in bank_list
    assert "Booking date" not in bank_list and "Par status" not in bank_list and "Par statut" in bank_list
    assert "Montant" in payment_list and "Par moyen" in payment_list and "Par reçu en" in payment_list
    assert ">Amount<" not in payment_list and ">Member<" not in payment_list and ">Number<" not in payment_list
    assert "Date d’échéance" in invoice_list or "Date d&#x27;échéance" in invoice_list
    assert ">Due date<" not in invoice_list and ">Member<" not in invoice_list


def test_the_csv_mapping_form_and_the_imports_list_are_in_the_staff_users_language(staff_client, csv_mapping):
    staff_client.post(reverse("admin:language"), {"language": "de"})
    transfer("10.00", name="Ada")

    form = staff_client.get(reverse("admin:bank_csvmapping_change", args=[csv_mapping.pk])).content.decode()
    imports = staff_client.get(reverse("admin:bank_statementimport_changelist")).content.decode()

    assert "Trennzeichen" in form and "Betragsspalte" in form and "Spalte IBAN des Auftraggebers" in form
    assert "Delimiter" not in form and "Amount column" not in form
    assert "Dateiname" in imports and "Angelegt von" in imports
    assert "File name" not in imports and "Created by" not in imports


def test_a_user_without_the_permissions_sees_no_button_and_cannot_post(clerk_client):
    invoice = open_invoice(amounts=["10.00"])
    bank_transaction = transfer("10.00", remittance=invoice.number)
    client = clerk_client("bank.view_banktransaction")

    page = client.get(page_url("change", bank_transaction)).content.decode()

    assert "Confirm: record the payment" not in page and "Match by hand" not in page
    assert client.post(page_url("record", bank_transaction), {"confirmed": "True"}).status_code == 403
    assert client.post(page_url("ignore", bank_transaction), {"reason": "x"}).status_code == 403
    assert client.get(reverse("admin:bank_banktransaction_import")).status_code == 403
    assert reload(bank_transaction).status == BankTransactionStatus.MATCHED


def test_the_page_lists_the_candidates_and_choosing_one_ticks_its_invoices(staff_client):
    from bank.models import MemberBankAccount

    member = MemberFactory(name="Grace Hopper")
    MemberBankAccount.objects.create(member=member, iban="NL91ABNA0417164300")
    first, second = open_invoice(member=member, amounts=["40.00"]), open_invoice(member=member, amounts=["35.00"])
    open_invoice(member=member, amounts=["99.00"])
    bank_transaction = transfer("75.00", iban="NL91ABNA0417164300")

    page = staff_client.get(page_url("change", bank_transaction)).content.decode()
    assert "Candidates" in page and "70 %" in page and "40 %" in page

    choose = page_url("match", bank_transaction) + f"?member={member.pk}&invoices={second.pk}"
    form = staff_client.get(choose).content.decode()
    assert f'name="invoice_{second.pk}" id="id_invoice_{second.pk}" checked' in form
    assert f'name="invoice_{first.pk}" id="id_invoice_{first.pk}" checked' not in form


def test_the_list_takes_as_many_queries_for_many_rows_as_for_few(staff_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def list_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(reverse(CHANGELIST)).status_code == 200
        return len(captured)

    member = MemberFactory()
    for _ in range(2):
        invoice = open_invoice(member=member, amounts=["10.00"])
        transfer("10.00", remittance=invoice.number)
    few = list_queries()
    for _ in range(8):
        invoice = open_invoice(member=MemberFactory(), amounts=["10.00"])
        staff_client.post(page_url("record", transfer("10.00", remittance=invoice.number)), {"confirmed": "True"})
    transfer("3.00")

    assert list_queries() == few
