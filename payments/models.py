import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django_fsm import FSMField, transition
from djmoney.money import Money

from billing.models import Invoice, money_field
from billing.state_machine import StateMachineMixin
from members.models import Member
from payments.declines import decline_reason


class PaymentStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Pending")
    PROCESSING = "processing", gettext_lazy("Processing")
    SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
    FAILED = "failed", gettext_lazy("Failed")
    CANCELED = "canceled", gettext_lazy("Canceled")
    VOID = "void", gettext_lazy("Void")


IN_FLIGHT_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
# Payments a member gets a receipt for: money received (and kept for the record when voided).
RECEIPT_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.VOID)


class PaymentMethodKind(models.TextChoices):
    CARD = "card", gettext_lazy("Card")
    EXTERNAL = "external", gettext_lazy("External")


class ExternalKind(models.TextChoices):
    CASH = "cash", gettext_lazy("Cash")
    CHECK = "check", gettext_lazy("Check")
    BANK_TRANSFER = "bank_transfer", gettext_lazy("Bank transfer")
    OTHER = "other", gettext_lazy("Other")


class PaymentMethod(models.Model):
    """A member's saved card at the gateway. Only the gateway's token and display details are kept."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="payment_methods")
    gateway = models.CharField(max_length=16)
    gateway_id = models.CharField(max_length=255, unique=True)
    brand = models.CharField(max_length=32, blank=True)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_default", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(is_default=True, removed_at__isnull=True),
                name="payment_method_one_default_per_member",
            ),
        ]
        permissions = [("manage_payment_methods", "Can add and remove members' saved cards")]

    def __str__(self) -> str:
        return f"{self.brand.title() or 'Card'} •••• {self.last4} ({self.exp_month:02d}/{self.exp_year % 100:02d})"

    @property
    def is_active(self) -> bool:
        return self.removed_at is None


# The rules of the payment's transitions: pure predicates on the locked payment. The transitions below name them as
# `conditions=`; pages and services ask the same functions.


def payment_is_external(payment: "Payment") -> bool:
    return payment.method == PaymentMethodKind.EXTERNAL


def payment_is_card(payment: "Payment") -> bool:
    return payment.method == PaymentMethodKind.CARD


def payment_has_no_refund(payment: "Payment") -> bool:
    """Nothing refunded, and no refund in progress at the gateway."""
    return payment.amount_refunded.amount == 0 and payment.amount_refund_pending.amount == 0


def payment_is_received(payment: "Payment") -> bool:
    """Its money came in (succeeded): only received money is refunded."""
    return payment.status == PaymentStatus.SUCCEEDED


def payment_has_something_to_refund(payment: "Payment") -> bool:
    """Received money of which something is left to refund (the Refund button; the service checks the amount)."""
    return payment_is_received(payment) and payment.amount_refundable.amount > 0


def payment_method_being_charged(payment_method: "PaymentMethod") -> bool:
    """A card payment with this card waits for the gateway's answer: the card cannot be removed until then."""
    return payment_method.payments.filter(status__in=IN_FLIGHT_STATUSES).exists()


