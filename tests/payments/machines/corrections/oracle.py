"""The corrections machine's oracle: what each operation must do, derived from the current rows (`books.py`) by the
spec's rules, with no model of its own.

Each `..._refusal` says why the rules refuse an operation (None when they allow it); the other functions say what
an allowed operation must change. The machine (`rules.py`) reads the rows, asks the oracle, runs the service and
compares the rows afterwards with what the oracle said. A refused operation must change nothing at all, which the
machine checks by itself.
"""

from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal

from django.conf import settings as django_settings
from djmoney.money import Money

from payments.models import Allocation, PaymentMethodKind, PaymentStatus, Refund, RefundStatus
from tests.payments.machines.corrections.books import (
    ACCEPTS_PAYMENT,
    DRAFT,
    OPEN,
    PAID,
    UNCOLLECTIBLE,
    VOID,
    ZERO,
    InvoiceRow,
    PaymentRow,
    targets_of,
)

# The sandbox's test cards: charges to the first succeed, to the second are declined; the third is declined when it
# is saved.
SUCCEEDS, DECLINES = "4242424242424242", "4000000000000341"
DECLINED_AT_ATTACH = "4000000000000002"
# The reasons staff may give a refund (a credit note's refunds give their own).
REFUND_REASONS = [reason for reason in Refund.Reason.values if reason != Refund.Reason.CREDIT_NOTE]


# Invoices ----------------------------------------------------------------------------------------------------------


def issue_refusal(row: InvoiceRow) -> str | None:
    return None if row.status == DRAFT else f"the invoice is {row.status}"


@dataclass(frozen=True)
class Issued:
    """What issuing applies to an invoice: money balance first, then the member's unallocated payments."""

    from_balance: Decimal
    from_payments: Decimal
    remaining: Decimal


def issue_applies(row: InvoiceRow, payments: dict[int, PaymentRow], balances: dict, *, apply_credit: bool) -> Issued:
    if not apply_credit:
        return Issued(ZERO, ZERO, row.total)
    balance = max(balances[row.member, row.currency], ZERO)
    unallocated = sum(
        (
            p.unallocated
            for p in payments.values()
            if p.member == row.member and p.currency == row.currency and p.status == PaymentStatus.SUCCEEDED
        ),
        ZERO,
    )
    from_balance = min(balance, row.total)
    from_payments = min(unallocated, row.total - from_balance)
    return Issued(from_balance, from_payments, row.total - from_balance - from_payments)


def invoice_void_refusal(row: InvoiceRow, *, allocated: bool) -> str | None:
    """`allocated`: payments are allocated to the invoice."""
    if row.status not in ACCEPTS_PAYMENT:
        return f"the invoice is {row.status}"
    if allocated:
        return "payments are allocated to it"
    if row.reserved:
        return "a card payment is in flight"
    if row.credited:
        return "it has credit notes"
    return None


def invoice_void_expected(row: InvoiceRow) -> tuple[str, Decimal, Decimal]:
    """(status, balance applied, remaining) after the void: the money balance applied goes back to the member."""
    return VOID, ZERO, row.total


def mark_uncollectible_refusal(row: InvoiceRow) -> str | None:
    if row.status != OPEN:
        return f"the invoice is {row.status}"
    if row.reserved:
        return "a card payment is in flight"
    return None


def mark_uncollectible_expected(row: InvoiceRow) -> InvoiceRow:
    return replace(row, status=UNCOLLECTIBLE)


# External payments, applying and unallocating ---------------------------------------------------------------------


def external_payment_refusal(row: InvoiceRow, *, valid: bool) -> str | None:
    if not valid:
        return "invalid amount"
    return None if row.accepts_payment else f"the invoice is {row.status}"


def external_payment_applies(row: InvoiceRow, amount: Money | None) -> tuple[Decimal, Decimal]:
    """(received, applied to the invoice): no amount means all that remains; the excess stays unallocated."""
    received = row.remaining if amount is None else amount.amount
    return received, min(received, row.remaining)


def payment_apply_refusal(row: InvoiceRow, p: PaymentRow, amount: Money, *, valid: bool) -> str | None:
    if not valid:
        return "invalid amount"
    if not row.accepts_payment:
        return f"the invoice is {row.status} with {row.remaining} remaining"
    if (p.member, p.currency, p.status) != (row.member, row.currency, PaymentStatus.SUCCEEDED):
        return "another member's, another currency or not received"
    if amount.amount > min(row.remaining, p.unallocated):
        return "more than remains or than is unallocated"
    return None


