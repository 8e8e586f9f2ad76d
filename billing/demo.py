"""The demo space's invoices (every status), money balance credits and credit notes, made by the billing services
as a space administrator would make them. Called by the `seed_demo` command after members/demo.py; the payments
that pay these invoices are payments/demo.py's.

Invoices are issued in date order (oldest first) so that their numbers follow the issue dates. Past months'
invoices are issued on the 1st (so they are past due today); this month's a few days ago (not due yet).
"""

import datetime
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from djmoney.money import Money

from billing.activity import Actor
from billing.bank_transfer import bank_account
from billing.models import CreditNoteReason, Invoice, InvoiceStatus, ShownStatus
from billing.services.credit_note_issue import credit_note_issue
from billing.services.invoice_draft import LineInput, invoice_draft_create
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_void import invoice_mark_uncollectible
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member

VAT = Decimal("20")
# The memo that marks Northwind's invoice of this month, paid in part by their credit when it was issued.
NORTHWIND_CREDIT_MEMO = (
    "Issued with Northwind's credit applied: the referral bonus, the credit note's credit and the deposit."
)


def line(description: str, quantity, unit_amount: str, currency: str, tax_rate: Decimal = VAT) -> LineInput:
    return LineInput(
        description=description,
        quantity=Decimal(quantity),
        unit_amount=Money(unit_amount, currency),
        tax_rate=tax_rate,
    )


def month_label(date: datetime.date) -> str:
    return date.strftime("%B %Y")


@dataclass(frozen=True)
class DemoCalendar:
    """The demo's dates, relative to the day it runs, so the overdue invoice is overdue whenever it runs."""

    today: datetime.date

    def days_ago(self, days: int) -> datetime.date:
        return self.today - datetime.timedelta(days=days)

    def month_start(self, months_ago: int) -> datetime.date:
        """The first day of the month `months_ago` months before this one."""
        date = self.today.replace(day=1)
        for _ in range(months_ago):
            date = (date - datetime.timedelta(days=1)).replace(day=1)
        return date


def demo_invoice_issue(
    *,
    member: Member,
    lines: list[LineInput],
    on: datetime.date,
    actor: Actor,
    memo: str = "",
    apply_credit: bool | None = None,
) -> Invoice:
    """Draft and issue an invoice dated `on`, due 14 days later."""
    draft = invoice_draft_create(
        member=member,
        actor=actor,
        lines=lines,
        issue_date=on,
        due_date=on + datetime.timedelta(days=14),
        memo=memo,
    )
    options = {} if apply_credit is None else {"apply_credit": apply_credit}
    return invoice_issue(invoice=draft, actor=actor, **options)


@dataclass(frozen=True)
class StoryInvoices:
    """The story's invoices that payments/demo.py pays, moves payments between, or voids."""

    oliver_first: Invoice
    northwind_first: Invoice
    northwind_second: Invoice
    lea_paid: Invoice
    lea_partial: Invoice
    bright_paid: Invoice
    bright_duplicate: Invoice
    sakura_overpaid: Invoice


