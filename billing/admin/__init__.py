"""The admin pages of billing: invoices (drafts, issue, void, credit notes), credit notes, and the activity and money
balance journals. `base` holds what every admin page of the project shares."""

from billing.admin import audit, credit_notes, invoices

__all__ = ["audit", "credit_notes", "invoices"]
