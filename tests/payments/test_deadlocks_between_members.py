"""Two members' money operations never wait for each other on a number, on PostgreSQL.

Issuing and charging an invoice with the member's credit applied takes an allocation number (ALC) and then a
payment number (PAY); an external payment takes PAY then ALC. When those numbers came from locked per-year counters
the two flows, for two different members, deadlocked. PAY and ALC now come from sequences that take no lock (see
billing/numbering.py), so 20 pairs at once all succeed.
"""

from functools import partial

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
