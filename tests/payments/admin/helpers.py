"""Helpers of the admin tests."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

# How the refusals of an amount (EUR, BILLING_LOCALE=en) say to type it.
TYPE_IT = "type the amount like 1,234.56 or 12.50."

# Amounts a person may type that every money form refuses, with the error it shows (EUR, BILLING_LOCALE=en).
BAD_AMOUNTS = [
    ("0", "The amount must be greater than zero, not 0."),
    ("-5", f"“-5” has a sign (amounts are typed without + or -): {TYPE_IT}"),
    ("10.005", f"“10.005” has 3 decimals, but EUR amounts have 2 at most: {TYPE_IT}"),
    ("abc", f"“abc” is not an amount of money: {TYPE_IT}"),
    ("1234567890123", f"“1234567890123” is too large (at most 12 digits before the decimals): {TYPE_IT}"),
    ("", "Enter an amount: type it like 1,234.56 or 12.50."),
    ("12,50", f"“12,50” is ambiguous: {TYPE_IT}"),
    ("1e3", f"“1e3” is not an amount of money: {TYPE_IT}"),
]


def invoice_url(invoice) -> str:
    return reverse("admin:billing_invoice_change", args=[invoice.pk])


def payment_url(payment) -> str:
    return reverse("admin:payments_payment_change", args=[payment.pk])


def create_payment_url(invoice) -> str:
    return reverse("admin:billing_invoice_create_payment", args=[invoice.pk])


def refund_url(payment) -> str:
    return reverse("admin:payments_payment_refund", args=[payment.pk])


def refund_preview_url(payment) -> str:
    return reverse("admin:payments_payment_refund_preview", args=[payment.pk])


def credit_note_url(invoice) -> str:
    return reverse("admin:billing_invoice_credit_note", args=[invoice.pk])


def credit_note_preview_url(invoice) -> str:
    return reverse("admin:billing_invoice_credit_note_preview", args=[invoice.pk])


def page_content(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def page_queries(client, url: str) -> int:
    """How many queries a GET of the page costs once caches (content types, the session) are warm."""
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


def line(description: str, unit_amount: str, *, quantity: str = "1", tax_rate: str = "0", delete: bool = False):
    row = {"description": description, "quantity": quantity, "unit_amount": unit_amount, "tax_rate": tax_rate}
    if delete:
        row["DELETE"] = "on"
    return row


def draft_form_data(*, lines: list[dict], initial_lines: int = 0, **fields) -> dict:
    """What the draft invoice page posts: its fields and the lines formset."""
    data = {
        "issue_date": "",
        "due_date": "",
        "memo": "",
        **fields,
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": str(initial_lines),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(lines):
        data.update({f"lines-{index}-{key}": value for key, value in row.items()})
    return data
