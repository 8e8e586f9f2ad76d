"""Row locks of the bank app: a bank transaction is locked after its member and invoices (and payments), before the
number counters (README, Locks)."""

from bank.models import BankTransaction


def bank_transaction_lock(bank_transaction_id: int) -> BankTransaction:
    return BankTransaction.objects.select_for_update().get(pk=bank_transaction_id)
