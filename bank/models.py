"""Bank statements and the transactions they list, the column mappings of CSV statements, and the IBANs known to
belong to members. A bank transaction's state is a machine: unmatched -> matched (a proposed member and invoices)
-> recorded (a payment was created from it) -> undone (that payment voided); or ignored, with a reason."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_fsm import FSMField, transition

from billing.models import Invoice, money_field
from billing.state_machine import StateMachineMixin
from members.models import Member
from payments.models import Payment


class StatementFormat(models.TextChoices):
    CAMT053 = "camt053", gettext_lazy("CAMT.053 (ISO 20022 XML)")
    MT940 = "mt940", gettext_lazy("MT940")
    CSV = "csv", gettext_lazy("CSV")


class CsvMapping(models.Model):
    """How one bank writes its CSV statements: which column holds what, and how dates and amounts are written.
    Columns are named by their header (the first row)."""

    name = models.CharField(gettext_lazy("name"), max_length=100, unique=True)
    delimiter = models.CharField(gettext_lazy("delimiter"), max_length=1, default=";")
    decimal_comma = models.BooleanField(
        gettext_lazy("decimal comma"),
        default=True,
        help_text=gettext_lazy("Amounts are written 1.234,56 (else 1,234.56)."),
    )
    date_format = models.CharField(
        gettext_lazy("date format"),
        max_length=32,
        default="%d.%m.%Y",
        help_text=gettext_lazy("A strftime format, e.g. %d.%m.%Y or %Y-%m-%d."),
    )
    date_column = models.CharField(gettext_lazy("date column"), max_length=100)
    amount_column = models.CharField(gettext_lazy("amount column"), max_length=100)
    currency_column = models.CharField(gettext_lazy("currency column"), max_length=100, blank=True)
    default_currency = models.CharField(
        gettext_lazy("default currency"),
        max_length=3,
        default="EUR",
        help_text=gettext_lazy("When the statement has no currency column."),
    )
    counterparty_name_column = models.CharField(gettext_lazy("counterparty name column"), max_length=100, blank=True)
    counterparty_iban_column = models.CharField(gettext_lazy("counterparty IBAN column"), max_length=100, blank=True)
    remittance_column = models.CharField(gettext_lazy("remittance column"), max_length=100, blank=True)
    bank_reference_column = models.CharField(gettext_lazy("bank reference column"), max_length=100, blank=True)

    class Meta:
        verbose_name = gettext_lazy("CSV column mapping")
        verbose_name_plural = gettext_lazy("CSV column mappings")

    def __str__(self) -> str:
        return self.name


class StatementImport(models.Model):
    """One uploaded statement file and what importing it added."""

    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("created by"),
    )
    file_name = models.CharField(gettext_lazy("file name"), max_length=255)
    file_format = models.CharField(gettext_lazy("file format"), max_length=16, choices=StatementFormat.choices)
    csv_mapping = models.ForeignKey(
        CsvMapping, on_delete=models.PROTECT, null=True, blank=True, verbose_name=gettext_lazy("CSV column mapping")
    )
    entries = models.PositiveIntegerField(
        gettext_lazy("entries"), default=0, help_text=gettext_lazy("Transactions in the file.")
    )
    added = models.PositiveIntegerField(
        gettext_lazy("added"), default=0, help_text=gettext_lazy("New transactions (others were known).")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = gettext_lazy("bank statement import")
        verbose_name_plural = gettext_lazy("bank statement imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"


class MemberBankAccount(models.Model):
    """An IBAN a member paid from, learned when a bank transfer from it was recorded for them."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="bank_accounts")
    iban = models.CharField(max_length=34)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = gettext_lazy("member's known IBAN")
        verbose_name_plural = gettext_lazy("member's known IBANs")
        constraints = [models.UniqueConstraint(fields=["member", "iban"], name="member_bank_account_unique_iban")]
        indexes = [models.Index(fields=["iban"])]

    def __str__(self) -> str:
        return self.iban


class BankTransactionStatus(models.TextChoices):
    UNMATCHED = "unmatched", gettext_lazy("Unmatched")
    MATCHED = "matched", gettext_lazy("Matched")
    RECORDED = "recorded", gettext_lazy("Recorded")
    IGNORED = "ignored", gettext_lazy("Ignored")
    UNDONE = "undone", gettext_lazy("Undone")


class MatchRule(models.TextChoices):
    REFERENCE = "reference", gettext_lazy("Reference in the remittance text")
    IBAN_EXACT = "iban_exact", gettext_lazy("Known IBAN, an invoice with exactly that amount remaining")
    IBAN_SUM = "iban_sum", gettext_lazy("Known IBAN, open invoices adding up to the amount")
    IBAN = "iban", gettext_lazy("Known IBAN")
    BY_HAND = "by_hand", gettext_lazy("Chosen by hand")


