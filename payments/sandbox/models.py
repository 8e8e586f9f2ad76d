"""The sandbox gateway's own tables: its view of customers, cards and charges, as a real gateway would keep them.
They were created by the `payments` app and keep their `payments_` table names."""

from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition


class SandboxCustomer(models.Model):
    id = models.CharField(max_length=40, primary_key=True)
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "payments_sandboxcustomer"  # its table from before it was an app

    def __str__(self) -> str:
        return self.id


class SandboxCard(models.Model):
    class Behaviour(models.TextChoices):
        SUCCEEDS = "succeeds", "Succeeds"
        CHARGE_DECLINED = "charge_declined", "Attaches, charges are declined"
        AUTHENTICATION_REQUIRED = "authentication_required", "Needs authentication"

    id = models.CharField(max_length=40, primary_key=True)
    customer = models.ForeignKey(SandboxCustomer, on_delete=models.CASCADE, null=True, related_name="cards")
    brand = models.CharField(max_length=32)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    behaviour = models.CharField(max_length=32, choices=Behaviour.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "payments_sandboxcard"  # its table from before it was an app

    def __str__(self) -> str:
        return self.id


class SandboxCharge(ConcurrentTransitionMixin, models.Model):
    """A charge as the gateway keeps it: created when prepared, then confirmed once into its outcome, which never
    changes afterwards (as a Stripe PaymentIntent's does not once it succeeded or failed)."""

    class Status(models.TextChoices):
        REQUIRES_CONFIRMATION = "requires_confirmation", "Requires confirmation"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REQUIRES_ACTION = "requires_action", "Requires action"

    id = models.CharField(max_length=40, primary_key=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    customer = models.ForeignKey(SandboxCustomer, on_delete=models.PROTECT, related_name="charges")
    card = models.ForeignKey(SandboxCard, on_delete=models.PROTECT, related_name="charges")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = FSMField(max_length=32, choices=Status.choices, default=Status.REQUIRES_CONFIRMATION, protected=True)
    decline_code = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    metadata = models.JSONField(default=dict)
    confirmations = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "payments_sandboxcharge"  # its table from before it was an app

    def __str__(self) -> str:
        return self.id

    # Confirming a charge is its one move; each outcome is final.
    @transition(field=status, source=Status.REQUIRES_CONFIRMATION, target=Status.SUCCEEDED)
    def succeed(self):
        pass

    @transition(field=status, source=Status.REQUIRES_CONFIRMATION, target=Status.FAILED)
    def fail(self, *, decline_code: str, message: str):
        """Declined: the decline code and message are the outcome the gateway answers with."""
        self.decline_code, self.message = decline_code, message

    @transition(field=status, source=Status.REQUIRES_CONFIRMATION, target=Status.REQUIRES_ACTION)
    def require_action(self, *, decline_code: str, message: str):
        """The card needs the member's authentication: the charge waits for an action it never gets here."""
        self.decline_code, self.message = decline_code, message


class SandboxRefund(models.Model):
    id = models.CharField(max_length=40, primary_key=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    charge = models.ForeignKey(SandboxCharge, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=16)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "payments_sandboxrefund"  # its table from before it was an app

    def __str__(self) -> str:
        return self.id