class Payment(StateMachineMixin, models.Model):
    """Money received from a member, or being collected from them.

    `amount_allocated`, `amount_refunded`, `amount_refund_pending` and `amount_unallocated` are a cache of the
    payment's rows, kept by the services under its lock; for a succeeded payment they add up to `amount`.
    """

    number = models.CharField(gettext_lazy("number"), max_length=32, unique=True)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="payments", verbose_name=gettext_lazy("member")
    )
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments_created",
        help_text=gettext_lazy("The invoice the payment was created for, if any."),
    )
    currency = models.CharField(max_length=3)
    amount = money_field(verbose_name=gettext_lazy("amount"))
    method = models.CharField(gettext_lazy("method"), max_length=16, choices=PaymentMethodKind.choices)
    external_kind = models.CharField(
        gettext_lazy("received as"), max_length=16, choices=ExternalKind.choices, blank=True
    )
    reference = models.CharField(gettext_lazy("reference"), max_length=200, blank=True)
    received_on = models.DateField(null=True, blank=True)
    payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    status = FSMField(
        gettext_lazy("status"), default=PaymentStatus.PENDING, choices=PaymentStatus.choices, protected=True
    )
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    automatic_retries = models.PositiveSmallIntegerField(
        default=0, help_text=gettext_lazy("Automatic retries made since the schedule last (re)started.")
    )
    next_retry_at = models.DateTimeField(null=True, blank=True, db_index=True)
    disputed = models.BooleanField(default=False)

    amount_allocated = money_field(default=0)
    amount_refunded = money_field(default=0)
    amount_refund_pending = money_field(default=0)
    amount_unallocated = money_field(default=0)

    note = models.TextField(blank=True)
    void_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("payment")
        verbose_name_plural = gettext_lazy("payments")
        ordering = ["-id"]
        indexes = [
            # The payments report's order: its date (received, else created, in TIME_ZONE), then number. It
            # carries what the report's totals sum (and the date's columns, which PostgreSQL wants for an
            # index-only scan of an expression): the totals of a period read the index alone, no table row.
            models.Index(
                Coalesce("received_on", TruncDate("created_at"), output_field=models.DateField()),
                "number",
                include=[
                    "currency",
                    "status",
                    "amount",
                    "amount_allocated",
                    "amount_refunded",
                    "amount_unallocated",
                    "received_on",
                    "created_at",
                ],
                name="payment_report_date_totals",
            ),
            # Members' credit (the member credit report and page): few payments keep money unallocated.
            models.Index(
                fields=["member", "currency"],
                include=["amount_unallocated"],
                condition=Q(status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0),
                name="payment_unallocated_credit",
            ),
            # The member credit report's totals per currency: the same payments in currency order, summed as the
            # index gives them (no hash of every credit payment by currency).
            models.Index(
                fields=["currency"],
                include=["amount_unallocated"],
                condition=Q(status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0),
                name="payment_credit_by_currency",
            ),
            # The admin home's queue of failed payments: few rows of a table that only grows.
            models.Index(fields=["id"], condition=Q(status=PaymentStatus.FAILED), name="payment_failed"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(amount_allocated__gte=0), name="payment_allocated_not_negative"),
            models.CheckConstraint(condition=Q(amount_refunded__gte=0), name="payment_refunded_not_negative"),
            models.CheckConstraint(
                condition=Q(amount_refund_pending__gte=0), name="payment_refund_pending_not_negative"
            ),
            models.CheckConstraint(condition=Q(amount_unallocated__gte=0), name="payment_unallocated_not_negative"),
            models.CheckConstraint(
                condition=(Q(method="external") & ~Q(external_kind="")) | (Q(method="card") & Q(external_kind="")),
                name="payment_external_kind_matches_method",
            ),
            models.CheckConstraint(
                condition=Q(method="external") | Q(payment_method__isnull=False),
                name="payment_card_has_payment_method",
            ),
        ]
        permissions = [
            ("record_external_payment", "Can record external payments"),
            ("charge_payment", "Can charge saved cards"),
            ("refund_payment", "Can refund payments"),
            ("void_payment", "Can void payments"),
            ("allocate_payment", "Can apply and unallocate payments"),
            ("view_billing_reports", "Can view billing reports and export them"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_external(self) -> bool:
        return payment_is_external(self)

    def get_method_label(self) -> str:
        if self.is_external:
            kind = self.get_external_kind_display()
            # "External (bank transfer)", but German nouns keep their capital: "Extern (Banküberweisung)".
            return _("External (%(kind)s)") % {
                "kind": kind if (get_language() or "").startswith("de") else kind.lower()
            }
        return self.get_method_display()

    @property
    def failure_reason(self) -> str:
        """Why the card was declined, for the member, in the language shown (payments/declines.py)."""
        return decline_reason(self.failure_code, self.failure_message)

    @property
    def amount_refundable(self) -> Money:
        """What is left to refund: the amount less what is refunded or being refunded."""
        return self.amount - self.amount_refunded - self.amount_refund_pending

    # Transitions only move the state; their rules are the predicates above the class. The services do the rest.
    @transition(
        field=status,
        source=PaymentStatus.SUCCEEDED,
        target=PaymentStatus.VOID,
        conditions=[payment_is_external, payment_has_no_refund],
        permission="payments.void_payment",
    )
    def void(self):
        pass

    @transition(field=status, source=PaymentStatus.PENDING, target=PaymentStatus.PROCESSING)
    def start_processing(self):
        """Its first attempt goes to the gateway."""

    @transition(
        field=status,
        source=PaymentStatus.FAILED,
        target=PaymentStatus.PROCESSING,
        conditions=[payment_is_card],
        permission="payments.charge_payment",
    )
    def retry(self):
        """A new attempt goes to the gateway (staff, the member's new card, or the automatic schedule)."""

    @transition(field=status, source=PaymentStatus.PROCESSING, target=PaymentStatus.SUCCEEDED)
    def succeed(self):
        pass

    @transition(field=status, source=PaymentStatus.PROCESSING, target=PaymentStatus.FAILED)
    def fail(self):
        pass

    @transition(
        field=status,
        source=[PaymentStatus.PENDING, PaymentStatus.FAILED],
        target=PaymentStatus.CANCELED,
        conditions=[payment_is_card],
        permission="payments.charge_payment",
    )
    def cancel(self):
        pass


class PaymentTarget(models.Model):
    """An invoice a card payment is meant to pay, and how much of it: reserved while the payment is in flight,
    allocated in `position` order when it succeeds. A payment of several invoices has one target per invoice."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="targets")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payment_targets")
    amount = money_field()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_target_amount_positive"),
            models.UniqueConstraint(fields=["payment", "invoice"], name="payment_target_unique_invoice"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of {self.payment_id} for {self.invoice_id}"


class Allocation(StateMachineMixin, models.Model):
    """A piece of a payment applied to one invoice.

    `amount` is what is applied now; it shrinks when a refund reopens the invoice and drops to zero when the
    allocation is removed (unallocated or its payment voided). `original_amount` keeps what was first applied.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", gettext_lazy("Active")
        REMOVED = "removed", gettext_lazy("Removed")

    number = models.CharField(max_length=32, unique=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = money_field()
    original_amount = money_field()
    status = FSMField(max_length=16, choices=Status.choices, default=Status.ACTIVE, protected=True)
    actor_label = models.CharField(max_length=150, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(original_amount__gt=0), name="allocation_original_positive"),
            models.CheckConstraint(
                condition=(Q(status="active") & Q(amount__gt=0)) | (Q(status="removed") & Q(amount=0)),
                name="allocation_amount_matches_status",
            ),
            models.CheckConstraint(
                condition=Q(amount__lte=models.F("original_amount")), name="allocation_amount_at_most_original"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    # Transitions only move the state; the services do the rest.
    @transition(field=status, source=Status.ACTIVE, target=Status.REMOVED)
    def remove(self):
        pass


class AttemptStatus(models.TextChoices):
    QUEUED = "queued", gettext_lazy("Queued")
    PROCESSING = "processing", gettext_lazy("Processing")
    SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
    FAILED = "failed", gettext_lazy("Failed")
    CANCELED = "canceled", gettext_lazy("Canceled")


class PaymentAttempt(StateMachineMixin, models.Model):
    """One try at the gateway for a card payment.

    The attempt is committed, with its idempotency key, before the gateway is called; every call for this attempt
    sends the same key, so a retried task or a crash never charges twice. A retry is a new attempt with a new key.
    """

    class Trigger(models.TextChoices):
        STAFF = "staff", gettext_lazy("Staff")
        MEMBER = "member", gettext_lazy("Member")
        AUTOMATIC = "automatic", gettext_lazy("Automatic retry")
        NEW_CARD = "new_card", gettext_lazy("New card added")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="attempts")
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="attempts")
    amount = money_field()
    status = FSMField(max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.QUEUED, protected=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    gateway = models.CharField(max_length=16)
    gateway_payment_id = models.CharField(max_length=255, blank=True)
    gateway_charge_id = models.CharField(max_length=255, blank=True)
    decline_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    needs_review = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True, help_text=gettext_lazy("When the gateway was first called."))
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text=gettext_lazy("A worker is talking to the gateway for this attempt until then.")
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="attempt_amount_positive"),
            models.UniqueConstraint(
                fields=["payment"],
                condition=Q(status__in=["queued", "processing"]),
                name="attempt_one_in_flight_per_payment",
            ),
            models.UniqueConstraint(
                fields=["payment"], condition=Q(status="succeeded"), name="attempt_one_success_per_payment"
            ),
            models.UniqueConstraint(
                fields=["gateway", "gateway_payment_id"],
                condition=~Q(gateway_payment_id=""),
                name="attempt_gateway_payment_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.uid.hex[:8]} of {self.payment_id}"

    @property
    def idempotency_key(self) -> str:
        return f"attempt-{self.uid}"

    @property
    def in_flight(self) -> bool:
        return self.status in (AttemptStatus.QUEUED, AttemptStatus.PROCESSING)

    # Transitions only move the state; the services do the rest.
    @transition(field=status, source=AttemptStatus.QUEUED, target=AttemptStatus.PROCESSING)
    def claim(self):
        pass

    @transition(field=status, source=[AttemptStatus.QUEUED, AttemptStatus.PROCESSING], target=AttemptStatus.SUCCEEDED)
    def succeed(self):
        pass

    @transition(field=status, source=[AttemptStatus.QUEUED, AttemptStatus.PROCESSING], target=AttemptStatus.FAILED)
    def fail(self):
        pass

    @transition(field=status, source=AttemptStatus.QUEUED, target=AttemptStatus.CANCELED)
    def cancel(self):
        pass


class WebhookEvent(models.Model):
    """A gateway event, stored once by its id (a duplicate insert means we already have it).

    Processed by a task, and by the periodic sweep when the task never ran or failed: each try claims the event
    until `claimed_until`, so a sweep and a late task never process it at the same time. After
    BILLING_WEBHOOK_MAX_ATTEMPTS failed tries it has failed for good (`failed_at`) until someone reprocesses it.
    """

    gateway = models.CharField(max_length=16)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text=gettext_lazy("Tries to process it since it was stored.")
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text=gettext_lazy("When it failed for good."))

    class Meta:
        verbose_name = gettext_lazy("webhook event")
        verbose_name_plural = gettext_lazy("webhook events")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="webhook_event_unique"),
        ]
        indexes = [
            # The relay (every few seconds) and the sweep read the events waiting, oldest first: a few rows of a
            # table that only grows.
            models.Index(
                fields=["received_at", "id"],
                condition=Q(processed_at__isnull=True, failed_at__isnull=True),
                name="webhook_event_waiting",
            ),
            # The admin home's queue and the list's filter of events that failed for good.
            models.Index(
                fields=["received_at", "id"],
                condition=Q(processed_at__isnull=True, failed_at__isnull=False),
                name="webhook_event_failed",
            ),
        ]
        permissions = [("reprocess_webhookevent", "Can reprocess failed webhook events")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"

    @property
    def state(self) -> str:
        if self.processed_at is not None:
            return "processed"
        return "failed" if self.failed_at is not None else "waiting"


class OutboxMessage(models.Model):
    """Work to do after a commit (a Celery task and its arguments), written in the same transaction as the change
    that asks for it. It is handed to the broker right after the commit; the relay (`payments.outbox`) hands it
    over again until its task has run to the end (`done_at`)."""

    task = models.CharField(max_length=200)
    arguments = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0, help_text=gettext_lazy("Times it was handed over."))
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text=gettext_lazy("When the broker first took it."))
    next_attempt_at = models.DateTimeField(
        default=timezone.now, help_text=gettext_lazy("When the relay hands it over again.")
    )
    claimed_until = models.DateTimeField(null=True, blank=True, help_text=gettext_lazy("A worker runs it until then."))
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("outbox message")
        verbose_name_plural = gettext_lazy("outbox messages")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(done_at__isnull=True), name="outbox_message_waiting"),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.arguments}"


class RefundStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Pending")
    SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
    FAILED = "failed", gettext_lazy("Failed")


class Refund(StateMachineMixin, models.Model):
    """Money returned from one payment.

    A card payment's refund goes back to the card through the gateway (pending until it answers); an external
    payment's refund, and money returned outside the system for a credit note, are recorded at once.
    """

    class Kind(models.TextChoices):
        GATEWAY = "gateway", gettext_lazy("To the card")
        RECORDED = "recorded", gettext_lazy("Recorded (external payment)")
        OUT_OF_BAND = "out_of_band", gettext_lazy("Returned outside the system")

    class Reason(models.TextChoices):
        REQUESTED_BY_MEMBER = "requested_by_member", gettext_lazy("Requested by the member")
        DUPLICATE = "duplicate", gettext_lazy("Duplicate")
        FRAUDULENT = "fraudulent", gettext_lazy("Fraudulent")
        RECORDED_BY_MISTAKE = "recorded_by_mistake", gettext_lazy("Recorded by mistake")
        CREDIT_NOTE = "credit_note", gettext_lazy("Credit note")
        OTHER = "other", gettext_lazy("Other")

    class InvoiceHandling(models.TextChoices):
        NONE = "", gettext_lazy("Only unallocated money")
        REOPEN = "reopen", gettext_lazy("Reopen the invoice balance")
        CREDIT_NOTE = "credit_note", gettext_lazy("Reduce the invoice with a credit note")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = money_field()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    note = models.TextField(blank=True)
    invoice_handling = models.CharField(max_length=16, choices=InvoiceHandling.choices, blank=True)
    credit_note = models.ForeignKey(
        "billing.CreditNote",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        help_text=gettext_lazy("The credit note whose refund part this refund settles."),
    )
    status = FSMField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING, protected=True)
    gateway = models.CharField(max_length=16, blank=True)
    gateway_refund_id = models.CharField(max_length=255, blank=True)
    failure_message = models.TextField(blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    needs_review = models.BooleanField(default=False, db_index=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(
                fields=["gateway", "gateway_refund_id"],
                condition=~Q(gateway_refund_id=""),
                name="refund_gateway_refund_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(kind="gateway") | Q(status="succeeded"),
                name="refund_recorded_is_succeeded",
            ),
        ]

    def __str__(self) -> str:
        return f"Refund of {self.amount} from {self.payment_id}"

    @property
    def idempotency_key(self) -> str:
        return f"refund-{self.uid}"

    # Transitions only move the state; the services do the rest.
    @transition(field=status, source=RefundStatus.PENDING, target=RefundStatus.SUCCEEDED)
    def succeed(self):
        pass

    @transition(field=status, source=RefundStatus.PENDING, target=RefundStatus.FAILED)
    def fail(self):
        pass

    @transition(field=status, source=RefundStatus.SUCCEEDED, target=RefundStatus.FAILED)
    def fail_after_success(self):
        """The one move back (SPEC section 6): the gateway reports failed a refund it had reported succeeded."""


class RefundAllocation(models.Model):
    """What a refund (or a credit note) took off one allocation, and the credit note issued for it, if any."""

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="refund_takes")
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="takes")
    credit_note = models.ForeignKey(
        "billing.CreditNote", on_delete=models.PROTECT, null=True, blank=True, related_name="allocation_takes"
    )
    amount = money_field()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_allocation_amount_positive"),
            models.CheckConstraint(
                condition=Q(refund__isnull=False) | Q(credit_note__isnull=False),
                name="refund_allocation_has_a_cause",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} off {self.allocation_id}"
