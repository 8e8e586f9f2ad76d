"""Running seed_demo in the tests, and counting what it made."""

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from billing.models import Activity, CreditNote, CreditNoteLine, Invoice, InvoiceLine, MoneyBalanceEntry, NumberSequence
from members.models import Member
from payments.models import Allocation, Payment, PaymentAttempt, PaymentMethod, Refund, RefundAllocation
from payments.sandbox.models import SandboxCard, SandboxCharge, SandboxRefund

PORTAL_EMAILS = ["lea.martin@example.com", "accounts@northwind-studio.example"]


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def database_snapshot() -> dict:
    return {
        "users": get_user_model().objects.count(),
        "members": Member.objects.count(),
        "invoices": Invoice.objects.count(),
        "lines": InvoiceLine.objects.count(),
        "payments": Payment.objects.count(),
        "allocations": Allocation.objects.count(),
        "balance_entries": MoneyBalanceEntry.objects.count(),
        "activities": Activity.objects.count(),
        "cards": PaymentMethod.objects.count(),
        "attempts": PaymentAttempt.objects.count(),
        "sandbox_cards": SandboxCard.objects.count(),
        "sandbox_charges": SandboxCharge.objects.count(),
        "sandbox_refunds": SandboxRefund.objects.count(),
        "refunds": Refund.objects.count(),
        "refund_allocations": RefundAllocation.objects.count(),
        "credit_notes": CreditNote.objects.count(),
        "credit_note_lines": CreditNoteLine.objects.count(),
        "sequences": sorted(NumberSequence.objects.values_list("series", "year", "last_value")),
    }
