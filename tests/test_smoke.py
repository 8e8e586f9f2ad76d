from djmoney.money import Money

from billing.models import InvoiceStatus
from payments.integrity import billing_integrity_violations
from tests.factories import external_payment, open_invoice, reload


def test_partial_external_payment_leaves_invoice_partially_paid(db):
    invoice = open_invoice(amounts=["100.00"])

    external_payment(invoice=invoice, amount="40.00")

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_paid == Money("40.00", "EUR")
    assert invoice.amount_remaining == Money("60.00", "EUR")
    assert invoice.shown_status() == "partially_paid"
    assert billing_integrity_violations() == []
