"""The fields and small forms every admin page shares. They only parse and validate what a person typed; the
services decide.

Every field answers any input with a form error, never a server error: ids that are no database integer, special
decimals (NaN, infinity), exponents and dates outside the years a space bills in are refused here.
"""

import datetime
import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelect
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from billing.errors import BillingError
from billing.money import amount_as_typed, money_parse
from members.models import Member


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
        label=gettext_lazy("Member"),
        queryset=Member.objects.all(),
        widget=ObjectAutocompleteSelect(model._meta.get_field("member"), admin.site),
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
                _("Enter a date from %(earliest)s to %(latest)s."),
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


class ConfirmForm(forms.Form):
    """Nothing to fill in: submitting the form is the confirmation."""


CONFIRM_FIRST = gettext_lazy("Nothing was done yet: check what will happen below, then confirm.")


class ConfirmedForm(forms.Form):
    """The form of a confirmation page for what used to be a one-click button: its hidden `confirmed` field says the
    page was seen. A POST without it (the button of a page loaded before, a crafted request) acts on nothing and is
    answered with the confirmation page."""

    confirmed = forms.BooleanField(widget=forms.HiddenInput, initial=True, required=False)

    def clean(self):
        cleaned_data = super().clean()
        if not cleaned_data.get("confirmed"):
            raise ValidationError(CONFIRM_FIRST, code="not_confirmed")
        return cleaned_data


PREVIEW_JS = "payments/preview.js"


def preview_initial(form_class: type[forms.Form], data, **kwargs) -> forms.Form:
    """An unbound form showing what was typed, for a Preview: it is not validated, so nothing is flagged as an error
    before the person asks for the real thing."""
    return form_class(initial={key: data.get(key) for key in data if key != "csrfmiddlewaretoken"}, **kwargs)
