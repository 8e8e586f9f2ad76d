"""English, French and German: the catalogues are complete, a member's portal pages, mails and PDFs are in the
member's language (with its amounts and dates), a page without a chosen language follows the browser, and a staff
user chooses the admin's language."""

import datetime
import html
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from djmoney.money import Money
from pypdf import PdfReader

from billing.documents import invoice_pdf, receipt_pdf
from billing.models import Invoice
from billing.templatetags.billing_money import local_date
from members.models import Member, StaffPreference
from payments.models import Payment
from payments.notifications import payment_disputed_notify, payment_failed_member_notify, payment_receipt_notify
from payments.services.payment_apply import allocation_remove
from tests.factories import card_payment, external_payment, open_invoice, reload
from tests.members.portal.conftest import portal_member

ROOT = Path(__file__).resolve().parent.parent
# A due date after today, on March 9: "9 mars" (fr), "09.03." (de), "Mar 9" (en).
DUE = datetime.date(datetime.date.today().year + 1, 3, 9)
LOCALES = ("fr", "de")


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def shown(value, language: str) -> str:
    """A Money or a date as the pages show it in `language`."""
    with translation.override(language):
        return str(value) if isinstance(value, Money) else local_date(value)


# The catalogues --------------------------------------------------------------------------------------------------


def catalogue(language: str):
    with (ROOT / "locale" / language / "LC_MESSAGES" / "django.po").open("rb") as po_file:
        return read_po(po_file, locale=language)


@pytest.mark.parametrize("language", LOCALES)
def test_every_message_of_the_catalogue_is_translated_and_none_is_fuzzy(language):
    messages = [message for message in catalogue(language) if message.id]

    untranslated = [
        message.id for message in messages if not all(message.string if message.pluralizable else [message.string])
    ]
    fuzzy = [message.id for message in messages if message.fuzzy]
    problems = [(message.id, errors) for message, errors in catalogue(language).check()]
    assert len(messages) > 900
    assert untranslated == [] and fuzzy == [] and problems == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="makemessages needs GNU gettext's xgettext")
def test_the_catalogues_hold_every_message_of_the_code_and_the_templates(tmp_path):
    """Every translatable text of the code and the templates (the .pot `make messages` extracts) has its msgid in
    the catalogues, so none is left in English."""
    for name in ("bank", "billing", "members", "payments", "coworking_billing", "templates", "manage.py"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    (tmp_path / "locale" / "fr" / "LC_MESSAGES").mkdir(parents=True)
    # Nothing of the test run's environment but the path: the settings' defaults do (no database is opened).
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}

    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "--keep-pot", "--no-location", "-v", "0"],
        cwd=tmp_path,
        env=environment,
        check=True,
        capture_output=True,
    )

    # The template's header has no plural rule yet ("nplurals=INTEGER"), which Babel cannot read.
    pot = (tmp_path / "locale" / "django.pot").read_bytes().replace(b"nplurals=INTEGER; plural=EXPRESSION;", b"")
    extracted = {(message.id, message.context) for message in read_po(io.BytesIO(pot)) if message.id}
    for language in LOCALES:
        known = {(message.id, message.context) for message in catalogue(language) if message.id}
        assert extracted - known == set(), f"run `make messages` and translate the new messages in {language}"