def demo_invoices_issue(*, members: dict[str, Member], actor: Actor, calendar: DemoCalendar) -> StoryInvoices:
    """Five months of a small space's invoices, oldest first, and the money balance credits. Each step is one
    service call, as in the admin."""
    lea, northwind, jonas = members["lea"], members["northwind"], members["jonas"]
    brightpixel, sakura, oliver = members["brightpixel"], members["sakura"], members["oliver"]
    july, august, september, october = (calendar.month_start(months_ago) for months_ago in (4, 3, 2, 1))
    this_month = calendar.month_start(0)
    next_month = (this_month + datetime.timedelta(days=32)).replace(day=1)

    def issue(member: Member, lines: list[LineInput], *, on: datetime.date, **options) -> Invoice:
        return demo_invoice_issue(member=member, lines=lines, on=on, actor=actor, **options)

    # Oliver's first month (paid through PayPal), then the next, which he never paid: uncollectible below.
    oliver_first = issue(
        oliver,
        [
            line(f"Hot desk, monthly: {month_label(july)}", 1, "165.00", "GBP"),
            line("Day pass for a guest", 2, "18.00", "GBP"),
        ],
        on=july,
    )
    oliver_last = issue(
        oliver,
        [line(f"Hot desk, monthly: {month_label(august)}", 1, "165.00", "GBP")],
        on=august,
        memo="Membership ended; three reminders sent without an answer.",
    )

    # Northwind's team office, two months, later paid by one bank transfer applied to both invoices.
    northwind_first = issue(
        northwind,
        [
            line(f"Private office, 4 desks: {month_label(september)}", 1, "1450.00", "EUR"),
            line("Meeting room, hours", 6, "25.00", "EUR"),
        ],
        on=september,
    )
    issue(
        jonas,
        [
            line(f"Hot desk, monthly: {month_label(october)}", 1, "190.00", "EUR"),
            line("Printing, pages", 85, "0.10", "EUR"),
        ],
        on=october,
    )
    lea_paid = issue(
        lea,
        [
            line(f"Hot desk, monthly: {month_label(october)}", 1, "190.00", "EUR"),
            line("Day pass for a guest", 2, "20.00", "EUR"),
        ],
        on=october,
    )
    # Bright Pixel was invoiced twice by mistake.
    bright_lines = [
        line(f"Dedicated desk, monthly: {month_label(october)}", 3, "320.00", "EUR"),
        line("Meeting room, hours", 8, "25.00", "EUR"),
    ]
    bright_paid = issue(brightpixel, bright_lines, on=october)
    bright_duplicate = issue(
        brightpixel, bright_lines, on=october, memo=f"Issued twice by mistake: see {bright_paid.number}."
    )
    sakura_overpaid = issue(
        sakura,
        [
            line(f"Dedicated desk, monthly: {month_label(october)}", 1, "45000", "JPY"),
            line("Meeting room, hours", 4, "3000", "JPY"),
        ],
        on=october,
    )
    northwind_second = issue(
        northwind,
        [
            line(f"Private office, 4 desks: {month_label(october)}", 1, "1450.00", "EUR"),
            line("Printing, pages", 340, "0.10", "EUR"),
        ],
        on=october,
    )
    invoice_mark_uncollectible(invoice=oliver_last, actor=actor)

    # Léa's month, paid by a check that bounces, then partly in cash.
    lea_partial = issue(
        lea,
        [
            line(f"Hot desk, monthly: {month_label(this_month)}", 1, "190.00", "EUR"),
            line("Meeting room, hours", 3, "25.00", "EUR"),
            line("Printing, pages", 120, "0.10", "EUR"),
        ],
        on=calendar.days_ago(10),
    )

    # A goodwill credit for Jonas, taken off this month's invoice when it is issued.
    money_balance_adjust(
        member=jonas,
        amount=Money("25.00", "EUR"),
        is_credit=True,
        note="Goodwill: Wi-Fi outage on the 2nd floor.",
        actor=actor,
    )
    issue(
        jonas,
        [line(f"Hot desk, monthly: {month_label(this_month)}", 1, "190.00", "EUR")],
        on=calendar.days_ago(3),
        apply_credit=True,
    )

    # Bright Pixel's month is open; Northwind earned a referral credit.
    issue(
        brightpixel,
        [
            line(f"Dedicated desk, monthly: {month_label(this_month)}", 3, "320.00", "EUR"),
            line("Locker, monthly", 3, "15.00", "EUR"),
        ],
        on=calendar.days_ago(2),
    )
    money_balance_adjust(
        member=northwind,
        amount=Money("50.00", "EUR"),
        is_credit=True,
        note="Referral bonus: introduced Bright Pixel GmbH.",
        actor=actor,
    )

    # Next month's desk for Jonas is still a draft.
    invoice_draft_create(
        member=jonas,
        actor=actor,
        lines=[
            line(f"Hot desk, monthly: {month_label(next_month)}", 1, "190.00", "EUR"),
            line("Locker, monthly", 1, "15.00", "EUR"),
        ],
    )
    return StoryInvoices(
        oliver_first=oliver_first,
        northwind_first=northwind_first,
        northwind_second=northwind_second,
        lea_paid=lea_paid,
        lea_partial=lea_partial,
        bright_paid=bright_paid,
        bright_duplicate=bright_duplicate,
        sakura_overpaid=sakura_overpaid,
    )


