"""Invoices, credit notes and receipts as PDF documents: what they say (read back with pypdf), and who may download
them in the admin and the portal."""

import io
from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.money import Money
from pypdf import PdfReader

from billing.documents import credit_note_pdf, invoice_pdf, receipt_pdf
from billing.models import CreditNoteReason
from billing.services.credit_note_issue import credit_note_issue
from billing.services.invoice_draft import LineInput, invoice_draft_create
from billing.services.invoice_issue import invoice_issue
from billing.templatetags.billing_money import local_date
from payments.models import Refund
from payments.services.refund import payment_refund
from tests.factories import (
    MemberFactory,
    UserFactory,
    books_snapshot,
    card_payment,
    draft_invoice,
    external_payment,
    open_invoice,
    reload,
)
from tests.members.portal.conftest import portal_member

pytestmark = pytest.mark.django_db


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def response_text(response, *, filename: str) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    return pdf_text(response.content)


@pytest.fixture
def member():
    return MemberFactory(name="Léa Martin", billing_address="12 rue des Lilas\n75011 Paris")


@pytest.fixture
def invoice(member, staff):
    """An invoice of 120.00 (two lines, one taxed at 20 %), 50.00 of it paid in cash."""
    draft = invoice_draft_create(
        member=member,
        actor=staff,
        currency="EUR",
        lines=[
            LineInput(
                description="Hot desk, March",
                quantity=Decimal(1),
                unit_amount=Money("80.00", "EUR"),
                tax_rate=Decimal("20"),
            ),
            LineInput(
                description="Meeting room hours",
                quantity=Decimal(2),
                unit_amount=Money("12.00", "EUR"),
                tax_rate=Decimal("0"),
            ),
        ],
    )
    issued = invoice_issue(invoice=draft, actor=staff)
    external_payment(invoice=issued, amount="50.00", actor=staff)
    return reload(issued)


# What the documents say ---------------------------------------------------------------------------------------------


def test_the_invoice_pdf_shows_the_space_the_member_the_lines_and_the_amounts(invoice, settings):
    settings.BILLING_SPACE_NAME = "Atelier Commun"

    text = pdf_text(invoice_pdf(invoice))

    assert invoice.number in text
    assert "Atelier Commun" in text
    assert "Léa Martin" in text
    assert "12 rue des Lilas" in text and "75011 Paris" in text
    assert "Hot desk, March" in text and "Meeting room hours" in text
    assert "€80.00" in text and "€16.00" in text and "€24.00" in text
    assert "20 %" in text
    assert "Subtotal" in text and "€104.00" in text
    assert "Total" in text and "€120.00" in text
    assert "Paid" in text and "€50.00" in text
    assert "Amount remaining" in text and "€70.00" in text
    assert local_date(invoice.issue_date) in text


def test_the_invoice_pdf_shows_its_credit_notes_and_what_they_credited(invoice, staff):
    credit_note = credit_note_issue(
        invoice=invoice, actor=staff, reason=CreditNoteReason.OTHER, amount=Money("20.00", "EUR")
    )

    text = pdf_text(invoice_pdf(reload(invoice)))

    assert credit_note.number in text
    assert "Credited" in text and "€20.00" in text
    assert "€50.00" in text
    assert "€50.00" in text and "Amount remaining" in text


def test_a_draft_invoice_pdf_is_a_draft_without_a_number(member, staff):
    draft = draft_invoice(member=member, amounts=["33.00"], actor=staff)

    text = pdf_text(invoice_pdf(draft))

    assert "Draft invoice" in text
    assert "INV-" not in text
    assert "€33.00" in text


def test_the_credit_note_pdf_shows_its_number_invoice_reason_and_split(invoice, staff):
    credit_note = credit_note_issue(
        invoice=invoice,
        actor=staff,
        reason=CreditNoteReason.PRODUCT_UNSATISFACTORY,
        amount=Money("90.00", "EUR"),
        memo="The room's heating was broken.",
        credit_amount=Money("20.00", "EUR"),
    )

    text = pdf_text(credit_note_pdf(credit_note))

    assert credit_note.number in text
    assert invoice.number in text
    assert "Léa Martin" in text
    assert "Product unsatisfactory" in text
    assert "€90.00" in text
    assert "still owed" in text and "€70.00" in text
    assert "Kept as your credit" in text and "€20.00" in text
    assert "heating was broken" in text


