"""Forms of the billing admin. They only parse and validate what a person typed; the services decide."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelect
from django.core.exceptions import ValidationError
from django.utils import timezone
from djmoney.money import Money

from billing.errors import BillingError
from billing.models import Invoice
from billing.money import minor_unit, money_parse
from billing.services.invoice_draft import MAX_QUANTITY, LineInput
from members.models import Member
from payments.models import ExternalKind, Payment


def amount_parse(text: str, currency: str, *, allow_zero: bool = False) -> Money:
    """money_parse, with its refusal turned into a form error."""
    try:
        return money_parse(text, currency, allow_zero=allow_zero)
    except BillingError as error:
        raise ValidationError(error.message, code="invalid_amount") from None


def amount_initial(value: Money) -> Decimal:
    """An amount as a person would type it: 60.00 for EUR, 1000 for JPY."""
    return value.amount.quantize(minor_unit(value.currency))


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


def member_field(model) -> forms.ModelChoiceField:
    """A member, searched by name or email (the admin's autocomplete for `model.member`)."""
    return forms.ModelChoiceField(
        queryset=Member.objects.all(), widget=AutocompleteSelect(model._meta.get_field("member"), admin.site)
    )


def date_field(**kwargs) -> forms.DateField:
    return forms.DateField(widget=AdminDateWidget, **kwargs)


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
    quantity = forms.DecimalField(
        initial=1, min_value=Decimal("0.001"), max_value=MAX_QUANTITY, max_digits=12, decimal_places=3
    )
    unit_amount = MoneyAmountField(allow_zero=True)
    tax_rate = forms.DecimalField(
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
    def line_inputs(self) -> list[LineInput]:
        """The lines to keep: filled in and not marked for deletion (untouched extra rows are skipped)."""
        return [form.line_input() for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]


InvoiceLineFormSet = forms.formset_factory(
    InvoiceLineForm, formset=BaseInvoiceLineFormSet, extra=3, can_delete=True, max_num=200, validate_max=True
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
    received_on = date_field(label="Date received", initial=timezone.localdate)
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

    invoice = forms.ModelChoiceField(queryset=Invoice.objects.none(), empty_label=None)
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
