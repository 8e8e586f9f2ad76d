"""The forms of the bank pages: upload a statement, match a transaction by hand, ignore it, undo it. They parse
and validate what a person typed; the services decide."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bank.matching import open_invoices
from bank.models import BankTransaction, CsvMapping, StatementFormat
from bank.statements import MAX_FILE_BYTES
from billing.admin.fields import MoneyAmountField, ObjectChoiceField, amount_initial, member_field

GUESS = ""


class StatementUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Statement file"))
    file_format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        required=False,
        choices=[
            (GUESS, gettext_lazy("Recognise it (XML: CAMT.053; :61: lines: MT940; else CSV)")),
            *StatementFormat.choices,
        ],
    )
    mapping = ObjectChoiceField(
        label=gettext_lazy("CSV column mapping"),
        queryset=CsvMapping.objects.order_by("name"),
        required=False,
        help_text=gettext_lazy(
            "For CSV files: how this bank writes its columns (Bank transfers > CSV column mappings)."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        return upload


class BankTransactionMatchForm(forms.Form):
    """The member, and for each of their open invoices in the transfer's currency: whether it is paid from the
    transfer and, optionally, how much (else the money goes to the ticked invoices oldest first)."""

    member = member_field(BankTransaction)

    def __init__(self, *args, bank_transaction: BankTransaction, member=None, proposed=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.bank_transaction = bank_transaction
        self.invoices = open_invoices(member.pk, bank_transaction.currency) if member is not None else []
        proposed = proposed or {}
        if member is not None:
            self.fields["member"].initial = member.pk
        for invoice in self.invoices:
            self.fields[f"invoice_{invoice.pk}"] = forms.BooleanField(
                label=_("%(invoice)s (issued %(date)s, %(remaining)s remaining)")
                % {"invoice": invoice, "date": invoice.issue_date, "remaining": invoice.amount_remaining},
                required=False,
                initial=invoice.pk in proposed,
            )
            self.fields[f"amount_{invoice.pk}"] = MoneyAmountField(
                label=_("Amount for %(invoice)s") % {"invoice": invoice},
                currency=invoice.currency,
                required=False,
                help_text=gettext_lazy("Optional: empty, the invoices ticked get the money oldest first."),
            )
            amount = proposed.get(invoice.pk)
            if amount is not None:
                self.fields[f"amount_{invoice.pk}"].initial = amount_initial(amount)

    def clean(self):
        cleaned_data = super().clean()
        chosen = []
        for invoice in self.invoices:
            amount = cleaned_data.get(f"amount_{invoice.pk}")
            if cleaned_data.get(f"invoice_{invoice.pk}"):
                chosen.append((invoice, amount))
            elif amount is not None:
                self.add_error(f"amount_{invoice.pk}", _("Tick the invoice to pay this amount to it."))
        cleaned_data["invoices"] = chosen
        return cleaned_data


class BankTransactionIgnoreForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy("For example: bank fees, or a supplier's refund."),
    )


class BankTransactionUndoForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy("For example: matched to the wrong member. The payment is voided."),
    )
