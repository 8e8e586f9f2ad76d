"""Credit notes in the admin (spec 5.11): the Issue credit note button and page (an amount or an amount per line, the
split of the part already paid), its preview (the page's Preview button and the JSON endpoint its script asks), the
credit notes listed on the invoice page, the read-only credit note pages and list, and the member credit a credit
note leaves."""

import pytest
from django.urls import reverse

from billing.models import CreditNote, CreditNoteLine, InvoiceStatus, MoneyBalanceEntry
from billing.services.credit_note_issue import credit_note_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from payments.models import PaymentStatus, Refund, RefundAllocation, RefundStatus
from payments.sandbox.models import SandboxRefund
from payments.services.payment_apply import payment_apply
from payments.services.payment_card import payment_create_card
from tests.factories import (
    SYSTEM,
    MemberFactory,
    books_snapshot,
    draft_invoice,
    eur,
    external_payment,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)
from tests.payments.admin.helpers import (
    BAD_AMOUNTS,
    credit_note_url,
    invoice_url,
    messages_of,
    page_content,
    page_queries,
)

CREDIT_NOTE_MODELS = (CreditNote, CreditNoteLine, Refund, RefundAllocation, SandboxRefund)
CREDIT_NOTES = reverse("admin:billing_creditnote_changelist")


def preview_url(invoice) -> str:
    return reverse("admin:billing_invoice_credit_note_preview", args=[invoice.pk])


def note_url(credit_note) -> str:
    return reverse("admin:billing_creditnote_change", args=[credit_note.pk])


def note_data(amount: str = "", *, reason: str = "order_change", refund="", credit="", out_of_band="", **fields):
    return {
        "amount": amount,
        "reason": reason,
        "memo": "",
        "refund_amount": refund,
        "credit_amount": credit,
        "out_of_band_amount": out_of_band,
        **fields,
    }


def line_field(line) -> str:
    return f"line_{line.pk}"


def labels(client, url: str) -> list[str]:
    return [action.label for action in client.get(url).context["actions"]]


def snapshot() -> dict:
    return books_snapshot(extra_models=CREDIT_NOTE_MODELS)


def paid_by_two_payments_and_balance():
    """An invoice of 100.00: 20.00 of money balance applied, then 30.00 in cash, then 40.00 by transfer (the
    newest); 10.00 remains."""
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    money_balance_adjust(member=member, amount=eur("20.00"), is_credit=True, note="goodwill", actor=SYSTEM)
    invoice_apply_money_balance(invoice=invoice, amount=eur("20.00"), actor=SYSTEM)
    cash = external_payment(invoice=invoice, amount="30.00")
    transfer = standalone_payment(member=member, amount="40.00")
    payment_apply(invoice=invoice, applications=[(transfer, eur("40.00"))], actor=SYSTEM)
    return reload(invoice), cash, reload(transfer)


# The button


def test_issue_credit_note_is_offered_on_issued_invoices(staff_client):
    member = MemberFactory()
    unpaid = open_invoice(member=member, amounts=["100.00"])
    partly = open_invoice(member=member, amounts=["100.00"])
    external_payment(invoice=partly, amount="40.00")
    paid = open_invoice(member=member, amounts=["100.00"])
    external_payment(invoice=paid)
    uncollectible = invoice_mark_uncollectible(invoice=open_invoice(member=member), actor=SYSTEM)

    for invoice in (unpaid, partly, paid, uncollectible):
        assert "Issue credit note" in labels(staff_client, invoice_url(invoice))
        assert credit_note_url(invoice) in page_content(staff_client, invoice_url(invoice))


def test_issue_credit_note_is_hidden_on_drafts_void_and_fully_credited_invoices(staff_client):
    member = MemberFactory()
    draft = draft_invoice(member=member)
    void = invoice_void(invoice=open_invoice(member=member), actor=SYSTEM)
    credited = open_invoice(member=member, amounts=["100.00"])
    credit_note_issue(invoice=credited, actor=SYSTEM, reason="duplicate", amount=eur("100.00"))

    for invoice in (draft, void, credited):
        assert credit_note_url(invoice) not in page_content(staff_client, invoice_url(invoice))


