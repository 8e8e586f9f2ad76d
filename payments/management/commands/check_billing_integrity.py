from django.core.management.base import BaseCommand, CommandError

from billing.models import Invoice
from payments.integrity import CHECKS, billing_integrity_violations
from payments.management.progress import progress_argument_add, progress_bar
from payments.models import Payment


class Command(BaseCommand):
    help = (
        "Check the billing invariants over the whole database and list every violation. Checked: each invoice's "
        "subtotal, tax and total against its lines, and its paid, balance applied, credited and remaining amounts "
        "against its allocations and money balance entries (remaining never below zero); each payment's "
        "allocated + refunded + refunds in flight + unallocated = amount, and no money on payments that did not "
        "succeed; statuses that agree with the amounts (paid if and only if nothing remains); currencies and "
        "members that match between payments, allocations and invoices; money balances never below zero; "
        "invoice and credit note numbers gapless per year and matching their sequences, payment and allocation "
        "numbers well formed; an "
        "activity record for every payment received, allocation, balance entry and issued invoice. Exits with "
        "status 1 when anything is wrong, 0 when the books are consistent. Read-only; one set-based pass per invariant, "
        "so the time grows linearly with the books."
    )

    def add_arguments(self, parser):
        progress_argument_add(parser)

    def handle(self, *args, **options):
        with progress_bar(options=options, total=len(CHECKS), description="Checking", unit="check") as bar:

            def check_done(name: str) -> None:
                bar.set_postfix_str(name)
                bar.update()

            violations = billing_integrity_violations(progress=check_done)
        invoice_count = Invoice.objects.count()
        payment_count = Payment.objects.count()
        if not violations:
            self.stdout.write(
                self.style.SUCCESS(f"No violations: {invoice_count} invoices, {payment_count} payments checked.")
            )
            return
        for violation in violations:
            self.stdout.write(violation)
        raise CommandError(
            f"{len(violations)} violation{'s' if len(violations) != 1 else ''} found "
            f"({invoice_count} invoices, {payment_count} payments checked)."
        )