def allocation_remove_refusal(status: str) -> str | None:
    return None if status == Allocation.Status.ACTIVE else "already removed"


def allocation_remove_expected(row: InvoiceRow, amount: Decimal) -> tuple[Decimal, str]:
    """(remaining, status) of the invoice once the allocation is removed: a paid invoice reopens."""
    return row.remaining + amount, OPEN if row.status == PAID else row.status


def payment_void_refusal(p: PaymentRow) -> str | None:
    if p.method != PaymentMethodKind.EXTERNAL:
        return "a card payment"
    if p.status != PaymentStatus.SUCCEEDED:
        return f"the payment is {p.status}"
    if p.refunded or p.refund_pending:
        return "it has refunds"
    return None


def payment_void_expected(invoices: dict[int, InvoiceRow], allocations) -> dict[int, Decimal]:
    """What remains on each invoice once the payment is void: its active allocations (pk, payment, invoice, amount)
    go back to their invoices."""
    released = defaultdict(Decimal)
    for _, _, invoice, amount in allocations:
        released[invoice] += amount
    return {invoice: row.remaining + released[invoice] for invoice, row in invoices.items()}


# Money balance -----------------------------------------------------------------------------------------------------


def balance_adjust_refusal(amount: Money, *, valid: bool, currency: str, is_credit: bool, balance: Decimal):
    """`valid`: as drawn for `currency`; an amount in another currency is valid too, for the balance in its currency.
    `balance`: the member's money balance in the amount's currency."""
    if amount.currency.code != currency:
        valid = True
    if not valid:
        return "invalid amount"
    if not is_credit and amount.amount > balance:
        return "the debit would take the balance below zero"
    return None


def balance_apply(
    row: InvoiceRow, available: Decimal, amount: Money | None, *, valid: bool
) -> tuple[Decimal | None, str | None]:
    """(what applying `available` money balance to the invoice applies, why it is refused); no amount applies all
    that fits."""
    applied = min(available, row.remaining) if amount is None else amount.amount if valid else None
    if not valid:
        return applied, "invalid amount"
    if not row.accepts_payment:
        return applied, f"the invoice is {row.status} with {row.remaining} remaining"
    if available <= 0:
        return applied, "no money balance"
    if applied > min(available, row.remaining):
        return applied, "more than the balance or than remains"
    return applied, None


# Card payments -----------------------------------------------------------------------------------------------------


def save_card_refusal(number: str, *, for_another_member: bool) -> str | None:
    """`for_another_member`: a member, in the portal, saves a card for someone else."""
    if for_another_member:
        return "a member saves only their own cards"
    if number == DECLINED_AT_ATTACH:
        return "the card is declined when attached"
    return None


def charge_refusal(row: InvoiceRow) -> str | None:
    if not row.accepts_payment:
        return f"the invoice is {row.status} with {row.remaining} remaining"
    if row.available <= 0:
        return "all that remains is being charged already"
    return None


def member_payment_refusal(row: InvoiceRow, amount: Money | None, *, portal_member: int) -> str | None:
    """What the portal refuses its member: another member's invoice, or a partial payment unless the space takes
    them (at least the minimum)."""
    if row.member != portal_member:
        return "a member pays only their own invoices"
    if amount is None or amount.amount == row.available:
        return None
    if not django_settings.BILLING_PORTAL_PARTIAL_PAYMENTS:
        return "the space takes no partial payments online"
    if amount.amount < Decimal(django_settings.BILLING_PORTAL_PARTIAL_MINIMUM):
        return "less than the minimum partial payment"
    return None


def card_charge_refusal(
    row: InvoiceRow, amount: Money | None, *, valid: bool, card_refusal: str | None, portal_member: int | None
) -> str | None:
    """Charging a card for the invoice. `card_refusal`: why the card given is refused; `portal_member`: the member
    who charges it in the portal (None for staff)."""
    refusal = "invalid amount" if not valid else card_refusal
    refusal = refusal or charge_refusal(row)
    if refusal is None and amount is not None and amount.amount > row.available:
        refusal = "more than can be charged"
    if portal_member is not None:
        refusal = refusal or member_payment_refusal(row, amount, portal_member=portal_member)
    return refusal


def pay_with_card_refusal(
    member: int, rows: list[InvoiceRow], *, card_refusal: str | None, portal_member: int | None
) -> str | None:
    """One card payment of the member for all that can be charged on several invoices."""
    refusal = card_refusal
    if not rows:
        refusal = "no invoice"
    elif any(row.member != member for row in rows):
        refusal = "another member's invoice"
    refusal = refusal or next(filter(None, (charge_refusal(row) for row in rows)), None)
    if refusal is None and len({row.currency for row in rows}) > 1:
        refusal = "several currencies"
    if portal_member is not None and member != portal_member:
        refusal = refusal or "a member pays only their own invoices"
    return refusal


