"""The forms of the invoice and credit note pages: drafts and their lines, applying payments and money balance, credit
notes and their void, adjusting a member's money balance."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formsets
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from billing.admin.fields import (
    PREVIEW_JS,
    CurrencyAmountMixin,
    MoneyAmountField,
    PlainDecimalField,
    amount_initial,
    currency_choices,
    date_field,
    member_field,
    quantity_initial,
)
from billing.models import CreditNoteReason, Invoice, InvoiceLine
from billing.services.invoice_draft import MAX_QUANTITY, LineInput
from payments.models import Payment


class InvoiceDraftForm(forms.Form):
    issue_date = date_field(
        label=gettext_lazy("Issue date"),
        required=False,
        help_text=gettext_lazy("Leave empty to use the day the invoice is issued."),
    )
    due_date = date_field(
        label=gettext_lazy("Due date"),
        required=False,
        help_text=gettext_lazy("Leave empty for the space's default payment term."),
    )
    memo = forms.CharField(
        label=gettext_lazy("Memo"), required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )

    def draft_kwargs(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("issue_date", "due_date", "memo")}


class InvoiceDraftCreateForm(InvoiceDraftForm):
    member = member_field(Invoice)
    currency = forms.ChoiceField(
        label=gettext_lazy("Currency"),
        required=False,
        help_text=gettext_lazy("Leave empty for the member's default currency."),
    )

    field_order = ["member", "currency", "issue_date", "due_date", "memo"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [("", _("Member's default currency")), *currency_choices()]

    def invoice_currency(self) -> str | None:
        """The currency the lines are typed in, once the form is valid."""
        if not self.is_valid():
            return None
        return self.cleaned_data["currency"] or self.cleaned_data["member"].default_currency

    def draft_kwargs(self) -> dict:
        return {**super().draft_kwargs(), "member": self.cleaned_data["member"], "currency": self.invoice_currency()}


class InvoiceLineForm(forms.Form):
    description = forms.CharField(
        label=gettext_lazy("Description"), max_length=500, widget=forms.TextInput(attrs={"size": 40})
    )
    quantity = PlainDecimalField(
        label=gettext_lazy("Quantity"),
        initial=1,
        min_value=Decimal("0.001"),
        max_value=MAX_QUANTITY,
        max_digits=12,
        decimal_places=3,
    )
    unit_amount = MoneyAmountField(label=gettext_lazy("Unit amount"), allow_zero=True)
    tax_rate = PlainDecimalField(
        label=gettext_lazy("Tax rate (%)"), initial=0, min_value=0, max_value=100, max_digits=5, decimal_places=2
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
            raise ValidationError(_("The lines were sent incomplete: reload the page and enter them again."))

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

    due_date = date_field(label=gettext_lazy("Due date"))
    memo = forms.CharField(
        label=gettext_lazy("Memo"), required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )


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
            raise ValidationError(_("Enter an amount for at least one payment."))
        return cleaned_data

    def applications(self) -> list[tuple[Payment, Money]]:
        return [
            (payment, self.cleaned_data[self.field_name(payment)])
            for payment in self.payments
            if self.cleaned_data.get(self.field_name(payment))
        ]


class CreditNoteVoidForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy("For example: issued on the wrong invoice, or for the wrong amount."),
    )


SPLIT_FIELDS = ("refund_amount", "credit_amount", "out_of_band_amount")


class CreditNoteForm(forms.Form):
    """A credit note: an amount, or an amount per invoice line (one field per line, with what is left to credit on
    it); a reason and a memo; and how the part that was already paid is settled (refund, credit, out of band)."""

    amount = MoneyAmountField(
        label=gettext_lazy("Amount"),
        required=False,
        help_text=gettext_lazy("Or leave it empty and enter an amount per line below."),
    )
    reason = forms.ChoiceField(
        label=gettext_lazy("Reason"), choices=[("", gettext_lazy("Choose a reason")), *CreditNoteReason.choices]
    )
    memo = forms.CharField(
        label=gettext_lazy("Memo"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy("Printed on the credit note, for the member."),
    )
    refund_amount = MoneyAmountField(
        label=gettext_lazy("Refund"),
        required=False,
        allow_zero=True,
        help_text=gettext_lazy("Refunded from the invoice's payments, newest first (to the card for card payments)."),
    )
    credit_amount = MoneyAmountField(
        label=gettext_lazy("Member credit"),
        required=False,
        allow_zero=True,
        help_text=gettext_lazy(
            "Kept for the member: unallocated on its payment (or back to the money balance), usable on later "
            "invoices and refundable."
        ),
    )
    out_of_band_amount = MoneyAmountField(
        label=gettext_lazy("Returned outside the system"),
        required=False,
        allow_zero=True,
        help_text=gettext_lazy(
            "Money already given back another way (cash from the till, a transfer); recorded as a refund."
        ),
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
                help_text=_("%(creditable)s left to credit (amount %(amount)s + tax %(tax)s).")
                % {"creditable": creditable, "amount": invoice_line.amount, "tax": invoice_line.tax},
            )
            if creditable.amount <= 0:
                field.disabled = True
                field.help_text = _("Credited in full already.")
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
                _("Enter the amount of the credit note, or an amount per line, not both."), code="amount_and_lines"
            )
        if not cleaned_data.get("amount") and not has_lines:
            raise ValidationError(_("Enter the amount of the credit note, or an amount per line."), code="no_amount")
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


class MoneyBalanceApplyForm(forms.Form):
    amount = MoneyAmountField(label=gettext_lazy("Amount"))

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].currency = currency


class MoneyBalanceAdjustForm(CurrencyAmountMixin, forms.Form):
    CREDIT = "credit"
    DEBIT = "debit"

    direction = forms.ChoiceField(
        label=gettext_lazy("Direction"),
        choices=[
            (CREDIT, gettext_lazy("Credit (the member gets money balance)")),
            (DEBIT, gettext_lazy("Debit (take money balance back)")),
        ],
        widget=forms.RadioSelect,
        initial=CREDIT,
    )
    amount = MoneyAmountField(label=gettext_lazy("Amount"))
    currency = forms.ChoiceField(label=gettext_lazy("Currency"))
    note = forms.CharField(
        label=gettext_lazy("Note"),
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy("Why the balance changes; kept in the ledger."),
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
