"""The member portal at /portal/: members see and pay their own invoices, manage their cards, see their credit and
receipts. It is its own app (label `portal`) inside `members`, whose users it serves; it is a page layer over the three
domains and none of them imports it. Every read is scoped to the logged-in member (`members.portal.selectors`); every
change goes through one service."""
