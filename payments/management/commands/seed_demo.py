"""Fill the database with a realistic coworking space, through the services only.

Every invoice, payment, allocation and balance entry is made by the same service a space administrator would
use, so the cached amounts, the numbers and the activity are exactly what production would have. Each app seeds
what it owns (members/demo.py, billing/demo.py, payments/demo.py, payments/sandbox/demo.py, bank/demo.py); this command calls
them in order and prints the summary and the logins.
"""

import os

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from django.utils import timezone

from bank.demo import demo_bank_ensure
from billing.activity import Actor
from billing.demo import (
    NORTHWIND_CREDIT_MEMO,
    DemoCalendar,
    demo_credit_notes_ensure,
    demo_generated_invoices_issue,
    demo_invoices_issue,
    demo_invoices_summary,
)
from members.demo import (
    ADMIN_USERNAME,
    DEFAULT_MEMBERS,
    DEMO_MEMBERS,
    MEMBER_PASSWORD,
    demo_admin_ensure,
    demo_generated_member_create,
    demo_members_create,
    demo_members_get,
    demo_members_summary,
    demo_portal_logins_ensure,
    demo_role_logins_ensure,
)
from payments.demo import (
    demo_generated_payment_record,
    demo_payments_record,
    demo_payments_summary,
    demo_refunds_ensure,
)
from payments.gateways import gateway_get
from payments.management.progress import progress_argument_add, progress_bar
from payments.sandbox.demo import demo_cards_ensure, demo_cards_summary

__all__ = ["DEMO_MEMBERS", "MEMBER_PASSWORD", "NORTHWIND_CREDIT_MEMO", "Command"]


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
        self.calendar = DemoCalendar(today=timezone.localdate())
        admin_password = os.environ.get("DEMO_ADMIN_PASSWORD") or "admin"
        admin_user, admin_created = demo_admin_ensure(password=admin_password)
        self.actor = Actor.staff(admin_user)

        # The demo's receipts and notices would flood the console; they are kept in memory and dropped.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            created = self._story_ensure()
            self.members = demo_members_get()
            created = self._cards_ensure() or created
            created = demo_refunds_ensure(members=self.members, actor=self.actor) or created
            created = (
                demo_credit_notes_ensure(members=self.members, actor=self.actor, calendar=self.calendar) or created
            )
            extra_created = self._generated_members_ensure(member_count - DEFAULT_MEMBERS, options=options)
        portal_logins = demo_portal_logins_ensure()
        role_logins = demo_role_logins_ensure()
        bank_summary = demo_bank_ensure(today=self.calendar.today, created=created or extra_created)

        if created or extra_created:
            self.stdout.write(self.style.SUCCESS("Demo coworking space created."))
        else:
            self.stdout.write(self.style.SUCCESS("Demo data already present: nothing created."))
        for summary in (
            demo_members_summary()
            + demo_invoices_summary(today=self.calendar.today)
            + demo_payments_summary()
            + demo_cards_summary()
            + bank_summary
        ):
            self.stdout.write(summary)
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

    def _story_ensure(self) -> bool:
        """The members, their invoices and the payments of the story, once: nothing when the members exist."""
        members = demo_members_create()
        if members is None:
            return False
        invoices = demo_invoices_issue(members=members, actor=self.actor, calendar=self.calendar)
        demo_payments_record(members=members, invoices=invoices, actor=self.actor, calendar=self.calendar)
        return True

    def _cards_ensure(self) -> bool:
        if gateway_get().name != "sandbox":
            self.stdout.write("Saved cards and card payments are seeded with the sandbox gateway only: skipped.")
            return False
        return demo_cards_ensure(members=self.members, actor=self.actor, calendar=self.calendar)

    def _generated_members_ensure(self, count: int, *, options: dict) -> bool:
        """`--members`: each generated member has last month's invoice, paid by transfer, and this month's, open."""
        created = False
        with progress_bar(options=options, total=count, description="Generated members", unit="member") as bar:
            for index in range(1, count + 1):
                bar.update()
                member = demo_generated_member_create(index=index)
                if member is None:
                    continue
                previous, _ = demo_generated_invoices_issue(
                    member=member, index=index, actor=self.actor, calendar=self.calendar
                )
                demo_generated_payment_record(invoice=previous, index=index, actor=self.actor, calendar=self.calendar)
                created = True
        return created
