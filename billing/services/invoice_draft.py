"""Create, edit and delete draft invoices, and change what may change on an issued one (memo, due date)."""

import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing.activity import Actor, activity_record
from billing.errors import BillingError, InvalidAmount, InvalidState
from billing.lock_objects import invoice_lock, member_lock
from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.money import currency_check, money_check_entered, money_round, zero
from members.models import Member

MAX_QUANTITY = Decimal("1000000")


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_amount: Money
    tax_rate: Decimal = Decimal(0)


def _line_validated(line: LineInput, *, currency: str, position: int) -> LineInput:
    where = {"position": position}
    description = (line.description or "").strip()
    if not description:
        raise BillingError(_("Line %(position)s: enter a description.") % where)
    try:
        quantity = Decimal(line.quantity)
        tax_rate = Decimal(line.tax_rate)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidAmount(_("Line %(position)s: the quantity and the tax rate must be numbers.") % where) from None
    if not quantity.is_finite() or quantity <= 0 or quantity > MAX_QUANTITY:
        raise InvalidAmount(
            _("Line %(position)s: the quantity must be greater than 0 and at most %(maximum)s.")
            % {**where, "maximum": MAX_QUANTITY}
        )
    if quantity != quantity.quantize(Decimal("0.001")):
        raise InvalidAmount(_("Line %(position)s: the quantity has at most 3 decimals.") % where)
    if not tax_rate.is_finite() or tax_rate < 0 or tax_rate > 100 or tax_rate != tax_rate.quantize(Decimal("0.01")):
        raise InvalidAmount(
            _("Line %(position)s: the tax rate is a percentage between 0 and 100 with at most 2 decimals.") % where
        )
    try:
        unit_amount = money_check_entered(line.unit_amount, currency=currency, allow_zero=True)
    except BillingError as error:
        raise type(error)(_("Line %(position)s: %(problem)s") % {**where, "problem": error.message}) from None
    return LineInput(description=description, quantity=quantity, unit_amount=unit_amount, tax_rate=tax_rate)


def _lines_replace(*, invoice: Invoice, lines: list[LineInput]) -> None:
    """Replace the draft's lines and recompute its totals (half-up per line, as the spec says)."""
    validated = [
        _line_validated(line, currency=invoice.currency, position=index) for index, line in enumerate(lines, start=1)
    ]
    invoice.lines.all().delete()
    subtotal = tax_total = zero(invoice.currency)
    rows = []
    for position, line in enumerate(validated, start=1):
        amount = money_round(line.quantity * line.unit_amount.amount, invoice.currency)
        tax = money_round(amount.amount * line.tax_rate / 100, invoice.currency)
        subtotal += amount
        tax_total += tax
        rows.append(
            InvoiceLine(
                invoice=invoice,
                position=position,
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                tax_rate=line.tax_rate,
                amount=amount,
                tax=tax,
            )
        )
    total = subtotal + tax_total
    money_check_entered(total, allow_zero=True)
    InvoiceLine.objects.bulk_create(rows)
    invoice.subtotal = subtotal
    invoice.tax_total = tax_total
    invoice.total = total
    invoice.amount_remaining = total
    invoice.amount_paid = invoice.amount_credited = invoice.amount_balance_applied = zero(invoice.currency)


def _dates_check(*, issue_date: datetime.date | None, due_date: datetime.date | None) -> None:
    if issue_date and due_date and due_date < issue_date:
        raise BillingError(
            _("The due date %(due_date)s is before the issue date %(issue_date)s.")
            % {"due_date": due_date.strftime("%Y-%m-%d"), "issue_date": issue_date.strftime("%Y-%m-%d")}
        )


