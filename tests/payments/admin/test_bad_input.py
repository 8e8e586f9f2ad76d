"""Input that used to answer 500 in the admin (issue #10, "Server errors from input"): each answers with a form error
now, and writes nothing. The fuzz test (tests/payments/test_fuzz_inputs.py) tries many more values on every form."""

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.admin.fields import object_id_parse
from payments.models import Payment
from tests.factories import MemberFactory, books_snapshot, draft_invoice, open_invoice
from tests.payments.admin.helpers import draft_form_data, line, messages_of

pytestmark = pytest.mark.django_db

STANDALONE = reverse("admin:payments_payment_record_standalone")
ADD = reverse("admin:billing_invoice_add")
NOT_A_CHOICE = "Select a valid choice. That choice is not one of the available choices."


def standalone_data(member_id, **fields) -> dict:
    return {
        "member": member_id,
        "amount": "25.00",
        "currency": "EUR",
        "kind": "bank_transfer",
        "reference": "",
        "received_on": timezone.localdate().isoformat(),
        "note": "",
        **fields,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        (" 42 ", 42),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("99999999999999999999", None),
        ("0", None),
        ("-1", None),
        ("1.5", None),
        ("1e3", None),
        ("abc", None),
        ("²", None),
        ("１", None),
        ("1\x00", None),
        ("", None),
        (None, None),
    ],
)
def test_object_id_parse_reads_only_ids_the_database_can_hold(text, expected):
    assert object_id_parse(text) == expected


@pytest.mark.parametrize("member_id", ["abc", "²", "1.5", "1\x00", "-1", "99999999999999999999", "9223372036854775808"])
def test_standalone_payment_with_a_member_that_is_no_id_is_a_form_error(staff_client, member_id):
    MemberFactory()
    before = books_snapshot()

    response = staff_client.post(STANDALONE, standalone_data(member_id))

    assert response.status_code == 200
    assert response.context["form"].errors == {"member": [NOT_A_CHOICE]}
    assert 'name="member"' in response.content.decode()
    assert books_snapshot() == before
    assert not Payment.objects.exists()


@pytest.mark.parametrize("member_id", ["abc", "²", "１", "-1", "99999999999999999999", "1\x00"])
def test_standalone_and_draft_pages_ignore_a_member_query_that_is_no_id(staff_client, member_id):
    response = staff_client.get(STANDALONE, {"member": member_id})

    assert response.status_code == 200
    assert response.context["form"].initial["member"] is None

    assert staff_client.get(ADD, {"member": member_id}).status_code == 200


def test_standalone_page_takes_the_member_of_the_query(staff_client):
    member = MemberFactory(default_currency="CHF")

    response = staff_client.get(STANDALONE, {"member": str(member.pk)})

    assert response.context["form"].initial == {"member": member, "currency": "CHF"}


@pytest.mark.parametrize("value", ["NaN", "sNaN", "-NaN", "Infinity", "-Infinity", "inf", "1e999", "1e3", "1E2", "١"])
@pytest.mark.parametrize("field", ["quantity", "tax_rate"])
def test_special_decimals_and_exponents_in_quantity_and_tax_rate_are_form_errors(staff_client, field, value):
    member = MemberFactory()
    row = line("Hot desk", "10.00", **{field: value})
    before = books_snapshot()

    response = staff_client.post(ADD, draft_form_data(member=member.pk, lines=[row]))

    assert response.status_code == 200
    assert response.context["lines"].errors == [{field: ["Enter a number."]}]
    assert books_snapshot() == before


OUT_OF_RANGE = "Enter a date from 2000-01-01 to 2099-12-31."


def before_earliest(value: str) -> str:
    return f"The date received ({value}) is before 2000-01-01, the earliest date this space accepts; check the year."


def in_the_future(value: str) -> str:
    return f"The date received ({value}) cannot be in the future."


