"""The words of the bank transaction machine's rules (see `billing.rules`)."""

from django.utils.translation import gettext as _

from bank.models import (
    BankTransactionStatus,
    bank_transaction_has_member,
    bank_transaction_has_reason,
    bank_transaction_is_matchable,
)
from billing.rules import Refusal, in_source, state_is_not


def _status(bank_transaction) -> str:
    return bank_transaction.get_status_display().lower()


def _not_matchable(bank_transaction) -> str:
    if not bank_transaction.is_credit:
        return _("%(transaction)s is a debit: only incoming transfers pay invoices.") % {
            "transaction": bank_transaction
        }
    return _("%(transaction)s is in %(currency)s, a currency the space does not bill in.") % {
        "transaction": bank_transaction,
        "currency": bank_transaction.currency,
    }


BANK_TRANSACTION_MATCH_REFUSALS = (
    Refusal(
        state_is_not(BankTransactionStatus.RECORDED),
        lambda bank_transaction: (
            _("%(transaction)s is recorded already: undo it first.") % {"transaction": bank_transaction}
        ),
    ),
    Refusal(
        in_source("match"),
        lambda bank_transaction: (
            _("%(transaction)s is %(status)s and cannot be matched.")
            % {"transaction": bank_transaction, "status": _status(bank_transaction)}
        ),
    ),
    Refusal(bank_transaction_is_matchable, _not_matchable),
    Refusal(
        bank_transaction_has_member,
        lambda bank_transaction: _("Choose the member the money is from."),
    ),
)

BANK_TRANSACTION_RECORD_REFUSALS = (
    Refusal(
        state_is_not(BankTransactionStatus.RECORDED),
        lambda bank_transaction: _("%(transaction)s is recorded already.") % {"transaction": bank_transaction},
    ),
    Refusal(bank_transaction_is_matchable, _not_matchable),
    Refusal(
        in_source("record"),
        lambda bank_transaction: (
            _("%(transaction)s is %(status)s: match it to a member first.")
            % {"transaction": bank_transaction, "status": _status(bank_transaction)}
        ),
    ),
    Refusal(
        bank_transaction_has_member,
        lambda bank_transaction: (
            _("%(transaction)s has no member: match it first.") % {"transaction": bank_transaction}
        ),
    ),
)

BANK_TRANSACTION_IGNORE_REFUSALS = (
    Refusal(
        in_source("ignore"),
        lambda bank_transaction: (
            _("%(transaction)s is %(status)s and cannot be ignored.")
            % {"transaction": bank_transaction, "status": _status(bank_transaction)}
        ),
    ),
    Refusal(bank_transaction_has_reason, lambda bank_transaction: _("Say why the transaction is ignored.")),
)

BANK_TRANSACTION_UNDO_REFUSALS = (
    Refusal(
        in_source("undo"),
        lambda bank_transaction: (
            _("%(transaction)s is %(status)s; only a recorded transaction can be undone.")
            % {"transaction": bank_transaction, "status": _status(bank_transaction)}
        ),
    ),
)
