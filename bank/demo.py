"""The demo space's bank side, called by `seed_demo` after the payments: a CSV column mapping, one member's known
IBAN, and a statement in each format (bank/samples/, filled in from the demo's open invoices) written to
var/demo-statements/ for an administrator to upload. Their lines pay one invoice in full (an RF reference), part of
one (an invoice number), more than one asks (an RF reference; the excess stays as credit), one by the member's
known IBAN alone (exactly what remains), and one nobody (unmatched); plus a debit (fees), a credit in a currency
the space does not bill in and, in CAMT.053, a batch booking and a pending entry (not imported)."""

import datetime
from decimal import Decimal
from pathlib import Path
from string import Template

from django.conf import settings

from bank.models import CsvMapping, MemberBankAccount
from bank.statements import iban_normalize
from billing.models import Invoice
from members.models import Member

SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLE_FILES = {"camt053": "demo.camt053.xml", "mt940": "demo.mt940.sta", "csv": "demo.csv"}
DEMO_MAPPING_NAME = "Demo bank (CSV)"
SPACE_IBAN = "DE89370400440532013000"
# The demo members' accounts (valid example IBANs); Northwind's is known to the space already.
PAYERS = {
    "paid": ("Bright Pixel GmbH", "AT611904300234573201"),
    "partial": ("Jonas Weber", "DE02120300000000202051"),
    "overpaid": ("Léa Martin", "FR1420041010050500013M02606"),
    "iban": ("Northwind Studio SARL", "BE68539007547034"),
}
OVERPAID_BY = Decimal("25.00")
PARTIAL_AMOUNT = Decimal("100.00")


def demo_csv_mapping_ensure() -> CsvMapping:
    mapping, _created = CsvMapping.objects.get_or_create(
        name=DEMO_MAPPING_NAME,
        defaults={
            "delimiter": ";",
            "decimal_comma": True,
            "date_format": "%d.%m.%Y",
            "date_column": "Booking date",
            "amount_column": "Amount",
            "currency_column": "Currency",
            "counterparty_name_column": "Name",
            "counterparty_iban_column": "IBAN",
            "remittance_column": "Purpose",
            "bank_reference_column": "Bank reference",
        },
    )
    return mapping


def demo_known_iban_ensure() -> None:
    name, iban = PAYERS["iban"]
    member = Member.objects.filter(name=name).first()
    if member is not None:
        MemberBankAccount.objects.get_or_create(member=member, iban=iban)


def _oldest_open(member_name: str) -> Invoice | None:
    return (
        Invoice.objects.accepting_payment()
        .filter(member__name=member_name, currency="EUR")
        .order_by("issue_date", "pk")
        .first()
    )


def _comma(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",")


def demo_statement_fields(*, today: datetime.date) -> dict[str, str] | None:
    """The values the samples' fields take from the demo's open invoices today; None when one is missing."""
    invoices = {role: _oldest_open(name) for role, (name, _iban) in PAYERS.items()}
    if any(invoice is None for invoice in invoices.values()):
        return None
    amounts = {
        "paid": invoices["paid"].amount_remaining.amount,
        "partial": min(PARTIAL_AMOUNT, invoices["partial"].amount_remaining.amount - Decimal("0.01")),
        "overpaid": invoices["overpaid"].amount_remaining.amount + OVERPAID_BY,
        "iban": invoices["iban"].amount_remaining.amount,
    }
    fields = {
        "statement_id": today.strftime("%Y%m%d"),
        "sequence": str(today.timetuple().tm_yday),
        "date": today.isoformat(),
        "mt_date": today.strftime("%y%m%d"),
        "mt_md": today.strftime("%m%d"),
        "csv_date": today.strftime("%d.%m.%Y"),
        "space_iban": iban_normalize(getattr(settings, "BILLING_BANK_IBAN", "")) or SPACE_IBAN,
        "batch_amount": f"{amounts['paid'] + amounts['partial']:.2f}",
        "closing_comma": _comma(Decimal("10000.00") + sum(amounts.values()) + Decimal("80.00") - Decimal("4.90")),
        "partial_number": invoices["partial"].number,
    }
    for role, (name, iban) in PAYERS.items():
        fields[f"{role}_name"] = name
        fields[f"{role}_iban"] = iban
        fields[f"{role}_amount"] = f"{amounts[role]:.2f}"
        fields[f"{role}_amount_comma"] = _comma(amounts[role])
        fields[f"{role}_reference"] = invoices[role].payment_reference or invoices[role].number
    return fields


def demo_statement_render(file_format: str, fields: dict[str, str]) -> bytes:
    return Template((SAMPLES / SAMPLE_FILES[file_format]).read_text()).substitute(fields).encode()


def demo_statements_write(*, today: datetime.date, refresh: bool, directory: Path | None = None) -> list[Path]:
    """Write today's demo statements when the demo was just created (`refresh`) or they are missing: a seed run on
    an existing demo keeps them, so the statement uploaded before stays the same. Returns their paths, or [] when
    the demo's invoices are no longer open."""
    directory = directory or Path(settings.VAR_DIR) / "demo-statements"
    paths = [directory / f"statement-{today:%Y%m%d}.{name.split('.', 1)[1]}" for name in SAMPLE_FILES.values()]
    if not refresh and all(path.exists() for path in paths):
        return paths
    fields = demo_statement_fields(today=today)
    if fields is None:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    for file_format, path in zip(SAMPLE_FILES, paths, strict=True):
        path.write_bytes(demo_statement_render(file_format, fields))
    return paths


def demo_bank_ensure(*, today: datetime.date, created: bool) -> list[str]:
    """The mapping, the known IBAN and the statements (written anew when the demo was just `created`); the
    summary's lines."""
    demo_csv_mapping_ensure()
    demo_known_iban_ensure()
    paths = demo_statements_write(today=today, refresh=created)
    if not paths:
        return []
    lines = ["Bank statements to upload (Bank transfers > Bank transactions > Import a statement):"]
    lines += [f"  {path}" for path in paths]
    lines.append(f"  (the CSV one with the column mapping “{DEMO_MAPPING_NAME}”)")
    return lines