def card_payment_status(*, later: bool, succeeds: bool, in_flight: str = PaymentStatus.PENDING) -> str:
    """A card payment's status: still in flight when the charge is left for later, else as the card answers."""
    if later:
        return in_flight
    return PaymentStatus.SUCCEEDED if succeeds else PaymentStatus.FAILED


def retry_plan(p: PaymentRow, amount: Decimal | None, invoices: dict[int, InvoiceRow]) -> tuple[str | None, list]:
    """(refusal, [(invoice, amount)] the retry charges), by the rules of a manual retry."""
    if p.method != PaymentMethodKind.CARD:
        return "not a card payment", []
    if p.status != PaymentStatus.FAILED:
        return f"the payment is {p.status}", []
    targets = targets_of(p.pk)
    if amount is not None and len(targets) > 1:
        return "an amount for a payment of several invoices", []
    planned = []
    for invoice, target in targets:
        row = invoices[invoice]
        limit = min(target, row.available)
        if row.status not in ACCEPTS_PAYMENT or limit <= 0:
            continue
        if amount is not None and amount > limit:
            return "more than the retry can charge", []
        planned.append((invoice, limit if amount is None else amount))
    return (None, planned) if planned else ("nothing to charge", [])


def retry(
    p: PaymentRow, amount: Money | None, invoices: dict[int, InvoiceRow], *, valid: bool, card_refusal: str | None
) -> tuple[str | None, list]:
    """(refusal, [(invoice, amount)] charged) of a retry of the payment, with the amount and card given."""
    if not valid:
        return "invalid amount", []
    refusal, planned = retry_plan(p, None if amount is None else amount.amount, invoices)
    return refusal or card_refusal, planned


def cancel_refusal(p: PaymentRow) -> str | None:
    return None if p.status in (PaymentStatus.PENDING, PaymentStatus.FAILED) else f"the payment is {p.status}"


def cancel_releases(p: PaymentRow, amount: Decimal) -> Decimal:
    """What canceling the payment releases of a target's `amount` on its invoice: all of it while in flight."""
    return amount if p.status == PaymentStatus.PENDING else ZERO


def queued_charge_applies(row: InvoiceRow, amount: Decimal, *, succeeded: bool) -> Decimal:
    """What a charge left in flight applies to an invoice it targets when the worker runs it: at most what remains
    now (the invoice may have been paid or credited meanwhile), nothing if the invoice no longer takes payments."""
    return min(amount, row.remaining) if succeeded and row.status in ACCEPTS_PAYMENT else ZERO


# Refunds -----------------------------------------------------------------------------------------------------------


def take_newest_first(allocations, amount: Decimal) -> list[tuple[int, int, int, Decimal]]:
    """(allocation, payment, invoice, take) of `amount` taken from the allocations (given newest first)."""
    takes, left = [], amount
    for pk, payment, invoice, allocated in allocations:
        if left <= 0:
            break
        take = min(allocated, left)
        takes.append((pk, payment, invoice, take))
        left -= take
    assert left <= 0, "the allocations cannot cover the amount"
    return takes


def refund_refusal(p: PaymentRow, amount: Money, *, valid: bool, reason: str, handling: str) -> str | None:
    if reason not in REFUND_REASONS:
        return "a reason staff cannot choose"
    if not valid:
        return "invalid amount"
    if p.status != PaymentStatus.SUCCEEDED:
        return f"the payment is {p.status}"
    if amount.amount > p.refundable:
        return "more than is left to refund"
    if amount.amount > p.unallocated and not handling:
        return "takes allocated money without saying what happens to the invoices"
    return None


def refund_takes(p: PaymentRow, amount: Decimal, allocations) -> list[tuple[int, int, int, Decimal]]:
    """What a refund takes from the payment's allocations (newest first): all that its unallocated money does not
    cover."""
    return take_newest_first(allocations, amount - min(amount, p.unallocated))


def refund_status(*, card: bool, mode: str) -> str:
    """A recorded refund succeeds at once; a card refund as the gateway answers (see REFUND_MODES in rules.py)."""
    if card and mode != "now":
        return RefundStatus.PENDING if mode == "later" else RefundStatus.FAILED
    return RefundStatus.SUCCEEDED


