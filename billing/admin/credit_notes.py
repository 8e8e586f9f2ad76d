"""Credit notes in the admin: a list, and a read-only page for each. They are issued from the invoice page (Issue
credit note) or by a refund that reduces an invoice, always through a service; never added, edited or deleted.
An issued credit note can be voided from its page (Void credit note, with a confirmation) where its rule allows it."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import can_proceed

from billing.admin.base import CONFIRM_TEMPLATE, ObjectAction, ReadOnlyAdmin
from billing.admin.forms import CreditNoteVoidForm
from billing.admin.lists import currency_filter
from billing.documents import credit_note_pdf, pdf_response
from billing.models import CreditNote, InvoiceStatus
from billing.rules import refusal_of
from billing.selectors import target_activities
from billing.services.credit_note_void import (
    CREDIT_NOTE_VOID_REFUSALS,
    credit_note_void,
    credit_note_void_plan,
    credit_note_void_refusal,
)
from payments.selectors import credit_note_allocation_takes, credit_note_refunds

VOID_CREDIT_NOTE = "billing.void_credit_note"


def credit_note_status_badge(credit_note: CreditNote) -> str:
    return format_html(
        '<span class="billing-badge billing-badge--{}">{}</span>', credit_note.status, credit_note.get_status_display()
    )


def credit_note_void_consequences(credit_note: CreditNote) -> list[str]:
    """What voiding the credit note does, for its confirmation page."""
    invoice = credit_note.invoice
    plan = credit_note_void_plan(credit_note)
    consequences = [
        _("%(credit_note)s (%(amount)s) becomes void and is kept for audit. This cannot be undone.")
        % {"credit_note": credit_note, "amount": credit_note.amount}
    ]
    if plan.owed_again.amount > 0:
        if invoice.status == InvoiceStatus.PAID:
            owed_again = _("%(invoice)s asks for %(amount)s again: %(remaining)s will remain, and it reopens.")
        else:
            owed_again = _("%(invoice)s asks for %(amount)s again: %(remaining)s will remain.")
        consequences.append(
            owed_again
            % {"invoice": invoice, "amount": plan.owed_again, "remaining": invoice.amount_remaining + plan.owed_again}
        )
    for payment, amount in plan.from_payments.items():
        consequences.append(
            _("%(amount)s of %(payment)s's unallocated money (the member's credit) is applied to %(invoice)s.")
            % {"amount": amount, "payment": payment, "invoice": invoice}
        )
    if plan.from_balance.amount > 0:
        consequences.append(
            _("%(amount)s of the member's money balance is applied to %(invoice)s again.")
            % {"amount": plan.from_balance, "invoice": invoice}
        )
    return consequences


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ("number", "invoice", "member", "amount", "status_badge", "reason", "created_at")
    list_filter = ("status", "reason", currency_filter("currency"), "created_at")
    search_fields = ("number", "invoice__number", "invoice__member__name")
    list_select_related = ("invoice__member",)
    date_hierarchy = "created_at"

    @admin.display(description=gettext_lazy("Member"), ordering="invoice__member__name")
    def member(self, credit_note: CreditNote):
        return credit_note.invoice.member

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_badge(self, credit_note: CreditNote):
        return credit_note_status_badge(credit_note)

    def credit_note_void_state(self, request, credit_note: CreditNote) -> tuple[list[ObjectAction], str | None]:
        """The Void credit note button, where its state machine and the user's permission (the transition's) allow
        it; else, to a user who may void credit notes, why this one cannot be voided when only the transition's
        conditions stand in the way. The conditions are asked once: their refusals name every one of them
        (`transition_refusal`), where `can_proceed` and `has_transition_perm` would each ask them again."""
        if not can_proceed(credit_note.void, check_conditions=False) or not request.user.has_perm(VOID_CREDIT_NOTE):
            return [], None
        refusal = refusal_of(credit_note, CREDIT_NOTE_VOID_REFUSALS)
        if refusal is not None:
            return [], refusal.message
        return [ObjectAction(_("Void credit note"), self.url_for("void", credit_note.pk), danger=True)], None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        credit_note = self.object_get(request, object_id)
        actions, void_refused = self.credit_note_void_state(request, credit_note)
        context = self.page_context(
            request,
            obj=credit_note,
            title=str(credit_note),
            actions=actions,
            void_refused=void_refused,
            status_badge=credit_note_status_badge(credit_note),
            invoice=credit_note.invoice,
            lines=credit_note.lines.select_related("invoice_line"),
            takes=credit_note_allocation_takes(credit_note=credit_note),
            refunds=credit_note_refunds(credit_note=credit_note),
            activities=target_activities(target=credit_note),
            download=ObjectAction(_("Download PDF"), self.url_for("pdf", credit_note.pk)),
        )
        return TemplateResponse(request, "admin/billing/creditnote/credit_note_page.html", context)

    def get_urls(self):
        return [
            self.view_path("<path:object_id>/pdf/", self.pdf_view, "pdf"),
            self.view_path("<path:object_id>/void/", self.void_view, "void"),
            *super().get_urls(),
        ]

    def void_view(self, request, object_id):
        credit_note = self.object_get(request, object_id)
        self.permission_require(request, VOID_CREDIT_NOTE)
        if request.method == "GET" and (refusal := credit_note_void_refusal(credit_note)) is not None:
            messages.error(request, refusal)
            return HttpResponseRedirect(self.url_for("change", credit_note.pk))
        form = CreditNoteVoidForm(self.form_data(request))
        return self.form_page(
            request,
            obj=credit_note,
            permission=VOID_CREDIT_NOTE,
            form=form,
            call=lambda: credit_note_void(
                credit_note=credit_note, actor=self.actor(request), reason=form.cleaned_data["reason"]
            ),
            success=lambda voided: (
                _("%(credit_note)s voided. %(invoice)s has %(remaining)s remaining.")
                % {"credit_note": voided, "invoice": voided.invoice, "remaining": voided.invoice.amount_remaining}
            ),
            success_url=self.url_for("change", credit_note.pk),
            title=_("Void %(credit_note)s?") % {"credit_note": credit_note},
            submit_label=_("Yes, void the credit note"),
            cancel_url=self.url_for("change", credit_note.pk),
            template=CONFIRM_TEMPLATE,
            consequences=credit_note_void_consequences(credit_note),
        )

    def pdf_view(self, request, object_id):
        credit_note = self.object_get(request, object_id)
        return pdf_response(credit_note_pdf(credit_note), filename=f"{credit_note.number}.pdf")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice__member")
