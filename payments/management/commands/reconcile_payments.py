from django.core.management.base import BaseCommand, CommandError

from payments.services.attempt_reconcile import attempts_reconcile


class Command(BaseCommand):
    help = (
        "Ask the gateway about card charges whose outcome is unknown (processing for more than "
        "BILLING_RECONCILE_AFTER_MINUTES) and settle them, with the same gateway ids and idempotency keys. Charges "
        "still unknown after BILLING_NEEDS_REVIEW_AFTER_HOURS are flagged 'needs review'. Exits non-zero when any "
        "was flagged."
    )

    def handle(self, *args, **options):
        summary = attempts_reconcile()
        self.stdout.write(
            f"{summary.checked} checked: {summary.settled} settled, {summary.still_unknown} still unknown."
        )
        if summary.flagged:
            raise CommandError("Needs review: " + ", ".join(summary.flagged))
        self.stdout.write(self.style.SUCCESS("Done."))
