"""Reading bank statements: CAMT.053 (ISO 20022 XML, with the standard library's ElementTree), MT940 (with the
mt-940 package) and CSV (with a saved column mapping). Each reader turns a file into `StatementEntry`s or refuses
the whole file with a `StatementError` naming the line or entry at fault; nothing here writes to the database."""

import csv
import datetime
import hashlib
import io
import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import mt940
from django.utils.translation import gettext as _
from djmoney.money import Money

from bank.models import CsvMapping, StatementFormat
from billing.errors import BillingError
from billing.money import currency_check, money_check_scale

MAX_FILE_BYTES = 10 * 1024 * 1024
CAMT053_NAMESPACE = re.compile(r"^\{urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.\d{2}\}Document$")


class StatementError(BillingError):
    """The file cannot be read as a statement; the message names the line or entry."""


@dataclass(frozen=True)
class StatementEntry:
    """One transaction of a statement. `bank_reference` is the bank's own, or empty (a hash is used then)."""

    where: str
    bank_reference: str
    account_iban: str
    booking_date: datetime.date
    value_date: datetime.date | None
    is_credit: bool
    amount: Money
    counterparty_name: str
    counterparty_iban: str
    remittance: str

    def fields_hash(self, occurrence: int) -> str:
        """The key of an entry the bank gave no reference for: its fields, and how many identical entries came before
        it in the same file (two equal transfers on one day are two transactions; the same one in an overlapping
        statement is the same)."""
        parts = [
            self.account_iban,
            self.booking_date.isoformat(),
            "C" if self.is_credit else "D",
            str(self.amount.amount),
            self.amount.currency.code,
            self.counterparty_iban,
            self.counterparty_name,
            self.remittance,
            str(occurrence),
        ]
        return "hash:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def entries_keyed(entries: list[StatementEntry]) -> list[tuple[str, StatementEntry]]:
    """Each entry with the key it is unique by: the bank's reference, else the hash of its fields."""
    seen = Counter()
    keyed = []
    for entry in entries:
        if entry.bank_reference:
            keyed.append((entry.bank_reference, entry))
            continue
        identity = entry.fields_hash(0)
        keyed.append((entry.fields_hash(seen[identity]), entry))
        seen[identity] += 1
    return keyed


def iban_normalize(text: str) -> str:
    return re.sub(r"\s+", "", text or "").upper()[:34]


def _money(amount_text: str, currency: str, where: str) -> Money:
    try:
        currency = currency_check(currency)
        amount = Decimal(amount_text.strip())
        if not amount.is_finite() or amount.adjusted() >= 12:
            raise InvalidOperation
        value = Money(amount, currency)
        money_check_scale(value)
    except (InvalidOperation, ValueError):
        raise StatementError(
            _("%(where)s: “%(amount)s” is not an amount.") % {"where": where, "amount": amount_text}
        ) from None
    except BillingError as error:
        raise StatementError(_("%(where)s: %(error)s") % {"where": where, "error": error}) from None
    if value.amount <= 0:
        raise StatementError(_("%(where)s: the amount must be greater than zero.") % {"where": where})
    return value


def statement_read(data: bytes, *, file_format: str, mapping: CsvMapping | None = None) -> list[StatementEntry]:
    """Every entry of the file, or a StatementError for the first thing wrong in it."""
    if len(data) > MAX_FILE_BYTES:
        raise StatementError(_("The file is larger than 10 MB."))
    if not data.strip():
        raise StatementError(_("The file is empty."))
    if file_format == StatementFormat.CAMT053:
        return camt053_read(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\x00" in text:
        raise StatementError(_("The file is not a text file."))
    if file_format == StatementFormat.MT940:
        return mt940_read(text)
    if file_format == StatementFormat.CSV:
        if mapping is None:
            raise StatementError(_("Choose the column mapping of the bank's CSV statements."))
        return csv_read(text, mapping)
    raise StatementError(_("Unknown statement format “%(format)s”.") % {"format": file_format})


def statement_format_guess(data: bytes) -> str:
    """CAMT.053 for XML, MT940 for text with a :61: tag, else CSV."""
    head = data.lstrip()[:4096]
    if head.startswith(b"<"):
        return StatementFormat.CAMT053
    if re.search(rb"^:61:", data, re.MULTILINE):
        return StatementFormat.MT940
    return StatementFormat.CSV


# CAMT.053


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, *path: str):
    """The first element down the path of local names (namespaces ignored), or None."""
    for name in path:
        if element is None:
            return None
        element = next((child for child in element if _local(child.tag) == name), None)
    return element


