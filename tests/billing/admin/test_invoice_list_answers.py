"""The invoice list answers questions: what is wrong with an invoice's payments (badges and a filter), nothing
remaining on a void invoice, a search that ignores accents and finds payments' numbers, references, amounts and
card last 4, and the totals of the rows listed."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from payments.models import AttemptStatus, Payment, PaymentAttempt
from payments.services.payment_external import payment_create_external
from tests.factories import SYSTEM, MemberFactory, card_payment, draft_invoice, external_payment, open_invoice
from tests.payments.admin.helpers import page_queries

CHANGELIST = reverse("admin:billing_invoice_changelist")


def listed(response) -> set[int]:
    return {invoice.pk for invoice in response.context["cl"].result_list}


def badge(value: str, label: str) -> str:
    return f'<span class="billing-badge billing-badge--{value}">{label}</span>'


def row_of(content: str, number: str) -> str:
    """The HTML of the list's row that shows `number`."""
    start = content.index(f">{number}</a>")
    return content[start : content.index("</tr>", start)]


def failed_card_payment(invoice, *, retry_in_days: int | None):
    payment = card_payment(invoice=invoice, amount=str(invoice.amount_remaining.amount), status="failed")
    if retry_in_days is not None:
        Payment.objects.filter(pk=payment.pk).update(
            next_retry_at=timezone.now() + datetime.timedelta(days=retry_in_days)
        )
    return payment


def attempt_needing_review(payment) -> PaymentAttempt:
    return PaymentAttempt.objects.create(
        payment=payment,
        payment_method=payment.payment_method,
        amount=payment.amount,
        status=AttemptStatus.PROCESSING,
        trigger="staff",
        gateway="sandbox",
        gateway_payment_id=f"pi_unknown_{payment.pk}",
        needs_review=True,
    )


@pytest.fixture
def flagged(db):
    """An invoice for each payment flag, and a paid one whose old failed charge no longer matters."""
    retrying = open_invoice(amounts=["100.00"])
    failed_card_payment(retrying, retry_in_days=3)
    failed_for_good = open_invoice(amounts=["90.00"])
    failed_card_payment(failed_for_good, retry_in_days=None)
    processing = open_invoice(amounts=["80.00"])
    card_payment(invoice=processing, amount="80.00", status="processing")
    review = open_invoice(amounts=["70.00"])
    attempt_needing_review(card_payment(invoice=review, amount="70.00", status="processing"))
    disputed = open_invoice(amounts=["60.00"])
    Payment.objects.filter(pk=external_payment(invoice=disputed).pk).update(disputed=True)
    paid = open_invoice(amounts=["50.00"])
    failed_card_payment(paid, retry_in_days=2)
    external_payment(invoice=paid)
    return {
        "retrying": retrying,
        "failed_for_good": failed_for_good,
        "processing": processing,
        "review": review,
        "disputed": disputed,
        "paid": paid,
        "plain": open_invoice(amounts=["40.00"]),
    }


def test_badges_say_what_is_wrong_with_the_payments_beside_the_status(staff_client, flagged):
    content = staff_client.get(CHANGELIST).content.decode()

    retrying = row_of(content, flagged["retrying"].number)
    assert badge("open", "Open") in retrying
    assert badge("payment_failed", "Payment failed") in retrying
    assert 'class="billing-badge billing-badge--retry_scheduled" title="Next retry: ' in retrying
    failed_for_good = row_of(content, flagged["failed_for_good"].number)
    assert badge("payment_failed", "Payment failed") in failed_for_good
    assert "retry_scheduled" not in failed_for_good
    assert badge("processing", "Processing") in row_of(content, flagged["processing"].number)
    assert badge("needs_review", "Needs review") in row_of(content, flagged["review"].number)
    assert badge("disputed", "Disputed") in row_of(content, flagged["disputed"].number)
    paid = row_of(content, flagged["paid"].number)
    assert badge("paid", "Paid") in paid
    assert "payment_failed" not in paid and "retry_scheduled" not in paid
    plain = row_of(content, flagged["plain"].number)
    assert plain.count('<span class="billing-badge') == 1


