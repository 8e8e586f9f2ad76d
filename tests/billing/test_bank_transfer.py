"""How to pay by bank transfer (issue 14, item 1): the space's account, the invoice's RF reference and the EPC QR
code, on the admin page, the portal, the PDF and the mail; the settings' system check."""

import io

import pytest
import segno
import segno.helpers
from django.core.checks import run_checks
from django.urls import reverse
from djmoney.money import Money
from pypdf import PdfReader

from billing.activity import Actor
from billing.bank_transfer import (
    BankAccount,
    bank_account,
    bank_account_problems,
    epc_qr_payload,
    invoice_transfer,
)
from billing.documents import invoice_pdf
from billing.payment_references import payment_reference_format
from billing.services.invoice_void import invoice_void
from billing.templatetags.bank_transfer_tags import epc_qr, epc_qr_png, epc_qr_svg
from payments.notifications import invoice_issued_notify
from tests.factories import draft_invoice, external_payment, open_invoice, reload

pytestmark = pytest.mark.django_db

ACCOUNT = BankAccount(holder="Ruche Coworking SAS", iban="FR1420041010050500013M02606", bic="PSSTFRPPLIL")


@pytest.fixture(autouse=True)
def space_account(settings):
    settings.BILLING_BANK_IBAN = "FR14 2004 1010 0505 0001 3M02 606"
    settings.BILLING_BANK_BIC = "PSSTFRPPLIL"
    settings.BILLING_BANK_ACCOUNT_HOLDER = "Ruche Coworking SAS"


# The EPC069-12 payload ----------------------------------------------------------------------------------------------


def test_the_payload_follows_epc069_12_version_002_field_by_field():
    payload = epc_qr_payload(account=ACCOUNT, amount=Money("123.45", "EUR"), reference="RF76INV202600001")

    lines = payload.split("\n")
    assert lines == [
        "BCD",  # 1 service tag
        "002",  # 2 version
        "1",  # 3 character set: UTF-8
        "SCT",  # 4 identification: SEPA credit transfer
        "PSSTFRPPLIL",  # 5 BIC of the beneficiary's bank
        "Ruche Coworking SAS",  # 6 beneficiary's name
        "FR1420041010050500013M02606",  # 7 IBAN, compact
        "EUR123.45",  # 8 amount: EUR, then the amount with a decimal point
        "",  # 9 purpose: none
        "RF76INV202600001",  # 10 structured remittance: the RF reference, compact
    ]  # 11 (unstructured text) and 12 (information to the payer) left off: empty trailing fields
    assert "\r" not in payload and not payload.endswith("\n")


def test_the_qr_code_is_the_one_segnos_own_epc_helper_draws_for_the_same_transfer():
    payload = epc_qr_payload(account=ACCOUNT, amount=Money("123.45", "EUR"), reference="RF76INV202600001")
    reference_code = segno.helpers.make_epc_qr(
        name=ACCOUNT.holder,
        iban=ACCOUNT.iban,
        amount="123.45",
        reference="RF76INV202600001",
        bic=ACCOUNT.bic,
        encoding="utf-8",
    )

    code = epc_qr(payload)

    assert code.error == "M"
    assert code.version <= 13
    assert code.matrix == reference_code.matrix


def test_a_name_in_utf_8_is_carried_as_is():
    account = BankAccount(holder="Łódź Coworking spółka", iban=ACCOUNT.iban, bic=ACCOUNT.bic)

    payload = epc_qr_payload(account=account, amount=Money("1.00", "EUR"), reference="RF18539007547034")

    assert payload.split("\n")[5] == "Łódź Coworking spółka"
    assert epc_qr(payload).version <= 13


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Money("10.00", "USD"), "euros"),
        (Money("0.00", "EUR"), "0.01"),
        (Money("1000000000.00", "EUR"), "0.01"),
    ],
)
def test_what_the_format_cannot_carry_is_refused(amount, message):
    with pytest.raises(ValueError, match=message):
        epc_qr_payload(account=ACCOUNT, amount=amount, reference="RF76INV202600001")


def test_a_holders_name_longer_than_70_characters_is_refused():
    account = BankAccount(holder="x" * 71, iban=ACCOUNT.iban, bic=ACCOUNT.bic)

    with pytest.raises(ValueError, match="70"):
        epc_qr_payload(account=account, amount=Money("1.00", "EUR"), reference="RF76INV202600001")


# What each invoice gets ---------------------------------------------------------------------------------------------


def test_an_open_invoice_in_euros_is_paid_by_transfer_of_what_remains():
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="30.00")
    invoice = reload(invoice)

    transfer = invoice_transfer(invoice)

    assert transfer.account == bank_account() == ACCOUNT
    assert transfer.reference == invoice.payment_reference
    assert transfer.amount == Money("70.00", "EUR")
    assert transfer.qr_payload.split("\n")[7] == "EUR70.00"
    assert transfer.qr_payload.split("\n")[9] == invoice.payment_reference


def test_an_invoice_in_another_currency_has_the_account_and_reference_but_no_qr_code():
    invoice = open_invoice(amounts=["100.00"], currency="USD")

    transfer = invoice_transfer(reload(invoice))

    assert transfer.reference == reload(invoice).payment_reference
    assert transfer.qr_payload is None


