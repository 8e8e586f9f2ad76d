"""Fill the database with a realistic coworking space, through the services only.

Every invoice, payment, allocation and balance entry is made by the same service a space administrator would
use, so the cached amounts, the numbers and the activity are exactly what production would have. The story
runs in date order (oldest first) so that numbers follow the issue dates.
"""

import datetime
import os
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor
from billing.models import (
    Activity,
    CreditNote,
    CreditNoteReason,
    Invoice,
    InvoiceStatus,
    MoneyBalanceEntry,
    ShownStatus,
)
from billing.services.credit_note_issue import credit_note_issue
from billing.services.invoice_draft import LineInput, invoice_draft_create
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.gateways import gateway_get
from payments.management.progress import progress_argument_add, progress_bar
from payments.models import (
    Allocation,
    AttemptStatus,
    ExternalKind,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from payments.services.attempt_execute import attempt_execute
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_card import payment_create_card
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_method import payment_method_add
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund, refund_execute

ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@coworking.example"
MEMBER_PASSWORD = "member-demo"
# Staff logins with a role (the groups a migration creates), not superusers: (username, password, group).
ROLE_LOGINS = [
    ("frontdesk", "frontdesk", "Front desk"),
    ("accountant", "accountant", "Accountants"),
]
VAT = Decimal("20")
DEFAULT_MEMBERS = 6
# Sandbox test cards (Stripe's test numbers): one that pays, one that is saved but declined on every charge.
WORKING_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000341"
# The memo that marks Northwind's invoice of this month, paid in part by their credit when it was issued.
NORTHWIND_CREDIT_MEMO = (
    "Issued with Northwind's credit applied: the referral bonus, the credit note's credit and the deposit."
)


@dataclass(frozen=True)
class DemoMember:
    key: str
    name: str
    kind: str
    email: str
    currency: str
    address: str
    portal: bool = False
    card: str = ""  # the sandbox test card saved for the member, if any


DEMO_MEMBERS = (
    DemoMember(
        "lea",
        "Léa Martin",
        Member.Kind.PERSON,
        "lea.martin@example.com",
        "EUR",
        "12 rue des Petites Écuries\n75010 Paris\nFrance",
        portal=True,
        card=WORKING_CARD,
    ),
    DemoMember(
        "northwind",
        "Northwind Studio SARL",
        Member.Kind.COMPANY,
        "accounts@northwind-studio.example",
        "EUR",
        "48 quai de Jemmapes\n75010 Paris\nFrance",
        portal=True,
        card=WORKING_CARD,
    ),
    DemoMember(
        "jonas",
        "Jonas Weber",
        Member.Kind.PERSON,
        "jonas.weber@example.com",
        "EUR",
        "Oranienstraße 185\n10999 Berlin\nGermany",
        card=WORKING_CARD,
    ),
    DemoMember(
        "brightpixel",
        "Bright Pixel GmbH",
        Member.Kind.COMPANY,
        "finance@brightpixel.example",
        "EUR",
        "Torstraße 92\n10119 Berlin\nGermany",
        card=DECLINING_CARD,
    ),
    DemoMember(
        "sakura",
        "Sakura Design K.K.",
        Member.Kind.COMPANY,
        "keiri@sakura-design.example",
        "JPY",
        "2-11-3 Jingumae, Shibuya-ku\nTokyo 150-0001\nJapan",
        card=WORKING_CARD,
    ),
    DemoMember(
        "oliver",
        "Oliver Bennett",
        Member.Kind.PERSON,
        "oliver.bennett@example.co.uk",
        "GBP",
        "27 Redchurch Street\nLondon E2 7DJ\nUnited Kingdom",
    ),
)

EXTRA_FIRST_NAMES = ("Amélie", "Marco", "Sofia", "Tomás", "Ingrid", "Yusuf", "Clara", "Mateo", "Nina", "Pieter")
EXTRA_LAST_NAMES = ("Dubois", "Rossi", "Novak", "García", "Lindqvist", "Demir", "Fischer", "Silva", "Kowalski")
EXTRA_STREETS = ("rue Oberkampf", "rue de Charonne", "boulevard Voltaire", "rue du Faubourg Saint-Denis")


def line(description: str, quantity, unit_amount: str, currency: str, tax_rate: Decimal = VAT) -> LineInput:
    return LineInput(
        description=description,
        quantity=Decimal(quantity),
        unit_amount=Money(unit_amount, currency),
        tax_rate=tax_rate,
    )


def month_label(date: datetime.date) -> str:
    return date.strftime("%B %Y")


class Command(BaseCommand):
    help = (
        "Create a demo coworking space: staff logins (admin, frontdesk, accountant), members (persons and "
        "companies, in EUR, JPY and GBP, two with portal logins), invoices in every status, external payments of "
        "every kind, refunds and credit notes, member credit used by a later invoice, and (with the sandbox gateway) "
        "saved test cards with one card charge that succeeded (then partly refunded to the card) and one that was "
        "declined. Everything is made through the billing services. Idempotent: existing demo data is left alone "
        "and the logins are printed again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members",
            type=int,
            default=DEFAULT_MEMBERS,
            help=f"How many members the demo space has (at least {DEFAULT_MEMBERS}). Members beyond the "
            f"{DEFAULT_MEMBERS} of the story are generated, each with a paid and an open hot desk invoice.",
        )
        progress_argument_add(parser)

    def handle(self, *args, **options):
        member_count = options["members"]
        if member_count < DEFAULT_MEMBERS:
            raise CommandError(f"--members must be at least {DEFAULT_MEMBERS} (the members of the demo story).")
        self.today = timezone.localdate()
        admin_password = os.environ.get("DEMO_ADMIN_PASSWORD") or "admin"
        admin_user, admin_created = self._admin_ensure(admin_password)
        self.actor = Actor.staff(admin_user)

        # The demo's receipts and notices would flood the console; they are kept in memory and dropped.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            created = self._story_ensure()
            created = self._cards_ensure() or created
            created = self._refunds_ensure() or created
            extra_created = self._extra_members_ensure(member_count - DEFAULT_MEMBERS, options=options)
        portal_logins = self._portal_logins_ensure()
        role_logins = self._role_logins_ensure()

        if created or extra_created:
            self.stdout.write(self.style.SUCCESS("Demo coworking space created."))
        else:
            self.stdout.write(self.style.SUCCESS("Demo data already present: nothing created."))
        self._summary_write()
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Staff logins (Django admin): http://127.0.0.1:8000/admin/"))
        if admin_created or admin_user.check_password(admin_password):
            self.stdout.write(f"  username: {ADMIN_USERNAME}   password: {admin_password}")
        else:
            self.stdout.write(f"  username: {ADMIN_USERNAME}   password: (unchanged; this account already existed)")
        for username, password, group in role_logins:
            shown = password or "(unchanged; this account already existed)"
            self.stdout.write(f"  username: {username}   password: {shown}   ({group})")
        self.stdout.write(self.style.MIGRATE_HEADING("Member portal logins: http://127.0.0.1:8000/portal/"))
        for email in portal_logins:
            self.stdout.write(f"  email: {email}   password: {MEMBER_PASSWORD}")

    # Logins ------------------------------------------------------------------------------------------------

    def _admin_ensure(self, password: str):
        User = get_user_model()
        user = User.objects.filter(username=ADMIN_USERNAME).first()
        if user is not None:
            return user, False
        return User.objects.create_superuser(ADMIN_USERNAME, ADMIN_EMAIL, password), True

    def _role_logins_ensure(self) -> list[tuple[str, str, str]]:
        """Staff users in the front desk and accountants groups, to try the admin as each role sees it. Returns
        (username, password or "" when an existing account has another one, group) for each."""
        User = get_user_model()
        logins = []
        for username, password, group_name in ROLE_LOGINS:
            group = Group.objects.filter(name=group_name).first()
            if group is None:
                raise CommandError(f"The group “{group_name}” does not exist: run `manage.py migrate` first.")
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(username, f"{username}@coworking.example", password, is_staff=True)
            user.groups.add(group)
            logins.append((username, password if user.check_password(password) else "", group_name))
        return logins

    def _portal_logins_ensure(self) -> list[str]:
        """Portal users for the story's members that have one: the email is the username; never staff."""
        User = get_user_model()
        emails = []
        for demo in DEMO_MEMBERS:
            if not demo.portal:
                continue
            member = Member.objects.get(email=demo.email)
            if member.user_id is None:
                user = User.objects.filter(username=demo.email).first()
                if user is None:
                    user = User.objects.create_user(demo.email, demo.email, MEMBER_PASSWORD)
                    user.first_name = demo.name if demo.kind == Member.Kind.PERSON else ""
                    user.save(update_fields=["first_name"])
                member.user = user
                member.save(update_fields=["user"])
            emails.append(member.user.get_username())
        return emails

    # The story ---------------------------------------------------------------------------------------------

    def _story_ensure(self) -> bool:
        emails = [demo.email for demo in DEMO_MEMBERS]
        existing = set(Member.objects.filter(email__in=emails).values_list("email", flat=True))
        if len(existing) == len(emails):
            return False
        if existing:
            raise CommandError(
                "The database holds part of the demo data (members "
                + ", ".join(sorted(existing))
                + "), probably from an interrupted run. Start from an empty database: remove var/db.sqlite3 "
                "(or drop the PostgreSQL database), then run `make seed`."
            )
        with transaction.atomic():
            members = {
                demo.key: Member.objects.create(
                    name=demo.name,
                    kind=demo.kind,
                    email=demo.email,
                    billing_address=demo.address,
                    default_currency=demo.currency,
                )
                for demo in DEMO_MEMBERS
            }
        self._story_run(members)
        return True

    def _days_ago(self, days: int) -> datetime.date:
        return self.today - datetime.timedelta(days=days)

    def _month_start(self, months_ago: int) -> datetime.date:
        """The first day of the month `months_ago` months before this one."""
        date = self.today.replace(day=1)
        for _ in range(months_ago):
            date = (date - datetime.timedelta(days=1)).replace(day=1)
        return date

    def _issue(
        self, member: Member, lines: list[LineInput], *, on: datetime.date, memo: str = "", **options
    ) -> Invoice:
        draft = invoice_draft_create(
            member=member,
            actor=self.actor,
            lines=lines,
            issue_date=on,
            due_date=on + datetime.timedelta(days=14),
            memo=memo,
        )
        return invoice_issue(invoice=draft, actor=self.actor, **options)

    def _story_run(self, members: dict[str, Member]) -> None:
        """Five months of a small space, oldest first. Each step is one service call, as in the admin.

        Past months' invoices are issued on the 1st (so they are past due today); this month's are issued a few
        days ago and are not due yet.
        """
        actor = self.actor
        lea, northwind, jonas = members["lea"], members["northwind"], members["jonas"]
        brightpixel, sakura, oliver = members["brightpixel"], members["sakura"], members["oliver"]
        july, august, september, october = (self._month_start(months_ago) for months_ago in (4, 3, 2, 1))
        this_month = self._month_start(0)
        next_month = (this_month + datetime.timedelta(days=32)).replace(day=1)
        days = datetime.timedelta

        # Oliver paid his first month through PayPal ("other"), then left without paying the next: uncollectible.
        oliver_first = self._issue(
            oliver,
            [
                line(f"Hot desk, monthly: {month_label(july)}", 1, "165.00", "GBP"),
                line("Day pass for a guest", 2, "18.00", "GBP"),
            ],
            on=july,
        )
        payment_create_external(
            invoice=oliver_first,
            actor=actor,
            kind=ExternalKind.OTHER,
            reference="PayPal 5TY12345AB678901C",
            received_on=july + days(9),
            note="Paid through PayPal.",
        )
        oliver_last = self._issue(
            oliver,
            [line(f"Hot desk, monthly: {month_label(august)}", 1, "165.00", "GBP")],
            on=august,
            memo="Membership ended; three reminders sent without an answer.",
        )

        # Northwind's team office, two months, later paid by one bank transfer applied to both invoices.
        northwind_first = self._issue(
            northwind,
            [
                line(f"Private office, 4 desks: {month_label(september)}", 1, "1450.00", "EUR"),
                line("Meeting room, hours", 6, "25.00", "EUR"),
            ],
            on=september,
        )
        self._issue(
            jonas,
            [
                line(f"Hot desk, monthly: {month_label(october)}", 1, "190.00", "EUR"),
                line("Printing, pages", 85, "0.10", "EUR"),
            ],
            on=october,
        )
        lea_paid = self._issue(
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
        bright_paid = self._issue(brightpixel, bright_lines, on=october)
        bright_duplicate = self._issue(
            brightpixel, bright_lines, on=october, memo=f"Issued twice by mistake: see {bright_paid.number}."
        )
        sakura_overpaid = self._issue(
            sakura,
            [
                line(f"Dedicated desk, monthly: {month_label(october)}", 1, "45000", "JPY"),
                line("Meeting room, hours", 4, "3000", "JPY"),
            ],
            on=october,
        )
        northwind_second = self._issue(
            northwind,
            [
                line(f"Private office, 4 desks: {month_label(october)}", 1, "1450.00", "EUR"),
                line("Printing, pages", 340, "0.10", "EUR"),
            ],
            on=october,
        )

        # Léa paid in cash at the front desk.
        payment_create_external(invoice=lea_paid, actor=actor, kind=ExternalKind.CASH, received_on=october + days(4))

        # Bright Pixel's transfer was recorded on the duplicate, then moved to the right invoice; the duplicate is
        # voided.
        bright_transfer = payment_create_external(
            invoice=bright_duplicate,
            actor=actor,
            kind=ExternalKind.BANK_TRANSFER,
            reference="SEPA TRF 7781-BP-1025",
            received_on=october + days(9),
        )
        allocation_remove(allocation=bright_transfer.allocations.get(), actor=actor)
        invoice_void(invoice=bright_duplicate, actor=actor)
        payment_apply(invoice=bright_paid, applications=[(bright_transfer, bright_paid.amount_remaining)], actor=actor)

        # Sakura rounded their wire up: the excess stays on the payment as their credit (invoice.overpaid).
        payment_create_external(
            invoice=sakura_overpaid,
            actor=actor,
            kind=ExternalKind.BANK_TRANSFER,
            amount=Money("70000", "JPY"),
            reference="Wire SAKURA-DSGN-0042",
            received_on=october + days(19),
        )
        invoice_mark_uncollectible(invoice=oliver_last, actor=actor)

        # Léa paid this month by check; it bounced, so the payment is void and the invoice open again. She then
        # paid part of it in cash.
        lea_partial = self._issue(
            lea,
            [
                line(f"Hot desk, monthly: {month_label(this_month)}", 1, "190.00", "EUR"),
                line("Meeting room, hours", 3, "25.00", "EUR"),
                line("Printing, pages", 120, "0.10", "EUR"),
            ],
            on=self._days_ago(10),
        )
        lea_check = payment_create_external(
            invoice=lea_partial,
            actor=actor,
            kind=ExternalKind.CHECK,
            reference="Check no. 0004512",
            received_on=self._days_ago(8),
        )

        # Northwind's accountant paid both months with one transfer.
        northwind_transfer = payment_create_standalone(
            member=northwind,
            actor=actor,
            amount=northwind_first.amount_remaining + northwind_second.amount_remaining,
            kind=ExternalKind.BANK_TRANSFER,
            reference=f"SEPA NWST {northwind_first.number} {northwind_second.number}",
            received_on=self._days_ago(5),
        )
        for invoice in (northwind_first, northwind_second):
            payment_apply(invoice=invoice, applications=[(northwind_transfer, invoice.amount_remaining)], actor=actor)

        # A goodwill credit for Jonas, taken off this month's invoice when it is issued.
        money_balance_adjust(
            member=jonas,
            amount=Money("25.00", "EUR"),
            is_credit=True,
            note="Goodwill: Wi-Fi outage on the 2nd floor.",
            actor=actor,
        )
        self._issue(
            jonas,
            [line(f"Hot desk, monthly: {month_label(this_month)}", 1, "190.00", "EUR")],
            on=self._days_ago(3),
            apply_credit=True,
        )
        payment_void(payment=lea_check, actor=actor, reason="Check returned unpaid by the bank (insufficient funds).")

        # Bright Pixel's month is open; Northwind sent a deposit for a new desk and earned a referral credit.
        self._issue(
            brightpixel,
            [
                line(f"Dedicated desk, monthly: {month_label(this_month)}", 3, "320.00", "EUR"),
                line("Locker, monthly", 3, "15.00", "EUR"),
            ],
            on=self._days_ago(2),
        )
        payment_create_standalone(
            member=northwind,
            actor=actor,
            amount=Money("500.00", "EUR"),
            kind=ExternalKind.BANK_TRANSFER,
            reference="SEPA NWST DEPOSIT",
            received_on=self._days_ago(2),
            note="Deposit for a fifth desk from next month.",
        )
        money_balance_adjust(
            member=northwind,
            amount=Money("50.00", "EUR"),
            is_credit=True,
            note="Referral bonus: introduced Bright Pixel GmbH.",
            actor=actor,
        )
        payment_create_external(
            invoice=lea_partial,
            actor=actor,
            kind=ExternalKind.CASH,
            amount=Money("150.00", "EUR"),
            received_on=self._days_ago(1),
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

    # Saved cards and card payments -------------------------------------------------------------------------

    def _cards_ensure(self) -> bool:
        """Sandbox test cards for the story's members, then two card charges: Léa's succeeds; Bright Pixel's card
        is declined, so an administrator sees a failed payment, its decline and its next automatic retry.

        Each step checks what exists first, so it runs once, also on a database seeded before cards existed."""
        if gateway_get().name != "sandbox":
            self.stdout.write("Saved cards and card payments are seeded with the sandbox gateway only: skipped.")
            return False
        created = False
        members = {demo.key: Member.objects.get(email=demo.email) for demo in DEMO_MEMBERS}
        for demo in DEMO_MEMBERS:
            member = members[demo.key]
            if demo.card and not member.payment_methods.exists():
                payment_method_add(member=member, card_token=demo.card, actor=self.actor)
                created = True

        lea, brightpixel = members["lea"], members["brightpixel"]
        if not self._card_payments(lea).exists():
            # Léa booked the meeting room for a workshop and asked to be charged on her saved card.
            workshop = self._issue(
                lea,
                [line("Meeting room, hours (workshop)", 4, "25.00", "EUR")],
                on=self.today,
                memo="Charged to the card on file, as agreed.",
            )
            self._charge_settle(payment_create_card(invoice=workshop, actor=self.actor))
            created = True
        if not self._card_payments(brightpixel).exists():
            # Bright Pixel's card is declined: the payment fails and waits for its automatic retry.
            this_month = (
                Invoice.objects.filter(member=brightpixel, status=InvoiceStatus.OPEN)
                .order_by("-issue_date", "-pk")
                .first()
            )
            self._charge_settle(payment_create_card(invoice=this_month, actor=self.actor))
            created = True
        return created

    @staticmethod
    def _card_payments(member: Member):
        return Payment.objects.filter(member=member, method=PaymentMethodKind.CARD)

    @staticmethod
    def _charge_settle(payment: Payment) -> None:
        """Run the charge now, so the demo shows its outcome even when the queued task waits for a worker. When the
        task already ran (no broker: tasks run in-process) the attempt is settled and this does nothing; a worker
        that picks it up later finds it settled too (the attempt is claimed under a lock, and the gateway is sent
        the same idempotency key)."""
        for attempt_id in payment.attempts.filter(status=AttemptStatus.QUEUED).values_list("pk", flat=True):
            attempt_execute(attempt_id=attempt_id)

    # Refunds, credit notes and member credit ---------------------------------------------------------------

    def _refunds_ensure(self) -> bool:
        """Refunds and credit notes on top of the story, then member credit used by a later invoice. Each step
        checks what exists first, so it runs once, also on a database seeded before refunds existed."""
        actor = self.actor
        created = False
        members = {demo.key: Member.objects.get(email=demo.email) for demo in DEMO_MEMBERS}
        lea, northwind = members["lea"], members["northwind"]

        # Léa's workshop ended an hour early: 25.00 of her card payment goes back to her card, and a credit note
        # reduces the workshop invoice by as much, so it stays paid.
        card_payment = self._card_payments(lea).filter(status=PaymentStatus.SUCCEEDED).first()
        if card_payment is not None and not card_payment.refunds.exists():
            refund = payment_refund(
                payment=card_payment,
                amount=Money("25.00", "EUR"),
                reason=Refund.Reason.REQUESTED_BY_MEMBER,
                note="The workshop ended an hour early.",
                invoice_handling=Refund.InvoiceHandling.CREDIT_NOTE,
                actor=actor,
            )
            self._refund_settle(refund)
            created = True

        # Northwind's fifth desk will be part-time: 200.00 of their deposit was sent back by transfer.
        deposit = Payment.objects.filter(member=northwind, reference="SEPA NWST DEPOSIT").first()
        if deposit is not None and not deposit.refunds.exists():
            payment_refund(
                payment=deposit,
                amount=Money("200.00", "EUR"),
                reason=Refund.Reason.REQUESTED_BY_MEMBER,
                note="The fifth desk will be part-time; 200.00 of the deposit returned by bank transfer.",
                actor=actor,
            )
            created = True

        # Léa's meeting room was booked for 3 hours but free for one: a credit note for that hour, on the line, while
        # her invoice is still partly unpaid (it reduces what remains).
        bounced = Payment.objects.filter(member=lea, external_kind=ExternalKind.CHECK).select_related("invoice").first()
        partly_paid = bounced.invoice if bounced is not None else None
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
            this_month = self._month_start(0)
            self._issue(
                northwind,
                [
                    line(f"Private office, 4 desks: {month_label(this_month)}", 1, "1450.00", "EUR"),
                    line("Meeting room, hours", 4, "25.00", "EUR"),
                ],
                on=self.today,
                memo=NORTHWIND_CREDIT_MEMO,
                apply_credit=True,
            )
            created = True
        return created

    @staticmethod
    def _refund_settle(refund: Refund) -> None:
        """Send a card refund to the gateway now, so the demo shows its outcome even when the queued task waits for
        a worker (as `_charge_settle` does for charges; the gateway is sent the refund's own idempotency key)."""
        if Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).exists():
            refund_execute(refund_id=refund.pk)

    # Generated members (--members) -----------------------------------------------------------------------

    def _extra_members_ensure(self, count: int, *, options: dict) -> bool:
        with progress_bar(options=options, total=count, description="Generated members", unit="member") as bar:
            return self._extra_members_create(count, bar=bar)

    def _extra_members_create(self, count: int, *, bar) -> bool:
        created = False
        for index in range(1, count + 1):
            bar.update()
            email = f"member{index:04d}@members.example"
            if Member.objects.filter(email=email).exists():
                continue
            first = EXTRA_FIRST_NAMES[index % len(EXTRA_FIRST_NAMES)]
            last = EXTRA_LAST_NAMES[(index // len(EXTRA_FIRST_NAMES)) % len(EXTRA_LAST_NAMES)]
            member = Member.objects.create(
                name=f"{first} {last}",
                kind=Member.Kind.PERSON,
                email=email,
                billing_address=f"{index} {EXTRA_STREETS[index % len(EXTRA_STREETS)]}\n75011 Paris\nFrance",
                default_currency="EUR",
            )
            last_month = self._month_start(1)
            previous = self._issue(
                member,
                [line(f"Hot desk, monthly: {month_label(last_month)}", 1, "190.00", "EUR")],
                on=last_month,
            )
            payment_create_external(
                invoice=previous,
                actor=self.actor,
                kind=ExternalKind.BANK_TRANSFER,
                reference=f"SEPA {index:04d}",
                received_on=last_month + datetime.timedelta(days=index % 10),
            )
            self._issue(
                member,
                [
                    line(f"Hot desk, monthly: {month_label(self._month_start(0))}", 1, "190.00", "EUR"),
                    line("Day pass for a guest", 1 + index % 3, "20.00", "EUR"),
                ],
                on=self._days_ago(index % 5),
            )
            created = True
        return created

    # Summary -----------------------------------------------------------------------------------------------

    def _summary_write(self) -> None:
        shown = Counter(invoice.shown_status(today=self.today) for invoice in Invoice.objects.all())
        payments = Payment.objects.all()
        kinds = Counter(
            payment.get_external_kind_display().lower() if payment.is_external else "card" for payment in payments
        )
        voided = sum(1 for payment in payments if payment.status == PaymentStatus.VOID)
        failed = sum(1 for payment in payments if payment.status == PaymentStatus.FAILED)
        unallocated = sum(1 for payment in payments if payment.amount_unallocated.amount > 0)
        self.stdout.write(f"Members: {Member.objects.count()}")
        self.stdout.write(
            f"Invoices: {sum(shown.values())} ("
            + ", ".join(f"{label.lower()} {shown.get(value, 0)}" for value, label in ShownStatus.choices)
            + ")"
        )
        self.stdout.write(
            f"Payments: {payments.count()} ("
            + ", ".join(f"{label.lower()} {count}" for label, count in sorted(kinds.items()))
            + f"; {voided} void, {failed} failed, {unallocated} with unallocated money)"
        )
        self.stdout.write(
            f"Allocations: {Allocation.objects.count()}, money balance entries: {MoneyBalanceEntry.objects.count()}, "
            f"activity records: {Activity.objects.count()}"
        )
        refunds = Counter(Refund.objects.values_list("kind", flat=True))
        kinds = {Refund.Kind.GATEWAY: "to a card", Refund.Kind.RECORDED: "recorded", Refund.Kind.OUT_OF_BAND: "outside"}
        summary = f"Refunds: {sum(refunds.values())}"
        if refunds:
            summary += (
                " (" + ", ".join(f"{refunds[kind]} {label}" for kind, label in kinds.items() if refunds[kind]) + ")"
            )
        self.stdout.write(f"{summary}, credit notes: {CreditNote.objects.count()}")
        cards = PaymentMethod.objects.filter(removed_at__isnull=True)
        self.stdout.write(f"Saved cards: {cards.count()}")
        declining = cards.filter(
            member__email__in=[demo.email for demo in DEMO_MEMBERS if demo.card == DECLINING_CARD],
            last4=DECLINING_CARD[-4:],
        )
        for card in declining.select_related("member"):
            declined = (
                PaymentAttempt.objects.filter(payment_method=card, status=AttemptStatus.FAILED)
                .select_related("payment")
                .order_by("-pk")
                .first()
            )
            self.stdout.write(
                f"Declining card: {card.member} has {card} (sandbox test card 4000 0000 0000 0341), which is saved "
                "but declined on every charge"
                + (
                    f"; {declined.payment} failed with decline code {declined.decline_code}: {declined.failure_message}"
                    if declined
                    else "."
                )
            )
