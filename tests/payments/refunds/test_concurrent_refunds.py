"""Two administrators refunding one payment at the same moment, on PostgreSQL (spec 5.9: amount <= amount -
refunded - refunds in flight, checked under the row locks)."""

from functools import partial

from billing.activity import Actor
from billing.errors import BillingError
from billing.models import CreditNote
from payments.integrity import billing_integrity_violations
from payments.models import Payment, Refund, RefundStatus
from payments.services.payment_apply import payment_apply
from payments.services.payment_card import payment_create_card
from payments.services.refund import payment_refund
from payments.tasks import attempt_execute_task
from tests.factories import MemberFactory, UserFactory, eur, open_invoice, reload, saved_card, standalone_payment
from tests.support.races import POSTGRES_ONLY
from tests.support.races import race as race_at_once

pytestmark = POSTGRES_ONLY

ROUNDS = 5


def race(payment: Payment, amounts: list[str], *, invoice_handling: str = "") -> list:
    """Each administrator refunds at once; returns refunds or errors."""
    admins = [Actor.staff(UserFactory(is_staff=True, is_superuser=True)) for _ in amounts]
    return race_at_once(
        [
            partial(
                payment_refund,
                payment=payment,
                amount=eur(amount),
                reason=Refund.Reason.REQUESTED_BY_MEMBER,
                actor=admin,
                invoice_handling=invoice_handling,
            )
            for admin, amount in zip(admins, amounts, strict=True)
        ]
    )


def split(results: list) -> tuple[list[Refund], list[BillingError]]:
    return (
        [result for result in results if isinstance(result, Refund)],
        [result for result in results if isinstance(result, BillingError)],
    )


def test_two_refunds_of_an_external_payment_at_once_never_exceed_it(transactional_db):
    for _ in range(ROUNDS):
        payment = standalone_payment(member=MemberFactory(), amount="100.00")

        refunds, errors = split(race(payment, ["60.00", "60.00"]))

        assert (len(refunds), len(errors)) == (1, 1)
        assert errors[0].message == (
            f"€60.00 is more than what is left to refund on {payment.number} (€40.00, counting refunds in progress)."
        )
        assert list(Refund.objects.filter(payment=payment).values_list("status", flat=True)) == [RefundStatus.SUCCEEDED]
        payment = reload(payment)
        assert (payment.amount_refunded, payment.amount_unallocated) == (eur("60.00"), eur("40.00"))
    assert billing_integrity_violations() == []


def test_refunds_racing_over_two_invoices_take_each_cent_once(transactional_db):
    for _ in range(ROUNDS):
        member = MemberFactory()
        older = open_invoice(member=member, amounts=["100.00"])
        newer = open_invoice(member=member, amounts=["50.00"])
        payment = standalone_payment(member=member, amount="150.00")
        staff = Actor.staff(UserFactory(is_staff=True, is_superuser=True))
        payment_apply(invoice=older, applications=[(payment, eur("100.00"))], actor=staff)
        payment_apply(invoice=newer, applications=[(payment, eur("50.00"))], actor=staff)

        refunds, errors = split(
            race(payment, ["70.00", "70.00", "70.00"], invoice_handling=Refund.InvoiceHandling.CREDIT_NOTE)
        )

        assert (len(refunds), len(errors)) == (2, 1)
        assert errors[0].message == (
            f"€70.00 is more than what is left to refund on {payment.number} (€10.00, counting refunds in progress)."
        )
        payment = reload(payment)
        assert (payment.amount_allocated, payment.amount_refunded, payment.amount_unallocated) == (
            eur("10.00"),
            eur("140.00"),
            eur("0.00"),
        )
        assert sum((note.amount for note in CreditNote.objects.filter(invoice__member=member)), eur("0.00")) == eur(
            "140.00"
        )
        assert (reload(older).amount_credited, reload(newer).amount_credited) == (eur("90.00"), eur("50.00"))
    assert billing_integrity_violations() == []


def test_two_card_refunds_at_once_count_the_one_in_flight(transactional_db, no_worker):
    for _ in range(ROUNDS):
        invoice = open_invoice(amounts=["100.00"])
        saved_card(invoice.member)
        payment = payment_create_card(invoice=invoice, actor=Actor.staff(UserFactory(is_staff=True, is_superuser=True)))
        attempt_execute_task.apply(args=[payment.attempts.get().pk])
        assert reload(payment).status == "succeeded"

        refunds, errors = split(race(payment, ["100.00", "100.00"], invoice_handling=Refund.InvoiceHandling.REOPEN))

        assert (len(refunds), len(errors)) == (1, 1)
        assert errors[0].message == (
            f"€100.00 is more than what is left to refund on {payment.number} (€0.00, counting refunds in progress)."
        )
        assert reload(refunds[0]).status == RefundStatus.PENDING
        payment = reload(payment)
        assert (payment.amount_refund_pending, payment.amount_allocated, payment.amount_unallocated) == (
            eur("100.00"),
            eur("0.00"),
            eur("0.00"),
        )
        assert reload(invoice).amount_remaining == eur("100.00")
    assert billing_integrity_violations() == []
