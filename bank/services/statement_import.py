"""Import a bank statement: every transaction in it becomes a bank transaction once (unique by the bank's
reference, or a hash of its fields), and each new incoming credit gets a proposed match. The whole file or nothing."""

from collections.abc import Callable

from django.db import transaction
from django.utils.translation import gettext as _

from bank.matching import bank_transaction_propose
from bank.models import BankTransaction, CsvMapping, StatementFormat, StatementImport
from bank.services.bank_transaction_match import proposal_apply
from bank.statements import StatementError, entries_keyed, statement_read
from billing.activity import Actor, activities_save, activity_build
from billing.intents import intent_claim


def statement_import(
    *,
    data: bytes,
    file_name: str,
    file_format: str,
    actor: Actor,
    mapping: CsvMapping | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StatementImport:
    """Read the file, then in one transaction store its new transactions and propose a match for each new credit.
    `progress(done, total)` is called as the transactions are matched. Raises StatementError (nothing written) for
    a file that cannot be read."""
    actor.require_permission("bank.add_banktransaction", _("import bank statements"))
    if file_format not in StatementFormat.values:
        raise StatementError(_("Unknown statement format “%(format)s”.") % {"format": file_format})
    entries = entries_keyed(statement_read(data, file_format=file_format, mapping=mapping))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        statement = StatementImport.objects.create(
            created_by=actor.user,
            file_name=(file_name or "")[:255],
            file_format=file_format,
            csv_mapping=mapping if file_format == StatementFormat.CSV else None,
            entries=len(entries),
        )
        BankTransaction.objects.bulk_create(
            [
                BankTransaction(
                    statement_import=statement,
                    bank_reference=key,
                    account_iban=entry.account_iban,
                    booking_date=entry.booking_date,
                    value_date=entry.value_date,
                    is_credit=entry.is_credit,
                    currency=entry.amount.currency.code,
                    amount=entry.amount,
                    counterparty_name=entry.counterparty_name,
                    counterparty_iban=entry.counterparty_iban,
                    remittance=entry.remittance,
                )
                for key, entry in entries
            ],
            ignore_conflicts=True,  # ON CONFLICT DO NOTHING: a transaction imported before is not added again.
        )
        added = list(BankTransaction.objects.filter(statement_import=statement).order_by("pk"))
        _known_check(entries, statement=statement)
        statement.added = len(added)
        statement.save(update_fields=["added"])
        activities = [
            activity_build(
                actor=actor,
                verb="bank_statement.imported",
                target=statement,
                message=statement.file_name,
                data={"entries": statement.entries, "added": statement.added, "format": file_format},
            )
        ]
        for done, bank_transaction in enumerate(added, start=1):
            proposal = bank_transaction_propose(bank_transaction)
            if proposal is not None:
                proposal_apply(
                    bank_transaction=bank_transaction,
                    member=proposal.member,
                    invoices=[(invoice, None) for invoice in proposal.invoices],
                    rule=proposal.rule,
                    actor=actor,
                    activities=activities,
                )
            if progress:
                progress(done, len(added))
        activities_save(activities)
    return statement


def _known_check(entries, *, statement: StatementImport) -> None:
    """An entry whose reference was imported before must be that same transaction (an overlapping statement);
    one with another amount, direction or booking date under a known reference is refused, naming it. So is a
    reference given twice in the file to different transactions."""
    in_file = {}
    for key, entry in entries:
        first = in_file.setdefault(key, entry)
        if (first.amount, first.is_credit, first.booking_date) != (entry.amount, entry.is_credit, entry.booking_date):
            raise StatementError(
                _("%(where)s: the bank reference %(reference)s is also %(first)s's, with another amount or date.")
                % {"where": entry.where, "reference": key, "first": first.where}
            )
    known = {
        row.bank_reference: row
        for row in BankTransaction.objects.filter(bank_reference__in=[key for key, _entry in entries]).exclude(
            statement_import=statement
        )
    }
    for key, entry in entries:
        row = known.get(key)
        if row is None:
            continue
        if (row.amount, row.is_credit, row.booking_date) != (entry.amount, entry.is_credit, entry.booking_date):
            raise StatementError(
                _(
                    "%(where)s: the bank reference %(reference)s was imported before for %(amount)s on %(date)s; "
                    "this file says %(file_amount)s on %(file_date)s. Check the file with the bank."
                )
                % {
                    "where": entry.where,
                    "reference": key,
                    "amount": row.amount,
                    "date": row.booking_date,
                    "file_amount": entry.amount,
                    "file_date": entry.booking_date,
                }
            )
