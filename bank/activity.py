"""The activity record of a bank transaction's step (matched, recorded, undone, ignored)."""

from typing import Any

from bank.models import BankTransaction
from billing.activity import Actor, activity_build


def bank_transaction_activity(
    bank_transaction: BankTransaction,
    *,
    actor: Actor,
    verb: str,
    member,
    status_before: str,
    message: str = "",
    data: dict[str, Any] | None = None,
):
    """`verb` (a `bank_transaction.` verb, given as a constant so that its sentence is checked), from `status_before` to the transaction's status now; not yet saved."""
    return activity_build(
        actor=actor,
        verb=verb,
        member=member,
        target=bank_transaction,
        amount=bank_transaction.amount,
        status_before=status_before,
        status_after=bank_transaction.status,
        message=message,
        data=data,
    )