def test_issue_credit_note_needs_the_permission(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    client = clerk_client("billing.view_invoice", "payments.record_external_payment", "payments.refund_payment")
    before = snapshot()

    assert labels(client, invoice_url(invoice)) == ["Create payment"]
    assert client.get(credit_note_url(invoice)).status_code == 403
    assert client.get(preview_url(invoice), {"amount": "10.00"}).status_code == 403
    assert client.post(credit_note_url(invoice), note_data("10.00")).status_code == 403
    assert snapshot() == before


def test_a_clerk_with_the_permission_sees_issue_credit_note(clerk_client):
    invoice = open_invoice(amounts=["100.00"])
    client = clerk_client("billing.view_invoice", "billing.issue_credit_note")

    assert labels(client, invoice_url(invoice)) == ["Issue credit note"]


def test_issuing_on_a_void_invoice_is_refused(staff_client):
    invoice = invoice_void(invoice=open_invoice(amounts=["100.00"]), actor=SYSTEM)
    before = snapshot()

    response = staff_client.post(credit_note_url(invoice), note_data("10.00"))

    assert messages_of(response) == [f"{invoice.number} is void; credit notes reduce issued invoices only."]
    assert snapshot() == before


# The page


def test_page_shows_the_cap_and_one_field_per_line_with_what_is_left(staff_client):
    invoice = open_invoice(amounts=["60.00", "40.00"], tax_rate="20")
    first, second = invoice.lines.all()
    credit_note_issue(invoice=invoice, actor=SYSTEM, reason="other", line_amounts={first.pk: eur("12.00")})

    response = staff_client.get(credit_note_url(invoice))

    content = response.content.decode()
    form = response.context["form"]
    assert list(form.fields) == [
        "amount",
        line_field(first),
        line_field(second),
        "reason",
        "memo",
        "refund_amount",
        "credit_amount",
        "out_of_band_amount",
    ]
    assert form.fields[line_field(first)].help_text == "€60.00 left to credit (amount €60.00 + tax €12.00)."
    assert form.fields[line_field(second)].help_text == "€48.00 left to credit (amount €40.00 + tax €8.00)."
    assert (
        f"{invoice.number} totals €120.00; €12.00 is credited already and €108.00 remains to pay. At most €108.00 "
        "can still be credited."
    ) in content
    assert 'data-preview-url="' + preview_url(invoice) + '"' in content
    assert f'data-preview-fields="amount {line_field(first)} {line_field(second)}"' in content
    assert "payments/preview.js" in content
    assert "Enter the amount of the credit note, or an amount per line." in content


# Issuing


def test_credit_note_on_an_unpaid_invoice_reduces_what_remains(staff_client):
    invoice = open_invoice(amounts=["100.00"])

    response = staff_client.post(credit_note_url(invoice), note_data("30.00", memo="Two days closed"), follow=True)

    note = CreditNote.objects.get()
    invoice = reload(invoice)
    assert response.redirect_chain[-1][0] == invoice_url(invoice)
    assert (note.amount, note.pre_payment_amount, note.refund_amount, note.credit_amount) == (
        eur("30.00"),
        eur("30.00"),
        eur("0.00"),
        eur("0.00"),
    )
    assert (note.reason, note.memo) == ("order_change", "Two days closed")
    assert (invoice.status, invoice.amount_credited, invoice.amount_remaining) == (
        InvoiceStatus.OPEN,
        eur("30.00"),
        eur("70.00"),
    )
    assert messages_of(response) == [
        f"{note.number} issued on {invoice.number} for €30.00: €30.00 off what remained to pay. {invoice.number} "
        "is open with €70.00 remaining."
    ]
    [listed] = response.context["credit_notes"]
    assert listed == note
    assert f'<a href="{note_url(note)}">{note.number}</a>' in response.content.decode()


def test_credit_note_on_a_paid_invoice_split_between_refund_and_credit(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)

    response = staff_client.post(
        credit_note_url(invoice),
        note_data("40.00", reason="product_unsatisfactory", refund="25.00", credit="15.00"),
        follow=True,
    )

    note = CreditNote.objects.get()
    invoice, payment = reload(invoice), reload(payment)
    assert (note.pre_payment_amount, note.refund_amount, note.credit_amount, note.out_of_band_amount) == (
        eur("0.00"),
        eur("25.00"),
        eur("15.00"),
        eur("0.00"),
    )
    assert (invoice.status, invoice.amount_credited, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("40.00"),
        eur("60.00"),
        eur("0.00"),
    )
    assert (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated) == (
        eur("60.00"),
        eur("25.00"),
        eur("15.00"),
    )
    refund = Refund.objects.get()
    assert (refund.amount, refund.kind, refund.reason, refund.credit_note) == (
        eur("25.00"),
        Refund.Kind.RECORDED,
        Refund.Reason.CREDIT_NOTE,
        note,
    )
    assert messages_of(response) == [
        f"{note.number} issued on {invoice.number} for €40.00: €25.00 refunded, €15.00 kept as the member's credit. "
        f"{invoice.number} is paid with €0.00 remaining."
    ]
    row = response.content.decode().split('id="credit-notes"')[1].split("</table>")[0]
    assert "Product unsatisfactory" in row
    assert row.count("€0.00") == 2 and "€25.00" in row and "€15.00" in row


def test_credit_note_on_a_partially_paid_invoice_takes_what_remains_first(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="70.00")

    staff_client.post(credit_note_url(invoice), note_data("50.00", out_of_band="20.00"))

    note = CreditNote.objects.get()
    invoice = reload(invoice)
    assert (note.pre_payment_amount, note.out_of_band_amount) == (eur("30.00"), eur("20.00"))
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("50.00"),
        eur("0.00"),
    )
    assert Refund.objects.get().kind == Refund.Kind.OUT_OF_BAND


