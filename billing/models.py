import datetime

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, Sum
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django_fsm import FSMField, transition
from djmoney.models.fields import MoneyField
from djmoney.money import Money

from billing.money import DECIMAL_PLACES, MAX_DIGITS, money_from_db, money_sum, zero
from billing.state_machine import StateMachineMixin
from members.models import Member


def money_field(**kwargs) -> MoneyField:
    kwargs.setdefault("max_digits", MAX_DIGITS)
    kwargs.setdefault("decimal_places", DECIMAL_PLACES)
    kwargs.setdefault("default_currency", "EUR")
    return MoneyField(**kwargs)


class NumberSequence(models.Model):
    """The last number handed out in one series (INV, CN, PAY, ALC) and year. Locked to take the next one."""

    series = models.CharField(max_length=8)
    year = models.PositiveIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="number_sequence_series_year")]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_value}"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", gettext_lazy("Draft")
    OPEN = "open", gettext_lazy("Open")
    PAID = "paid", pgettext_lazy("invoice status", "Paid")  # French: an invoice (facture) is feminine
    VOID = "void", gettext_lazy("Void")
    UNCOLLECTIBLE = "uncollectible", gettext_lazy("Uncollectible")


class ShownStatus(models.TextChoices):
    """The status a person sees: the document status refined by what was paid and the due date."""

    DRAFT = "draft", gettext_lazy("Draft")
    OPEN = "open", gettext_lazy("Open")
    PARTIALLY_PAID = "partially_paid", gettext_lazy("Partially paid")
    OVERDUE = "overdue", gettext_lazy("Overdue")
    PAID = "paid", pgettext_lazy("invoice status", "Paid")  # French: an invoice (facture) is feminine
    VOID = "void", gettext_lazy("Void")
    UNCOLLECTIBLE = "uncollectible", gettext_lazy("Uncollectible")


class InvoiceQuerySet(models.QuerySet):
    def issued(self):
        return self.exclude(status=InvoiceStatus.DRAFT)

    def accepting_payment(self):
        """The invoices `invoice_accepts_payment` holds for, as a query."""
        return self.filter(status__in=PAYABLE_STATUSES, amount_remaining__gt=0)

    def with_shown_status(self, shown_status: str, *, today=None):
        today = today or timezone.localdate()
        overdue = Q(status=InvoiceStatus.OPEN, due_date__lt=today)
        if shown_status == ShownStatus.OVERDUE:
            return self.filter(overdue)
        if shown_status == ShownStatus.PARTIALLY_PAID:
            return self.filter(status=InvoiceStatus.OPEN, amount_paid__gt=0).exclude(overdue)
        if shown_status == ShownStatus.OPEN:
            return self.filter(status=InvoiceStatus.OPEN, amount_paid=0).exclude(overdue)
        return self.filter(status=shown_status)

    def overdue_for_more_than(self, days: int, *, today=None):
        """Open invoices more than `days` days past their due date (0: every overdue invoice): the admin home's
        queue and the invoice list's "overdue" filter."""
        today = today or timezone.localdate()
        return self.filter(status=InvoiceStatus.OPEN, due_date__lt=today - datetime.timedelta(days=days))


# The rules of the invoice's transitions and buttons: pure predicates on the locked invoice and the rows that point
# at it. The transitions below name them as `conditions=`; pages and services ask the same functions.

# What the payments app calls in flight (pending or processing), read through the invoice's relations: billing does
# not import payments.
CARD_PAYMENT_IN_FLIGHT_STATUSES = ("pending", "processing")
PAYABLE_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)


def invoice_has_lines(invoice: "Invoice") -> bool:
    return invoice.lines.exists()


def invoice_nothing_remains(invoice: "Invoice") -> bool:
    return invoice.amount_remaining.amount == 0


def invoice_something_remains(invoice: "Invoice") -> bool:
    return invoice.amount_remaining.amount > 0


def invoice_has_nothing_allocated(invoice: "Invoice") -> bool:
    """No payment's money is applied to it (its amount paid, kept with its allocations under its lock)."""
    return invoice.amount_paid.amount == 0


def invoice_has_no_credit_note(invoice: "Invoice") -> bool:
    """No issued credit note reduces it (a void one no longer counts)."""
    return invoice.amount_credited.amount == 0


def invoice_has_no_card_payment_in_flight(invoice: "Invoice") -> bool:
    """No card payment for it waits for the gateway's answer, which could still pay it."""
    return not invoice.payment_targets.filter(payment__status__in=CARD_PAYMENT_IN_FLIGHT_STATUSES).exists()


def invoice_accepts_payment(invoice: "Invoice") -> bool:
    """Issued, not void, not paid: something remains to pay (what card payments in flight reserve aside). The same
    rule as a query: `Invoice.objects.accepting_payment()`."""
    return invoice.status in PAYABLE_STATUSES and invoice.amount_remaining.amount > 0


