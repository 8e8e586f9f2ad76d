from django.core.management.base import BaseCommand
from django.utils import timezone

from payments.management.progress import progress_argument_add, progress_bar
from payments.services.payment_retries import payment_retries_run, payments_retry_due


class Command(BaseCommand):
    help = (
        "Retry every failed card payment whose automatic retry is due (BILLING_RETRY_SCHEDULE_DAYS after its last "
        "failure). Payments whose invoice is paid, void or uncollectible are canceled instead. Celery beat runs the "
        "same thing every 15 minutes."
    )

    def add_arguments(self, parser):
        progress_argument_add(parser)

    def handle(self, *args, **options):
        now = timezone.now()
        due = payments_retry_due(now=now).count()
        with progress_bar(options=options, total=due, description="Retrying", unit="payment") as bar:
            summary = payment_retries_run(now=now, progress=lambda payment_id: bar.update())
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary.due} due: {summary.retried} retried, {summary.canceled} canceled, "
                f"{summary.postponed} postponed, {summary.refused} stopped."
            )
        )
