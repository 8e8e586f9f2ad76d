"""The portal's forms: they parse what the member typed; the services decide (and their BillingError messages
become form errors)."""

import re

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.errors import BillingError
from billing.money import money_parse
from members.languages import member_language
from members.portal.selectors import portal_member
from payments.models import PaymentMethod

NEW_CARD = "new"


class MemberLoginForm(forms.Form):
    """Email and password; `authenticate` gets the request, so django-axes counts the failures."""

    email = forms.EmailField(
        label=gettext_lazy("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        "invalid_login": gettext_lazy(
            "This email and password do not match a member login. The password is case-sensitive."
        ),
    }

    def __init__(self, request=None, *args, **kwargs):
        self.request = request
        self.user_cache = None
        super().__init__(*args, **kwargs)

    def clean(self):
        email = self.cleaned_data.get("email")
        password = self.cleaned_data.get("password")
        if email and password:
            self.user_cache = authenticate(self.request, email=email.strip().lower(), password=password)
            if self.user_cache is None:
                raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        return self.cleaned_data

    def get_user(self):
        return self.user_cache


class MemberPasswordResetForm(PasswordResetForm):
    """Resets only members' portal logins: a staff account's password is never reset from the portal."""

    def get_users(self, email):
        return (user for user in super().get_users(email) if portal_member(user) is not None)

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        # In the member's language, whatever the browser that asked for it.
        with translation.override(member_language(portal_member(context["user"]))):
            super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)


class LanguageForm(forms.Form):
    """The member's language in the portal's header ("" for the browser's)."""

    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        required=False,
        choices=[("", gettext_lazy("Browser's language")), *settings.LANGUAGES],
    )


class CardNumberInput(forms.TextInput):
    """A card number is never sent back to the browser, not even to show a form's errors again."""

    def format_value(self, value):
        return None


def _luhn_valid(number: str) -> bool:
    digits = [int(digit) for digit in reversed(number)]
    return (sum(digits[0::2]) + sum(sum(divmod(2 * digit, 10)) for digit in digits[1::2])) % 10 == 0


class NewCardFields(forms.Form):
    """A new card: on the sandbox, a test card's number and expiry typed here; on Stripe, the PaymentMethod id
    that Stripe.js created in the browser (the number never reaches us)."""

    card_number = forms.CharField(
        label=gettext_lazy("Card number"),
        required=False,
        max_length=32,
        widget=CardNumberInput(
            attrs={"inputmode": "numeric", "autocomplete": "cc-number", "placeholder": "4242 4242 4242 4242"}
        ),
    )
    card_expiry = forms.CharField(
        label=gettext_lazy("Expiry (MM/YY)"),
        required=False,
        max_length=7,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "cc-exp", "placeholder": "MM/YY"}),
    )
    payment_method_token = forms.CharField(required=False, max_length=255, widget=forms.HiddenInput)

    def __init__(self, *args, gateway: str, **kwargs):
        self.gateway = gateway
        super().__init__(*args, **kwargs)

    def new_card_clean(self) -> None:
        """Set `card_token` (what `payment_method_add` takes) or add the errors."""
        if self.gateway == "stripe":
            token = (self.cleaned_data.get("payment_method_token") or "").strip()
            if not re.fullmatch(r"pm_[A-Za-z0-9_]+", token):
                self.add_error(None, _("Enter your card details in the card form."))
                return
            self.cleaned_data["card_token"] = token
            return
        number = re.sub(r"[\s-]", "", self.cleaned_data.get("card_number") or "")
        if not number:
            self.add_error("card_number", _("Enter the card number."))
        elif not number.isdigit() or not 13 <= len(number) <= 19 or not _luhn_valid(number):
            self.add_error("card_number", _("This card number is not valid; check the digits."))
        expiry = self._expiry_clean(self.cleaned_data.get("card_expiry") or "")
        if number and expiry and not self.errors:
            month, year = expiry
            self.cleaned_data["card_token"] = f"{number}|{month:02d}|{year}"

    def _expiry_clean(self, text: str) -> tuple[int, int] | None:
        match = re.fullmatch(r"\s*([0-9]{1,2})\s*/\s*([0-9]{2}|[0-9]{4})\s*", text)
        if not text.strip():
            self.add_error("card_expiry", _("Enter the expiry date, as MM/YY."))
            return None
        if not match or not 1 <= int(match[1]) <= 12:
            self.add_error("card_expiry", _("Enter the expiry date as MM/YY, for example 04/29."))
            return None
        month, year = int(match[1]), int(match[2])
        if year < 100:
            year += 2000
        today = timezone.localdate()
        if (year, month) < (today.year, today.month):
            self.add_error("card_expiry", _("This card has expired."))
            return None
        if year > today.year + 20:
            self.add_error("card_expiry", _("Enter the expiry date as MM/YY, for example 04/29."))
            return None
        return month, year


