"""The preview of the Refund page: what the service would do, read from the current rows (the service checks everything
again under its locks). The same preview feeds the page (server-side, on GET and on Preview) and its JSON endpoint
(the page's script asks it again when an amount changes). And the preview of the Allocate page."""

from dataclasses import dataclass, field

from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.admin.previews import money_json, shown_status_after
from billing.errors import BillingError
from billing.models import Invoice, InvoiceStatus
from billing.money import money_parse, money_sum, zero
from payments.models import Payment
from payments.services.payment_allocate import AllocationStep, allocation_plan, invoice_age_key, payment_age_key
from payments.services.refund import payment_refundable, refund_plan

REFUND_PREVIEW_TEMPLATE = "admin/payments/payment/refund_preview.html"


@dataclass(frozen=True)
class InvoiceAfterRefund:
    """One invoice a refund takes money from, and what each choice leaves on it."""

    invoice: Invoice
    amount: Money
    reopen_remaining: Money
    reopen_status: str
    credit_note_status: str

    @property
    def remaining(self) -> Money:
        return self.invoice.amount_remaining

    @property
    def status(self) -> str:
        return self.invoice.get_shown_status_display()


@dataclass(frozen=True)
class RefundPreview:
    refundable: Money
    amount: Money | None = None
    from_unallocated: Money | None = None
    invoices: list[InvoiceAfterRefund] = field(default_factory=list)
    error: str = ""

    @property
    def takes_allocated_money(self) -> bool:
        return bool(self.invoices)

    def as_json(self) -> dict:
        return {
            "ok": not self.error and self.amount is not None,
            "error": self.error,
            "currency": self.refundable.currency.code,
            "amount": money_json(self.amount),
            "refundable": money_json(self.refundable),
            "from_unallocated": money_json(self.from_unallocated),
            "takes_allocated_money": self.takes_allocated_money,
            "invoices": [
                {
                    "invoice": row.invoice.number,
                    "amount": money_json(row.amount),
                    "remaining": money_json(row.remaining),
                    "status": row.status,
                    "reopen": {"remaining": money_json(row.reopen_remaining), "status": row.reopen_status},
                    "credit_note": {"remaining": money_json(row.remaining), "status": row.credit_note_status},
                }
                for row in self.invoices
            ],
        }


def refund_preview(*, payment: Payment, text: str | None) -> RefundPreview:
    """What refunding `text` (as typed) of the payment would take: its unallocated money first, then its
    allocations newest first, grouped per invoice."""
    refundable = payment_refundable(payment)
    if not (text or "").strip():
        return RefundPreview(refundable, error=_("Enter the amount to refund."))
    try:
        amount = money_parse(text, payment.currency)
    except BillingError as error:
        return RefundPreview(refundable, error=error.message)
    if amount > refundable:
        return RefundPreview(
            refundable,
            amount=amount,
            error=_(
                "%(amount)s is more than what is left to refund on %(payment)s (%(refundable)s, counting refunds in "
                "progress)."
            )
            % {"amount": amount, "payment": payment, "refundable": refundable},
        )
    plan = refund_plan(payment=payment, amount=amount)
    taken: dict[int, tuple[Invoice, Money]] = {}
    for allocation, take in plan.from_invoices:
        invoice, before = taken.get(allocation.invoice_id, (allocation.invoice, zero(payment.currency)))
        taken[allocation.invoice_id] = (invoice, before + take)
    rows = []
    for invoice, take in taken.values():
        reopen_remaining = invoice.amount_remaining + take
        reopened = InvoiceStatus.OPEN if invoice.status == InvoiceStatus.PAID else invoice.status
        rows.append(
            InvoiceAfterRefund(
                invoice=invoice,
                amount=take,
                reopen_remaining=reopen_remaining,
                reopen_status=shown_status_after(invoice, status=reopened, amount_paid=invoice.amount_paid - take),
                credit_note_status=shown_status_after(
                    invoice, status=invoice.status, amount_paid=invoice.amount_paid - take
                ),
            )
        )
    return RefundPreview(refundable, amount=amount, from_unallocated=plan.from_unallocated, invoices=rows)


def refund_preview_html(preview: RefundPreview, *, payment: Payment) -> str:
    return render_to_string(REFUND_PREVIEW_TEMPLATE, {"preview": preview, "payment": payment})


@dataclass(frozen=True)
class InvoiceAfterAllocation:
    invoice: Invoice
    amount: Money
    remaining_after: Money
    status_after: str


@dataclass(frozen=True)
class PaymentAfterAllocation:
    payment: Payment
    amount: Money
    unallocated_after: Money


@dataclass(frozen=True)
class AllocationPreview:
    """What allocating would do, read from the current rows (the service plans again under its locks): each
    allocation, and each invoice and payment after it."""

    steps: list[AllocationStep]
    invoices: list[InvoiceAfterAllocation]
    payments: list[PaymentAfterAllocation]
    total: Money


def allocation_preview(*, payments: list[Payment], amounts: list[tuple[Invoice, Money]]) -> AllocationPreview:
    """The preview of `payments_allocate`; raises its BillingError when it would refuse on the current rows."""
    steps = allocation_plan(payments=payments, amounts=amounts)
    currency = amounts[0][1].currency.code
    invoices = []
    for invoice, _amount in sorted(amounts, key=lambda pair: invoice_age_key(pair[0])):
        amount = money_sum([step.amount for step in steps if step.invoice.pk == invoice.pk], currency)
        remaining = invoice.amount_remaining - amount
        status = InvoiceStatus.PAID if remaining.amount == 0 else invoice.status
        invoices.append(
            InvoiceAfterAllocation(
                invoice=invoice,
                amount=amount,
                remaining_after=remaining,
                status_after=shown_status_after(invoice, status=status, amount_paid=invoice.amount_paid + amount),
            )
        )
    payments_after = []
    for payment in sorted(payments, key=payment_age_key):
        amount = money_sum([step.amount for step in steps if step.payment.pk == payment.pk], currency)
        payments_after.append(
            PaymentAfterAllocation(
                payment=payment, amount=amount, unallocated_after=payment.amount_unallocated - amount
            )
        )
    return AllocationPreview(
        steps=steps,
        invoices=invoices,
        payments=payments_after,
        total=money_sum([step.amount for step in steps], currency),
    )
