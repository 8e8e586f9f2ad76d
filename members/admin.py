"""The member admin: a normal edit form, with the member's saved cards, invoices, payments, credit and balance
ledger below it; the Adjust balance page; adding, choosing the default of and removing saved cards."""

from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import Case, DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from djmoney.money import Money

from billing.admin.base import (
    ADJUST_MONEY_BALANCE,
    ALLOCATE_PAYMENT,
    CONFIRM_TEMPLATE,
    MANAGE_PAYMENT_METHODS,
    RECORD_EXTERNAL_PAYMENT,
    BillingAdminMixin,
)
from billing.admin.fields import ConfirmForm, currency_choices
from billing.admin.forms import MoneyBalanceAdjustForm
from billing.admin.invoices import status_badge
from billing.admin.lists import currency_filter
from billing.admin.search import WordSearchMixin, has_digit, is_last_four, text_contains
from billing.admin.totals import NO_AMOUNT
from billing.models import Invoice, MoneyBalanceEntry
from billing.money import DECIMAL_PLACES, MAX_DIGITS, money_from_db
from billing.selectors import member_balance_entries, member_invoices, member_money_balances
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.admin.forms import CardAddForm
from payments.admin.payments import allocate_page, payment_shown_status
from payments.models import Payment, PaymentMethod, PaymentStatus, payment_method_being_charged
from payments.selectors import (
    member_invoices_payable,
    member_payment_methods,
    member_payments,
    member_payments_with_credit,
    member_payments_with_unallocated,
    member_unallocated_by_currency,
)
from payments.services.payment_method import payment_method_add, payment_method_remove, payment_method_set_default


class MemberAdminForm(forms.ModelForm):
    """The member page's form: the default currency is one the space bills in (BILLING_CURRENCIES), or the one the
    member has already."""

    class Meta:
        model = Member
        fields = ["name", "kind", "email", "billing_address", "default_currency", "language", "user"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "default_currency" in self.fields:
            current = self.instance.default_currency if self.instance.pk else ""
            self.fields["default_currency"] = forms.ChoiceField(
                label=self.fields["default_currency"].label,
                choices=currency_choices(current),
                initial=current or settings.BILLING_DEFAULT_CURRENCY,
            )


# Each section shows the newest rows; the full lists are one click away in the filtered changelists.
SECTION_ROWS = 50


@dataclass(frozen=True)
class MemberCredit:
    """The member's credit in one currency: unallocated payment money (with the payments that hold it) and the
    money balance. Both are applied to later invoices; unallocated payments can also be refunded."""

    currency: str
    unallocated: Money | None
    balance: Money | None
    payments: list[Payment] = field(default_factory=list)
    allocate_url: str | None = None  # the Allocate page, when there is money to allocate to open invoices


def members_with_amounts(queryset: QuerySet[Member]) -> QuerySet[Member]:
    """Annotate, for each currency the space bills in, what the member owes (`outstanding_<CUR>`: what remains on
    their open and uncollectible invoices) and their credit (`credit_<CUR>`: unallocated money on their received
    payments plus their money balance), each a subquery on an indexed foreign key (no query per row); and
    `outstanding_sort`, what they owe in their default currency, to sort by."""
    annotations = {}
    for currency in settings.BILLING_CURRENCIES:
        annotations[f"outstanding_{currency}"] = member_sum(
            Invoice.objects.filter(currency=currency).accepting_payment(), "amount_remaining"
        )
        annotations[f"credit_{currency}"] = member_sum(
            Payment.objects.filter(currency=currency, status=PaymentStatus.SUCCEEDED, amount_unallocated__gt=0),
            "amount_unallocated",
        ) + member_sum(MoneyBalanceEntry.objects.filter(amount_currency=currency), "amount")
    return queryset.annotate(**annotations).annotate(
        outstanding_sort=Case(
            *(
                When(default_currency=currency, then=F(f"outstanding_{currency}"))
                for currency in settings.BILLING_CURRENCIES
            ),
            default=Value(Decimal(0)),
            output_field=DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES),
        )
    )