def test_credit_note_per_line(staff_client):
    invoice = open_invoice(amounts=["60.00", "40.00"])
    first, second = invoice.lines.all()

    staff_client.post(
        credit_note_url(invoice),
        note_data(**{line_field(first): "10.00", line_field(second): "5.00"}),
    )

    note = CreditNote.objects.get()
    assert note.amount == eur("15.00")
    assert sorted((line.invoice_line_id, line.amount) for line in note.lines.all()) == [
        (first.pk, eur("10.00")),
        (second.pk, eur("5.00")),
    ]
    assert reload(invoice).amount_remaining == eur("85.00")
    page = staff_client.get(credit_note_url(invoice))
    assert page.context["form"].fields[line_field(first)].help_text.startswith("€50.00 left to credit")


def test_credit_note_per_line_skips_lines_left_at_zero(staff_client):
    invoice = open_invoice(amounts=["60.00", "40.00"])
    first, second = invoice.lines.all()

    staff_client.post(credit_note_url(invoice), note_data(**{line_field(first): "0", line_field(second): "5.00"}))

    assert [line.invoice_line_id for line in CreditNoteLine.objects.all()] == [second.pk]


def test_credit_note_per_line_over_what_is_left_is_refused(staff_client):
    invoice = open_invoice(amounts=["60.00", "40.00"])
    first, _ = invoice.lines.all()
    before = snapshot()

    response = staff_client.post(credit_note_url(invoice), note_data(**{line_field(first): "60.01"}))

    assert messages_of(response) == ["“Line 1” has €60.00 left to credit, not €60.01."]
    assert snapshot() == before