def test_an_uncollectible_invoice_still_shows_its_failed_charge(staff_client):
    invoice = open_invoice(amounts=["100.00"])
    failed_card_payment(invoice, retry_in_days=None)
    invoice = invoice_mark_uncollectible(invoice=invoice, actor=SYSTEM)

    row = row_of(staff_client.get(CHANGELIST).content.decode(), invoice.number)

    assert badge("uncollectible", "Uncollectible") in row
    assert badge("payment_failed", "Payment failed") in row


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("payment_failed", {"retrying", "failed_for_good"}),
        ("retry_scheduled", {"retrying"}),
        ("processing", {"processing", "review"}),
        ("needs_review", {"review"}),
        ("disputed", {"disputed"}),
    ],
)
def test_filter_by_payment_flag(staff_client, flagged, flag, expected):
    response = staff_client.get(CHANGELIST, {"payment_flag": flag})

    assert listed(response) == {flagged[name].pk for name in expected}


def test_badges_cost_no_query_per_row(staff_client, flagged):
    with_seven = page_queries(staff_client, CHANGELIST)
    for _ in range(5):
        failed_card_payment(open_invoice(amounts=["10.00"]), retry_in_days=1)
        attempt_needing_review(card_payment(invoice=open_invoice(amounts=["10.00"]), amount="10.00"))

    assert page_queries(staff_client, CHANGELIST) == with_seven


def test_a_void_invoice_shows_no_amount_remaining(staff_client):
    void = invoice_void(invoice=open_invoice(amounts=["1206.00"]), actor=SYSTEM)
    still_open = open_invoice(amounts=["1206.00"])

    content = staff_client.get(CHANGELIST).content.decode()

    assert '<td class="field-amount_remaining_display">—</td>' in row_of(content, void.number)
    assert '<td class="field-amount_remaining_display">€1,206.00</td>' in row_of(content, still_open.number)
    assert '<td class="field-total">€1,206.00</td>' in row_of(content, void.number)


# Search -------------------------------------------------------------------------------------------------------------


def test_search_ignores_accents_and_case(staff_client):
    lea = open_invoice(amounts=["10.00"], member=MemberFactory(name="Léa Müller"))
    zoe = open_invoice(amounts=["10.00"], member=MemberFactory(name="Zoé Straßer"))
    open_invoice(amounts=["10.00"], member=MemberFactory(name="Alan Turing"))

    assert listed(staff_client.get(CHANGELIST, {"q": "lea"})) == {lea.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "LEA muller"})) == {lea.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "léa"})) == {lea.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "zoe"})) == {zoe.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "strasser"})) == {zoe.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "Straß"})) == {zoe.pk}


def test_search_by_member_email_and_partial_number(staff_client):
    wanted = open_invoice(amounts=["10.00"], member=MemberFactory(email="ada@analytical.example"))
    other = open_invoice(amounts=["10.00"])

    assert listed(staff_client.get(CHANGELIST, {"q": "analytical"})) == {wanted.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": other.number[-5:]})) == {other.pk}


def test_search_finds_an_invoice_by_its_payments_number_reference_and_card(staff_client):
    by_check = open_invoice(amounts=["100.00"])
    check = payment_create_external(
        invoice=by_check, actor=SYSTEM, kind="check", amount=Money("30.00", "EUR"), reference="CHQ-778812"
    )
    by_card = open_invoice(amounts=["100.00"])
    card = card_payment(invoice=by_card, amount="100.00", status="failed")
    card.payment_method.__class__.objects.filter(pk=card.payment_method_id).update(last4="1881")
    open_invoice(amounts=["100.00"])

    assert listed(staff_client.get(CHANGELIST, {"q": check.number})) == {by_check.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "chq-778812"})) == {by_check.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": card.number})) == {by_card.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "1881"})) == {by_card.pk}


# Digits no invoice or payment number of a test run reaches (a search for "40" also finds INV-2026-00040).
@pytest.mark.parametrize("typed", ["93817.00", "93817", "93817,00", "93817.0"])
def test_search_by_amount_as_typed(staff_client, typed):
    total = open_invoice(amounts=["93817.00"])
    remaining = open_invoice(amounts=["93917.00"])
    external_payment(invoice=remaining, amount="100.00")
    open_invoice(amounts=["93818.00"])
    open_invoice(amounts=["193817.00"])

    assert listed(staff_client.get(CHANGELIST, {"q": typed})) == {total.pk, remaining.pk}


def test_search_by_a_large_amount_with_its_group_separator(staff_client):
    wanted = open_invoice(amounts=["1206.00"])
    open_invoice(amounts=["120.60"])

    assert listed(staff_client.get(CHANGELIST, {"q": "1,206.00"})) == {wanted.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "1206"})) == {wanted.pk}