def test_the_receipt_pdf_shows_the_payment_what_it_paid_and_its_refunds(invoice, staff):
    payment = invoice.allocations.get().payment
    payment_refund(
        payment=payment,
        amount=Money("5.00", "EUR"),
        reason=Refund.Reason.REQUESTED_BY_MEMBER,
        actor=staff,
        invoice_handling=Refund.InvoiceHandling.REOPEN,
    )

    text = pdf_text(receipt_pdf(reload(payment)))

    assert payment.number in text
    assert "Léa Martin" in text
    assert "Cash" in text
    assert "€50.00" in text
    assert invoice.number in text
    assert "Refunds" in text and "€5.00" in text


def test_a_card_receipt_names_the_card_brand_and_last_four_digits(member, staff):
    invoice = open_invoice(member=member, amounts=["40.00"], actor=staff)
    payment = card_payment(invoice=invoice, amount="40.00", status="succeeded")

    text = pdf_text(receipt_pdf(payment))

    assert "Visa •••• 4242" in text
    assert "€40.00" in text


def test_the_fonts_are_embedded_wherever_the_app_runs_from(member, staff, tmp_path, monkeypatch):
    # xhtml2pdf reads local files only under the working directory unless told otherwise; the fonts are in the
    # installed reportlab, outside the project in a deployment.
    monkeypatch.chdir(tmp_path)
    payment = card_payment(
        invoice=open_invoice(member=member, amounts=["40.00"], actor=staff), amount="40.00", status="succeeded"
    )

    page = PdfReader(io.BytesIO(receipt_pdf(payment))).pages[0]

    fonts = {str(font.get_object()["/BaseFont"]) for font in page["/Resources"]["/Font"].values()}
    assert any("BitstreamVeraSans" in font for font in fonts), fonts
    assert "•••• 4242" in page.extract_text()


def test_yen_amounts_have_no_decimals(staff):
    member = MemberFactory(name="Haruto Sato", default_currency="JPY")
    invoice = open_invoice(member=member, amounts=["12000"], currency="JPY", tax_rate="10", actor=staff)
    payment = external_payment(invoice=invoice, amount="5000", actor=staff)

    invoice_text = pdf_text(invoice_pdf(reload(invoice)))
    receipt_text = pdf_text(receipt_pdf(reload(payment)))

    assert "¥13,200" in invoice_text and "¥1,200" in invoice_text and "¥8,200" in invoice_text
    assert "¥5,000" in receipt_text
    assert "¥13,200.00" not in invoice_text and "¥5,000.00" not in receipt_text


@pytest.mark.parametrize("language", ["fr", "de", "en"])
def test_a_document_declares_the_language_it_is_written_in(invoice, language, monkeypatch):
    from billing import documents

    invoice.member.language = language
    invoice.member.save()
    rendered = []
    real_render = documents.render_to_string
    monkeypatch.setattr(
        documents, "render_to_string", lambda *a, **kw: rendered.append(real_render(*a, **kw)) or rendered[-1]
    )

    invoice_pdf(reload(invoice))

    assert f'<html lang="{language}">' in rendered[0]


def test_rendering_a_document_changes_nothing(invoice):
    before = books_snapshot()

    invoice_pdf(invoice)
    receipt_pdf(invoice.allocations.get().payment)

    assert books_snapshot() == before


# Admin downloads ----------------------------------------------------------------------------------------------------


def test_the_admin_invoice_page_has_a_download_button_and_serves_the_pdf(client, staff_user, invoice):
    client.force_login(staff_user)
    url = reverse("admin:billing_invoice_pdf", args=[invoice.pk])

    page = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    text = response_text(client.get(url), filename=f"{invoice.number}.pdf")

    assert page.context["download"].url == url
    assert f'href="{url}"' in page.content.decode()
    assert invoice.number in text and "€70.00" in text


def test_a_draft_gets_a_preview_pdf(client, staff_user, member):
    draft = draft_invoice(member=member, amounts=["15.00"])
    client.force_login(staff_user)

    page = client.get(reverse("admin:billing_invoice_change", args=[draft.pk]))
    text = response_text(
        client.get(reverse("admin:billing_invoice_pdf", args=[draft.pk])), filename=f"draft-{draft.pk}.pdf"
    )

    assert page.context["download"].label == "Preview PDF"
    assert "Draft invoice" in text


def test_the_admin_credit_note_page_serves_its_pdf(client, staff_user, invoice, staff):
    credit_note = credit_note_issue(
        invoice=invoice, actor=staff, reason=CreditNoteReason.DUPLICATE, amount=Money("10.00", "EUR")
    )
    client.force_login(staff_user)
    url = reverse("admin:billing_creditnote_pdf", args=[credit_note.pk])

    page = client.get(reverse("admin:billing_creditnote_change", args=[credit_note.pk]))
    text = response_text(client.get(url), filename=f"{credit_note.number}.pdf")

    assert page.context["download"].url == url
    assert credit_note.number in text and "€10.00" in text