@pytest.mark.parametrize(
    ("value", "error", "received_refusal"),
    [
        ("0001-01-01", OUT_OF_RANGE, before_earliest("0001-01-01")),
        ("9999-12-31", OUT_OF_RANGE, in_the_future("9999-12-31")),
        ("1999-12-31", OUT_OF_RANGE, before_earliest("1999-12-31")),
        ("2100-01-01", OUT_OF_RANGE, in_the_future("2100-01-01")),
        ("2026-02-30", "Enter a valid date.", None),
        ("99999-01-01", "Enter a valid date.", None),
        ("2026-01-01\x00", "Enter a valid date.", None),
    ],
)
def test_dates_far_out_are_form_errors(staff_client, value, error, received_refusal):
    """Dates out of range are form errors; a date received is bounded by the payment rule instead, whose message
    says which bound it broke (BILLING_EARLIEST_RECEIVED_DATE, today)."""
    member = MemberFactory()
    invoice = open_invoice(member=member, amounts=["100.00"])
    before = books_snapshot()

    drafted = staff_client.post(
        ADD, draft_form_data(member=member.pk, issue_date=value, due_date=value, lines=[line("Desk", "10.00")])
    )
    received = staff_client.post(
        reverse("admin:billing_invoice_create_payment", args=[invoice.pk]),
        {"amount": "10.00", "method": "external", "kind": "cash", "received_on": value},
    )
    aging = staff_client.get(reverse("admin:billing_report_aging"), {"as_of": value})

    assert drafted.context["form"].errors == {"issue_date": [error], "due_date": [error]}
    if received_refusal is None:
        assert received.context["form"].errors == {"received_on": [error]}
    else:
        assert (received.status_code, messages_of(received)) == (200, [received_refusal])
    assert (aging.status_code, aging.context["form"].errors) == (200, {"as_of": [error]})
    assert books_snapshot() == before


@pytest.mark.parametrize("total", ["-1", "-5"])
def test_a_negative_number_of_lines_is_refused_not_read_as_no_lines(staff_client, total):
    member = MemberFactory()
    data = {**draft_form_data(member=member.pk, lines=[line("Desk", "10.00")]), "lines-TOTAL_FORMS": total}
    before = books_snapshot()

    response = staff_client.post(ADD, data)

    assert response.status_code == 200
    assert response.context["lines"].non_form_errors() == [
        "The lines were sent incomplete: reload the page and enter them again."
    ]
    assert books_snapshot() == before


def test_a_page_claiming_thousands_of_lines_builds_at_most_200(staff_client):
    invoice = draft_invoice()
    data = {**draft_form_data(lines=[line("Desk", "10.00")], initial_lines=1), "lines-TOTAL_FORMS": "100000"}
    before = books_snapshot()

    response = staff_client.post(reverse("admin:billing_invoice_change", args=[invoice.pk]), data)

    assert response.status_code == 200
    assert len(response.context["lines"].forms) == 200
    assert response.context["lines"].non_form_errors() == ["Please submit at most 200 forms."]
    assert books_snapshot() == before


@pytest.mark.parametrize("currency", ["ZZZ", "XXX", "eu", "SEK"])
def test_a_members_default_currency_is_one_the_space_bills_in(staff_client, currency):
    member = MemberFactory(default_currency="EUR")
    data = {
        "name": member.name,
        "kind": "person",
        "email": member.email,
        "billing_address": "",
        "default_currency": currency,
        "user": "",
    }

    response = staff_client.post(reverse("admin:members_member_change", args=[member.pk]), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "default_currency": [f"Select a valid choice. {currency} is not one of the available choices."]
    }
    member.refresh_from_db()
    assert member.default_currency == "EUR"


@pytest.mark.parametrize(
    "query",
    [{"status": "\x00"}, {"member__id": "a\x00"}, {"created_at__year": "99999999999999999999"}, {"q\x00": "x"}],
)
def test_a_list_filter_the_database_cannot_take_sends_the_list_again_flagged(staff_client, query):
    url = reverse("admin:payments_payment_changelist")

    response = staff_client.get(url, query)

    assert (response.status_code, response["Location"]) == (302, f"{url}?e=1")


def test_the_member_autocomplete_finds_nothing_for_a_nul_character(staff_client):
    MemberFactory(name="Léa Martin")
    query = {"app_label": "billing", "model_name": "invoice", "field_name": "member"}

    found = staff_client.get(reverse("admin:autocomplete"), {**query, "term": "Léa"}).json()
    nothing = staff_client.get(reverse("admin:autocomplete"), {**query, "term": "L\x00"}).json()

    assert [result["text"] for result in found["results"]] == ["Léa Martin"]
    assert nothing == {"results": [], "pagination": {"more": False}}
