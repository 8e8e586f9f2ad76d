"""Reads of the billing app."""

import hashlib
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet, Sum
from djmoney.money import Money

from billing.models import Activity, CreditNote, CreditNoteStatus, Invoice, MoneyBalanceEntry
from billing.money import money_from_db
from members.models import Member


def member_money_balance(*, member: Member, currency: str) -> Money:
    return MoneyBalanceEntry.objects.filter(member=member).total(currency)


def member_money_balances(*, member: Member) -> dict[str, Money]:
    """Every currency in which the member has ledger entries, with the balance."""
    rows = (
        MoneyBalanceEntry.objects.filter(member=member)
        .values("amount_currency")
        .annotate(total=Sum("amount"))
        .order_by("amount_currency")
    )
    return {row["amount_currency"]: money_from_db(row["total"], row["amount_currency"]) for row in rows}


def invoice_credited(*, invoice: Invoice) -> Money:
    """What the invoice's issued credit notes take off it (a void credit note no longer does)."""
    total = CreditNote.objects.filter(invoice=invoice, status=CreditNoteStatus.ISSUED).aggregate(s=Sum("amount"))
    return money_from_db(total["s"], invoice.currency)


def invoice_balance_applied(*, invoice: Invoice) -> Money:
    """Money balance applied to the invoice, net of what was returned to the member."""
    total = MoneyBalanceEntry.objects.filter(invoice=invoice).aggregate(s=Sum("amount"))["s"]
    return -money_from_db(total, invoice.currency) if total else money_from_db(None, invoice.currency)


def member_invoices(*, member: Member) -> QuerySet[Invoice]:
    """The member's invoices, drafts included, newest first."""
    return Invoice.objects.filter(member=member).select_related("member").order_by("-id")


def member_balance_entries(*, member: Member) -> QuerySet[MoneyBalanceEntry]:
    """The member's money balance ledger, newest first."""
    return MoneyBalanceEntry.objects.filter(member=member).select_related("invoice").order_by("-created_at", "-id")


def invoice_activities(*, invoice: Invoice) -> QuerySet[Activity]:
    """Everything recorded about the invoice, newest first."""
    return Activity.objects.filter(invoice=invoice).order_by("-created_at", "-id")


def target_activities(*, target: Model) -> QuerySet[Activity]:
    """Everything recorded with `target` as its object (a payment, a balance entry), newest first."""
    return Activity.objects.filter(target_type=ContentType.objects.get_for_model(target), target_id=target.pk).order_by(
        "-created_at", "-id"
    )


def invoice_draft_version(invoice: Invoice) -> str:
    """A fingerprint of what a draft says (member, currency, dates, memo, lines, total): the Issue confirmation
    carries it, and issuing refuses a draft that changed since the confirmation was shown."""

    def number(value) -> str:
        # The same for equal values, whatever their trailing zeros (a row read back has the column's scale).
        return str(Decimal(value).normalize())

    parts = [
        str(invoice.member_id),
        invoice.currency,
        str(invoice.issue_date),
        str(invoice.due_date),
        invoice.memo,
        number(invoice.total.amount),
        *(
            "|".join(
                [str(line.pk), line.description, number(line.quantity), number(line.unit_amount.amount)]
                + [number(line.tax_rate)]
            )
            for line in sorted(invoice.lines.all(), key=lambda line: (line.position, line.pk))
        ),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
