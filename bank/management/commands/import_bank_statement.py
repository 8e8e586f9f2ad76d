from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bank.models import BankTransaction, BankTransactionStatus, CsvMapping, StatementFormat
from bank.services.statement_import import statement_import
from bank.statements import statement_format_guess
from billing.activity import Actor
from billing.errors import BillingError
from payments.management.progress import progress_argument_add, progress_bar


class Command(BaseCommand):
    help = (
        "Import a bank statement (CAMT.053, MT940 or CSV with a saved column mapping): each transaction is added "
        "once (a transaction already imported, from this file or an overlapping one, is skipped) and each new "
        "incoming credit gets a proposed match, which an administrator confirms in the admin (Bank transactions). "
        "A file that cannot be read is refused as a whole, naming the line or entry, and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The statement file.")
        parser.add_argument(
            "--format",
            choices=StatementFormat.values,
            help="The file's format; guessed from its content when left out (XML: camt053, :61: lines: mt940).",
        )
        parser.add_argument("--mapping", help="The name of the saved CSV column mapping (CSV files only).")
        progress_argument_add(parser)

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        file_format = options["format"] or statement_format_guess(data)
        mapping = None
        if options["mapping"]:
            mapping = CsvMapping.objects.filter(name=options["mapping"]).first()
            if mapping is None:
                names = ", ".join(CsvMapping.objects.values_list("name", flat=True)) or "none saved"
                raise CommandError(f"No CSV column mapping named “{options['mapping']}” ({names}).")
        with progress_bar(options=options, total=None, description="Matching", unit="transaction") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                statement = statement_import(
                    data=data,
                    file_name=path.name,
                    file_format=file_format,
                    mapping=mapping,
                    actor=Actor.system("import_bank_statement"),
                    progress=progress,
                )
            except BillingError as error:
                raise CommandError(f"{path.name}: {error}") from None
        added = BankTransaction.objects.filter(statement_import=statement)
        counts = {status: added.filter(status=status).count() for status in BankTransactionStatus.values}
        high = added.filter(status=BankTransactionStatus.MATCHED, confidence__gte=80).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"{path.name} ({file_format}): {statement.entries} transactions, {statement.added} new, "
                f"{statement.entries - statement.added} already imported. New: {high} matched, "
                f"{counts['matched'] - high} need review, {counts['unmatched']} unmatched "
                f"(debits and other currencies included). Confirm them in the admin: Bank transactions."
            )
        )
