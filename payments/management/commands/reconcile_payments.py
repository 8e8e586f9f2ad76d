from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payments.management.progress import progress_argument_add, progress_bar
from payments.outbox import outbox_relay, outbox_relay_fresh
from payments.services.attempt_reconcile import attempts_reconcile, attempts_to_reconcile
from payments.services.refund_reconcile import refunds_reconcile, refunds_to_reconcile
from payments.services.webhook import webhook_events_relay, webhook_events_sweep


class Command(BaseCommand):
    help = (
        "Finish what was started: ask the gateway about card charges and card refunds whose outcome is unknown "
        "(for more than BILLING_RECONCILE_AFTER_MINUTES) and settle them, with the same gateway ids and idempotency "
        "keys; process stored webhook events not processed yet; hand over again the work after a commit (tasks, "
        "mail) that is not done. Charges and refunds still unknown after BILLING_NEEDS_REVIEW_AFTER_HOURS are "
        "flagged 'needs review'. Exits non-zero when any was flagged."
    )

    def add_arguments(self, parser):
        progress_argument_add(parser)

    def handle(self, *args, **options):
        now = timezone.now()
        total = attempts_to_reconcile(now=now).count()
        with progress_bar(options=options, total=total, description="Reconciling", unit="charge") as bar:
            charges = attempts_reconcile(now=now, progress=lambda attempt_id: bar.update())
        self.stdout.write(
            f"Charges: {charges.checked} checked: {charges.settled} settled, {charges.still_unknown} still unknown."
        )
        total = refunds_to_reconcile(now=now).count()
        with progress_bar(options=options, total=total, description="Reconciling", unit="refund") as bar:
            refunds = refunds_reconcile(now=now, progress=lambda refund_id: bar.update())
        self.stdout.write(
            f"Refunds: {refunds.checked} checked: {refunds.settled} settled, {refunds.still_unknown} still unknown."
        )
        # The events never tried (the view only stores them), then those whose processing failed or died.
        fresh, retried = webhook_events_relay(now=now), webhook_events_sweep(now=now)
        self.stdout.write(
            f"Webhook events: {fresh.due + retried.due} due: {fresh.processed + retried.processed} processed, "
            f"{fresh.failed + retried.failed} failed."
        )
        # The rows never handed over (mails wait for a relay), then those due again.
        fresh, relayed = outbox_relay_fresh(), outbox_relay(now=now)
        self.stdout.write(
            f"Outbox: {fresh.due + relayed.due} due: {fresh.handed_over + relayed.handed_over} handed over, "
            f"{fresh.failed + relayed.failed} not handed over."
        )
        flagged = charges.flagged + refunds.flagged
        if flagged:
            raise CommandError("Needs review: " + ", ".join(flagged))
        self.stdout.write(self.style.SUCCESS("Done."))