def test_split_that_does_not_add_up_is_refused(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    before = snapshot()

    response = staff_client.post(credit_note_url(invoice), note_data("40.00", refund="25.00", credit="10.00"))

    assert response.status_code == 200
    assert messages_of(response) == [
        "€40.00 of this credit note was already paid and must be settled exactly: refund + credit + out of band is "
        "€35.00."
    ]
    assert snapshot() == before
    assert response.context["form"]["refund_amount"].value() == "25.00"


def test_credit_note_over_the_cap_is_refused(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    credit_note_issue(invoice=invoice, actor=SYSTEM, reason="other", amount=eur("30.00"))
    before = snapshot()

    response = staff_client.post(credit_note_url(invoice), note_data("70.01"))

    assert messages_of(response) == [
        f"€70.01 is more than what is left to credit on {invoice.number} (€70.00 of €100.00)."
    ]
    assert snapshot() == before


def test_refund_of_money_balance_is_refused(staff_client):
    invoice, _, _ = paid_by_two_payments_and_balance()
    before = snapshot()

    response = staff_client.post(credit_note_url(invoice), note_data("100.00", refund="90.00"))

    assert messages_of(response) == [
        "Only €70.00 of it was paid by payments; the rest came from money balance and can only go back as credit."
    ]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"amount": "10.00", "line": "5.00"}, "Enter the amount of the credit note, or an amount per line, not both."),
        ({}, "Enter the amount of the credit note, or an amount per line."),
        ({"line": "0"}, "Enter the amount of the credit note, or an amount per line."),
    ],
)
def test_amount_or_lines_but_not_both(staff_client, fields, error):
    invoice = open_invoice(amounts=["100.00"])
    [line] = invoice.lines.all()
    before = snapshot()
    data = note_data(fields.get("amount", ""))
    if "line" in fields:
        data[line_field(line)] = fields["line"]

    response = staff_client.post(credit_note_url(invoice), data)

    assert response.context["form"].non_field_errors() == [error]
    assert snapshot() == before


@pytest.mark.parametrize(("amount", "error"), [row for row in BAD_AMOUNTS if row[0]])
def test_credit_note_refuses_a_bad_amount(staff_client, amount, error):
    invoice = open_invoice(amounts=["100.00"])
    before = snapshot()

    response = staff_client.post(credit_note_url(invoice), note_data(amount))

    assert response.context["form"].errors["amount"] == [error]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("-1", "“-1” has a sign (amounts are typed without + or -): type the amount like 1,234.56 or 12.50."),
        ("abc", "“abc” is not an amount of money: type the amount like 1,234.56 or 12.50."),
        ("10.005", "“10.005” has 3 decimals, but EUR amounts have 2 at most: type the amount like 1,234.56 or 12.50."),
        (
            "1234567890123",
            "“1234567890123” is too large (at most 12 digits before the decimals): type the amount like 1,234.56 or 12.50.",
        ),
        ("1,00", "“1,00” is ambiguous: type the amount like 1,234.56 or 12.50."),
    ],
)
def test_credit_note_refuses_a_bad_line_or_split_amount(staff_client, amount, error):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice)
    [line] = invoice.lines.all()
    before = snapshot()

    as_line = staff_client.post(credit_note_url(invoice), note_data(**{line_field(line): amount}))
    as_split = staff_client.post(
        credit_note_url(invoice), note_data("10.00", refund="10.00", credit=amount, out_of_band=amount)
    )

    assert as_line.context["form"].errors[line_field(line)] == [error]
    assert as_split.context["form"].errors["credit_amount"] == [error]
    assert as_split.context["form"].errors["out_of_band_amount"] == [error]
    assert snapshot() == before