def test_compile_catalogs_writes_the_mo_files_django_reads(tmp_path, settings):
    language_dir = tmp_path / "fr" / "LC_MESSAGES"
    language_dir.mkdir(parents=True)
    shutil.copy(ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po", language_dir / "django.po")
    settings.LOCALE_PATHS = [tmp_path]

    call_command("compile_catalogs")

    assert (language_dir / "django.mo").stat().st_size > 10_000


def test_compile_catalogs_refuses_a_translation_that_loses_a_placeholder(tmp_path, settings):
    language_dir = tmp_path / "de" / "LC_MESSAGES"
    language_dir.mkdir(parents=True)
    (language_dir / "django.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, python-format\nmsgid "%(invoice)s voided."\nmsgstr "storniert."\n'
    )
    settings.LOCALE_PATHS = [tmp_path]

    with pytest.raises(Exception, match="do not match their msgid"):
        call_command("compile_catalogs")
    assert not (language_dir / "django.mo").exists()


# The portal ------------------------------------------------------------------------------------------------------


@pytest.fixture
def french_member(db) -> Member:
    return portal_member(email="lea.martin@example.com", name="Léa Martin", language="fr")


def test_a_french_members_portal_pages_are_in_french_with_french_amounts_and_dates(client, french_member):
    invoice = open_invoice(member=french_member, amounts=["1234.50"], due_date=DUE)
    client.force_login(french_member.user)

    listing = client.get(reverse("portal:invoice_list")).content.decode()
    detail = client.get(reverse("portal:invoice_detail", args=[invoice.pk])).content.decode()

    assert '<html lang="fr">' in listing
    assert "Vos factures" in listing and "Se déconnecter" in listing and "Your invoices" not in listing
    assert "1\u202f234,50\xa0€" in listing  # French grouping (narrow no-break space) and decimal comma
    assert f"9 mars {DUE.year}" in listing and f"{DUE:%Y-%m-%d}" not in listing
    assert "Payer" in detail and "Reste à payer" in detail and "1\u202f234,50\xa0€" in detail


def test_a_member_without_a_language_gets_the_browsers(client, db):
    member = portal_member(email="jonas.weber@example.com", name="Jonas Weber")
    open_invoice(member=member, amounts=["80.00"], due_date=DUE)
    client.force_login(member.user)

    german = client.get(reverse("portal:invoice_list"), headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    unknown = client.get(reverse("portal:invoice_list"), headers={"accept-language": "ja"})
    login = client.get(reverse("portal:login"), headers={"accept-language": "fr"})

    assert "Ihre Rechnungen" in german.content.decode() and "80,00\xa0€" in german.content.decode()
    assert f"09.03.{DUE.year}" in german.content.decode()
    assert "Your invoices" in unknown.content.decode() and "€80.00" in unknown.content.decode()
    assert "Connexion membre" in login.content.decode()


def test_the_members_language_wins_over_the_browsers(client, french_member):
    client.force_login(french_member.user)

    page = client.get(reverse("portal:invoice_list"), headers={"accept-language": "de"}).content.decode()

    assert "Vos factures" in page and "Ihre Rechnungen" not in page


def test_a_member_chooses_a_language_in_the_portal_and_back_the_browsers(client, french_member):
    client.force_login(french_member.user)
    back = reverse("portal:payment_list")

    response = client.post(reverse("portal:language"), {"language": "de", "next": back})

    assert response.status_code == 302 and response["Location"] == back
    assert reload(french_member).language == "de"
    assert "Ihre Zahlungen" in client.get(back).content.decode()

    client.post(reverse("portal:language"), {"language": "", "next": "https://elsewhere.example/"})
    assert reload(french_member).language == ""
    page = client.get(back, headers={"accept-language": "en"}).content.decode()
    assert "Your payments" in page


def test_a_language_that_is_not_offered_is_refused_and_changes_nothing(client, french_member):
    client.force_login(french_member.user)

    response = client.post(reverse("portal:language"), {"language": "xx"}, follow=True)

    assert reload(french_member).language == "fr"
    assert "Choisissez l'une des langues proposées." in html.unescape(response.content.decode())


def test_the_language_is_in_the_session_from_the_login_on(client, french_member):
    response = client.post(
        reverse("portal:login"), {"email": french_member.email, "password": "member-password"}, follow=True
    )

    assert "Vos factures" in response.content.decode()
    assert client.session["billing_language"] == "fr"


def test_the_language_selector_names_each_language_in_itself_and_a_paid_invoice_is_feminine_in_french(
    client, french_member
):
    invoice = open_invoice(member=french_member, amounts=["50.00"], due_date=DUE)
    external_payment(invoice=invoice)
    client.force_login(french_member.user)

    page = html.unescape(client.get(reverse("portal:invoice_list")).content.decode())

    assert '<option value="en" lang="en">English</option>' in page and "Anglais" not in page
    assert '<option value="fr" lang="fr" selected>Français</option>' in page
    assert '<option value="de" lang="de">Deutsch</option>' in page
    assert ">Payée<" in page and ">Payé<" not in page  # une facture payée


def test_an_external_payments_kind_keeps_the_capital_of_a_german_noun(db):
    member = portal_member(email="jonas.weber@example.com", name="Jonas Weber", language="de")
    payment = external_payment(invoice=open_invoice(member=member, amounts=["80.00"]), kind="bank_transfer")

    labels = {language: translation.override(language)(payment.get_method_label)() for language in ("en", "fr", "de")}

    assert labels == {
        "en": "External (bank transfer)",
        "fr": "Externe (virement bancaire)",
        "de": "Extern (Banküberweisung)",
    }


# Mails and PDFs --------------------------------------------------------------------------------------------------


def test_a_mail_to_a_german_member_is_in_german(db, committed, mailoutbox, settings):
    settings.BILLING_PORTAL_URL = "https://space.example/portal/"
    member = portal_member(email="jonas.weber@example.com", name="Jonas Weber", language="de")

    with translation.override("en"), committed():
        invoice = open_invoice(member=member, amounts=["1234.50"], due_date=DUE)

    (message,) = [message for message in mailoutbox if message.to == [member.email]]
    invoice = reload(invoice)
    assert message.subject == f"Rechnung {invoice.number}: 1.234,50\xa0€ fällig am 09.03.{DUE.year}"
    assert message.subject == (
        f"Rechnung {invoice.number}: {shown(invoice.total, 'de')} fällig am {shown(invoice.due_date, 'de')}"
    )
    assert message.body.startswith("Hallo Jonas Weber,")
    assert (
        "Ihre Rechnung" in message.body
        and "ist ausgestellt" in message.body
        and f"bis zum 09.03.{DUE.year}" in message.body
    )
    assert "Ansehen und online bezahlen: https://space.example/portal/" in message.body
    assert "Your invoice" not in message.body


def test_a_decline_reaches_a_german_member_in_german_and_an_unknown_one_in_general_words(db, client, mailoutbox):
    member = portal_member(email="jonas.weber@example.com", name="Jonas Weber", language="de")
    payment = card_payment(invoice=open_invoice(member=member, amounts=["80.00"]), amount="96.00", status="failed")
    Payment.objects.filter(pk=payment.pk).update(
        failure_code="insufficient_funds", failure_message="Your card has insufficient funds."
    )
    client.force_login(member.user)

    payment_failed_member_notify(payment_id=payment.pk)
    page = html.unescape(client.get(reverse("portal:payment_status", args=[payment.pk])).content.decode())

    (message,) = mailoutbox
    assert "Ihre Karte ist nicht ausreichend gedeckt." in message.body and "insufficient" not in message.body
    assert "Ihre Karte ist nicht ausreichend gedeckt." in page and "insufficient" not in page
    # A code the catalogue does not know: the gateway's (English) words in English only.
    Payment.objects.filter(pk=payment.pk).update(failure_code="new_code", failure_message="Something new.")
    reasons = {
        language: translation.override(language)(lambda: reload(payment).failure_reason)() for language in ("en", "de")
    }
    assert reasons == {"en": "Something new.", "de": "Die Karte wurde abgelehnt."}


def test_a_receipt_mail_leaves_out_an_allocation_removed_before_it_goes_out(db, staff, mailoutbox):
    member = portal_member(email="jonas.weber@example.com", name="Jonas Weber", language="de")
    kept, removed = (open_invoice(member=member, amounts=[amount], actor=staff) for amount in ("50.00", "30.00"))
    payment = external_payment(invoice=kept, amount="50.00", actor=staff)
    other = external_payment(invoice=removed, amount="36.00", actor=staff)
    allocation_remove(allocation=other.allocations.get(), actor=staff)

    payment_receipt_notify(payment_id=payment.pk)
    payment_receipt_notify(payment_id=other.pk)

    first, second = (message.body for message in mailoutbox[-2:])
    assert f"50,00\xa0€ auf die Rechnung {kept.number} bezahlt" in first
    assert removed.number not in second and "0,00\xa0€ auf die Rechnung" not in second


def test_a_mail_to_a_member_without_a_language_and_to_the_staff_is_in_the_default_language(
    db, committed, mailoutbox, settings
):
    member = portal_member(email="omar@example.com", name="Omar Haddad")

    with translation.override("fr"), committed():
        open_invoice(member=member, amounts=["40.00"])

    (message,) = [message for message in mailoutbox if message.to == [member.email]]
    assert message.subject.startswith("Invoice ") and "€40.00" in message.subject


def test_a_mail_to_the_staff_about_a_french_member_is_in_the_default_language(db, mailoutbox, settings):
    settings.BILLING_ADMIN_EMAILS = ["billing@space.example"]
    member = portal_member(email="lea.martin@example.com", name="Léa Martin", language="fr")
    payment = card_payment(invoice=open_invoice(member=member, amounts=["40.00"]), amount="40.00", status="succeeded")

    with translation.override("de"):
        payment_disputed_notify(payment_id=payment.pk)

    (message,) = mailoutbox
    assert message.subject == f"Dispute opened on {payment.number} (Léa Martin)"
    assert "€40.00" in message.body


def test_the_password_reset_mail_is_in_the_members_language_whatever_the_browsers(client, french_member, mailoutbox):
    client.post(reverse("portal:password_reset"), {"email": french_member.email}, headers={"accept-language": "de"})

    (message,) = mailoutbox
    assert message.subject == "Réinitialisez votre mot de passe pour le portail des membres de Coworking space"
    assert message.body.startswith("Bonjour,")


def test_the_demo_space_has_french_and_german_members():
    from members.demo import DEMO_MEMBERS

    languages = {demo.name: demo.language for demo in DEMO_MEMBERS}
    assert languages["Léa Martin"] == "fr" and languages["Jonas Weber"] == "de"
    assert {code for code, _name in settings.LANGUAGES} >= set(languages.values()) - {""}


def test_a_french_members_invoice_and_receipt_pdfs_are_in_french(db, staff):
    member = portal_member(email="lea.martin@example.com", name="Léa Martin", language="fr")
    invoice = open_invoice(member=member, amounts=["1234.50"], due_date=DUE, actor=staff)
    payment = external_payment(invoice=invoice, amount="1000.00", actor=staff)

    with translation.override("en"):  # whoever downloads it: the member's documents are in the member's language
        invoice_text = pdf_text(invoice_pdf(Invoice.objects.get(pk=invoice.pk)))
        receipt_text = pdf_text(receipt_pdf(reload(payment)))

    assert f"Facture {invoice.number}" in invoice_text
    assert "Date d'échéance" in invoice_text and f"9 mars {DUE.year}" in invoice_text
    assert "Total" in invoice_text and "Payé" in invoice_text
    assert "234,50" in invoice_text and "Invoice number" not in invoice_text
    assert f"Reçu {payment.number}" in receipt_text and "Montant reçu" in receipt_text and "000,00" in receipt_text


# The admin -------------------------------------------------------------------------------------------------------


def test_a_staff_user_chooses_the_admins_language(staff_client, staff_user):
    page = reverse("admin:language")
    assert "Langue" not in staff_client.get(page).content.decode()

    response = staff_client.post(page, {"language": "fr"}, follow=True)

    assert StaffPreference.objects.get(user=staff_user).language == "fr"
    assert "La langue de l'administration est enregistrée." in html.unescape(response.content.decode())
    assert "Rapports" in staff_client.get(reverse("admin:index")).content.decode()


def test_a_staff_users_language_comes_back_at_the_next_login(client, staff_user):
    StaffPreference.objects.create(user=staff_user, language="de")

    client.post(reverse("admin:login"), {"username": "manager", "password": "manager-password"})
    page = client.get(reverse("admin:language")).content.decode()

    assert "Sprache" in page and 'value="de" selected' in page


def test_a_staff_user_without_a_language_gets_the_browsers_and_the_member_admin_sets_a_members(staff_client, db):
    member = portal_member(email="jonas.weber@example.com", name="Jonas Weber")
    page = reverse("admin:members_member_change", args=[member.pk])

    german = staff_client.get(page, headers={"accept-language": "de"}).content.decode()

    assert "Sprache" in german and '<option value="de">Deutsch</option>' in german
    assert settings.LANGUAGES == [("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
