"""Why a card was declined, in the language shown: the gateway's message is in English, so a known decline code
gets a translated reason; an unknown one keeps the gateway's message in English and a general reason otherwise."""

from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

# Stripe's decline codes (and the sandbox's, which uses the same), with the gateway's English messages.
DECLINE_REASONS = {
    "generic_decline": gettext_lazy("Your card was declined."),
    "card_declined": gettext_lazy("Your card was declined."),
    "do_not_honor": gettext_lazy("Your card was declined."),
    "insufficient_funds": gettext_lazy("Your card has insufficient funds."),
    "expired_card": gettext_lazy("Your card has expired."),
    "incorrect_cvc": gettext_lazy("Your card's security code is incorrect."),
    "incorrect_number": gettext_lazy("Your card number is incorrect."),
    "lost_card": gettext_lazy("Your card was declined."),
    "stolen_card": gettext_lazy("Your card was declined."),
    "processing_error": gettext_lazy("An error occurred while processing your card. Try again."),
    "authentication_required": gettext_lazy("The card needs the member's authentication (3-D Secure)."),
    "card_not_attached": gettext_lazy("This card is no longer saved for the customer."),
}


def decline_reason(code: str, message: str) -> str:
    """The reason to show a member for a decline with the gateway's `code` and (English) `message`."""
    if code in DECLINE_REASONS:
        return str(DECLINE_REASONS[code])
    if message and (get_language() or "en").startswith("en"):
        return message
    return _("The card was declined.")
