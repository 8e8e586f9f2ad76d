from django.core.management.base import BaseCommand

from payments.services.payment_retries import payment_retries_run


class Command(BaseCommand):
    help = (
        "Retry every failed card payment whose automatic retry is due (BILLING_RETRY_SCHEDULE_DAYS after its last "
        "failure). Payments whose invoice is paid, void or uncollectible are canceled instead. Celery beat runs the "
        "same thing every 15 minutes."
    )

    def handle(self, *args, **options):
        summary = payment_retries_run()
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary.due} due: {summary.retried} retried, {summary.canceled} canceled, "
                f"{summary.postponed} postponed, {summary.refused} stopped."
            )
        )