def test_the_admin_payment_page_serves_the_receipt_of_a_succeeded_payment(client, staff_user, invoice):
    payment = invoice.allocations.get().payment
    client.force_login(staff_user)
    url = reverse("admin:payments_payment_receipt_pdf", args=[payment.pk])

    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    text = response_text(client.get(url), filename=f"{payment.number}.pdf")

    assert page.context["download"].url == url
    assert payment.number in text and "€50.00" in text


def test_a_payment_in_flight_has_no_receipt_in_the_admin(client, staff_user, member):
    invoice = open_invoice(member=member, amounts=["40.00"])
    payment = card_payment(invoice=invoice, amount="40.00", status="processing")
    client.force_login(staff_user)

    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))

    assert page.context["download"] is None
    assert client.get(reverse("admin:payments_payment_receipt_pdf", args=[payment.pk])).status_code == 404


@pytest.mark.parametrize(
    "url_name", ["admin:billing_invoice_pdf", "admin:payments_payment_receipt_pdf", "admin:billing_creditnote_pdf"]
)
def test_admin_downloads_need_a_staff_login(client, invoice, staff, url_name):
    credit_note = credit_note_issue(
        invoice=invoice, actor=staff, reason=CreditNoteReason.OTHER, amount=Money("1.00", "EUR")
    )
    pk = {
        "admin:billing_invoice_pdf": invoice.pk,
        "admin:payments_payment_receipt_pdf": invoice.allocations.get().payment.pk,
        "admin:billing_creditnote_pdf": credit_note.pk,
    }[url_name]
    url = reverse(url_name, args=[pk])

    anonymous = client.get(url)
    client.force_login(portal_member(email="not.staff@example.com").user)
    member = client.get(url)

    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert member.status_code == 302 and "/login/" in member["Location"]


def test_staff_without_the_view_permission_cannot_download(client, invoice):
    user = UserFactory(is_staff=True)
    user.save()
    client.force_login(user)

    assert client.get(reverse("admin:billing_invoice_pdf", args=[invoice.pk])).status_code == 403


# Portal downloads ---------------------------------------------------------------------------------------------------


@pytest.fixture
def portal_client(client, member):
    owner = portal_member(email="owner@example.com", name="Nora Owner")
    client.force_login(owner.user)
    client.owner = owner
    return client


def test_a_member_downloads_their_invoice_and_receipt(portal_client, staff):
    invoice = open_invoice(member=portal_client.owner, amounts=["120.00"], actor=staff)
    payment = external_payment(invoice=invoice, amount="120.00", actor=staff)
    invoice_url = reverse("portal:invoice_pdf", args=[invoice.pk])
    receipt_url = reverse("portal:receipt_pdf", args=[payment.pk])

    invoice_text = response_text(portal_client.get(invoice_url), filename=f"{invoice.number}.pdf")
    receipt_text = response_text(portal_client.get(receipt_url), filename=f"{payment.number}.pdf")

    assert invoice.number in invoice_text and "Nora Owner" in invoice_text and "€120.00" in invoice_text
    assert payment.number in receipt_text and "€120.00" in receipt_text
    assert invoice_url in portal_client.get(reverse("portal:invoice_detail", args=[invoice.pk])).content.decode()
    assert receipt_url in portal_client.get(reverse("portal:receipt", args=[payment.pk])).content.decode()


def test_another_members_invoice_receipt_or_a_draft_answers_404(portal_client, member, staff):
    theirs = open_invoice(member=member, amounts=["120.00"], actor=staff)
    their_payment = external_payment(invoice=theirs, amount="120.00", actor=staff)
    own_draft = draft_invoice(member=portal_client.owner, amounts=["10.00"], actor=staff)

    assert portal_client.get(reverse("portal:invoice_pdf", args=[theirs.pk])).status_code == 404
    assert portal_client.get(reverse("portal:receipt_pdf", args=[their_payment.pk])).status_code == 404
    assert portal_client.get(reverse("portal:invoice_pdf", args=[own_draft.pk])).status_code == 404


def test_a_payment_in_flight_has_no_receipt_in_the_portal(portal_client, staff):
    invoice = open_invoice(member=portal_client.owner, amounts=["40.00"], actor=staff)
    payment = card_payment(invoice=invoice, amount="40.00", status="processing")

    assert portal_client.get(reverse("portal:receipt_pdf", args=[payment.pk])).status_code == 404


def test_portal_downloads_need_a_login(client, member, staff):
    invoice = open_invoice(member=member, amounts=["120.00"], actor=staff)

    response = client.get(reverse("portal:invoice_pdf", args=[invoice.pk]))

    assert response.status_code == 302
    assert reverse("portal:login") in response["Location"]