class AddCardForm(NewCardFields):
    make_default = forms.BooleanField(label=gettext_lazy("Use it as my default card"), required=False)

    def clean(self):
        super().clean()
        self.new_card_clean()
        return self.cleaned_data


class CardChoiceForm(NewCardFields):
    """Pay with one of the member's saved cards (only theirs are choices) or a new card."""

    card = forms.ChoiceField(label=gettext_lazy("Pay with"), widget=forms.RadioSelect)

    def __init__(self, *args, cards: list[PaymentMethod], **kwargs):
        super().__init__(*args, **kwargs)
        self.cards = {str(card.pk): card for card in cards}
        self.fields["card"].choices = [
            (pk, _("%(card)s — default") % {"card": card} if card.is_default else str(card))
            for pk, card in self.cards.items()
        ] + [(NEW_CARD, _("A new card"))]
        default = next((pk for pk, card in self.cards.items() if card.is_default), next(iter(self.cards), NEW_CARD))
        self.fields["card"].initial = default

    def clean(self):
        super().clean()
        card = self.cleaned_data.get("card")
        if card == NEW_CARD:
            self.new_card_clean()
            self.cleaned_data["payment_method"] = None
        elif card:
            self.cleaned_data["payment_method"] = self.cards[card]
        return self.cleaned_data

    @property
    def pays_with_new_card(self) -> bool:
        return self.cleaned_data.get("card") == NEW_CARD

    def card_saved(self, payment_method: PaymentMethod) -> None:
        """The new card was saved but the payment was refused: show the form again with that card chosen."""
        self.cards[str(payment_method.pk)] = payment_method
        self.fields["card"].choices = [
            (str(payment_method.pk), str(payment_method)),
            *[choice for choice in self.fields["card"].choices if choice[0] != str(payment_method.pk)],
        ]
        self.data = self.data.copy()
        self.data["card"] = str(payment_method.pk)


class PayForm(CardChoiceForm):
    """Pay one invoice. The amount is an input only when the space takes partial payments; otherwise it is the
    amount shown on the page, sent back so that the member pays exactly what they saw (the service refuses any
    other amount)."""

    # Not required: an empty amount is refused by the reader, with an example of how to type one.
    amount = forms.CharField(label=gettext_lazy("Amount"), max_length=32, required=False, strip=False)

    def __init__(self, *args, currency: str, partial: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.partial = partial
        self.fields["amount"].label = _("Amount (%(currency)s)") % {"currency": currency}
        if partial:
            self.fields["amount"].widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
        else:
            self.fields["amount"].widget = forms.HiddenInput()
        self.order_fields(["amount", "card"])

    def clean_amount(self):
        try:
            return money_parse(self.cleaned_data["amount"], self.currency)
        except BillingError as error:
            raise forms.ValidationError(error.message) from None


class PayAllForm(CardChoiceForm):
    """Pay every payable invoice of one currency at once; `expected_total` is the total the member saw."""

    expected_total = forms.CharField(widget=forms.HiddenInput, max_length=32)