def demo_credit_notes_ensure(*, members: dict[str, Member], actor: Actor, calendar: DemoCalendar) -> bool:
    """Credit notes on top of the story (after its payments and refunds), then member credit used by a later
    invoice. Each step checks what exists first, so it runs once, also on a database seeded before credit notes
    existed."""
    created = False
    lea, northwind = members["lea"], members["northwind"]

    # Léa's meeting room was booked for 3 hours but free for one: a credit note for that hour, on the line, while
    # her invoice (the one her bounced check was for) is still partly unpaid (it reduces what remains).
    partly_paid = (
        Invoice.objects.filter(member=lea, lines__description="Meeting room, hours")
        .exclude(status=InvoiceStatus.DRAFT)
        .first()
    )
    if partly_paid is not None and not partly_paid.credit_notes.exists():
        room = partly_paid.lines.get(description="Meeting room, hours")
        credit_note_issue(
            invoice=partly_paid,
            actor=actor,
            reason=CreditNoteReason.ORDER_CHANGE,
            line_amounts={room.pk: Money("30.00", "EUR")},
            memo="One of the three meeting room hours was not used (25.00 + VAT).",
        )
        created = True

    # The air conditioning of Northwind's office failed for a week in September, an invoice they had paid: a
    # credit note of 240.00, 100.00 refunded to them and 140.00 kept as their credit for the next invoice.
    september = (
        Invoice.objects.filter(member=northwind)
        .exclude(status=InvoiceStatus.DRAFT)
        .order_by("issue_date", "pk")
        .first()
    )
    if september is not None and not september.credit_notes.exists():
        credit_note_issue(
            invoice=september,
            actor=actor,
            reason=CreditNoteReason.PRODUCT_UNSATISFACTORY,
            amount=Money("240.00", "EUR"),
            refund_amount=Money("100.00", "EUR"),
            credit_amount=Money("140.00", "EUR"),
            memo="Air conditioning out of order from September 8 to 12.",
        )
        created = True

    # This month's invoice for Northwind uses their credit at issue: the money balance first (the referral
    # bonus), then their unallocated payments, oldest first (the credit note's credit, then the deposit).
    if not Invoice.objects.filter(member=northwind, memo=NORTHWIND_CREDIT_MEMO).exists():
        this_month = calendar.month_start(0)
        demo_invoice_issue(
            member=northwind,
            lines=[
                line(f"Private office, 4 desks: {month_label(this_month)}", 1, "1450.00", "EUR"),
                line("Meeting room, hours", 4, "25.00", "EUR"),
            ],
            on=calendar.today,
            actor=actor,
            memo=NORTHWIND_CREDIT_MEMO,
            apply_credit=True,
        )
        created = True
    return created


def demo_generated_invoices_issue(
    *, member: Member, index: int, actor: Actor, calendar: DemoCalendar
) -> tuple[Invoice, Invoice]:
    """A generated member's hot desk invoices (`--members`): last month's (paid by payments/demo.py) and this
    month's, open."""
    last_month = calendar.month_start(1)
    previous = demo_invoice_issue(
        member=member,
        lines=[line(f"Hot desk, monthly: {month_label(last_month)}", 1, "190.00", "EUR")],
        on=last_month,
        actor=actor,
    )
    current = demo_invoice_issue(
        member=member,
        lines=[
            line(f"Hot desk, monthly: {month_label(calendar.month_start(0))}", 1, "190.00", "EUR"),
            line("Day pass for a guest", 1 + index % 3, "20.00", "EUR"),
        ],
        on=calendar.days_ago(index % 5),
        actor=actor,
    )
    return previous, current


def demo_invoices_summary(*, today: datetime.date) -> list[str]:
    shown = Counter(invoice.shown_status(today=today) for invoice in Invoice.objects.all())
    return [
        f"Invoices: {sum(shown.values())} ("
        + ", ".join(f"{label.lower()} {shown.get(value, 0)}" for value, label in ShownStatus.choices)
        + ")",
        _bank_transfer_summary(),
    ]


def _bank_transfer_summary() -> str:
    """The demo's bank account (the settings' demo defaults unless the environment sets one) and the invoices that
    carry an RF reference for transfers to it (every issued one: the issue service gives it)."""
    account = bank_account()
    referenced = Invoice.objects.filter(payment_reference__isnull=False).count()
    return (
        f"Bank transfers to {account.holder}, IBAN {account.iban_formatted}, BIC {account.bic}: "
        f"{referenced} invoices with an RF reference"
    )
