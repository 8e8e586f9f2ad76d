"""The benchmarks' data builder writes books that every invariant holds for, in every status, and that the services
keep working on: a second build continues the ids and numbers, and a payment recorded afterwards gets the next ones."""

from collections import Counter

import pytest
from djmoney.money import Money

from bench.dataset import dataset_build, scale
from billing.activity import Actor
from billing.models import CreditNote, Invoice, InvoiceStatus, MoneyBalanceEntry
from billing.services.invoice_draft import LineInput, invoice_draft_create
from billing.services.invoice_issue import invoice_issue
from members.models import Member
from payments.integrity import billing_integrity_violations
from payments.models import Allocation, Payment, PaymentMethodKind, PaymentStatus, Refund
from payments.services.payment_external import payment_create_external

SIZES = {"members": 12, "invoices": 60, "payments": 150, "activities": 400}
SYSTEM = Actor.system("test")


@pytest.mark.django_db
def test_the_data_set_holds_every_invariant_and_every_status():
    written = dataset_build(**SIZES)

    assert billing_integrity_violations() == []
    assert written["billing_invoice"] == 60
    assert Member.objects.count() == 12
    assert set(Invoice.objects.values_list("status", flat=True)) == set(InvoiceStatus.values)
    assert Invoice.objects.filter(status=InvoiceStatus.OPEN, amount_paid__gt=0).exists()  # partially paid
    assert set(Invoice.objects.values_list("currency", flat=True)) == {"EUR", "CHF", "GBP"}
    statuses = Counter(Payment.objects.values_list("method", "status"))
    assert statuses[(PaymentMethodKind.CARD, PaymentStatus.SUCCEEDED)]
    assert statuses[(PaymentMethodKind.CARD, PaymentStatus.FAILED)]
    assert statuses[(PaymentMethodKind.EXTERNAL, PaymentStatus.SUCCEEDED)]
    assert statuses[(PaymentMethodKind.EXTERNAL, PaymentStatus.VOID)]
    assert Payment.objects.count() == pytest.approx(150, abs=10)
    assert Allocation.objects.filter(status=Allocation.Status.REMOVED).exists()
    assert Refund.objects.exists() and CreditNote.objects.exists() and MoneyBalanceEntry.objects.exists()


@pytest.mark.django_db
def test_a_second_build_and_the_services_continue_the_ids_and_numbers():
    dataset_build(**scale("tiny"))
    dataset_build(**SIZES)
    assert billing_integrity_violations() == []

    member = Member.objects.filter(default_currency="EUR").first()
    draft = invoice_draft_create(member=member, actor=SYSTEM, lines=[LineInput("Hot desk", 1, Money("100.00", "EUR"))])
    invoice = invoice_issue(invoice=draft, actor=SYSTEM, apply_credit=False)
    payment = payment_create_external(invoice=invoice, actor=SYSTEM, kind="cash", amount=Money("100.00", "EUR"))

    assert invoice.pk == Invoice.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert payment.number not in set(Payment.objects.exclude(pk=payment.pk).values_list("number", flat=True))
    assert billing_integrity_violations() == []
