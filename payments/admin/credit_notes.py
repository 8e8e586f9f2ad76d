"""Credit notes in the admin: a list, and a read-only page for each. They are issued from the invoice page (Issue
credit note) or by a refund that reduces an invoice, always through a service; never added, edited or deleted."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from billing.models import CreditNote
from billing.selectors import target_activities
from payments.admin.base import ObjectAction, ReadOnlyAdmin
from payments.documents import credit_note_pdf, pdf_response
from payments.selectors import credit_note_allocation_takes, credit_note_refunds


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ("number", "invoice", "member", "amount", "reason", "created_at")
    list_filter = ("reason", "currency", "created_at")
    search_fields = ("number", "invoice__number", "invoice__member__name")
    list_select_related = ("invoice__member",)
    date_hierarchy = "created_at"

    @admin.display(description="Member", ordering="invoice__member__name")
    def member(self, credit_note: CreditNote):
        return credit_note.invoice.member

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        credit_note = self.object_get(request, object_id)
        context = self.page_context(
            request,
            obj=credit_note,
            title=str(credit_note),
            invoice=credit_note.invoice,
            lines=credit_note.lines.select_related("invoice_line"),
            takes=credit_note_allocation_takes(credit_note=credit_note),
            refunds=credit_note_refunds(credit_note=credit_note),
            activities=target_activities(target=credit_note),
            download=ObjectAction("Download PDF", self.url_for("pdf", credit_note.pk)),
        )
        return TemplateResponse(request, "admin/billing/creditnote/credit_note_page.html", context)

    def get_urls(self):
        return [self.view_path("<path:object_id>/pdf/", self.pdf_view, "pdf"), *super().get_urls()]

    def pdf_view(self, request, object_id):
        credit_note = self.object_get(request, object_id)
        return pdf_response(credit_note_pdf(credit_note), filename=f"{credit_note.number}.pdf")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice__member")
