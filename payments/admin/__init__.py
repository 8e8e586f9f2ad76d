"""The Django admin of the whole billing domain. It lives in `payments`, the app that may import the others,
because its pages span members, invoices and payments."""

from payments.admin import audit, credit_notes, invoices, members, outbox, payments, reports, webhooks

__all__ = ["audit", "credit_notes", "invoices", "members", "outbox", "payments", "reports", "webhooks"]
