"""Forms of the billing admin. They only parse and validate what a person typed; the services decide.

Every field answers any input with a form error, never a server error: ids that are no database integer, special
decimals (NaN, infinity), exponents and dates outside the years a space bills in are refused here.
"""

import datetime
import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget, AdminRadioSelect, AutocompleteSelect
from django.core.exceptions import ValidationError
from django.forms import formsets
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from djmoney.money import Money

from billing.errors import BillingError
from billing.models import CreditNoteReason, Invoice, InvoiceLine
from billing.money import amount_as_typed, money_parse
from billing.services.invoice_draft import MAX_QUANTITY, LineInput
from members.models import Member
from payments.gateways.sandbox import TEST_CARDS
from payments.gateways.sandbox_models import SandboxCard
from payments.models import ExternalKind, Payment, PaymentMethod, Refund


def amount_parse(text: str, currency: str, *, allow_zero: bool = False) -> Money:
    """money_parse, with its refusal turned into a form error."""
    try:
        return money_parse(text, currency, allow_zero=allow_zero)
    except BillingError as error:
        raise ValidationError(error.message, code="invalid_amount") from None


def amount_initial(value: Money) -> str:
    """An amount as a person would type it in the space's locale: 60.00 (en) or 60,00 (fr, de) for EUR, 1000 for
    JPY."""
    return amount_as_typed(value)


def quantity_initial(quantity: Decimal) -> Decimal:
    """2 rather than 2.000, 2.5 rather than 2.500."""
    return quantity.quantize(Decimal(1)) if quantity == quantity.to_integral_value() else quantity.normalize()


def currency_choices(*extra: str) -> list[tuple[str, str]]:
    codes = list(dict.fromkeys([*settings.BILLING_CURRENCIES, *(code for code in extra if code)]))
    return [(code, code) for code in codes]


class MoneyAmountField(forms.CharField):
    """An amount typed by a person, parsed with `money_parse` in `currency`.

    When the currency is another field of the form, leave `currency` empty: the field then returns the text,
    and `CurrencyAmountMixin` parses it once the currency is known.
    """

    def __init__(self, *, currency: str | None = None, allow_zero: bool = False, **kwargs):
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "class": "vMoneyField"}))
        super().__init__(**kwargs)
        self.currency = currency
        self.allow_zero = allow_zero

    def clean(self, value):
        if self.required and (value is None or not str(value).strip()):
            # Like any other refused amount, an empty one is answered with how to type it.
            amount_parse("", self.currency or settings.BILLING_DEFAULT_CURRENCY)
        text = super().clean(value)
        if text in self.empty_values or self.currency is None:
            return text or None
        return amount_parse(text, self.currency, allow_zero=self.allow_zero)


class CurrencyAmountMixin:
    """For a form with `amount` and `currency` fields: parse the amount in the chosen currency."""

    def clean(self):
        cleaned_data = super().clean()
        text, currency = cleaned_data.get("amount"), cleaned_data.get("currency")
        if text and currency:
            try:
                cleaned_data["amount"] = amount_parse(text, currency)
            except ValidationError as error:
                self.add_error("amount", error)
        return cleaned_data


# The largest id the database stores (a signed 64-bit integer, as BigAutoField).
MAX_OBJECT_ID = 2**63 - 1
OBJECT_ID = re.compile(r"[0-9]{1,19}")


def object_id_parse(value) -> int | None:
    """An object id as a request carries it ("42"), or None when it cannot be one: not plain ASCII digits, zero,
    or beyond the database's integers (what a person cannot pick, but a crafted request can send)."""
    text = str(value).strip() if value is not None else ""
    if not OBJECT_ID.fullmatch(text):
        return None
    number = int(text)
    return number if 0 < number <= MAX_OBJECT_ID else None


class ObjectChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField that refuses a value which cannot be an id before asking the database."""

    def to_python(self, value):
        if (
            value not in self.empty_values
            and not isinstance(value, self.queryset.model)
            and object_id_parse(value) is None
        ):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class ObjectAutocompleteSelect(AutocompleteSelect):
    """The admin's autocomplete, which shows the selected object again when a form is redisplayed: only a value
    that can be an id is looked up (Django's filters the table by whatever was sent, and "abc" breaks the page)."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, [item for item in value if object_id_parse(item) is not None], attr)


def member_field(model) -> forms.ModelChoiceField:
    """A member, searched by name or email (the admin's autocomplete for `model.member`)."""
    return ObjectChoiceField(
        queryset=Member.objects.all(), widget=ObjectAutocompleteSelect(model._meta.get_field("member"), admin.site)
    )


# The days a date typed in the admin may be: a space bills in this century. Far dates (year 1, year 9999) are typing
# mistakes, and the day after 9999-12-31 cannot be computed.
DATE_EARLIEST = datetime.date(2000, 1, 1)
DATE_LATEST = datetime.date(2099, 12, 31)


class BoundedDateField(forms.DateField):
    """A date from DATE_EARLIEST to DATE_LATEST."""

    def validate(self, value):
        super().validate(value)
        if value is not None and not DATE_EARLIEST <= value <= DATE_LATEST:
            raise ValidationError(
                "Enter a date from %(earliest)s to %(latest)s.",
                code="date_out_of_range",
                params={"earliest": DATE_EARLIEST.isoformat(), "latest": DATE_LATEST.isoformat()},
            )


def date_field(**kwargs) -> forms.DateField:
    return BoundedDateField(widget=AdminDateWidget, **kwargs)


PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class PlainDecimalField(forms.DecimalField):
    """A number written with ASCII digits and an optional decimal point ("2", "2.5", "19.6"): special values (NaN,
    sNaN, Infinity), exponents ("1e3") and other scripts' digits are refused, not read."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not isinstance(value, Decimal | int) and not PLAIN_DECIMAL.fullmatch(str(value).strip()):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(str(value).strip())


class MemberAdminForm(forms.ModelForm):
    """The member page's form: the default currency is one the space bills in (BILLING_CURRENCIES), or the one the
    member has already."""

    class Meta:
        model = Member
        fields = ["name", "kind", "email", "billing_address", "default_currency", "user"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "default_currency" in self.fields:
            current = self.instance.default_currency if self.instance.pk else ""
            self.fields["default_currency"] = forms.ChoiceField(
                label=self.fields["default_currency"].label,
                choices=currency_choices(current),
                initial=current or settings.BILLING_DEFAULT_CURRENCY,
            )


class ConfirmForm(forms.Form):
    """Nothing to fill in: submitting the form is the confirmation."""


# Invoices


class InvoiceDraftForm(forms.Form):
    issue_date = date_field(required=False, help_text="Leave empty to use the day the invoice is issued.")
    due_date = date_field(required=False, help_text="Leave empty for the space's default payment term.")
    memo = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def draft_kwargs(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("issue_date", "due_date", "memo")}


class InvoiceDraftCreateForm(InvoiceDraftForm):
    member = member_field(Invoice)
    currency = forms.ChoiceField(required=False, help_text="Leave empty for the member's default currency.")

    field_order = ["member", "currency", "issue_date", "due_date", "memo"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [("", "Member's default currency"), *currency_choices()]

    def invoice_currency(self) -> str | None:
        """The currency the lines are typed in, once the form is valid."""
        if not self.is_valid():
            return None
        return self.cleaned_data["currency"] or self.cleaned_data["member"].default_currency

    def draft_kwargs(self) -> dict:
        return {**super().draft_kwargs(), "member": self.cleaned_data["member"], "currency": self.invoice_currency()}


class InvoiceLineForm(forms.Form):
    description = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 40}))
    quantity = PlainDecimalField(
        initial=1, min_value=Decimal("0.001"), max_value=MAX_QUANTITY, max_digits=12, decimal_places=3
    )
    unit_amount = MoneyAmountField(allow_zero=True)
    tax_rate = PlainDecimalField(
        label="Tax rate (%)", initial=0, min_value=0, max_value=100, max_digits=5, decimal_places=2
    )

    def __init__(self, *args, currency: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit_amount"].currency = currency

    def line_input(self) -> LineInput:
        return LineInput(
            description=self.cleaned_data["description"],
            quantity=self.cleaned_data["quantity"],
            unit_amount=self.cleaned_data["unit_amount"],
            tax_rate=self.cleaned_data["tax_rate"],
        )


class BaseInvoiceLineFormSet(forms.BaseFormSet):
    def clean(self):
        """Negative form counts are no page's doing (Django reads them as no lines at all)."""
        super().clean()
        counts = self.management_form.cleaned_data
        if counts.get(formsets.TOTAL_FORM_COUNT, 0) < 0 or counts.get(formsets.INITIAL_FORM_COUNT, 0) < 0:
            raise ValidationError("The lines were sent incomplete: reload the page and enter them again.")

    def line_inputs(self) -> list[LineInput]:
        """The lines to keep: filled in and not marked for deletion (untouched extra rows are skipped)."""
        return [form.line_input() for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]


# At most 200 lines; a page claiming more forms is refused with no more than 200 built (Django builds up to 1,000
# more by default).
MAX_INVOICE_LINES = 200
InvoiceLineFormSet = forms.formset_factory(
    InvoiceLineForm,
    formset=BaseInvoiceLineFormSet,
    extra=3,
    can_delete=True,
    max_num=MAX_INVOICE_LINES,
    validate_max=True,
    absolute_max=MAX_INVOICE_LINES,
)


def invoice_line_initial(invoice: Invoice) -> list[dict]:
    return [
        {
            "description": line.description,
            "quantity": quantity_initial(line.quantity),
            "unit_amount": amount_initial(line.unit_amount),
            "tax_rate": line.tax_rate,
        }
        for line in invoice.lines.all()
    ]


class InvoiceDetailsForm(forms.Form):
    """What may change on an issued invoice."""

    due_date = date_field()
    memo = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


# Payments


class ExternalPaymentForm(forms.Form):
    amount = MoneyAmountField()
    kind = forms.ChoiceField(label="Received as", choices=ExternalKind.choices)
    reference = forms.CharField(
        required=False, max_length=200, help_text="Check number, transfer id or receipt number."
    )
    # Bounded by the service's rule (`received_on_check`: not in the future, not before
    # BILLING_EARLIEST_RECEIVED_DATE), which says which bound a date broke.
    received_on = forms.DateField(label="Date received", initial=timezone.localdate, widget=AdminDateWidget)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))

    def __init__(self, *args, currency: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency

    def payment_kwargs(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("amount", "kind", "reference", "received_on", "note")}


class StandalonePaymentForm(CurrencyAmountMixin, ExternalPaymentForm):
    member = member_field(Payment)
    currency = forms.ChoiceField()

    field_order = ["member", "amount", "currency", "kind", "reference", "received_on", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = currency_choices(self.initial.get("currency", ""))

    def payment_kwargs(self) -> dict:
        return {**super().payment_kwargs(), "member": self.cleaned_data["member"]}


class ApplyPaymentsForm(forms.Form):
    """One optional amount per payment with unallocated money; at least one must be filled in."""

    def __init__(self, *args, payments: list[Payment], currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.payments = payments
        for payment in payments:
            self.fields[self.field_name(payment)] = MoneyAmountField(
                currency=currency, required=False, label=str(payment)
            )

    @staticmethod
    def field_name(payment: Payment) -> str:
        return f"amount_{payment.pk}"

    def rows(self) -> list[tuple[Payment, forms.BoundField]]:
        return [(payment, self[self.field_name(payment)]) for payment in self.payments]

    def clean(self):
        cleaned_data = super().clean()
        if not self.errors and not any(cleaned_data.get(self.field_name(payment)) for payment in self.payments):
            raise ValidationError("Enter an amount for at least one payment.")
        return cleaned_data

    def applications(self) -> list[tuple[Payment, Money]]:
        return [
            (payment, self.cleaned_data[self.field_name(payment)])
            for payment in self.payments
            if self.cleaned_data.get(self.field_name(payment))
        ]


class PaymentApplyForm(forms.Form):
    """Apply a payment's unallocated money to one of the member's invoices."""

    invoice = ObjectChoiceField(queryset=Invoice.objects.none(), empty_label=None)
    amount = MoneyAmountField()

    def __init__(self, *args, invoices, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invoice"].queryset = invoices
        self.fields["invoice"].label_from_instance = lambda invoice: (
            f"{invoice} (due {invoice.due_date:%Y-%m-%d}, {invoice.amount_remaining} remaining)"
        )
        self.fields["amount"].currency = currency


class PaymentVoidForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="For example: the check bounced, or the payment was entered by mistake.",
    )


class CreditNoteVoidForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="For example: issued on the wrong invoice, or for the wrong amount.",
    )


# Refunds and credit notes

PREVIEW_JS = "payments/preview.js"


def preview_initial(form_class: type[forms.Form], data, **kwargs) -> forms.Form:
    """An unbound form showing what was typed, for a Preview: it is not validated, so nothing is flagged as an error
    before the person asks for the real thing."""
    return form_class(initial={key: data.get(key) for key in data if key != "csrfmiddlewaretoken"}, **kwargs)


class RefundForm(forms.Form):
    """How much of a payment to refund, why, and (when it takes allocated money) what happens to the invoices."""

    amount = MoneyAmountField()
    reason = forms.ChoiceField(
        choices=[
            ("", "Choose a reason"),
            *((value, label) for value, label in Refund.Reason.choices if value != Refund.Reason.CREDIT_NOTE),
        ]
    )
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Optional; kept with the refund and in the payment's activity.",
    )
    invoice_handling = forms.ChoiceField(
        label="The invoices",
        required=False,
        widget=AdminRadioSelect(attrs={"class": "radiolist"}),
        choices=[
            (Refund.InvoiceHandling.REOPEN, "Reopen the invoice balance: the invoices ask for the money again"),
            (
                Refund.InvoiceHandling.CREDIT_NOTE,
                "Reduce the invoice with a credit note settled by this refund: the invoices stay paid",
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


SPLIT_FIELDS = ("refund_amount", "credit_amount", "out_of_band_amount")


class CreditNoteForm(forms.Form):
    """A credit note: an amount, or an amount per invoice line (one field per line, with what is left to credit on
    it); a reason and a memo; and how the part that was already paid is settled (refund, credit, out of band)."""

    amount = MoneyAmountField(required=False, help_text="Or leave it empty and enter an amount per line below.")
    reason = forms.ChoiceField(choices=[("", "Choose a reason"), *CreditNoteReason.choices])
    memo = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Printed on the credit note, for the member.",
    )
    refund_amount = MoneyAmountField(
        label="Refund",
        required=False,
        allow_zero=True,
        help_text="Refunded from the invoice's payments, newest first (to the card for card payments).",
    )
    credit_amount = MoneyAmountField(
        label="Member credit",
        required=False,
        allow_zero=True,
        help_text="Kept for the member: unallocated on its payment (or back to the money balance), usable on later "
        "invoices and refundable.",
    )
    out_of_band_amount = MoneyAmountField(
        label="Returned outside the system",
        required=False,
        allow_zero=True,
        help_text="Money already given back another way (cash from the till, a transfer); recorded as a refund.",
    )

    class Media:
        js = [PREVIEW_JS]

    def __init__(self, *args, currency: str, lines: list[tuple[InvoiceLine, Money]], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for name in ("amount", *SPLIT_FIELDS):
            self.fields[name].currency = currency
        line_fields = {}
        for invoice_line, creditable in lines:
            field = MoneyAmountField(
                currency=currency,
                required=False,
                allow_zero=True,
                label=invoice_line.description,
                help_text=f"{creditable} left to credit (amount {invoice_line.amount} + tax {invoice_line.tax}).",
            )
            if creditable.amount <= 0:
                field.disabled = True
                field.help_text = "Credited in full already."
            line_fields[self.line_field_name(invoice_line)] = field
        self.fields = {
            "amount": self.fields["amount"],
            **line_fields,
            **{name: self.fields[name] for name in ("reason", "memo", *SPLIT_FIELDS)},
        }

    @staticmethod
    def line_field_name(invoice_line: InvoiceLine) -> str:
        return f"line_{invoice_line.pk}"

    @property
    def line_field_names(self) -> list[str]:
        return [self.line_field_name(invoice_line) for invoice_line, _ in self.lines]

    def clean(self):
        cleaned_data = super().clean()
        if any(self.has_error(name) for name in ("amount", *self.line_field_names)):
            return cleaned_data
        has_lines = any(cleaned_data.get(name) for name in self.line_field_names)
        if cleaned_data.get("amount") and has_lines:
            raise ValidationError(
                "Enter the amount of the credit note, or an amount per line, not both.", code="amount_and_lines"
            )
        if not cleaned_data.get("amount") and not has_lines:
            raise ValidationError("Enter the amount of the credit note, or an amount per line.", code="no_amount")
        return cleaned_data

    def line_amounts(self) -> dict[int, Money]:
        return {
            invoice_line.pk: self.cleaned_data[self.line_field_name(invoice_line)]
            for invoice_line, _ in self.lines
            if self.cleaned_data.get(self.line_field_name(invoice_line))
        }

    def issue_kwargs(self) -> dict:
        kwargs = {key: self.cleaned_data[key] for key in ("reason", "memo", *SPLIT_FIELDS)}
        if self.cleaned_data.get("amount"):
            return {**kwargs, "amount": self.cleaned_data["amount"]}
        return {**kwargs, "line_amounts": self.line_amounts()}


# Card payments


class CardChoiceForm(forms.Form):
    """One of the member's saved cards (the view passes them, and which one starts selected)."""

    payment_method = ObjectChoiceField(
        label="Card",
        queryset=PaymentMethod.objects.none(),
        empty_label=None,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a card.", "invalid_choice": "Choose one of the member's saved cards."},
    )

    def __init__(self, *args, payment_methods, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["payment_method"]
        field.queryset = payment_methods
        field.label_from_instance = lambda card: f"{card} (default)" if card.is_default else str(card)


class CardChargeForm(CardChoiceForm):
    """Charge a saved card: how much, and which card."""

    amount = MoneyAmountField()

    field_order = ["amount", "payment_method"]

    def __init__(self, *args, currency: str, amount_help: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency
        self.fields["amount"].help_text = amount_help

    def charge_kwargs(self) -> dict:
        return {"amount": self.cleaned_data["amount"], "payment_method": self.cleaned_data["payment_method"]}


class PaymentCancelForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Optional; kept in the payment's activity. For example: the member paid by transfer instead.",
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
        return f"refused when saved ({test_card.attach_decline[1].rstrip('.')})"
    return {
        SandboxCard.Behaviour.SUCCEEDS: "saved, charges succeed",
        SandboxCard.Behaviour.CHARGE_DECLINED: "saved, every charge is declined",
        SandboxCard.Behaviour.AUTHENTICATION_REQUIRED: "saved, charges need the member's authentication",
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
    return format_html(
        "The sandbox gateway accepts only Stripe's test card numbers. The number goes to the gateway and is never "
        "stored: only the brand, the last 4 digits and the expiry are kept.<ul>{}</ul>",
        rows,
    )


class CardAddForm(forms.Form):
    """Save a card for a member. With the sandbox gateway, a test card number (and an optional expiry); with
    Stripe, the id of a PaymentMethod that Stripe collected (staff never type card numbers into our pages)."""

    make_default = forms.BooleanField(required=False, label="Make it the default card")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stripe = settings.PAYMENT_GATEWAY == "stripe"
        fields = {}
        if self.stripe:
            fields["payment_method_id"] = forms.CharField(
                label="Stripe PaymentMethod id",
                max_length=255,
                widget=forms.TextInput(attrs={"autocomplete": "off", "size": 40, "placeholder": "pm_..."}),
                help_text="The id (pm_...) of a card that Stripe collected, for example through the member "
                "portal's card form or the Stripe dashboard.",
            )
        else:
            this_year = timezone.localdate().year
            fields["card_number"] = forms.CharField(
                label="Test card number", max_length=40, widget=CardNumberInput(), help_text=sandbox_test_cards_help()
            )
            fields["exp_month"] = forms.IntegerField(
                label="Expiry month", required=False, min_value=1, max_value=12, help_text="Optional (1 to 12)."
            )
            fields["exp_year"] = forms.IntegerField(
                label="Expiry year",
                required=False,
                min_value=this_year,
                max_value=this_year + 30,
                help_text=f"Optional, with the month; without them the sandbox uses 12/{this_year + 3}.",
            )
        self.fields = {**fields, "make_default": self.fields["make_default"]}

    def clean_payment_method_id(self):
        value = self.cleaned_data["payment_method_id"].strip()
        if not value.startswith("pm_"):
            raise ValidationError("Enter a Stripe PaymentMethod id: it starts with “pm_”.", code="invalid")
        return value

    def clean(self):
        cleaned_data = super().clean()
        expiry_given = {name: cleaned_data.get(name) is not None for name in ("exp_month", "exp_year")}
        expiry_valid = not self.has_error("exp_month") and not self.has_error("exp_year")
        if not self.stripe and expiry_valid and len(set(expiry_given.values())) == 2:
            raise ValidationError("Enter both the expiry month and year, or neither.", code="expiry_incomplete")
        return cleaned_data

    def card_token(self) -> str:
        """What the gateway is given: a PaymentMethod id (Stripe) or "number|MM|YYYY" (the sandbox)."""
        if self.stripe:
            return self.cleaned_data["payment_method_id"]
        number = self.cleaned_data["card_number"].replace(" ", "").replace("-", "")
        if self.cleaned_data.get("exp_month") is None:
            return number
        return f"{number}|{self.cleaned_data['exp_month']:02d}|{self.cleaned_data['exp_year']}"


# Money balance


class MoneyBalanceApplyForm(forms.Form):
    amount = MoneyAmountField()

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency


class MoneyBalanceAdjustForm(CurrencyAmountMixin, forms.Form):
    CREDIT = "credit"
    DEBIT = "debit"

    direction = forms.ChoiceField(
        choices=[(CREDIT, "Credit (the member gets money balance)"), (DEBIT, "Debit (take money balance back)")],
        widget=forms.RadioSelect,
        initial=CREDIT,
    )
    amount = MoneyAmountField()
    currency = forms.ChoiceField()
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), help_text="Why the balance changes; kept in the ledger."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = currency_choices(self.initial.get("currency", ""))

    def adjust_kwargs(self) -> dict:
        return {
            "amount": self.cleaned_data["amount"],
            "is_credit": self.cleaned_data["direction"] == self.CREDIT,
            "note": self.cleaned_data["note"],
        }
