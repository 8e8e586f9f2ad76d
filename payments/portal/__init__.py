"""The member portal at /portal/: members see and pay their own invoices, manage their cards, see their credit and
receipts. It spans members, billing and payments, so it lives in the app that depends on the others. Every read is
scoped to the logged-in member (`payments.portal.selectors`); every change goes through one service."""