def test_credit_note_needs_a_reason(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    before = snapshot()

    response = staff_client.post(credit_note_url(invoice), note_data("10.00", reason=""))

    assert response.context["form"].errors["reason"] == ["This field is required."]
    assert snapshot() == before


# The preview


def test_preview_endpoint_answers_json(staff_client):
    invoice, cash, transfer = paid_by_two_payments_and_balance()

    response = staff_client.get(preview_url(invoice), {"amount": "95.00"})

    assert response.status_code == 200
    data = response.json()
    assert "Money balance applied to the invoice" in data.pop("html")
    assert data == {
        "ok": True,
        "error": "",
        "currency": "EUR",
        "creditable": "100.00",
        "total": "100.00",
        "remaining": "10.00",
        "amount": "95.00",
        "pre_payment_amount": "10.00",
        "post_payment_amount": "85.00",
        "remaining_after": "0.00",
        "status_after": "Paid",
        "from_payments": [
            {
                "payment": transfer.number,
                "allocation": transfer.allocations.get().number,
                "method": "External (bank transfer)",
                "amount": "40.00",
            },
            {
                "payment": cash.number,
                "allocation": cash.allocations.get().number,
                "method": "External (cash)",
                "amount": "30.00",
            },
        ],
        "from_balance": "15.00",
        "split": {"refund_amount": "70.00", "credit_amount": "15.00", "out_of_band_amount": "0.00"},
    }


def test_preview_endpoint_of_an_amount_within_what_remains(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    external_payment(invoice=invoice, amount="40.00")

    data = staff_client.get(preview_url(invoice), {"amount": "25.00"}).json()

    assert (data["pre_payment_amount"], data["post_payment_amount"], data["remaining_after"]) == (
        "25.00",
        "0.00",
        "35.00",
    )
    assert data["status_after"] == "Partially paid"
    assert data["from_payments"] == []
    assert data["split"] == {"refund_amount": "0.00", "credit_amount": "0.00", "out_of_band_amount": "0.00"}


def test_preview_endpoint_per_line(staff_client):
    invoice = open_invoice(amounts=["60.00", "40.00"])
    first, second = invoice.lines.all()

    data = staff_client.get(preview_url(invoice), {line_field(first): "10.00", line_field(second): "2.50"}).json()

    assert (data["ok"], data["amount"], data["pre_payment_amount"]) == (True, "12.50", "12.50")


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"amount": "100.01"}, "€100.01 is more than what is left to credit on {invoice} (€100.00 of €100.00)."),
        ({"amount": "abc"}, "“abc” is not an amount of money: type the amount like 1,234.56 or 12.50."),
        (
            {"amount": "-1"},
            "“-1” has a sign (amounts are typed without + or -): type the amount like 1,234.56 or 12.50.",
        ),
        ({"amount": "0"}, "The amount must be greater than zero, not 0."),
        ({}, "Enter the amount of the credit note, or an amount per line."),
        ({"amount": "5", "line": "5"}, "Enter the amount of the credit note, or an amount per line, not both."),
        ({"line": "100.01"}, "“Line 1” has €100.00 left to credit, not €100.01."),
    ],
)
def test_preview_endpoint_says_what_is_wrong(staff_client, query, error):
    invoice = open_invoice(amounts=["100.00"])
    [line] = invoice.lines.all()
    if "line" in query:
        query = {**query, line_field(line): query.pop("line")}

    response = staff_client.get(preview_url(invoice), query)

    assert response.status_code == 400
    data = response.json()
    assert (data["ok"], data["error"], data["creditable"]) == (False, error.format(invoice=invoice.number), "100.00")
    assert "pre_payment_amount" not in data


def test_preview_button_fills_in_the_split_and_writes_nothing(staff_client):
    invoice, _, _ = paid_by_two_payments_and_balance()
    before = snapshot()

    response = staff_client.post(credit_note_url(invoice), note_data("95.00", reason="", _preview="Preview"))

    assert snapshot() == before
    assert messages_of(response) == []
    form = response.context["form"]
    assert not form.is_bound
    assert [form[name].value() for name in ("amount", "refund_amount", "credit_amount", "out_of_band_amount")] == [
        "95.00",
        "70.00",
        "15.00",
        "0.00",
    ]
    preview = response.context["preview"]
    assert (preview.preview.pre_payment_amount, preview.preview.post_payment_amount) == (eur("10.00"), eur("85.00"))
    content = response.content.decode()
    assert "Where the post-payment part comes from" in content


