"""The member admin: a normal edit form, with the member's invoices, payments, credit and balance ledger below
it, and the Adjust balance page."""

from django.contrib import admin
from django.urls import reverse

from billing.selectors import member_balance_entries, member_invoices, member_money_balances
from billing.services.money_balance_adjust import money_balance_adjust
from members.models import Member
from payments.admin.base import ADJUST_MONEY_BALANCE, RECORD_EXTERNAL_PAYMENT, BillingAdminMixin
from payments.admin.forms import MoneyBalanceAdjustForm
from payments.admin.invoices import status_badge
from payments.selectors import member_payments, member_unallocated_by_currency

# Each section shows the newest rows; the full lists are one click away in the filtered changelists.
SECTION_ROWS = 50


@admin.register(Member)
class MemberAdmin(BillingAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "email", "default_currency")
    list_filter = ("kind", "default_currency")
    search_fields = ("name", "email")
    fields = ("name", "kind", "email", "billing_address", "default_currency", "user", "gateway_customer_id")
    readonly_fields = ("gateway_customer_id",)
    raw_id_fields = ("user",)

    def get_urls(self):
        return [
            self.view_path("<path:object_id>/adjust-balance/", self.adjust_balance_view, "adjust_balance"),
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
        return {
            "member_invoices": invoices,
            "member_payments": member_payments(member=member)[:SECTION_ROWS],
            "member_credit": [
                (currency, unallocated.get(currency), balances.get(currency))
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
                f"{'Credited' if entry.amount.amount > 0 else 'Debited'} {abs(entry.amount)} "
                f"{'to' if entry.amount.amount > 0 else 'from'} {member}'s money balance."
            ),
            success_url=self.url_for("change", member.pk),
            title=f"Adjust {member}'s money balance",
            submit_label="Record adjustment",
            cancel_url=self.url_for("change", member.pk),
            intro="A credit gives the member money balance (goodwill, a correction); a debit takes it back. "
            "It is applied to their invoices like a payment, and every entry is kept in the ledger.",
        )