def member_sum(rows: QuerySet, field: str) -> Coalesce:
    """The sum of `field` over the `rows` of the outer query's member (zero when there are none), as a subquery."""
    total = rows.filter(member=OuterRef("pk")).order_by().values("member").annotate(total=Sum(field)).values("total")
    return Coalesce(
        Subquery(total, output_field=DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)),
        Value(Decimal(0)),
    )


def member_amounts(member: Member, prefix: str) -> list[Money]:
    """The member's non-zero annotated amounts named `<prefix>_<CUR>`, their default currency first."""
    currencies = sorted(settings.BILLING_CURRENCIES, key=lambda currency: currency != member.default_currency)
    amounts = [money_from_db(getattr(member, f"{prefix}_{currency}", None), currency) for currency in currencies]
    return [amount for amount in amounts if amount.amount]


def amounts_html(amounts: list[Money]) -> str:
    if not amounts:
        return NO_AMOUNT
    return format_html_join(mark_safe("<br>"), "{}", ((amount,) for amount in amounts))


def member_search(word: str) -> Q:
    """A member matches a word of the search by name or email (accents and case aside), or, for a word with a
    digit, by the number or reference of one of their invoices or payments, or a saved card's last 4 digits."""
    matches = text_contains(["name", "email"], word)
    if has_digit(word):
        matches |= Exists(Invoice.objects.filter(text_contains(["number"], word), member=OuterRef("pk"))) | Exists(
            Payment.objects.filter(text_contains(["number", "reference"], word), member=OuterRef("pk"))
        )
    if is_last_four(word):
        matches |= Exists(PaymentMethod.objects.filter(member=OuterRef("pk"), last4=word))
    return matches