def test_preview_button_keeps_a_split_that_adds_up(staff_client):
    invoice, _, _ = paid_by_two_payments_and_balance()

    response = staff_client.post(
        credit_note_url(invoice), note_data("95.00", refund="", credit="80.00", out_of_band="5.00", _preview="Preview")
    )

    form = response.context["form"]
    assert [form[name].value() for name in ("refund_amount", "credit_amount", "out_of_band_amount")] == [
        "",
        "80.00",
        "5.00",
    ]


def test_preview_button_never_overwrites_a_split_the_user_typed(staff_client):
    """Refund 60 + credit 40 typed, then the amount changed from 100 to 95: the split stays as typed (the
    submission then says it does not add up), where a split the page suggested is suggested again."""
    invoice, _, _ = paid_by_two_payments_and_balance()
    suggested = {"suggested_refund_amount": "70.00", "suggested_credit_amount": "15.00"}
    before = snapshot()

    typed = staff_client.post(
        credit_note_url(invoice),
        {
            **note_data("95.00", refund="60.00", credit="40.00", out_of_band="", _preview="Preview"),
            **suggested,
            "suggested_out_of_band_amount": "0.00",
        },
    )
    untouched = staff_client.post(
        credit_note_url(invoice),
        {
            **note_data("90.00", refund="70.00", credit="15.00", out_of_band="0.00", _preview="Preview"),
            **suggested,
            "suggested_out_of_band_amount": "0.00",
        },
    )

    form = typed.context["form"]
    assert [form[name].value() for name in ("refund_amount", "credit_amount", "out_of_band_amount")] == [
        "60.00",
        "40.00",
        "",
    ]
    form = untouched.context["form"]
    assert [form[name].value() for name in ("refund_amount", "credit_amount", "out_of_band_amount")] == [
        "70.00",
        "10.00",
        "0.00",
    ]
    assert 'name="suggested_credit_amount" value="10.00"' in untouched.content.decode()
    assert snapshot() == before


def test_preview_suggests_credit_instead_of_a_refund_to_a_user_who_may_not_refund(clerk_client):
    invoice, _, _ = paid_by_two_payments_and_balance()
    client = clerk_client("billing.view_invoice", "billing.issue_credit_note")

    response = client.post(credit_note_url(invoice), note_data("95.00", reason="", _preview="Preview"))

    form = response.context["form"]
    assert [form[name].value() for name in ("refund_amount", "credit_amount", "out_of_band_amount")] == [
        "0.00",
        "85.00",
        "0.00",
    ]
    json = client.get(preview_url(invoice), {"amount": "95.00"}).json()
    assert (json["split"]["refund_amount"], json["split"]["credit_amount"]) == ("0.00", "85.00")


def test_a_user_who_may_not_refund_cannot_send_money_back_with_a_credit_note(clerk_client):
    invoice, _, _ = paid_by_two_payments_and_balance()
    client = clerk_client("billing.view_invoice", "billing.issue_credit_note")
    before = snapshot()

    response = client.post(
        credit_note_url(invoice), note_data("95.00", refund="70.00", credit="15.00", out_of_band="0")
    )

    assert snapshot() == before
    assert "You do not have permission to send money back with a credit note." in response.content.decode()


def test_credit_note_with_the_suggested_split_returns_the_balance_part_as_credit(staff_client):
    invoice, cash, transfer = paid_by_two_payments_and_balance()

    staff_client.post(credit_note_url(invoice), note_data("95.00", refund="70.00", credit="15.00", out_of_band="0"))

    note = CreditNote.objects.get()
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_balance_applied, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        eur("0.00"),
        eur("5.00"),
        eur("0.00"),
    )
    assert sorted((refund.payment_id, refund.amount) for refund in Refund.objects.all()) == sorted(
        [(transfer.pk, eur("40.00")), (cash.pk, eur("30.00"))]
    )
    returned = MoneyBalanceEntry.objects.get(kind=MoneyBalanceEntry.Kind.RETURNED)
    assert (returned.amount, returned.note) == (eur("15.00"), f"Credited by {note.number}")


# Card payments: the refund part goes to the card