def invoice_can_be_credited(invoice: "Invoice") -> bool:
    """Credit notes reduce issued invoices that are not void."""
    return invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.VOID)


def invoice_creditable(invoice: "Invoice") -> Money:
    """The cap: what the credit notes of the invoice may still add up to (a void one no longer counts)."""
    return invoice.total - invoice.amount_credited


def invoice_accepts_credit_note(invoice: "Invoice") -> bool:
    """It can be credited, and its credit notes do not add up to its total yet."""
    return invoice_can_be_credited(invoice) and invoice_creditable(invoice).amount > 0


class Invoice(StateMachineMixin, models.Model):
    """An invoice. Its amounts below `total` are a cache of its rows, kept by the services under its lock."""

    number = models.CharField(gettext_lazy("number"), max_length=32, unique=True, null=True, blank=True)
    # The ISO 11649 creditor reference members quote when they pay by transfer (billing/payment_references.py);
    # set with the number when the invoice is issued.
    payment_reference = models.CharField(max_length=25, unique=True, null=True, blank=True, editable=False)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="invoices", verbose_name=gettext_lazy("member")
    )
    currency = models.CharField(max_length=3)
    status = FSMField(default=InvoiceStatus.DRAFT, choices=InvoiceStatus.choices, protected=True)
    issue_date = models.DateField(gettext_lazy("issue date"), null=True, blank=True)
    due_date = models.DateField(gettext_lazy("due date"), null=True, blank=True)
    memo = models.TextField(blank=True)

    subtotal = money_field(default=0)
    tax_total = money_field(default=0)
    total = money_field(default=0)
    amount_credited = money_field(default=0)
    amount_balance_applied = money_field(default=0)
    amount_paid = money_field(default=0)
    amount_remaining = money_field(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("invoice")
        verbose_name_plural = gettext_lazy("invoices")
        ordering = ["-id"]
        indexes = [
            # What members owe (the aging report): the issued invoices with something left to pay.
            models.Index(
                fields=["member", "currency"],
                include=["due_date", "issue_date", "amount_remaining"],
                condition=Q(status__in=[InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE], amount_remaining__gt=0),
                name="invoice_owed",
            ),
            # The aging report's totals: the same invoices in currency and due date order, summed per day as the
            # index gives them (no hash, no bucket tested per invoice); the days are then bucketed.
            models.Index(
                fields=["currency", "due_date"],
                include=["issue_date", "amount_remaining"],
                condition=Q(status__in=[InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE], amount_remaining__gt=0),
                name="invoice_owed_by_due_date",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(condition=Q(amount_remaining__gte=0), name="invoice_remaining_not_negative"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="invoice_paid_not_negative"),
            models.CheckConstraint(condition=Q(amount_credited__gte=0), name="invoice_credited_not_negative"),
            models.CheckConstraint(
                condition=Q(amount_balance_applied__gte=0), name="invoice_balance_applied_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(status=InvoiceStatus.DRAFT) | Q(number__isnull=False),
                name="invoice_issued_has_number",
            ),
        ]
        permissions = [
            ("issue_invoice", "Can issue invoices"),
            ("void_invoice", "Can void invoices"),
            ("mark_uncollectible_invoice", "Can mark invoices uncollectible"),
        ]

    def __str__(self) -> str:
        return self.number or _("Draft #%(id)s") % {"id": self.pk}

    @property
    def is_draft(self) -> bool:
        return self.status == InvoiceStatus.DRAFT

    def shown_status(self, *, today=None) -> str:
        today = today or timezone.localdate()
        if self.status == InvoiceStatus.OPEN:
            if self.due_date and self.due_date < today:
                return ShownStatus.OVERDUE
            if self.amount_paid.amount > 0:
                return ShownStatus.PARTIALLY_PAID
            return ShownStatus.OPEN
        return ShownStatus(self.status).value

    def get_shown_status_display(self) -> str:
        return ShownStatus(self.shown_status()).label

    # Transitions only move the state; their rules are the predicates above the class. The services do the rest.
    @transition(
        field=status,
        source=InvoiceStatus.DRAFT,
        target=InvoiceStatus.OPEN,
        conditions=[invoice_has_lines],
        permission="billing.issue_invoice",
    )
    def issue(self):
        pass

    @transition(
        field=status,
        source=[InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE],
        target=InvoiceStatus.PAID,
        conditions=[invoice_nothing_remains],
    )
    def mark_paid(self):
        pass

    @transition(
        field=status, source=InvoiceStatus.PAID, target=InvoiceStatus.OPEN, conditions=[invoice_something_remains]
    )
    def reopen(self):
        pass

    @transition(
        field=status,
        source=[InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE],
        target=InvoiceStatus.VOID,
        conditions=[invoice_has_nothing_allocated, invoice_has_no_card_payment_in_flight, invoice_has_no_credit_note],
        permission="billing.void_invoice",
    )
    def void(self):
        pass

    @transition(
        field=status,
        source=InvoiceStatus.OPEN,
        target=InvoiceStatus.UNCOLLECTIBLE,
        conditions=[invoice_has_no_card_payment_in_flight],
        permission="billing.mark_uncollectible_invoice",
    )
    def mark_uncollectible(self):
        pass


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    description = models.CharField(max_length=500)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    unit_amount = money_field()
    tax_rate = models.DecimalField(
        max_digits=5, decimal_places=2, default=0, help_text=gettext_lazy("Percent, for example 20 for 20 %.")
    )
    amount = money_field(default=0)
    tax = money_field(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="invoice_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_amount__gte=0), name="invoice_line_unit_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(tax_rate__gte=0) & Q(tax_rate__lte=100), name="invoice_line_tax_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return self.description


class CreditNoteReason(models.TextChoices):
    DUPLICATE = "duplicate", gettext_lazy("Duplicate")
    FRAUDULENT = "fraudulent", gettext_lazy("Fraudulent")
    ORDER_CHANGE = "order_change", gettext_lazy("Order change")
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory", gettext_lazy("Product unsatisfactory")
    OTHER = "other", gettext_lazy("Other")


class CreditNoteStatus(models.TextChoices):
    ISSUED = "issued", gettext_lazy("Issued")
    VOID = "void", gettext_lazy("Void")


def credit_note_credit_parts(*, credit_note: "CreditNote") -> tuple[dict, Money]:
    """Where the credit note's member-credit part went: {payment: amount released to it as unallocated money}, and
    the money balance it returned to the member. Read from the rows (the payments app's through their relations).

    Here, beside the model, because the void transition's condition reads it; the void service reads it too."""
    currency = credit_note.currency
    released = {
        row["allocation__payment_id"]: money_from_db(row["total"], currency)
        for row in credit_note.allocation_takes.filter(refund__isnull=True)
        .values("allocation__payment_id")
        .annotate(total=Sum("amount"))
        .order_by()
    }
    for row in (
        credit_note.refunds.exclude(status="failed").values("payment_id").annotate(total=Sum("amount")).order_by()
    ):
        if row["payment_id"] in released:
            released[row["payment_id"]] -= money_from_db(row["total"], currency)
    failed = money_from_db(credit_note.refunds.filter(status="failed").aggregate(s=Sum("amount"))["s"], currency)
    payments = apps.get_model("payments", "Payment").objects.in_bulk(released)
    from_payments = {payments[pk]: amount for pk, amount in released.items() if amount.amount > 0}
    from_balance = credit_note.credit_amount - failed - money_sum(from_payments.values(), currency)
    return from_payments, max(from_balance, zero(currency))


def credit_note_sent_nothing_back(credit_note: "CreditNote") -> bool:
    """Nothing it settled has left the system: no refund or out-of-band part, and no refund settles it."""
    return (
        credit_note.refund_amount.amount == 0
        and credit_note.out_of_band_amount.amount == 0
        and not credit_note.refunds.exists()
        and not credit_note.allocation_takes.filter(refund__isnull=False).exists()
    )


def credit_note_credit_used(credit_note: "CreditNote") -> tuple[models.Model | None, Money] | None:
    """The first part of its member credit that is no longer the member's: (payment, amount released to it) when
    the payment no longer holds that much unallocated, or (None, amount returned to the money balance) when the
    balance no longer holds it; None when all of it is still the member's."""
    from_payments, from_balance = credit_note_credit_parts(credit_note=credit_note)
    for payment, amount in from_payments.items():
        if payment.status != "succeeded" or payment.amount_unallocated < amount:
            return payment, amount
    if from_balance.amount > 0:
        balance = credit_note.invoice.member.balance_entries.total(credit_note.currency)
        if balance < from_balance:
            return None, from_balance
    return None


def credit_note_credit_unused(credit_note: "CreditNote") -> bool:
    """Its member-credit part is still the member's: unallocated on the payments it was released to, and the money
    balance it returned is still in the member's balance."""
    return credit_note_credit_used(credit_note) is None


class CreditNote(StateMachineMixin, models.Model):
    """A document that reduces what an issued invoice asks for.

    `pre_payment_amount` reduces what was still owed; the rest (the post-payment amount) was already paid and is
    settled by `refund_amount` (refunded from the invoice's payments), `credit_amount` (kept as the member's credit)
    and `out_of_band_amount` (returned outside the system). The four add up to `amount`.

    Issued, then possibly void (final): a void credit note no longer counts in what its invoice was credited, and
    is kept for audit.
    """

    number = models.CharField(max_length=32, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    currency = models.CharField(max_length=3)
    amount = money_field()
    reason = models.CharField(max_length=32, choices=CreditNoteReason.choices)
    memo = models.TextField(blank=True)
    pre_payment_amount = money_field(default=0)
    refund_amount = money_field(default=0)
    credit_amount = money_field(default=0)
    out_of_band_amount = money_field(default=0)
    actor_label = models.CharField(max_length=150, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    status = FSMField(default=CreditNoteStatus.ISSUED, choices=CreditNoteStatus.choices, protected=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = gettext_lazy("credit note")
        verbose_name_plural = gettext_lazy("credit notes")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_note_amount_positive"),
            models.CheckConstraint(
                condition=Q(pre_payment_amount__gte=0)
                & Q(refund_amount__gte=0)
                & Q(credit_amount__gte=0)
                & Q(out_of_band_amount__gte=0),
                name="credit_note_parts_not_negative",
            ),
            # Rounded to the stored scale: SQLite adds decimals as floats (220.57 + 14.47 + 6.54 is
            # 241.57999999999998 there), which would refuse parts that add up exactly.
            models.CheckConstraint(
                condition=Q(
                    amount=Round(
                        models.F("pre_payment_amount")
                        + models.F("refund_amount")
                        + models.F("credit_amount")
                        + models.F("out_of_band_amount"),
                        DECIMAL_PLACES,
                    )
                ),
                name="credit_note_parts_add_up",
            ),
        ]
        permissions = [("issue_credit_note", "Can issue credit notes"), ("void_credit_note", "Can void credit notes")]

    def __str__(self) -> str:
        return self.number

    @property
    def post_payment_amount(self):
        return self.amount - self.pre_payment_amount

    @property
    def is_void(self) -> bool:
        return self.status == CreditNoteStatus.VOID

    @transition(
        field=status,
        source=CreditNoteStatus.ISSUED,
        target=CreditNoteStatus.VOID,
        conditions=[credit_note_sent_nothing_back, credit_note_credit_unused],
        permission="billing.void_credit_note",
    )
    def void(self):
        pass


class CreditNoteLine(models.Model):
    """The part of one invoice line that a credit note credits, when it was issued per line."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(InvoiceLine, on_delete=models.PROTECT, related_name="credit_note_lines")
    amount = money_field()

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_note_line_amount_positive")]

    def __str__(self) -> str:
        return f"{self.credit_note}: {self.amount}"


class MoneyBalanceEntryQuerySet(models.QuerySet):
    def total(self, currency: str) -> Money:
        """What these entries add up to in `currency` (zero when there are none)."""
        return money_from_db(self.filter(amount_currency=currency).aggregate(s=Sum("amount"))["s"], currency)


class MoneyBalanceEntry(models.Model):
    """One immutable line of a member's money balance (positive = credit to the member)."""

    class Kind(models.TextChoices):
        ADJUSTMENT = "adjustment", gettext_lazy("Adjustment")
        APPLIED = "applied", gettext_lazy("Applied to an invoice")
        RETURNED = "returned", gettext_lazy("Returned from an invoice")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="balance_entries")
    amount = money_field()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="balance_entries"
    )
    note = models.TextField(blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = MoneyBalanceEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = gettext_lazy("money balance entries")
        permissions = [("adjust_money_balance", "Can adjust money balances and apply them to invoices")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="balance_entry_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(kind="adjustment", invoice__isnull=True)
                | (Q(invoice__isnull=False) & ~Q(kind="adjustment")),
                name="balance_entry_invoice_matches_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind="applied") | Q(amount__lt=0), name="balance_entry_applied_is_debit"
            ),
            models.CheckConstraint(
                condition=~Q(kind="returned") | Q(amount__gt=0), name="balance_entry_returned_is_credit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Money balance entries are immutable; record a new entry instead.")
        super().save(*args, **kwargs)

    save.alters_data = True

    def delete(self, *args, **kwargs):
        raise ValueError("Money balance entries are never deleted.")

    delete.alters_data = True


class Activity(models.Model):
    """Append-only audit record of an action that moved money or changed a status."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=16)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=64, db_index=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="activities")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="activities")
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, null=True, blank=True)
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    amount = money_field(null=True, blank=True)
    status_before = models.CharField(max_length=32, blank=True)
    status_after = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = gettext_lazy("activities")
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.verb} by {self.actor_label or self.actor_kind}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Activity is append-only.")
        super().save(*args, **kwargs)

    save.alters_data = True


class FormIntent(models.Model):
    """One submission of a form that acts (spec 11, once per intent): its one-time key, claimed by the service in
    the transaction that acts, and what the user was shown, so that the same form sent again shows that outcome
    instead of acting again."""

    key = models.UUIDField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    action = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    result_url = models.CharField(max_length=500, blank=True)
    result_message = models.TextField(blank=True)
    result_level = models.PositiveSmallIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.action} {self.key}"
