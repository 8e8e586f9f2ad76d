"""The admin home in a real browser (headless Chromium): each queue's link lands on the list of exactly its rows."""

import re

import pytest
from django.urls import reverse

from billing.models import Invoice
from payments.models import Payment, WebhookEvent
from tests.factories import UserFactory
from tests.payments.dashboard_books import queue_rows
from tests.support.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS

PASSWORD = "staff-password"

# Each queue: the list it lands on, and how that list names its rows.
LISTS = {
    "payments_failed": ("/admin/payments/payment/", Payment, lambda row: row.number),
    "payments_needing_review": ("/admin/payments/payment/", Payment, lambda row: row.number),
    "webhook_events_failed": ("/admin/payments/webhookevent/", WebhookEvent, lambda row: row.event_id),
    "invoices_long_overdue": ("/admin/billing/invoice/", Invoice, lambda row: row.number),
}


@pytest.fixture
def manager(db):
    user = UserFactory(username="manager", is_staff=True, is_superuser=True, password=PASSWORD)
    user.save()
    return user


def test_each_queue_of_the_home_page_lands_on_the_list_of_its_rows(page, manager):
    queued = queue_rows()
    page.goto(reverse("admin:login"))
    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    for key, ids in queued.items():
        path, model, name = LISTS[key]
        queue = page.locator(f"#queue-{key}")
        assert queue.locator(".billing-queue-count").inner_text() == str(len(ids))
        queue.get_by_role("link").click()
        page.wait_for_url(re.compile(re.escape(path) + r"\?"))
        shown = page.locator("#result_list tbody tr").all_inner_texts()
        expected = {name(row) for row in model.objects.filter(pk__in=ids)}
        assert sorted(next((text for text in expected if text in row), row) for row in shown) == sorted(expected), key
        page.go_back()
        page.wait_for_url(re.compile(r"/admin/$"))
