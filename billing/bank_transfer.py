"""How to pay an invoice by bank transfer: the space's bank account (settings), the invoice's RF reference and the
EPC QR code ("GiroCode") payload that banking apps read to pre-fill the transfer.

The payload follows the EPC's "Quick Response Code: guidelines to enable data capture for the initiation of a SEPA
credit transfer" (EPC069-12), version 002: twelve lines, UTF-8, SEPA credit transfer, the amount what remains to pay,
and the RF reference as the structured remittance information. The pages draw the code from it (segno, in
billing/templatetags/bank_transfer_tags.py)."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from djmoney.money import Money
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from billing.models import Invoice, invoice_accepts_payment
from billing.payment_references import payment_reference_format

# EPC069-12's limits: the beneficiary's name, the amount, and the whole payload in bytes.
EPC_NAME_MAX_LENGTH = 70
EPC_AMOUNT_MAX = Decimal("999999999.99")
EPC_PAYLOAD_MAX_BYTES = 331
EPC_CURRENCY = "EUR"


@dataclass(frozen=True)
class BankAccount:
    holder: str
    iban: str  # compact: DE89370400440532013000
    bic: str

    @property
    def iban_formatted(self) -> str:
        return IBAN(self.iban).formatted


@dataclass(frozen=True)
class InvoiceTransfer:
    """What a member needs to pay one invoice by transfer."""

    account: BankAccount
    reference: str  # compact RF reference
    amount: Money  # what remains to pay
    qr_payload: str | None  # None: no QR code (not in euros)

    @property
    def reference_formatted(self) -> str:
        return payment_reference_format(self.reference)


def bank_account_problems(*, iban: str, bic: str, holder: str) -> list[str]:
    """What is wrong with a bank account's settings, in words; empty when it can be printed on invoices."""
    problems = []
    try:
        IBAN(iban)
    except SchwiftyException as error:
        problems.append(f"BILLING_BANK_IBAN {iban!r} is not a valid IBAN ({error}).")
    try:
        BIC(bic)
    except SchwiftyException as error:
        problems.append(f"BILLING_BANK_BIC {bic!r} is not a valid BIC ({error}).")
    if not holder.strip():
        problems.append("BILLING_BANK_ACCOUNT_HOLDER is empty.")
    elif len(holder.strip()) > EPC_NAME_MAX_LENGTH:
        problems.append(
            f"BILLING_BANK_ACCOUNT_HOLDER has {len(holder.strip())} characters; "
            f"at most {EPC_NAME_MAX_LENGTH} fit in an EPC QR code."
        )
    return problems


def bank_account() -> BankAccount:
    """The space's account, from the settings (validated at start-up by the system check billing.E010)."""
    return BankAccount(
        holder=settings.BILLING_BANK_ACCOUNT_HOLDER.strip(),
        iban=IBAN(settings.BILLING_BANK_IBAN).compact,
        bic=BIC(settings.BILLING_BANK_BIC).compact,
    )


def epc_qr_payload(*, account: BankAccount, amount: Money, reference: str) -> str:
    """The EPC069-12 (version 002) payload of a SEPA credit transfer of `amount` (euros) to `account`, quoting the
    RF `reference`. Raises ValueError for what the format cannot carry."""
    if amount.currency.code != EPC_CURRENCY:
        raise ValueError(f"An EPC QR code transfers euros, not {amount.currency.code}.")
    value = amount.amount
    if not Decimal("0.01") <= value <= EPC_AMOUNT_MAX or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"An EPC QR code carries 0.01 to {EPC_AMOUNT_MAX} EUR in cents, not {value}.")
    if not 0 < len(account.holder) <= EPC_NAME_MAX_LENGTH:
        raise ValueError(f"The beneficiary's name must have 1 to {EPC_NAME_MAX_LENGTH} characters.")
    lines = [
        "BCD",  # service tag
        "002",  # version
        "1",  # character set: UTF-8
        "SCT",  # SEPA credit transfer
        account.bic,
        account.holder,
        account.iban,
        f"{EPC_CURRENCY}{value:.2f}",
        "",  # purpose code: none
        reference,  # structured remittance information (ISO 11649)
        "",  # unstructured remittance information: empty when the reference is given
        "",  # beneficiary to originator information: none
    ]
    payload = "\n".join(lines).rstrip("\n")
    if len(payload.encode("utf-8")) > EPC_PAYLOAD_MAX_BYTES:
        raise ValueError(f"The payload has more than {EPC_PAYLOAD_MAX_BYTES} bytes.")
    return payload


def invoice_transfer(invoice: Invoice) -> InvoiceTransfer | None:
    """How to pay the invoice by transfer; None when there is nothing to pay (a draft, paid or void invoice). The QR
    code's payload only for an invoice in euros."""
    if not invoice.payment_reference or not invoice_accepts_payment(invoice):
        return None
    account = bank_account()
    payload = None
    if invoice.currency == EPC_CURRENCY:
        payload = epc_qr_payload(account=account, amount=invoice.amount_remaining, reference=invoice.payment_reference)
    return InvoiceTransfer(
        account=account, reference=invoice.payment_reference, amount=invoice.amount_remaining, qr_payload=payload
    )