@admin.register(Member)
class MemberAdmin(WordSearchMixin, BillingAdminMixin, admin.ModelAdmin):
    form = MemberAdminForm
    list_display = ("name", "kind", "email", "currency", "outstanding", "credit")
    list_filter = ("kind", currency_filter("default_currency", gettext_lazy("default currency")))
    search_fields = ("name", "email")
    search_help_text = gettext_lazy(
        "Name, email, an invoice or payment number or reference, or a card's last 4 digits."
    )
    word_search = staticmethod(member_search)
    fields = ("name", "kind", "email", "billing_address", "default_currency", "language", "user", "gateway_customer_id")
    readonly_fields = ("gateway_customer_id",)
    raw_id_fields = ("user",)

    @admin.display(description=gettext_lazy("Currency"), ordering="default_currency")
    def currency(self, member: Member) -> str:
        return member.default_currency

    @admin.display(description=gettext_lazy("Outstanding"), ordering="outstanding_sort")
    def outstanding(self, member: Member) -> str:
        """What remains to pay on their open and uncollectible invoices, per currency."""
        return amounts_html(member_amounts(member, "outstanding"))

    @admin.display(description=gettext_lazy("Credit"))
    def credit(self, member: Member) -> str:
        """Their unallocated payment money and money balance, per currency."""
        return amounts_html(member_amounts(member, "credit"))

    def get_queryset(self, request):
        return members_with_amounts(super().get_queryset(request))

    def get_urls(self):
        return [
            self.view_path("<path:object_id>/adjust-balance/", self.adjust_balance_view, "adjust_balance"),
            self.view_path("<path:object_id>/allocate/", self.allocate_view, "allocate"),
            # The typed card number never shows in an error report either.
            self.view_path(
                "<path:object_id>/cards/add/",
                sensitive_post_parameters("card_number")(self.card_add_view),
                "card_add",
            ),
            self.view_path(
                "<path:object_id>/cards/<int:payment_method_id>/set-default/",
                self.card_set_default_view,
                "card_set_default",
                post_only=True,
            ),
            self.view_path(
                "<path:object_id>/cards/<int:payment_method_id>/remove/", self.card_remove_view, "card_remove"
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.member_sections(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def member_sections(self, request, member: Member) -> dict:
        site = self.admin_site.name
        invoices = [(invoice, status_badge(invoice)) for invoice in member_invoices(member=member)[:SECTION_ROWS]]
        balances = member_money_balances(member=member)
        unallocated = member_unallocated_by_currency(member=member)
        credit_payments: dict[str, list[Payment]] = {}
        for payment in member_payments_with_credit(member=member):
            credit_payments.setdefault(payment.currency, []).append(payment)
        payments = list(member_payments(member=member)[:SECTION_ROWS])
        for payment in payments:
            payment.shown_status_label = payment_shown_status(payment)[1]
        can_manage_cards = request.user.has_perm(MANAGE_PAYMENT_METHODS)
        return {
            "member_cards": member_payment_methods(member=member),
            "can_manage_cards": can_manage_cards,
            "card_add_url": self.url_for("card_add", member.pk) if can_manage_cards else None,
            "member_invoices": invoices,
            "member_payments": payments,
            "member_credit": [
                MemberCredit(
                    currency,
                    unallocated.get(currency),
                    balances.get(currency),
                    credit_payments.get(currency, []),
                    allocate_url=f"{self.url_for('allocate', member.pk)}?currency={currency}"
                    if currency in unallocated
                    and request.user.has_perm(ALLOCATE_PAYMENT)
                    and member_invoices_payable(member=member, currency=currency).exists()
                    else None,
                )
                for currency in sorted({*balances, *unallocated})
            ],
            "balance_entries": member_balance_entries(member=member)[:SECTION_ROWS],
            "section_rows": SECTION_ROWS,
            "invoices_url": f"{reverse(f'{site}:billing_invoice_changelist')}?member__id__exact={member.pk}",
            "payments_url": f"{reverse(f'{site}:payments_payment_changelist')}?member__id={member.pk}",
            "entries_url": f"{reverse(f'{site}:billing_moneybalanceentry_changelist')}?member__id__exact={member.pk}",
            "new_invoice_url": f"{reverse(f'{site}:billing_invoice_add')}?member={member.pk}"
            if request.user.has_perm("billing.add_invoice")
            else None,
            "standalone_url": f"{reverse(f'{site}:payments_payment_record_standalone')}?member={member.pk}"
            if request.user.has_perm(RECORD_EXTERNAL_PAYMENT)
            else None,
            "adjust_balance_url": self.url_for("adjust_balance", member.pk)
            if request.user.has_perm(ADJUST_MONEY_BALANCE)
            else None,
        }

    def adjust_balance_view(self, request, object_id):
        member = self.object_get(request, object_id)
        form = MoneyBalanceAdjustForm(self.form_data(request), initial={"currency": member.default_currency})
        return self.form_page(
            request,
            obj=member,
            permission=ADJUST_MONEY_BALANCE,
            form=form,
            call=lambda: money_balance_adjust(member=member, actor=self.actor(request), **form.adjust_kwargs()),
            success=lambda entry: (
                (
                    _("Credited %(amount)s to %(member)s's money balance.")
                    if entry.amount.amount > 0
                    else _("Debited %(amount)s from %(member)s's money balance.")
                )
                % {"amount": abs(entry.amount), "member": member}
            ),
            success_url=self.url_for("change", member.pk),
            title=_("Adjust %(member)s's money balance") % {"member": member},
            submit_label=_("Record adjustment"),
            cancel_url=self.url_for("change", member.pk),
            intro=_(
                "A credit gives the member money balance (goodwill, a correction); a debit takes it back. It is applied "
                "to their invoices like a payment, and every entry is kept in the ledger."
            ),
        )

    def allocate_view(self, request, object_id):
        """Allocate the member's unallocated payments in one currency (`?currency=`, the member's own by default) to
        their open invoices, oldest payment first."""
        member = self.object_get(request, object_id)
        currency = request.GET.get("currency") or member.default_currency
        if currency not in settings.CURRENCIES:
            currency = member.default_currency
        back = self.url_for("change", member.pk)
        return allocate_page(
            self,
            request,
            obj=member,
            member=member,
            currency=currency,
            payments=list(member_payments_with_unallocated(member=member, currency=currency)),
            back_url=back,
            title=_("Allocate %(member)s's unallocated payments in %(currency)s")
            % {"member": member, "currency": currency},
        )

    # Saved cards

    def member_card_get(self, member: Member, payment_method_id: int) -> PaymentMethod:
        return get_object_or_404(PaymentMethod, pk=payment_method_id, member=member)

    def card_add_view(self, request, object_id):
        member = self.object_get(request, object_id)
        form = CardAddForm(self.form_data(request))
        if form.stripe:
            intro = _(
                "Stripe keeps the card; we keep its PaymentMethod id, brand, last 4 digits and expiry. Card numbers are "
                "collected by Stripe's own form, never typed here."
            )
        else:
            intro = _("The sandbox gateway stands in for Stripe: it saves test cards only.")
        intro += " " + _("Any failed card payment of %(member)s is retried with the new card at once.") % {
            "member": member
        }
        return self.form_page(
            request,
            obj=member,
            permission=MANAGE_PAYMENT_METHODS,
            form=form,
            call=lambda: payment_method_add(
                member=member,
                card_token=form.card_token(),
                actor=self.actor(request),
                make_default=form.cleaned_data["make_default"],
            ),
            success=lambda card: (
                (
                    _("%(card)s saved for %(member)s as the default card.")
                    if card.is_default
                    else _("%(card)s saved for %(member)s.")
                )
                % {"card": card, "member": member}
            ),
            success_url=self.url_for("change", member.pk),
            title=_("Add a card for %(member)s") % {"member": member},
            submit_label=_("Save card"),
            cancel_url=self.url_for("change", member.pk),
            intro=intro,
        )

    def card_set_default_view(self, request, object_id, payment_method_id):
        member = self.object_get(request, object_id)
        card = self.member_card_get(member, payment_method_id)
        return self.action_post(
            request,
            permission=MANAGE_PAYMENT_METHODS,
            call=lambda: payment_method_set_default(payment_method=card, actor=self.actor(request)),
            success=lambda chosen: _("%(card)s is now %(member)s's default card.") % {"card": chosen, "member": member},
            redirect_url=self.url_for("change", member.pk),
        )

    def card_remove_view(self, request, object_id, payment_method_id):
        member = self.object_get(request, object_id)
        card = self.member_card_get(member, payment_method_id)
        consequences = [
            _(
                "%(card)s is detached at the gateway and can no longer be charged. It stays listed, as removed, for "
                "the history of its payments. This cannot be undone: to use the card again, add it again."
            )
            % {"card": card}
        ]
        if card.is_default and card.is_active:
            successor = (
                member_payment_methods(member=member).filter(removed_at__isnull=True).exclude(pk=card.pk).first()
            )
            consequences.append(
                _("%(card)s becomes the default card.") % {"card": successor}
                if successor
                else _("%(member)s will have no saved card left.") % {"member": member}
            )
        if payment_method_being_charged(card):
            consequences.append(_("It is being charged right now: it can be removed once the gateway has answered."))
        return self.form_page(
            request,
            obj=member,
            permission=MANAGE_PAYMENT_METHODS,
            form=ConfirmForm(self.form_data(request)),
            call=lambda: payment_method_remove(payment_method=card, actor=self.actor(request)),
            success=lambda removed: (
                _("%(card)s removed from %(member)s's saved cards.") % {"card": removed, "member": member}
            ),
            success_url=self.url_for("change", member.pk),
            title=_("Remove %(card)s?") % {"card": card},
            submit_label=_("Yes, remove the card"),
            cancel_url=self.url_for("change", member.pk),
            template=CONFIRM_TEMPLATE,
            consequences=consequences,
        )