def test_card_refund_of_a_credit_note_is_pending_until_the_gateway_answers(staff_client, committed):
    invoice = open_invoice(amounts=["100.00"])
    saved_card(invoice.member)
    with committed():
        payment = payment_create_card(invoice=invoice, actor=SYSTEM)
    assert reload(payment).status == PaymentStatus.SUCCEEDED

    with committed():
        response = staff_client.post(credit_note_url(invoice), note_data("30.00", refund="30.00"), follow=True)

    note = CreditNote.objects.get()
    assert messages_of(response) == [
        f"{note.number} issued on {invoice.number} for €30.00: €30.00 refunded. {invoice.number} is paid with €0.00 "
        "remaining. The refund to the card is pending at the gateway."
    ]
    refund = Refund.objects.get()
    assert (refund.kind, refund.status, refund.credit_note) == (Refund.Kind.GATEWAY, RefundStatus.SUCCEEDED, note)


# The invoice page, the credit note page and the list


def test_invoice_page_costs_the_same_queries_with_2_and_20_credit_notes(staff_client, django_assert_num_queries):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["1000.00"])
    payment = standalone_payment(member=member, amount="500.00")
    payment_apply(invoice=invoice, applications=[(payment, eur("500.00"))], actor=SYSTEM)

    def credit_notes(count: int):
        for index in range(count):
            reason = "other" if index % 2 else "duplicate"
            credit_note_issue(invoice=invoice, actor=SYSTEM, reason=reason, amount=eur("10.00"))

    credit_notes(2)
    with_two = page_queries(staff_client, invoice_url(invoice))
    credit_notes(18)
    with_twenty = page_queries(staff_client, invoice_url(invoice))

    assert len(staff_client.get(invoice_url(invoice)).context["credit_notes"]) == 20
    assert with_twenty == with_two
    with django_assert_num_queries(with_two):
        staff_client.get(invoice_url(invoice))


def test_invoice_page_with_paid_credit_notes_costs_the_same_queries(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["1000.00"])
    for _ in range(20):
        external_payment(invoice=invoice, amount="50.00")

    def credit_notes(count: int):
        for _ in range(count):
            credit_note_issue(
                invoice=invoice,
                actor=SYSTEM,
                reason="other",
                amount=eur("20.00"),
                refund_amount=eur("10.00"),
                credit_amount=eur("10.00"),
            )

    credit_notes(2)
    with_two = page_queries(staff_client, invoice_url(invoice))
    credit_notes(18)
    with_twenty = page_queries(staff_client, invoice_url(invoice))

    assert with_twenty == with_two


def test_credit_note_page_shows_its_amounts_lines_refunds_and_activity(staff_client):
    invoice = open_invoice(amounts=["60.00", "40.00"])
    first, _ = invoice.lines.all()
    payment = external_payment(invoice=invoice)
    note = credit_note_issue(
        invoice=invoice,
        actor=SYSTEM,
        reason="product_unsatisfactory",
        memo="Projector broken",
        line_amounts={first.pk: eur("30.00")},
        refund_amount=eur("20.00"),
        out_of_band_amount=eur("10.00"),
    )

    response = staff_client.get(note_url(note))

    content = response.content.decode()
    assert f'<a href="{invoice_url(invoice)}">{invoice.number}</a>' in content
    assert "Product unsatisfactory" in content
    assert "Projector broken" in content
    assert [(line.invoice_line, line.amount) for line in response.context["lines"]] == [(first, eur("30.00"))]
    [take] = response.context["takes"]
    assert (take.allocation.payment, take.amount) == (payment, eur("30.00"))
    refunds = response.context["refunds"]
    assert sorted((refund.kind, refund.amount) for refund in refunds) == [
        (Refund.Kind.OUT_OF_BAND, eur("10.00")),
        (Refund.Kind.RECORDED, eur("20.00")),
    ]
    assert "Returned outside the system" in content
    assert [activity.verb for activity in response.context["activities"]] == ["credit_note.issued"]


