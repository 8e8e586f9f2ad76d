from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payments.management.progress import progress_argument_add, progress_bar
from payments.services.attempt_reconcile import attempts_reconcile, attempts_to_reconcile


class Command(BaseCommand):
    help = (
        "Ask the gateway about card charges whose outcome is unknown (processing for more than "
        "BILLING_RECONCILE_AFTER_MINUTES) and settle them, with the same gateway ids and idempotency keys. Charges "
        "still unknown after BILLING_NEEDS_REVIEW_AFTER_HOURS are flagged 'needs review'. Exits non-zero when any "
        "was flagged."
    )

    def add_arguments(self, parser):
        progress_argument_add(parser)

    def handle(self, *args, **options):
        now = timezone.now()
        total = attempts_to_reconcile(now=now).count()
        with progress_bar(options=options, total=total, description="Reconciling", unit="charge") as bar:
            summary = attempts_reconcile(now=now, progress=lambda attempt_id: bar.update())
        self.stdout.write(
            f"{summary.checked} checked: {summary.settled} settled, {summary.still_unknown} still unknown."
        )
        if summary.flagged:
            raise CommandError("Needs review: " + ", ".join(summary.flagged))
        self.stdout.write(self.style.SUCCESS("Done."))