def test_search_with_odd_text_finds_nothing_and_fails_nothing(staff_client):
    open_invoice(amounts=["10.00"], member=MemberFactory(name="Léa Martin"))

    for text in ["%", "_", "\\", "'", '"', "' OR 1=1 --", "ﬁ", "0,00", "00015", "x" * 3000]:
        response = staff_client.get(CHANGELIST, {"q": text})
        assert response.status_code == 200, text
        assert listed(response) == set(), text


def test_words_of_a_search_must_all_match(staff_client):
    lea = open_invoice(amounts=["40.00"], member=MemberFactory(name="Léa Martin"))
    open_invoice(amounts=["40.00"], member=MemberFactory(name="Marc Dupont"))
    open_invoice(amounts=["50.00"], member=MemberFactory(name="Lea Roux"))

    assert listed(staff_client.get(CHANGELIST, {"q": "lea 40.00"})) == {lea.pk}


# Totals ------------------------------------------------------------------------------------------------------------


def totals_of(response) -> dict[str, tuple]:
    totals = response.context["list_totals"]
    return {row.currency: (row.count, *(amount.amount for amount in row.amounts)) for row in totals.rows}


def test_totals_of_the_rows_listed_per_currency(staff_client):
    member = MemberFactory()
    partly_paid = open_invoice(member=member, amounts=["100.00"])
    external_payment(invoice=partly_paid, amount="40.00")
    open_invoice(member=member, amounts=["25.50"])
    invoice_void(invoice=open_invoice(member=member, amounts=["1206.00"]), actor=SYSTEM)
    draft_invoice(member=member, amounts=["7.00"])
    paid = open_invoice(member=member, amounts=["30.00"])
    external_payment(invoice=paid)
    invoice_mark_uncollectible(invoice=open_invoice(member=member, amounts=["12.00"]), actor=SYSTEM)
    open_invoice(member=member, amounts=["5000"], currency="JPY")
    open_invoice(amounts=["999.00"])  # another member's

    response = staff_client.get(CHANGELIST, {"member__id__exact": member.pk})

    assert totals_of(response) == {
        # rows, invoiced, paid, remaining
        "EUR": (6, Decimal("167.50"), Decimal("70.00"), Decimal("97.50")),
        "JPY": (1, Decimal("5000"), Decimal("0"), Decimal("5000")),
    }
    content = response.content.decode()
    assert "Totals of the rows listed" in content
    assert '<td class="billing-number">€167.50</td>' in content
    assert '<td class="billing-number">¥5,000</td>' in content


def test_totals_follow_the_search_and_the_filters(staff_client):
    lea = open_invoice(amounts=["10.00"], member=MemberFactory(name="Léa Martin"))
    open_invoice(amounts=["20.00"], member=MemberFactory(name="Marc Dupont"))

    assert totals_of(staff_client.get(CHANGELIST, {"q": "lea"})) == {
        "EUR": (1, Decimal("10.00"), Decimal("0"), Decimal("10.00"))
    }
    assert totals_of(staff_client.get(CHANGELIST, {"q": "nobody"})) == {}
    assert totals_of(staff_client.get(CHANGELIST, {"shown_status": "paid"})) == {}
    assert totals_of(staff_client.get(CHANGELIST)) == {"EUR": (2, Decimal("30.00"), Decimal("0"), Decimal("30.00"))}
    assert lea.pk in listed(staff_client.get(CHANGELIST))


def test_a_large_table_listed_unfiltered_asks_for_a_filter_before_summing(staff_client, monkeypatch):
    monkeypatch.setattr("billing.admin.totals.ESTIMATE_FROM", 2)
    member = MemberFactory()
    for _ in range(2):
        open_invoice(member=member, amounts=["10.00"])

    unfiltered = staff_client.get(CHANGELIST)
    filtered = staff_client.get(CHANGELIST, {"member__id__exact": member.pk})

    assert unfiltered.context["list_totals"].unsummed
    assert "Filter or search the list to see the totals of its rows." in unfiltered.content.decode()
    assert totals_of(filtered) == {"EUR": (2, Decimal("20.00"), Decimal("0"), Decimal("20.00"))}
