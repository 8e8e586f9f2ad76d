"""The demo space's saved cards and card payments, which only the sandbox gateway can make (with Stripe's test card
numbers). Called by the `seed_demo` command after payments/demo.py, with the sandbox gateway only."""

from billing.activity import Actor
from billing.demo import DemoCalendar, demo_invoice_issue, line
from billing.models import Invoice, InvoiceStatus
from members.demo import DECLINING_CARD, DEMO_MEMBERS
from members.models import Member
from payments.demo import demo_card_payments, demo_charge_settle
from payments.models import AttemptStatus, PaymentAttempt, PaymentMethod
from payments.services.payment_card import payment_create_card
from payments.services.payment_method import payment_method_add


def demo_cards_ensure(*, members: dict[str, Member], actor: Actor, calendar: DemoCalendar) -> bool:
    """Sandbox test cards for the story's members, then two card charges: Léa's succeeds; Bright Pixel's card
    is declined, so an administrator sees a failed payment, its decline and its next automatic retry.

    Each step checks what exists first, so it runs once, also on a database seeded before cards existed."""
    created = False
    for demo in DEMO_MEMBERS:
        member = members[demo.key]
        if demo.card and not member.payment_methods.exists():
            payment_method_add(member=member, card_token=demo.card, actor=actor)
            created = True

    lea, brightpixel = members["lea"], members["brightpixel"]
    if not demo_card_payments(lea).exists():
        # Léa booked the meeting room for a workshop and asked to be charged on her saved card.
        workshop = demo_invoice_issue(
            member=lea,
            lines=[line("Meeting room, hours (workshop)", 4, "25.00", "EUR")],
            on=calendar.today,
            actor=actor,
            memo="Charged to the card on file, as agreed.",
        )
        demo_charge_settle(payment_create_card(invoice=workshop, actor=actor))
        created = True
    if not demo_card_payments(brightpixel).exists():
        # Bright Pixel's card is declined: the payment fails and waits for its automatic retry.
        this_month = (
            Invoice.objects.filter(member=brightpixel, status=InvoiceStatus.OPEN).order_by("-issue_date", "-pk").first()
        )
        demo_charge_settle(payment_create_card(invoice=this_month, actor=actor))
        created = True
    return created


def demo_cards_summary() -> list[str]:
    cards = PaymentMethod.objects.filter(removed_at__isnull=True)
    lines = [f"Saved cards: {cards.count()}"]
    declining = cards.filter(
        member__email__in=[demo.email for demo in DEMO_MEMBERS if demo.card == DECLINING_CARD],
        last4=DECLINING_CARD[-4:],
    )
    for card in declining.select_related("member"):
        declined = (
            PaymentAttempt.objects.filter(payment_method=card, status=AttemptStatus.FAILED)
            .select_related("payment")
            .order_by("-pk")
            .first()
        )
        lines.append(
            f"Declining card: {card.member} has {card} (sandbox test card 4000 0000 0000 0341), which is saved "
            "but declined on every charge"
            + (
                f"; {declined.payment} failed with decline code {declined.decline_code}: {declined.failure_message}"
                if declined
                else "."
            )
        )
    return lines