def test_credit_note_page_of_a_refund_with_credit_notes_lists_that_refund(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice)
    staff_client.post(
        reverse("admin:payments_payment_refund", args=[payment.pk]),
        {"amount": "25.00", "reason": "duplicate", "invoice_handling": "credit_note", "note": ""},
    )
    note = CreditNote.objects.get()

    response = staff_client.get(note_url(note))

    [refund] = response.context["refunds"]
    assert (refund.payment, refund.amount) == (payment, eur("25.00"))
    [take] = response.context["takes"]
    assert (take.refund, take.amount) == (refund, eur("25.00"))
    assert note.memo in response.content.decode()


def test_credit_note_list_searches_by_number_and_shows_the_member(staff_client):
    member = MemberFactory(name="Grace Hopper")
    wanted = credit_note_issue(
        invoice=open_invoice(member=member, amounts=["100.00"]), actor=SYSTEM, reason="duplicate", amount=eur("5.00")
    )
    other = credit_note_issue(
        invoice=open_invoice(amounts=["100.00"]), actor=SYSTEM, reason="other", amount=eur("7.00")
    )

    everything = staff_client.get(CREDIT_NOTES)
    found = staff_client.get(CREDIT_NOTES, {"q": wanted.number})

    assert {note.pk for note in everything.context["cl"].result_list} == {wanted.pk, other.pk}
    assert [note.pk for note in found.context["cl"].result_list] == [wanted.pk]
    content = found.content.decode()
    assert "Grace Hopper" in content
    assert wanted.invoice.number in content
    assert "€5.00" in content
    assert "Duplicate" in content


def test_credit_notes_are_never_added_edited_or_deleted_in_the_admin(staff_client):
    note = credit_note_issue(invoice=open_invoice(amounts=["100.00"]), actor=SYSTEM, reason="other", amount=eur("5.00"))
    before = snapshot()

    assert staff_client.get(reverse("admin:billing_creditnote_add")).status_code == 403
    assert staff_client.post(note_url(note), {"amount_0": "1"}).status_code == 403
    assert staff_client.post(reverse("admin:billing_creditnote_delete", args=[note.pk])).status_code == 403
    assert snapshot() == before


def test_credit_note_list_costs_the_same_queries_with_2_and_20_rows(staff_client):
    def credit_notes(count: int):
        for _ in range(count):
            credit_note_issue(invoice=open_invoice(amounts=["10.00"]), actor=SYSTEM, reason="other", amount=eur("1.00"))

    credit_notes(2)
    with_two = page_queries(staff_client, CREDIT_NOTES)
    credit_notes(18)
    with_twenty = page_queries(staff_client, CREDIT_NOTES)

    assert with_twenty == with_two


# Member credit


def test_credit_kept_by_a_credit_note_is_member_credit_usable_on_a_later_invoice_in_its_currency(staff_client):
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    payment = external_payment(invoice=invoice)
    credit_note_issue(
        invoice=invoice, actor=SYSTEM, reason="order_change", amount=eur("30.00"), credit_amount=eur("30.00")
    )
    later = open_invoice(member=member, amounts=["50.00"])
    in_dollars = open_invoice(member=member, amounts=["50.00"], currency="USD")

    member_page = staff_client.get(reverse("admin:members_member_change", args=[member.pk]))
    apply_later = staff_client.get(reverse("admin:billing_invoice_apply_payment", args=[later.pk]))

    [credit] = member_page.context["member_credit"]
    assert (credit.currency, credit.unallocated, credit.balance) == ("EUR", eur("30.00"), None)
    assert credit.payments == [payment]
    content = member_page.content.decode()
    assert "Member credit" in content
    assert (
        f'<a href="{reverse("admin:payments_payment_change", args=[payment.pk])}">{payment.number}</a>: €30.00 unallocated'
        in content
    )
    assert [row_payment for row_payment, _ in apply_later.context["form"].rows()] == [payment]
    assert "Apply existing payment" not in labels(staff_client, invoice_url(in_dollars))