def _children(element, name: str) -> list:
    return [] if element is None else [child for child in element if _local(child.tag) == name]


def _text(element, *path: str) -> str:
    found = _child(element, *path)
    return (found.text or "").strip() if found is not None else ""


def _date(element, where: str) -> datetime.date | None:
    text = _text(element, "Dt") or _text(element, "DtTm")[:10]
    if not text:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise StatementError(_("%(where)s: “%(date)s” is not a date.") % {"where": where, "date": text}) from None


def _party(details, role: str) -> tuple[str, str]:
    """(name, IBAN) of the debtor or creditor of a TxDtls, in the .02 (Dbtr/Nm) and .08 (Dbtr/Pty/Nm) shapes."""
    parties = _child(details, "RltdPties")
    party = _child(parties, role)
    name = _text(party, "Nm") or _text(party, "Pty", "Nm")
    iban = _text(parties, f"{role}Acct", "Id", "IBAN")
    return name, iban_normalize(iban)


def _remittance(details) -> str:
    information = _child(details, "RmtInf")
    parts = [(element.text or "").strip() for element in _children(information, "Ustrd")]
    for structured in _children(information, "Strd"):
        reference = _text(structured, "CdtrRefInf", "Ref")
        if reference:
            parts.append(reference)
        parts += [(element.text or "").strip() for element in _children(structured, "AddtlRmtInf")]
    return " ".join(part for part in parts if part)


def camt053_read(data: bytes) -> list[StatementEntry]:
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        line, column = error.position
        raise StatementError(
            _("The file is not well-formed XML (line %(line)s, column %(column)s): is it complete?")
            % {"line": line, "column": column}
        ) from None
    if not CAMT053_NAMESPACE.match(root.tag):
        raise StatementError(
            _("The file is XML but not a CAMT.053 bank statement (its root is %(root)s).") % {"root": root.tag}
        )
    statements = _children(_child(root, "BkToCstmrStmt"), "Stmt")
    if not statements:
        raise StatementError(_("The CAMT.053 file holds no statement (Stmt)."))
    entries = []
    number = 0
    for statement in statements:
        account_iban = iban_normalize(_text(statement, "Acct", "Id", "IBAN"))
        account_currency = _text(statement, "Acct", "Ccy")
        for entry in _children(statement, "Ntry"):
            number += 1
            reference = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
            where = _("Entry %(number)s") % {"number": number} + (f" ({reference})" if reference else "")
            status = _text(entry, "Sts") or _text(entry, "Sts", "Cd")
            if status and status != "BOOK":
                continue  # Pending or informational entries are not money on the account yet.
            amount_element = _child(entry, "Amt")
            if amount_element is None:
                raise StatementError(_("%(where)s: no amount (Amt).") % {"where": where})
            currency = amount_element.get("Ccy") or account_currency
            amount = _money(amount_element.text or "", currency, where)
            indicator = _text(entry, "CdtDbtInd")
            if indicator not in ("CRDT", "DBIT"):
                raise StatementError(
                    _("%(where)s: CdtDbtInd must be CRDT or DBIT, not “%(value)s”.")
                    % {"where": where, "value": indicator}
                )
            if _text(entry, "RvslInd").lower() == "true":
                indicator = "DBIT" if indicator == "CRDT" else "CRDT"
            is_credit = indicator == "CRDT"
            booking_date = _date(_child(entry, "BookgDt"), where)
            if booking_date is None:
                raise StatementError(_("%(where)s: no booking date (BookgDt).") % {"where": where})
            value_date = _date(_child(entry, "ValDt"), where)
            details = [
                details
                for entry_details in _children(entry, "NtryDtls")
                for details in _children(entry_details, "TxDtls")
            ]
            role = "Dbtr" if is_credit else "Cdtr"
            if len(details) <= 1:
                name, iban = _party(details[0], role) if details else ("", "")
                remittance = _remittance(details[0]) if details else _text(entry, "AddtlNtryInf")
                entries.append(
                    StatementEntry(
                        where=where,
                        bank_reference=reference,
                        account_iban=account_iban,
                        booking_date=booking_date,
                        value_date=value_date,
                        is_credit=is_credit,
                        amount=amount,
                        counterparty_name=name[:200],
                        counterparty_iban=iban,
                        remittance=remittance,
                    )
                )
                continue
            # A batch booking: one entry on the account, one transaction per TxDtls.
            parts = []
            for index, transaction_details in enumerate(details, start=1):
                part_where = _("%(where)s, transaction %(index)s") % {"where": where, "index": index}
                part_amount_element = _child(transaction_details, "Amt")
                if part_amount_element is None:
                    part_amount_element = _child(transaction_details, "AmtDtls", "TxAmt", "Amt")
                if part_amount_element is None:
                    raise StatementError(
                        _("%(where)s: a batch booking's transaction has no amount.") % {"where": part_where}
                    )
                part_amount = _money(
                    part_amount_element.text or "", part_amount_element.get("Ccy") or currency, part_where
                )
                if part_amount.currency != amount.currency:
                    raise StatementError(
                        _("%(where)s: in %(currency)s, the entry in %(entry_currency)s.")
                        % {
                            "where": part_where,
                            "currency": part_amount.currency.code,
                            "entry_currency": amount.currency.code,
                        }
                    )
                part_reference = _text(transaction_details, "Refs", "AcctSvcrRef")
                if not part_reference and reference:
                    part_reference = f"{reference}/{index}"
                name, iban = _party(transaction_details, role)
                parts.append(
                    StatementEntry(
                        where=part_where,
                        bank_reference=part_reference,
                        account_iban=account_iban,
                        booking_date=booking_date,
                        value_date=value_date,
                        is_credit=is_credit,
                        amount=part_amount,
                        counterparty_name=name[:200],
                        counterparty_iban=iban,
                        remittance=_remittance(transaction_details),
                    )
                )
            total = sum((part.amount for part in parts), Money(0, amount.currency))
            if total != amount:
                raise StatementError(
                    _("%(where)s: its transactions add up to %(total)s, not to the entry's %(amount)s.")
                    % {"where": where, "total": total, "amount": amount}
                )
            entries += parts
    return entries


