"""The forms of the payment pages: external and standalone payments, apply, void, refund, card charges and saved
cards. They only parse and validate what a person typed; the services decide. Shared fields: `billing.admin.fields`."""

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import AdminDateWidget, AdminRadioSelect
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from billing.admin.fields import (
    PREVIEW_JS,
    CurrencyAmountMixin,
    MoneyAmountField,
    ObjectChoiceField,
    amount_initial,
    currency_choices,
    member_field,
)
from billing.models import Invoice
from payments.models import ExternalKind, Payment, PaymentMethod, Refund
from payments.sandbox.gateway import TEST_CARDS
from payments.sandbox.models import SandboxCard


class ExternalPaymentForm(forms.Form):
    amount = MoneyAmountField(label=gettext_lazy("Amount"))
    kind = forms.ChoiceField(label=gettext_lazy("Received as"), choices=ExternalKind.choices)
    reference = forms.CharField(
        label=gettext_lazy("Reference"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("Check number, transfer id or receipt number."),
    )
    # Bounded by the service's rule (`received_on_check`: not in the future, not before
    # BILLING_EARLIEST_RECEIVED_DATE), which says which bound a date broke.
    received_on = forms.DateField(
        label=gettext_lazy("Date received"), initial=timezone.localdate, widget=AdminDateWidget
    )
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )

    def __init__(self, *args, currency: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency

    def payment_kwargs(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("amount", "kind", "reference", "received_on", "note")}


class StandalonePaymentForm(CurrencyAmountMixin, ExternalPaymentForm):
    member = member_field(Payment)
    currency = forms.ChoiceField(label=gettext_lazy("Currency"))

    field_order = ["member", "amount", "currency", "kind", "reference", "received_on", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = currency_choices(self.initial.get("currency", ""))

    def payment_kwargs(self) -> dict:
        return {**super().payment_kwargs(), "member": self.cleaned_data["member"]}


class PaymentApplyForm(forms.Form):
    """Apply a payment's unallocated money to one of the member's invoices."""

    invoice = ObjectChoiceField(label=gettext_lazy("Invoice"), queryset=Invoice.objects.none(), empty_label=None)
    amount = MoneyAmountField(label=gettext_lazy("Amount"))

    def __init__(self, *args, invoices, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invoice"].queryset = invoices
        self.fields["invoice"].label_from_instance = lambda invoice: (
            _("%(invoice)s (due %(due_date)s, %(remaining)s remaining)")
            % {
                "invoice": invoice,
                "due_date": invoice.due_date.strftime("%Y-%m-%d"),
                "remaining": invoice.amount_remaining,
            }
        )
        self.fields["amount"].currency = currency


class PaymentVoidForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy("For example: the check bounced, or the payment was entered by mistake."),
    )


class RefundForm(forms.Form):
    """How much of a payment to refund, why, and (when it takes allocated money) what happens to the invoices."""

    amount = MoneyAmountField(label=gettext_lazy("Amount"))
    reason = forms.ChoiceField(
        label=gettext_lazy("Reason"),
        choices=[
            ("", gettext_lazy("Choose a reason")),
            *((value, label) for value, label in Refund.Reason.choices if value != Refund.Reason.CREDIT_NOTE),
        ],
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy("Optional; kept with the refund and in the payment's activity."),
    )
    invoice_handling = forms.ChoiceField(
        label=gettext_lazy("The invoices"),
        required=False,
        widget=AdminRadioSelect(attrs={"class": "radiolist"}),
        choices=[
            (
                Refund.InvoiceHandling.REOPEN,
                gettext_lazy("Reopen the invoice balance: the invoices ask for the money again"),
            ),
            (
                Refund.InvoiceHandling.CREDIT_NOTE,
                gettext_lazy("Reduce the invoice with a credit note settled by this refund: the invoices stay paid"),
            ),
        ],
    )

    class Media:
        js = [PREVIEW_JS]

    def __init__(self, *args, currency: str, amount_help: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency
        self.fields["amount"].help_text = amount_help

    def refund_kwargs(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("amount", "reason", "note", "invoice_handling")}


class CardChoiceForm(forms.Form):
    """One of the member's saved cards (the view passes them, and which one starts selected)."""

    payment_method = ObjectChoiceField(
        label=gettext_lazy("Card"),
        queryset=PaymentMethod.objects.none(),
        empty_label=None,
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("Choose a card."),
            "invalid_choice": gettext_lazy("Choose one of the member's saved cards."),
        },
    )

    def __init__(self, *args, payment_methods, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["payment_method"]
        field.queryset = payment_methods
        field.label_from_instance = lambda card: (
            _("%(card)s (default)") % {"card": card} if card.is_default else str(card)
        )


class CardChargeForm(CardChoiceForm):
    """Charge a saved card: how much, and which card."""

    amount = MoneyAmountField(label=gettext_lazy("Amount"))

    field_order = ["amount", "payment_method"]

    def __init__(self, *args, currency: str, amount_help: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency
        self.fields["amount"].help_text = amount_help

    def charge_kwargs(self) -> dict:
        return {"amount": self.cleaned_data["amount"], "payment_method": self.cleaned_data["payment_method"]}


EXTERNAL_METHOD = "external"


class PaymentCreateForm(ExternalPaymentForm):
    """The invoice's Create payment: an amount and a method, one of the member's saved cards (charged) or External
    (recorded, with how and when the money came). The view offers only the methods the user may use."""

    method = forms.ChoiceField(
        label=gettext_lazy("Method"),
        widget=forms.RadioSelect(attrs={"class": "billing-method-choice"}),
        error_messages={"invalid_choice": gettext_lazy("Choose one of the methods offered.")},
    )

    field_order = ["amount", "method", "kind", "reference", "received_on", "note"]
    EXTERNAL_FIELDS = ("kind", "reference", "received_on", "note")

    class Media:
        js = ["payments/create-payment.js"]

    def __init__(self, *args, payment_methods, external: bool, amount_help: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.cards = {str(card.pk): card for card in payment_methods}
        choices = [
            (key, _("%(card)s (default)") % {"card": card} if card.is_default else str(card))
            for key, card in self.cards.items()
        ]
        if external:
            choices.append((EXTERNAL_METHOD, _("External: cash, check, bank transfer or other")))
        self.fields["method"].choices = choices
        self.fields["amount"].help_text = amount_help
        # Asked only of External: a card charge ignores them.
        for name in ("kind", "received_on"):
            self.fields[name].required = False

    def chosen_method(self) -> str:
        """The method the form shows selected: the one sent, else the initial one."""
        value = self.data.get("method") if self.is_bound else self.initial.get("method")
        return value if value in dict(self.fields["method"].choices) else self.initial.get("method", "")

    def charges_card(self) -> bool:
        return self.chosen_method() in self.cards

    def clean(self):
        cleaned_data = super().clean()
        if cleaned_data.get("method") == EXTERNAL_METHOD:
            if not cleaned_data.get("kind") and not self.has_error("kind"):
                self.add_error("kind", _("Choose how the money was received."))
            if cleaned_data.get("received_on") is None and not self.has_error("received_on"):
                self.add_error("received_on", _("Enter the date the money was received."))
        return cleaned_data

    def payment_method(self) -> PaymentMethod | None:
        """The card to charge, or None for an external payment."""
        return self.cards.get(self.cleaned_data["method"])

    def charge_kwargs(self) -> dict:
        return {"amount": self.cleaned_data["amount"], "payment_method": self.payment_method()}


class PaymentCancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy(
            "Optional; kept in the payment's activity. For example: the member paid by transfer instead."
        ),
    )


class CardNumberInput(forms.TextInput):
    """A card number box that never writes the typed number back into the page (a redisplayed form is empty)
    and that browsers do not remember."""

    def __init__(self, attrs=None):
        super().__init__(
            attrs={
                "autocomplete": "off",
                "inputmode": "numeric",
                "spellcheck": "false",
                "size": 24,
                **(attrs or {}),
            }
        )

    def format_value(self, value):
        return None


def _card_number_display(number: str) -> str:
    return " ".join(number[index : index + 4] for index in range(0, len(number), 4))


def _test_card_outcome(test_card) -> str:
    if test_card.attach_decline:
        return _("refused when saved (%(reason)s)") % {"reason": test_card.attach_decline[1].rstrip(".")}
    return {
        SandboxCard.Behaviour.SUCCEEDS: _("saved, charges succeed"),
        SandboxCard.Behaviour.CHARGE_DECLINED: _("saved, every charge is declined"),
        SandboxCard.Behaviour.AUTHENTICATION_REQUIRED: _("saved, charges need the member's authentication"),
    }[test_card.behaviour]


def sandbox_test_cards_help() -> str:
    """The sandbox's test card numbers and what each does, for the Add card page."""
    rows = format_html_join(
        "",
        "<li><code>{}</code> {}: {}</li>",
        (
            (_card_number_display(number), test_card.brand.title(), _test_card_outcome(test_card))
            for number, test_card in TEST_CARDS.items()
        ),
    )
    # The sentence is the project's own text (as a template's would be): not escaped.
    return format_html(
        "{}<ul>{}</ul>",
        mark_safe(
            _(
                "The sandbox gateway accepts only Stripe's test card numbers. The number goes to the gateway and is never "
                "stored: only the brand, the last 4 digits and the expiry are kept."
            )
        ),
        rows,
    )


class CardAddForm(forms.Form):
    """Save a card for a member. With the sandbox gateway, a test card number (and an optional expiry); with
    Stripe, the id of a PaymentMethod that Stripe collected (staff never type card numbers into our pages)."""

    make_default = forms.BooleanField(required=False, label=gettext_lazy("Make it the default card"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stripe = settings.PAYMENT_GATEWAY == "stripe"
        fields = {}
        if self.stripe:
            fields["payment_method_id"] = forms.CharField(
                label=_("Stripe PaymentMethod id"),
                max_length=255,
                widget=forms.TextInput(attrs={"autocomplete": "off", "size": 40, "placeholder": "pm_..."}),
                help_text=_(
                    "The id (pm_...) of a card that Stripe collected, for example through the member portal's card "
                    "form or the Stripe dashboard."
                ),
            )
        else:
            this_year = timezone.localdate().year
            fields["card_number"] = forms.CharField(
                label=_("Test card number"),
                max_length=40,
                widget=CardNumberInput(),
                help_text=sandbox_test_cards_help(),
            )
            fields["exp_month"] = forms.IntegerField(
                label=_("Expiry month"), required=False, min_value=1, max_value=12, help_text=_("Optional (1 to 12).")
            )
            fields["exp_year"] = forms.IntegerField(
                label=_("Expiry year"),
                required=False,
                min_value=this_year,
                max_value=this_year + 30,
                help_text=_("Optional, with the month; without them the sandbox uses 12/%(year)s.")
                % {"year": this_year + 3},
            )
        self.fields = {**fields, "make_default": self.fields["make_default"]}

    def clean_payment_method_id(self):
        value = self.cleaned_data["payment_method_id"].strip()
        if not value.startswith("pm_"):
            raise ValidationError(_("Enter a Stripe PaymentMethod id: it starts with “pm_”."), code="invalid")
        return value

    def clean(self):
        cleaned_data = super().clean()
        expiry_given = {name: cleaned_data.get(name) is not None for name in ("exp_month", "exp_year")}
        expiry_valid = not self.has_error("exp_month") and not self.has_error("exp_year")
        if not self.stripe and expiry_valid and len(set(expiry_given.values())) == 2:
            raise ValidationError(_("Enter both the expiry month and year, or neither."), code="expiry_incomplete")
        return cleaned_data

    def card_token(self) -> str:
        """What the gateway is given: a PaymentMethod id (Stripe) or "number|MM|YYYY" (the sandbox)."""
        if self.stripe:
            return self.cleaned_data["payment_method_id"]
        number = self.cleaned_data["card_number"].replace(" ", "").replace("-", "")
        if self.cleaned_data.get("exp_month") is None:
            return number
        return f"{number}|{self.cleaned_data['exp_month']:02d}|{self.cleaned_data['exp_year']}"


class AllocateForm(forms.Form):
    """Allocate unallocated money to several open invoices: per invoice a checkbox (unticked: left out) and an
    amount, pre-filled with the split oldest invoice first. The service checks the amounts against the locked rows."""

    def __init__(self, *args, rows: list[tuple[Invoice, Money]], currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.invoices = [invoice for invoice, _amount in rows]
        for invoice, amount in rows:
            self.fields[self.include_name(invoice)] = forms.BooleanField(
                label=_("Allocate to %(invoice)s") % {"invoice": invoice},
                required=False,
                initial=amount.amount > 0,
            )
            self.fields[self.amount_name(invoice)] = MoneyAmountField(
                label=_("Amount for %(invoice)s") % {"invoice": invoice},
                currency=currency,
                required=False,
                initial=amount_initial(amount) if amount.amount > 0 else "",
            )

    @staticmethod
    def include_name(invoice: Invoice) -> str:
        return f"include_{invoice.pk}"

    @staticmethod
    def amount_name(invoice: Invoice) -> str:
        return f"amount_{invoice.pk}"

    def rows(self) -> list[tuple[Invoice, forms.BoundField, forms.BoundField]]:
        return [
            (invoice, self[self.include_name(invoice)], self[self.amount_name(invoice)]) for invoice in self.invoices
        ]

    def clean(self):
        cleaned_data = super().clean()
        chosen = [invoice for invoice in self.invoices if cleaned_data.get(self.include_name(invoice))]
        for invoice in chosen:
            name = self.amount_name(invoice)
            if name not in self.errors and not cleaned_data.get(name):
                self.add_error(name, _("Enter an amount, or untick the invoice."))
        if not self.errors and not chosen:
            raise ValidationError(_("Choose at least one invoice and an amount for it."))
        return cleaned_data

    def amounts(self) -> list[tuple[Invoice, Money]]:
        """The chosen invoices and their amounts, oldest first (as listed)."""
        return [
            (invoice, self.cleaned_data[self.amount_name(invoice)])
            for invoice in self.invoices
            if self.cleaned_data.get(self.include_name(invoice))
        ]
