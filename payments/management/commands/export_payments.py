import datetime

from django.core.management.base import BaseCommand, CommandError

from payments.management.progress import progress_argument_add, progress_bar
from payments.models import PaymentStatus
from payments.reports import (
    PAYMENT_METHOD_CHOICES,
    PaymentReportFilters,
    payments_csv_write,
    payments_report_ordered,
    payments_report_queryset,
    payments_report_row_iterator,
    payments_report_totals,
)


def date_parse(value: str, *, option: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date written YYYY-MM-DD, such as 2026-01-31, not “{value}”.") from None


class Command(BaseCommand):
    help = (
        "Export payments to CSV: the rows of the admin's payments report (number, date, member, method, status, "
        "currency, amount, allocated, refunded, unallocated), oldest first, then one Total line per currency. A "
        "payment's date is the day it was received (external payments), else the day it was created. Both dates "
        "are included. Writes to stdout unless --output is given. Example: "
        "manage.py export_payments --from 2026-01-01 --to 2026-03-31 --output q1.csv"
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="First day (included).")
        parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="Last day (included).")
        parser.add_argument(
            "--method",
            choices=[value for value, _ in PAYMENT_METHOD_CHOICES],
            default="",
            help="Only card payments, external ones, or one kind of external payment.",
        )
        parser.add_argument(
            "--status", choices=PaymentStatus.values, default="", help="Only payments in this status (all by default)."
        )
        parser.add_argument("--format", choices=["csv"], default="csv", help="The file format (CSV only for now).")
        parser.add_argument("--output", metavar="FILE", help="Write to this file instead of stdout.")
        progress_argument_add(parser)

    def handle(self, *args, **options):
        date_from = date_parse(options["date_from"], option="--from") if options["date_from"] else None
        date_to = date_parse(options["date_to"], option="--to") if options["date_to"] else None
        if date_from and date_to and date_from > date_to:
            raise CommandError(f"--from {date_from} is after --to {date_to}: nothing can be exported.")
        queryset = payments_report_queryset(
            PaymentReportFilters(
                date_from=date_from, date_to=date_to, method=options["method"], status=options["status"]
            )
        )
        totals = payments_report_totals(queryset)
        rows = payments_report_row_iterator(payments_report_ordered(queryset))
        count = sum(total.count for total in totals)
        output_path = options["output"]
        if output_path:
            try:
                output = open(output_path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed below)
            except OSError as error:
                raise CommandError(f"Cannot write {output_path}: {error.strerror}.") from None
            with output, progress_bar(options=options, total=count, description="Exporting", unit="payment") as bar:
                payments_csv_write(output, rows, totals, progress=lambda number: bar.update())
        else:
            payments_csv_write(self.stdout, rows, totals)
        summary = f"{count} payment{'s' if count != 1 else ''} exported"
        if totals:
            summary += " (" + ", ".join(f"{total.received} {total.currency}" for total in totals) + ")"
        summary += f" to {output_path}." if output_path else "."
        (self.stdout if output_path else self.stderr).write(self.style.SUCCESS(summary))
