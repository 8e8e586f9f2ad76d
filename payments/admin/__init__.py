"""The admin pages of payments: payments (with their attempts, refunds and allocations), the outbox and the webhook
events. The report pages hang on the admin site itself (`coworking_billing.admin`)."""

from payments.admin import outbox, payments, webhooks

__all__ = ["outbox", "payments", "webhooks"]
