"""Two members' money operations never wait for each other on a number, on PostgreSQL.

Issuing and charging an invoice with the member's credit applied takes an allocation number (ALC) and then a
payment number (PAY); an external payment takes PAY then ALC. When those numbers came from locked per-year counters
the two flows, for two different members, deadlocked. PAY and ALC now come from sequences that take no lock (see
billing/numbering.py), so 20 pairs at once all succeed, through the services and through the admin's pages.
"""

from functools import partial
from html.parser import HTMLParser

from django.test import Client
from django.urls import reverse

from billing.activity import Actor
from billing.errors import BillingError
from billing.models import InvoiceStatus
from billing.services.money_balance_adjust import money_balance_adjust
from payments.integrity import billing_integrity_violations
from payments.models import Payment, PaymentStatus
from payments.services.payment_card import invoice_issue_and_charge
from payments.services.payment_external import payment_create_external
from tests.factories import (
    SYSTEM,
    MemberFactory,
    UserFactory,
    draft_invoice,
    eur,
    open_invoice,
    reload,
    saved_card,
    standalone_payment,
)
from tests.support.races import POSTGRES_ONLY, race

pytestmark = POSTGRES_ONLY

PAIRS = 20


def test_issue_and_charge_with_credit_and_an_external_payment_of_another_member_never_deadlock(transactional_db):
    staff = Actor.staff(UserFactory(is_staff=True, is_superuser=True))
    calls, charged, paid_externally = [], [], []
    for _ in range(PAIRS):
        member = MemberFactory()
        money_balance_adjust(member=member, amount=eur("10.00"), is_credit=True, note="Goodwill", actor=SYSTEM)
        standalone_payment(member=member, amount="20.00")
        saved_card(member)
        draft = draft_invoice(member=member, amounts=["100.00"])
        other = open_invoice(member=MemberFactory(), amounts=["50.00"])
        calls.append(partial(invoice_issue_and_charge, invoice=draft, actor=staff))
        calls.append(partial(payment_create_external, invoice=other, actor=staff, kind="cash"))
        charged.append(draft)
        paid_externally.append(other)

    results = race(calls)

    assert [result for result in results if isinstance(result, BillingError)] == []
    for draft in charged:
        invoice = reload(draft)
        assert (invoice.status, invoice.amount_balance_applied, invoice.amount_paid) == (
            InvoiceStatus.PAID,
            eur("10.00"),
            eur("90.00"),
        )
        card = Payment.objects.get(invoice=invoice, method="card")
        assert (card.status, card.amount) == (PaymentStatus.SUCCEEDED, eur("70.00"))
    for other in paid_externally:
        assert reload(other).status == InvoiceStatus.PAID
    numbers = list(Payment.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 3 * PAIRS
    assert billing_integrity_violations() == []


class _FormFields(HTMLParser):
    """The fields a browser would send with the page's forms: inputs with their values, each select's chosen
    option (hidden fields such as a one-time form key included)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        name = attributes.get("name")
        if tag == "input" and name and attributes.get("type") not in ("submit", "checkbox", "radio"):
            self.fields[name] = attributes.get("value") or ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and (self._select not in self.fields or "selected" in attributes):
            self.fields[self._select] = attributes.get("value") or ""

    def handle_endtag(self, tag) -> None:
        if tag == "select":
            self._select = None


def _form_fields(client: Client, url: str) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    parser = _FormFields()
    parser.feed(response.content.decode())
    return parser.fields


def test_the_two_flows_over_http_never_answer_an_error(transactional_db):
    """The same pairs through the admin's pages, as two administrators at two browsers: every request is
    answered with a redirect to the invoice, none with a server error."""
    admin = UserFactory(is_staff=True, is_superuser=True)
    admin.save()  # the factory sets the password without saving it; the session checks its hash
    requests = []
    for _ in range(PAIRS // 2):
        member = MemberFactory()
        money_balance_adjust(member=member, amount=eur("10.00"), is_credit=True, note="Goodwill", actor=SYSTEM)
        standalone_payment(member=member, amount="20.00")
        card = saved_card(member)
        draft = draft_invoice(member=member, amounts=["100.00"])
        other = open_invoice(member=MemberFactory(), amounts=["50.00"])
        issue_and_charge = reverse("admin:billing_invoice_issue_and_charge", args=[draft.pk])
        create_payment = reverse("admin:billing_invoice_create_payment", args=[other.pk])
        requests.append((issue_and_charge, {"payment_method": str(card.pk)}, draft))
        requests.append((create_payment, {"amount": "50.00", "method": "external", "kind": "cash"}, other))

    def post(url: str, data: dict[str, str]):
        client = Client()
        client.force_login(admin)
        fields = {**_form_fields(client, url), **data}
        return client.post(url, fields).status_code

    statuses = race([partial(post, url, data) for url, data, _ in requests])

    assert statuses == [302] * len(requests)
    assert {reload(invoice).status for _, _, invoice in requests} == {InvoiceStatus.PAID}
    assert billing_integrity_violations() == []
