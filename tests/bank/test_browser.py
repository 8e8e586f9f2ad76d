"""Upload -> review -> confirm in a real browser (Debian's Chromium, Playwright, the live server)."""

import re

from django.urls import reverse
from playwright.sync_api import expect

from bank.models import BankTransaction, BankTransactionStatus
from billing.models import InvoiceStatus
from tests.bank.statements import camt_details, camt_entry, camt_statement
from tests.factories import UserFactory, eur, open_invoice, reload
from tests.support.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS

PASSWORD = "staff-password"


def test_an_administrator_uploads_a_statement_reviews_and_confirms_the_matches(page, tmp_path):
    user = UserFactory(username="manager", is_staff=True, is_superuser=True, password=PASSWORD)
    user.save()
    paid = open_invoice(amounts=["120.00"])
    partly = open_invoice(amounts=["80.00"])
    statement = tmp_path / "statement.xml"
    statement.write_bytes(
        camt_statement(
            [
                camt_entry(
                    amount="170.00",
                    reference="BATCH",
                    details=[
                        camt_details(name="Ada", structured=paid.payment_reference, amount="120.00"),
                        camt_details(name="Alan", ustrd=f"part of {partly.number}", amount="50.00"),
                    ],
                ),
                camt_entry(amount="9.00", reference="LOST", details=[camt_details(name="Nobody", ustrd="?")]),
            ]
        )
    )

    page.goto(reverse("admin:login"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    page.goto(reverse("admin:bank_banktransaction_changelist"))
    page.get_by_role("link", name="Import a statement").click()
    page.get_by_label("Statement file").set_input_files(str(statement))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/bank/banktransaction/\?statement_import__id__exact=\d+$"))
    expect(page.locator(".messagelist")).to_contain_text("3 transactions, 3 new")

    matched = page.locator("#changelist-filter a[href*='review=matched']")
    if not matched.is_visible():  # at this width the filters sit above the list, their groups closed
        page.locator("#changelist-filter details:has(a[href*='review=matched']) > summary").click()
    matched.click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("95 %")
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("confirm_selected")
    page.get_by_role("button", name="Go", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("2 payments recorded")
    assert reload(paid).status == InvoiceStatus.PAID
    assert reload(partly).amount_remaining == eur("30.00")
    assert BankTransaction.objects.get(bank_reference="LOST").status == BankTransactionStatus.UNMATCHED
    assert BankTransaction.objects.filter(status=BankTransactionStatus.RECORDED).count() == 2