def refund_payment_expected(
    p: PaymentRow, amount: Decimal, *, taken: Decimal, status: str
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(allocated, refunded, refund pending, unallocated) of the payment after a refund of `amount` that took
    `taken` from its allocations; a failed refund gives its amount back to the payment, unallocated."""
    unallocated = p.unallocated - min(amount, p.unallocated)
    if status == RefundStatus.FAILED:
        unallocated += amount
    return (
        p.allocated - taken,
        p.refunded + amount * (status == RefundStatus.SUCCEEDED),
        p.refund_pending + amount * (status == RefundStatus.PENDING),
        unallocated,
    )


def refund_invoice_expected(row: InvoiceRow, take: Decimal, *, handling: str) -> tuple[Decimal, str, Decimal]:
    """(remaining, status, credited) of an invoice the refund took `take` from: it reopens (owes the take again), or
    keeps its status and what remains, reduced by a credit note of the take."""
    if handling == "reopen":
        return row.remaining + take, OPEN if take and row.status == PAID else row.status, row.credited
    return row.remaining, row.status, row.credited + (take if handling == "credit_note" else ZERO)


def refund_credit_notes_expected(takes, *, handling: str) -> list[Decimal]:
    """The amounts of the credit notes a refund issues: one per take, with the credit note handling."""
    return sorted(take for *_, take in takes) if handling == "credit_note" else []


def refund_credit_note_parts(amount: Decimal, *, card: bool, mode: str) -> tuple[Decimal, Decimal]:
    """(refund part, credit part) of a credit note a refund issued: refunded, unless the card refund failed and the
    money stays with the member as credit."""
    return (ZERO, amount) if mode == "failing" and card else (amount, ZERO)


def pending_refund_answer_expected(
    p: PaymentRow, amount: Decimal, *, failing: bool
) -> tuple[Decimal, Decimal, Decimal]:
    """(refund pending, refunded, unallocated) of the payment once the gateway answers its pending refund."""
    return (
        p.refund_pending - amount,
        p.refunded + (ZERO if failing else amount),
        p.unallocated + (amount if failing else ZERO),
    )


def failed_refund_moves(refund) -> dict[int, Decimal]:
    """A failed refund leaves its money with the member: what moves from the refund part to the credit part of the
    credit notes it settled (its own credit note, and those of the allocations it took)."""
    moved = defaultdict(Decimal)
    if refund.credit_note_id:
        moved[refund.credit_note_id] += refund.amount.amount
    for credit_note, take in refund.takes.exclude(credit_note=None).values_list("credit_note_id", "amount"):
        moved[credit_note] += take
    return moved


# Credit notes ------------------------------------------------------------------------------------------------------


def credit_note_refusal(row: InvoiceRow, requested: Decimal) -> str | None:
    if row.status in (DRAFT, VOID):
        return f"the invoice is {row.status}"
    if requested > row.creditable:
        return "over the cap"
    return None


@dataclass(frozen=True)
class CreditNoteSplit:
    """How a credit note of `requested` splits: the pre-payment part reduces what remains; the rest (post) is
    paid back from what the payments paid (refundable), then from the money balance applied."""

    requested: Decimal
    pre: Decimal
    post: Decimal
    refundable: Decimal
    from_balance: Decimal


def credit_note_split(row: InvoiceRow, requested: Decimal | None) -> CreditNoteSplit:
    pre = min(requested, row.remaining) if requested is not None else ZERO
    post = requested - pre if requested is not None else ZERO
    refundable = min(post, row.paid)
    return CreditNoteSplit(requested, pre, post, refundable, post - refundable)


def credit_note_invoice_expected(row: InvoiceRow, split: CreditNoteSplit) -> tuple[Decimal, ...]:
    """(remaining, credited, paid, balance applied) of the invoice after the credit note."""
    return (
        row.remaining - split.pre,
        row.credited + split.requested,
        row.paid - split.refundable,
        row.balance_applied - split.from_balance,
    )


def credit_note_parts_expected(split: CreditNoteSplit, parts: list[Decimal], *, failed: Decimal) -> tuple:
    """(amount, pre-payment, refund, credit, out of band) of the credit note, given the `parts` asked for (refund,
    credit, out of band): what its card refunds `failed` to pay back is credit instead."""
    refund, credit, out_of_band = parts
    return split.requested, split.pre, refund - failed, credit + failed, out_of_band


def credit_note_releases(allocations, split: CreditNoteSplit) -> dict[int, Decimal]:
    """What the credit note takes back from each payment's allocations to the invoice (newest first)."""
    released = defaultdict(Decimal)
    for _, payment, _, take in take_newest_first(allocations, split.refundable):
        released[payment] += take
    return released
