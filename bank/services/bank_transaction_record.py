"""Confirm a bank transaction's match: record the external bank-transfer payment it is, and undo that.

Both are one transaction with the bank transaction's state: the payment (through payments' locked helpers, as
`payment_create_external` and `payment_void` do it), the transaction's move to recorded (or undone), the member's
IBAN learned, and every activity record."""

from django.db import transaction
from django.utils.translation import gettext as _

from bank.activity import bank_transaction_activity
from bank.lock_objects import bank_transaction_lock
from bank.matching import allocation_plan
from bank.models import BankTransaction, BankTransactionPayment, MemberBankAccount, ProposedAllocation
from bank.rules import BANK_TRANSACTION_RECORD_REFUSALS, BANK_TRANSACTION_UNDO_REFUSALS
from billing.activity import Actor, activities_save
from billing.errors import BillingError, InvalidState
from billing.intents import intent_claim
from billing.lock_objects import invoices_lock, member_lock
from billing.models import invoice_accepts_payment
from billing.rules import transition_check
from payments.lock_objects import payment_lock_with_invoices
from payments.models import ExternalKind, Payment, PaymentStatus
from payments.rules import invoice_check_accepts_payment
from payments.services.payment_external import payment_external_create_locked
from payments.services.payment_void import payment_void_locked


def _changed_meanwhile(bank_transaction: BankTransaction) -> InvalidState:
    return InvalidState(
        _("%(transaction)s was changed by someone else meanwhile; reload the page.") % {"transaction": bank_transaction}
    )


def bank_transaction_record(*, bank_transaction: BankTransaction, actor: Actor) -> Payment:
    """Record the matched transaction as an external bank-transfer payment of its member, allocated to the proposed
    invoices (the amounts set per invoice first, the rest oldest first), any excess kept as the member's credit; a
    standalone payment when no invoice is proposed. The counterparty's IBAN is learned on the member."""
    actor.require_permission("payments.record_external_payment", _("record external payments"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        seen = BankTransaction.objects.get(pk=bank_transaction.pk)
        if seen.member_id is None:
            transition_check(seen.record, BANK_TRANSACTION_RECORD_REFUSALS)
        member = member_lock(seen.member_id)
        proposed = list(ProposedAllocation.objects.filter(bank_transaction_id=seen.pk))
        invoices = {invoice.pk: invoice for invoice in invoices_lock(p.invoice_id for p in proposed)}
        bank_transaction = bank_transaction_lock(seen.pk)
        if bank_transaction.member_id != member.pk:
            raise _changed_meanwhile(bank_transaction)
        transition_check(bank_transaction.record, BANK_TRANSACTION_RECORD_REFUSALS)
        proposed = list(ProposedAllocation.objects.filter(bank_transaction=bank_transaction))
        if {p.invoice_id for p in proposed} != set(invoices):
            raise _changed_meanwhile(bank_transaction)
        set_amounts = {p.invoice_id: p.amount for p in proposed}
        payable = []
        for invoice in invoices.values():
            invoice.member = member
            if invoice.member_id != member.pk or invoice.currency != bank_transaction.currency:
                raise _changed_meanwhile(bank_transaction)
            if set_amounts[invoice.pk] is not None:
                invoice_check_accepts_payment(invoice)
                if set_amounts[invoice.pk] > invoice.amount_remaining:
                    raise BillingError(
                        _("%(amount)s is more than what remains on %(invoice)s (%(remaining)s); match it again.")
                        % {"amount": set_amounts[invoice.pk], "invoice": invoice, "remaining": invoice.amount_remaining}
                    )
                payable.append(invoice)
            elif invoice_accepts_payment(invoice):
                payable.append(invoice)  # One paid meanwhile is left out: the money goes to the others, or is credit.
        applications, _excess = allocation_plan(bank_transaction.amount, payable, set_amounts)
        activities = []
        payment = payment_external_create_locked(
            member=member,
            amount=bank_transaction.amount,
            applications=applications,
            kind=ExternalKind.BANK_TRANSFER,
            reference=bank_transaction.bank_reference[:200],
            received_on=bank_transaction.booking_date,
            note=_("Bank transfer from %(name)s: %(remittance)s")
            % {"name": bank_transaction.counterparty_name or "?", "remittance": bank_transaction.remittance[:300]},
            actor=actor,
            activities=activities,
        )
        BankTransactionPayment.objects.create(bank_transaction=bank_transaction, payment=payment)
        iban = bank_transaction.counterparty_iban
        learned = bool(iban) and not MemberBankAccount.objects.filter(member=member, iban=iban).exists()
        if learned:
            MemberBankAccount.objects.create(member=member, iban=iban)
        status_before = bank_transaction.status
        bank_transaction.record()
        bank_transaction.save(update_fields=["status"])
        activities.append(
            bank_transaction_activity(
                bank_transaction,
                actor=actor,
                verb="bank_transaction.recorded",
                member=member,
                status_before=status_before,
                data={
                    "payment": payment.number,
                    "invoices": {str(invoice): str(applied.amount) for invoice, applied in applications},
                    "iban": bank_transaction.counterparty_iban,
                    "iban_learned": learned,
                },
            )
        )
        activities_save(activities)
    return payment


def bank_transaction_undo(*, bank_transaction: BankTransaction, actor: Actor, reason: str = "") -> BankTransaction:
    """Undo a recorded transaction: void the payment it created (the invoices it paid reopen). The transaction can
    then be matched again."""
    actor.require_permission("payments.void_payment", _("void payments"))
    with transaction.atomic(durable=True):
        intent_claim(actor=actor)
        recording = (
            BankTransactionPayment.objects.filter(bank_transaction_id=bank_transaction.pk)
            .exclude(payment__status=PaymentStatus.VOID)
            .select_related("payment")
            .first()
        )
        if recording is None:
            bank_transaction = bank_transaction_lock(bank_transaction.pk)
            transition_check(bank_transaction.undo, BANK_TRANSACTION_UNDO_REFUSALS)
            raise _changed_meanwhile(bank_transaction)
        member, invoices, payment = payment_lock_with_invoices(
            recording.payment_id, member_id=recording.payment.member_id
        )
        bank_transaction = bank_transaction_lock(bank_transaction.pk)
        transition_check(bank_transaction.undo, BANK_TRANSACTION_UNDO_REFUSALS)
        if payment.status == PaymentStatus.VOID:
            raise _changed_meanwhile(bank_transaction)
        reason = (reason or "").strip() or _("Bank transaction %(reference)s undone") % {
            "reference": bank_transaction.bank_reference
        }
        activities = []
        payment_void_locked(
            payment=payment, member=member, invoices=invoices, actor=actor, reason=reason, activities=activities
        )
        status_before = bank_transaction.status
        bank_transaction.undo()
        bank_transaction.save(update_fields=["status"])
        activities.append(
            bank_transaction_activity(
                bank_transaction,
                actor=actor,
                verb="bank_transaction.undone",
                member=member,
                status_before=status_before,
                message=reason,
                data={"payment": payment.number},
            )
        )
        activities_save(activities)
    return bank_transaction
