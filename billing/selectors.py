"""Reads of the billing app."""

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet, Sum
from djmoney.money import Money

from billing.models import Activity, CreditNote, CreditNoteStatus, Invoice, MoneyBalanceEntry
from billing.money import money_from_db, money_sum, zero
from members.models import Member


def member_money_balance(*, member: Member, currency: str) -> Money:
    total = MoneyBalanceEntry.objects.filter(member=member, amount_currency=currency).aggregate(s=Sum("amount"))
    return money_from_db(total["s"], currency)


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


def credit_note_credit_parts(*, credit_note: CreditNote) -> tuple[dict, Money]:
    """Where the credit note's member-credit part went: {payment: amount released to it as unallocated money}, and
    the money balance it returned to the member. Read from the rows (the payments app's through their relations)."""
    currency = credit_note.currency
    released = {
        row["allocation__payment_id"]: money_from_db(row["total"], currency)
        for row in credit_note.allocation_takes.filter(refund__isnull=True)
        .values("allocation__payment_id")
        .annotate(total=Sum("amount"))
        .order_by()
    }
    for row in (
        credit_note.refunds.exclude(status="failed").values("payment_id").annotate(total=Sum("amount")).order_by()
    ):
        if row["payment_id"] in released:
            released[row["payment_id"]] -= money_from_db(row["total"], currency)
    failed = money_from_db(credit_note.refunds.filter(status="failed").aggregate(s=Sum("amount"))["s"], currency)
    payments = apps.get_model("payments", "Payment").objects.in_bulk(released)
    from_payments = {payments[pk]: amount for pk, amount in released.items() if amount.amount > 0}
    from_balance = credit_note.credit_amount - failed - money_sum(from_payments.values(), currency)
    return from_payments, max(from_balance, zero(currency))


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