def test_drafts_paid_and_void_invoices_have_nothing_to_pay_by_transfer():
    paid = open_invoice(amounts=["10.00"])
    external_payment(invoice=paid)
    void = open_invoice(amounts=["10.00"])
    invoice_void(invoice=void, actor=Actor.system("tests"))

    assert invoice_transfer(reload(paid)) is None
    assert invoice_transfer(reload(void)) is None
    assert invoice_transfer(draft_invoice()) is None


# The pages, the PDF and the mail ------------------------------------------------------------------------------------


def test_the_admin_invoice_page_shows_the_account_the_reference_and_the_qr_code(staff_client):
    invoice = reload(open_invoice(amounts=["100.00"]))

    html = staff_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()

    assert "FR14 2004 1010 0505 0001 3M02 606" in html
    assert "PSSTFRPPLIL" in html
    assert payment_reference_format(invoice.payment_reference) in html
    assert epc_qr_svg(invoice_transfer(invoice).qr_payload) in html


def test_the_admin_page_of_a_paid_invoice_shows_no_way_to_pay(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)

    html = staff_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()

    assert "How to pay by bank transfer" not in html
    assert "billing-how-to-pay" not in html


def test_the_portal_invoice_page_shows_the_account_reference_and_qr_code(client):
    from tests.members.portal.conftest import portal_member

    member = portal_member()
    client.force_login(member.user)
    invoice = reload(open_invoice(member=member, amounts=["100.00"]))
    usd = reload(open_invoice(member=member, amounts=["100.00"], currency="USD"))

    html = client.get(reverse("portal:invoice_detail", args=[invoice.pk])).content.decode()
    usd_html = client.get(reverse("portal:invoice_detail", args=[usd.pk])).content.decode()

    assert "FR14 2004 1010 0505 0001 3M02 606" in html
    assert payment_reference_format(invoice.payment_reference) in html
    assert epc_qr_svg(invoice_transfer(invoice).qr_payload) in html
    assert payment_reference_format(usd.payment_reference) in usd_html
    assert "billing-how-to-pay__qr" not in usd_html


def test_the_pdf_prints_the_account_and_reference_and_draws_the_qr_code():
    invoice = reload(open_invoice(amounts=["100.00"]))

    content = invoice_pdf(invoice)

    reader = PdfReader(io.BytesIO(content))
    # Words as read from the page: where a line ends depends on the font the PDF could embed.
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "FR14 2004 1010 0505 0001 3M02 606" in text
    assert payment_reference_format(invoice.payment_reference) in text
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 1
    expected = epc_qr(invoice_transfer(invoice).qr_payload)
    size = len(expected.matrix) + 4  # the border of 2 modules on each side
    assert images[0].image.size == (size * 4, size * 4)  # 4 pixels a module, as drawn


def test_the_pdf_of_a_paid_invoice_has_no_qr_code():
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)

    reader = PdfReader(io.BytesIO(invoice_pdf(reload(invoice))))

    assert [image for page in reader.pages for image in page.images] == []


def test_the_png_is_a_data_uri():
    assert epc_qr_png(
        epc_qr_payload(account=ACCOUNT, amount=Money("5.00", "EUR"), reference="RF18539007547034")
    ).startswith("data:image/png;base64,")


def test_the_invoice_mail_says_how_to_pay_by_transfer(mailoutbox):
    invoice = reload(open_invoice(amounts=["100.00"]))
    mailoutbox.clear()

    invoice_issued_notify(invoice_id=invoice.pk)

    body = mailoutbox[0].body
    assert "IBAN: FR14 2004 1010 0505 0001 3M02 606" in body
    assert "BIC: PSSTFRPPLIL" in body
    assert "Account holder: Ruche Coworking SAS" in body
    assert f"Reference: {payment_reference_format(invoice.payment_reference)}" in body


# The settings' check ------------------------------------------------------------------------------------------------


def test_the_demo_defaults_are_a_valid_account():
    assert bank_account_problems(iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX", holder="Coworking space") == []


@pytest.mark.parametrize(
    ("iban", "bic", "holder", "message"),
    [
        (
            "DE89 3704 0044 0532 0130 01",
            "COBADEFFXXX",
            "Space",
            "BILLING_BANK_IBAN 'DE89 3704 0044 0532 0130 01' is not a valid IBAN",
        ),
        ("not an iban", "COBADEFFXXX", "Space", "is not a valid IBAN"),
        ("DE89 3704 0044 0532 0130 00", "COBADEFF1", "Space", "BILLING_BANK_BIC 'COBADEFF1' is not a valid BIC"),
        ("DE89 3704 0044 0532 0130 00", "COBADEFFXXX", " ", "BILLING_BANK_ACCOUNT_HOLDER is empty"),
        ("DE89 3704 0044 0532 0130 00", "COBADEFFXXX", "x" * 71, "at most 70"),
    ],
)
def test_a_bad_account_stops_the_start_up_with_a_clear_error(settings, iban, bic, holder, message):
    settings.BILLING_BANK_IBAN, settings.BILLING_BANK_BIC, settings.BILLING_BANK_ACCOUNT_HOLDER = iban, bic, holder

    errors = [error for error in run_checks() if error.id == "billing.E010"]

    assert len(errors) == 1
    assert message in errors[0].msg