# MT940


def mt940_read(text: str) -> list[StatementEntry]:
    if not re.search(r"^:61:", text, re.MULTILINE):
        raise StatementError(_("The file is not an MT940 statement: it has no :61: statement line."))
    statement_lines = [number for number, line in enumerate(text.splitlines(), start=1) if line.startswith(":61:")]
    try:
        transactions = mt940.models.Transactions()
        transactions.parse(text)
    except Exception as error:  # The package raises RuntimeError, ValueError or KeyError on bad input.
        raise StatementError(_("The MT940 statement cannot be read: %(error)s") % {"error": error}) from None
    found = [transaction for transaction in transactions if transaction.data.get("amount") is not None]
    if len(found) != len(statement_lines):
        raise StatementError(
            _("The MT940 statement has %(lines)s :61: lines but %(read)s could be read; check the line after each.")
            % {"lines": len(statement_lines), "read": len(found)}
        )
    account = transactions.data.get("account_identification") or ""
    account_iban = iban_normalize(account.split("/")[-1]) if account else ""
    currency = transactions.currency
    entries = []
    for line, transaction in zip(statement_lines, found, strict=True):
        data = transaction.data
        where = _("Line %(line)s") % {"line": line}
        amount_text = str(abs(data["amount"].amount))
        entry_currency = data["amount"].currency or currency
        if not entry_currency:
            raise StatementError(_("%(where)s: the statement gives no currency (:60F:).") % {"where": where})
        amount = _money(amount_text, entry_currency, where)
        status = data.get("status") or ""
        is_credit = status in ("C", "RD")
        reference = (data.get("bank_reference") or "").strip()
        if reference.upper() == "NONREF":
            reference = ""
        details = data.get("transaction_details") or ""
        remittance = " ".join(
            part for part in (data.get("purpose"), data.get("end_to_end_reference"), details) if part and part.strip()
        )
        entries.append(
            StatementEntry(
                where=where,
                bank_reference=reference,
                account_iban=account_iban,
                booking_date=_mt940_date(data.get("entry_date") or data.get("date"), where),
                value_date=_mt940_date(data.get("date"), where),
                is_credit=is_credit,
                amount=amount,
                counterparty_name=(data.get("applicant_name") or "").strip()[:200],
                counterparty_iban=iban_normalize(data.get("applicant_iban") or data.get("gvc_applicant_iban") or ""),
                remittance=re.sub(r"\s+", " ", remittance).strip(),
            )
        )
    return entries