# How sure each rule is, in percent; at HIGH_CONFIDENCE and above a proposal is "matched", below it "needs review".
MATCH_CONFIDENCE = {
    MatchRule.REFERENCE: 95,
    MatchRule.IBAN_EXACT: 85,
    MatchRule.IBAN_SUM: 70,
    MatchRule.IBAN: 40,
    MatchRule.BY_HAND: 100,
}
HIGH_CONFIDENCE = 80


def bank_transaction_is_matchable(bank_transaction: "BankTransaction") -> bool:
    """An incoming credit in a currency the space bills in: only those can pay invoices."""
    return bank_transaction.is_credit and bank_transaction.currency in settings.BILLING_CURRENCIES


def bank_transaction_has_member(bank_transaction: "BankTransaction") -> bool:
    return bank_transaction.member_id is not None


def bank_transaction_has_reason(bank_transaction: "BankTransaction") -> bool:
    return bool((bank_transaction.ignored_reason or "").strip())


class BankTransaction(StateMachineMixin, models.Model):
    """One line of a bank statement. Unique by the bank's reference for it (or, when the bank gives none, a hash of
    its fields), so importing a statement twice, or overlapping statements, adds nothing. `member` and the
    proposed allocations are the match proposed (or chosen by hand), recorded only when an administrator confirms."""

    statement_import = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="transactions")
    bank_reference = models.CharField(max_length=200, unique=True)
    account_iban = models.CharField(max_length=34, blank=True, help_text=gettext_lazy("The space's account."))
    booking_date = models.DateField(gettext_lazy("booking date"))
    value_date = models.DateField(null=True, blank=True)
    is_credit = models.BooleanField()
    currency = models.CharField(max_length=3)
    amount = money_field()
    counterparty_name = models.CharField(max_length=200, blank=True)
    counterparty_iban = models.CharField(max_length=34, blank=True)
    remittance = models.TextField(blank=True)
    status = FSMField(
        gettext_lazy("status"),
        default=BankTransactionStatus.UNMATCHED,
        choices=BankTransactionStatus.choices,
        protected=True,
    )
    member = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    match_rule = models.CharField(max_length=16, choices=MatchRule.choices, blank=True)
    confidence = models.PositiveSmallIntegerField(default=0)
    ignored_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-booking_date", "-id"]
        verbose_name = gettext_lazy("bank transaction")
        verbose_name_plural = gettext_lazy("bank transactions")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="bank_transaction_amount_positive"),
        ]

    def __str__(self) -> str:
        # A debit's amount is stored positive: its sign says which way the money went.
        sign = "" if self.is_credit else "−"
        return f"{self.booking_date} {sign}{self.amount} {self.counterparty_name or self.bank_reference}"

    @property
    def is_high_confidence(self) -> bool:
        return self.confidence >= HIGH_CONFIDENCE

    @transition(
        field=status,
        source=[BankTransactionStatus.UNMATCHED, BankTransactionStatus.MATCHED, BankTransactionStatus.UNDONE],
        target=BankTransactionStatus.MATCHED,
        conditions=[bank_transaction_is_matchable, bank_transaction_has_member],
    )
    def match(self) -> None:
        """Propose (or replace) the member and invoices the money is for."""

    @transition(
        field=status,
        source=BankTransactionStatus.MATCHED,
        target=BankTransactionStatus.RECORDED,
        conditions=[bank_transaction_is_matchable, bank_transaction_has_member],
        permission="payments.record_external_payment",
    )
    def record(self) -> None:
        """A payment was created from it."""

    @transition(
        field=status,
        source=[BankTransactionStatus.UNMATCHED, BankTransactionStatus.MATCHED, BankTransactionStatus.UNDONE],
        target=BankTransactionStatus.IGNORED,
        conditions=[bank_transaction_has_reason],
    )
    def ignore(self) -> None:
        """Not a member's payment (a refund from a supplier, bank fees, a debit): kept, never matched."""

    @transition(
        field=status,
        source=BankTransactionStatus.RECORDED,
        target=BankTransactionStatus.UNDONE,
        permission="payments.void_payment",
    )
    def undo(self) -> None:
        """Its payment was voided."""


class ProposedAllocation(models.Model):
    """An invoice the proposed match pays, with the amount for it when the administrator set the split (else the
    money goes to the proposed invoices oldest first)."""

    bank_transaction = models.ForeignKey(BankTransaction, on_delete=models.CASCADE, related_name="proposed")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")
    amount = money_field(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bank_transaction", "invoice"], name="proposed_allocation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.amount}"


class BankTransactionPayment(models.Model):
    """The payment recording a bank transaction created. Kept when it is undone (the payment is voided then), so
    a transaction recorded, undone and recorded again lists both; at most one of them is not void."""

    bank_transaction = models.ForeignKey(BankTransaction, on_delete=models.PROTECT, related_name="recordings")
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="bank_recording")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.bank_transaction_id} -> {self.payment_id}"