def invoice_draft_create(
    *,
    member: Member,
    actor: Actor,
    lines: list[LineInput],
    currency: str | None = None,
    issue_date: datetime.date | None = None,
    due_date: datetime.date | None = None,
    memo: str = "",
) -> Invoice:
    actor.require_permission("billing.add_invoice", _("create invoices"))
    currency = currency_check(currency or member.default_currency)
    _dates_check(issue_date=issue_date, due_date=due_date)
    with transaction.atomic(durable=True):
        member = member_lock(member.pk)
        invoice = Invoice.objects.create(
            member=member,
            currency=currency,
            issue_date=issue_date,
            due_date=due_date,
            memo=memo,
            total=zero(currency),
            subtotal=zero(currency),
            tax_total=zero(currency),
            amount_remaining=zero(currency),
            amount_paid=zero(currency),
            amount_credited=zero(currency),
            amount_balance_applied=zero(currency),
        )
        _lines_replace(invoice=invoice, lines=lines)
        invoice.save()
    return invoice


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()


def invoice_draft_update(
    *,
    invoice: Invoice,
    actor: Actor,
    lines: list[LineInput] | None = None,
    issue_date: datetime.date | None | _Unchanged = UNCHANGED,
    due_date: datetime.date | None | _Unchanged = UNCHANGED,
    memo: str | None = None,
) -> Invoice:
    """Edit a draft: only what is given changes (its lines, dates (None clears one) and memo)."""
    actor.require_permission("billing.change_invoice", _("edit invoices"))
    with transaction.atomic(durable=True):
        member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        if invoice.status != InvoiceStatus.DRAFT:
            raise InvalidState(
                _(
                    "%(invoice)s is issued: its lines and amounts can no longer change. Issue a credit note to reduce it."
                )
                % {"invoice": invoice}
            )
        if issue_date is not UNCHANGED:
            invoice.issue_date = issue_date
        if due_date is not UNCHANGED:
            invoice.due_date = due_date
        _dates_check(issue_date=invoice.issue_date, due_date=invoice.due_date)
        if memo is not None:
            invoice.memo = memo
        if lines is not None:
            _lines_replace(invoice=invoice, lines=lines)
        invoice.save()
    return invoice


def invoice_details_update(*, invoice: Invoice, actor: Actor, due_date: datetime.date | None, memo: str) -> Invoice:
    """Change the memo and due date, the only things that may change on an issued invoice."""
    actor.require_permission("billing.change_invoice", _("edit invoices"))
    with transaction.atomic(durable=True):
        member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        if invoice.status == InvoiceStatus.VOID:
            raise InvalidState(_("%(invoice)s is void; it can no longer change.") % {"invoice": invoice})
        if invoice.status != InvoiceStatus.DRAFT and due_date is None:
            raise BillingError(_("An issued invoice needs a due date."))
        _dates_check(issue_date=invoice.issue_date, due_date=due_date)
        changes = {}
        if due_date != invoice.due_date:
            changes["due_date"] = [str(invoice.due_date or ""), str(due_date or "")]
        if memo != invoice.memo:
            changes["memo"] = "changed"
        invoice.due_date = due_date
        invoice.memo = memo
        invoice.save(update_fields=["due_date", "memo"])
        if changes and invoice.status != InvoiceStatus.DRAFT:
            activity_record(
                actor=actor,
                verb="invoice.updated",
                member=invoice.member,
                invoice=invoice,
                target=invoice,
                status_before=invoice.status,
                status_after=invoice.status,
                data=changes,
            )
    return invoice


def invoice_draft_delete(*, invoice: Invoice, actor: Actor) -> None:
    """Delete a draft. Drafts have no number, so no gap is left in the series."""
    actor.require_permission("billing.delete_invoice", _("delete invoices"))
    with transaction.atomic(durable=True):
        member = member_lock(invoice.member_id)
        invoice = invoice_lock(invoice.pk)
        if invoice.status != InvoiceStatus.DRAFT:
            raise InvalidState(
                _("%(invoice)s is issued and can never be deleted; void it or issue a credit note.")
                % {"invoice": invoice}
            )
        activity_record(
            actor=actor,
            verb="invoice.draft_deleted",
            member=member,
            amount=invoice.total,
            status_before=InvoiceStatus.DRAFT,
            data={"draft_id": invoice.pk},
        )
        invoice.lines.all().delete()
        invoice.delete()