def _mt940_date(value, where: str) -> datetime.date:
    if value is None:
        raise StatementError(_("%(where)s: no date.") % {"where": where})
    return datetime.date(value.year, value.month, value.day)


# CSV


def _csv_amount(text: str, *, decimal_comma: bool, where: str) -> tuple[bool, str]:
    """(is a credit, the amount as a plain decimal) from text as the bank writes it: 1.234,56 or -12,50 with a
    decimal comma, 1,234.56 without. Anything else is refused, never cleaned."""
    text = text.strip().replace("\u00a0", "").replace(" ", "")
    decimal_mark, group_mark = (",", ".") if decimal_comma else (".", ",")
    shape = re.compile(
        rf"^([+-]?)(\d{{1,3}}(?:{re.escape(group_mark)}\d{{3}})+|\d+)(?:{re.escape(decimal_mark)}(\d+))?$"
    )
    match = shape.match(text)
    if not match:
        raise StatementError(_("%(where)s: “%(amount)s” is not an amount.") % {"where": where, "amount": text})
    sign, whole, fraction = match.groups()
    plain = whole.replace(group_mark, "") + (f".{fraction}" if fraction is not None else "")
    return sign != "-", plain


def csv_read(text: str, mapping: CsvMapping) -> list[StatementEntry]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=mapping.delimiter or ";")
    try:
        header = reader.fieldnames or []
    except csv.Error as error:
        raise StatementError(_("Line 1: %(error)s") % {"error": error}) from None
    columns = {
        "date": mapping.date_column,
        "amount": mapping.amount_column,
        "currency": mapping.currency_column,
        "name": mapping.counterparty_name_column,
        "iban": mapping.counterparty_iban_column,
        "remittance": mapping.remittance_column,
        "reference": mapping.bank_reference_column,
    }
    missing = [column for column in columns.values() if column and column not in header]
    if missing:
        raise StatementError(
            _("Line 1: the columns %(missing)s of the mapping “%(mapping)s” are not in the file's header (%(header)s).")
            % {"missing": ", ".join(missing), "mapping": mapping, "header": ", ".join(header)}
        )
    entries = []
    try:
        for row in reader:
            where = _("Line %(line)s") % {"line": reader.line_num}
            if None in row or any(value is None for value in row.values()):
                raise StatementError(_("%(where)s: not as many columns as the header.") % {"where": where})
            if not any((value or "").strip() for value in row.values()):
                continue

            def cell(name, row=row):
                return (row.get(columns[name]) or "").strip() if columns[name] else ""

            try:
                booking_date = datetime.datetime.strptime(cell("date"), mapping.date_format).date()
            except ValueError:
                raise StatementError(
                    _("%(where)s: “%(date)s” is not a date like %(format)s.")
                    % {"where": where, "date": cell("date"), "format": mapping.date_format}
                ) from None
            is_credit, plain = _csv_amount(cell("amount"), decimal_comma=mapping.decimal_comma, where=where)
            entries.append(
                StatementEntry(
                    where=where,
                    bank_reference=cell("reference")[:200],
                    account_iban="",
                    booking_date=booking_date,
                    value_date=None,
                    is_credit=is_credit,
                    amount=_money(plain, cell("currency") or mapping.default_currency, where),
                    counterparty_name=cell("name")[:200],
                    counterparty_iban=iban_normalize(cell("iban")),
                    remittance=cell("remittance"),
                )
            )
    except csv.Error as error:
        raise StatementError(_("Line %(line)s: %(error)s") % {"line": reader.line_num, "error": error}) from None
    if not entries:
        raise StatementError(_("The CSV file has no transaction under its header."))
    return entries
