"""The invoice admin: list, draft editing, the invoice page and its buttons."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django_fsm import has_transition_perm

from billing.admin.base import (
    ADJUST_MONEY_BALANCE,
    ALLOCATE_PAYMENT,
    CHARGE_PAYMENT,
    CONFIRM_TEMPLATE,
    ISSUE_CREDIT_NOTE,
    ISSUE_INVOICE,
    MARK_UNCOLLECTIBLE,
    RECORD_EXTERNAL_PAYMENT,
    REFUND_PAYMENT,
    VOID_INVOICE,
    BillingAdminMixin,
    ObjectAction,
    ResultMessage,
)
from billing.admin.fields import ConfirmForm, amount_initial, preview_initial
from billing.admin.forms import (
    SPLIT_FIELDS,
    ApplyPaymentsForm,
    CreditNoteForm,
    InvoiceDetailsForm,
    InvoiceDraftCreateForm,
    InvoiceDraftForm,
    InvoiceLineFormSet,
    MoneyBalanceApplyForm,
    invoice_line_initial,
)
from billing.admin.previews import (
    CreditNotePagePreview,
    credit_note_page_preview,
    credit_note_preview_html,
    invoice_lines_creditable,
)
from billing.documents import invoice_pdf, invoice_pdf_filename, pdf_response
from billing.errors import BillingError
from billing.models import CreditNote, Invoice, InvoiceStatus, ShownStatus
from billing.money import money_parse, money_sum
from billing.selectors import invoice_activities, member_money_balance
from billing.services.credit_note_issue import credit_note_issue, invoice_creditable
from billing.services.invoice_draft import (
    invoice_details_update,
    invoice_draft_create,
    invoice_draft_delete,
    invoice_draft_update,
)
from billing.services.invoice_issue import invoice_issue
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from payments.admin.forms import CardChargeForm, CardChoiceForm, ExternalPaymentForm
from payments.admin.payments import charge_outcome_message, payment_can_refund
from payments.models import Refund, RefundStatus
from payments.selectors import (
    PAYABLE_INVOICE_STATUSES,
    ChargeAvailability,
    invoice_allocations,
    invoice_available_to_charge,
    invoice_card_payments_unsettled,
    invoice_credit_notes,
    member_active_payment_methods,
    member_payments_with_unallocated,
)
from payments.services.payment_apply import payment_apply
from payments.services.payment_card import invoice_issue_and_charge, payment_create_card
from payments.services.payment_external import payment_create_external


def status_badge(invoice: Invoice) -> str:
    return format_html(
        '<span class="billing-badge billing-badge--{}">{}</span>',
        invoice.shown_status(),
        invoice.get_shown_status_display(),
    )


def invoice_accepts_payment(invoice: Invoice) -> bool:
    return invoice.status in PAYABLE_INVOICE_STATUSES and invoice.amount_remaining.amount > 0


def invoice_accepts_credit_note(invoice: Invoice) -> bool:
    """Issued, not void, and something left to credit (the service checks it again under its locks)."""
    return invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.VOID) and invoice_creditable(invoice).amount > 0


def split_settles(data, preview: CreditNotePagePreview) -> bool:
    """Whether the split typed on the page (empty fields count as zero) settles the previewed post-payment amount."""
    currency = preview.invoice.currency
    try:
        parts = [money_parse(data.get(name) or "0", currency, allow_zero=True) for name in SPLIT_FIELDS]
    except BillingError:
        return False
    return money_sum(parts, currency) == preview.preview.post_payment_amount


def credit_note_outcome_message(credit_note: CreditNote) -> ResultMessage:
    """What the credit note did: the parts of its amount, the invoice after it, and its refunds' state (a refund to
    a card is pending until the gateway answers, which it has done already when the task ran in-process)."""
    credit_note = CreditNote.objects.select_related("invoice").get(pk=credit_note.pk)
    invoice = credit_note.invoice
    parts = [
        (credit_note.pre_payment_amount, "off what remained to pay"),
        (credit_note.refund_amount, "refunded"),
        (credit_note.credit_amount, "kept as the member's credit"),
        (credit_note.out_of_band_amount, "recorded as returned outside the system"),
    ]
    text = (
        f"{credit_note} issued on {invoice} for {credit_note.amount}: "
        + ", ".join(f"{amount} {what}" for amount, what in parts if amount.amount)
        + f". {invoice} is {invoice.get_shown_status_display().lower()} with {invoice.amount_remaining} remaining."
    )
    level = messages.SUCCESS
    refunds = list(credit_note.refunds.filter(kind=Refund.Kind.GATEWAY).select_related("payment"))
    if any(refund.status == RefundStatus.PENDING for refund in refunds):
        text += " The refund to the card is pending at the gateway."
    failed = [refund for refund in refunds if refund.status == RefundStatus.FAILED]
    if failed:
        level = messages.WARNING
        text += " " + " ".join(
            f"The refund of {refund.amount} from {refund.payment} failed at the gateway: {refund.failure_message} "
            "That money stays as the member's credit."
            for refund in failed
        )
    return ResultMessage(text, level)


class ShownStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "shown_status"

    def lookups(self, request, model_admin):
        return ShownStatus.choices

    def queryset(self, request, queryset):
        if self.value() in ShownStatus.values:
            return queryset.with_shown_status(self.value())
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(BillingAdminMixin, admin.ModelAdmin):
    list_display = ("number_display", "member", "shown_status_badge", "total", "amount_remaining", "due_date")
    list_filter = (
        ShownStatusFilter,
        ("member", admin.RelatedOnlyFieldListFilter),
        "currency",
        "issue_date",
        "due_date",
    )
    search_fields = ("number", "member__name")
    list_select_related = ("member",)
    actions = None  # No bulk delete: drafts are deleted one by one through the service.

    @admin.display(description="Number", ordering="number")
    def number_display(self, invoice: Invoice) -> str:
        return str(invoice)

    @admin.display(description="Status", ordering="status")
    def shown_status_badge(self, invoice: Invoice) -> str:
        return status_badge(invoice)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member")

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.is_draft:
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self):
        return [
            self.view_path("<path:object_id>/issue/", self.issue_view, "issue", post_only=True),
            self.view_path("<path:object_id>/issue-and-charge/", self.issue_and_charge_view, "issue_and_charge"),
            self.view_path("<path:object_id>/create-payment/", self.create_payment_view, "create_payment"),
            self.view_path("<path:object_id>/charge/", self.charge_view, "charge"),
            self.view_path("<path:object_id>/apply-payment/", self.apply_payment_view, "apply_payment"),
            self.view_path("<path:object_id>/apply-balance/", self.apply_balance_view, "apply_balance"),
            self.view_path("<path:object_id>/void/", self.void_view, "void"),
            self.view_path(
                "<path:object_id>/mark-uncollectible/",
                self.mark_uncollectible_view,
                "mark_uncollectible",
                post_only=True,
            ),
            self.view_path("<path:object_id>/credit-note/", self.credit_note_view, "credit_note"),
            self.view_path("<path:object_id>/pdf/", self.pdf_view, "pdf"),
            self.view_path(
                "<path:object_id>/credit-note/preview/", self.credit_note_preview_view, "credit_note_preview"
            ),
            *super().get_urls(),
        ]

    def invoice_actions(
        self, request: HttpRequest, invoice: Invoice, *, charge: ChargeAvailability | None = None
    ) -> list[ObjectAction]:
        """The buttons the invoice's state and the user's permissions allow (`charge`: what its card payments in
        flight reserve and what can still be charged; not needed for a draft)."""
        user = request.user
        actions = []

        def member_has_card() -> bool:
            return member_active_payment_methods(member=invoice.member).exists()

        if invoice.is_draft:
            if has_transition_perm(invoice.issue, user):
                actions.append(ObjectAction("Issue", self.url_for("issue", invoice.pk), post=True))
                if user.has_perm(CHARGE_PAYMENT) and member_has_card():
                    actions.append(ObjectAction("Issue and charge", self.url_for("issue_and_charge", invoice.pk)))
            return actions
        if invoice_accepts_payment(invoice):
            if user.has_perm(RECORD_EXTERNAL_PAYMENT):
                actions.append(ObjectAction("Create payment", self.url_for("create_payment", invoice.pk)))
            if user.has_perm(CHARGE_PAYMENT) and charge.available.amount > 0 and member_has_card():
                actions.append(ObjectAction("Charge saved card", self.url_for("charge", invoice.pk)))
            if (
                user.has_perm(ALLOCATE_PAYMENT)
                and member_payments_with_unallocated(member=invoice.member, currency=invoice.currency).exists()
            ):
                actions.append(ObjectAction("Apply existing payment", self.url_for("apply_payment", invoice.pk)))
            if (
                user.has_perm(ADJUST_MONEY_BALANCE)
                and member_money_balance(member=invoice.member, currency=invoice.currency).amount > 0
            ):
                actions.append(ObjectAction("Apply money balance", self.url_for("apply_balance", invoice.pk)))
        if invoice_accepts_credit_note(invoice) and user.has_perm(ISSUE_CREDIT_NOTE):
            actions.append(ObjectAction("Issue credit note", self.url_for("credit_note", invoice.pk)))
        nothing_in_flight = charge.reserved.amount == 0
        if nothing_in_flight and has_transition_perm(invoice.mark_uncollectible, user):
            actions.append(
                ObjectAction("Mark uncollectible", self.url_for("mark_uncollectible", invoice.pk), post=True)
            )
        if nothing_in_flight and has_transition_perm(invoice.void, user):
            actions.append(ObjectAction("Void invoice", self.url_for("void", invoice.pk), danger=True))
        return actions

    # Drafts

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = InvoiceDraftCreateForm(self.form_data(request), initial={"member": request.GET.get("member")})
        return self._draft_page(
            request,
            invoice=None,
            form=form,
            currency=form.invoice_currency() if form.is_bound else None,
            call=lambda lines: invoice_draft_create(actor=self.actor(request), lines=lines, **form.draft_kwargs()),
        )

    def _draft_change_page(self, request: HttpRequest, invoice: Invoice) -> HttpResponse:
        form = InvoiceDraftForm(
            self.form_data(request),
            initial={"issue_date": invoice.issue_date, "due_date": invoice.due_date, "memo": invoice.memo},
        )
        return self._draft_page(
            request,
            invoice=invoice,
            form=form,
            currency=invoice.currency,
            call=lambda lines: invoice_draft_update(
                invoice=invoice, actor=self.actor(request), lines=lines, **form.draft_kwargs()
            ),
        )

    def _draft_page(self, request: HttpRequest, *, invoice: Invoice | None, form, currency, call) -> HttpResponse:
        lines = InvoiceLineFormSet(
            self.form_data(request),
            prefix="lines",
            initial=invoice_line_initial(invoice) if invoice is not None else None,
            form_kwargs={"currency": currency},
        )
        if request.method == "POST" and form.is_valid() and lines.is_valid():
            done, draft = self.service_run(
                request, lambda: call(lines.line_inputs()), success=lambda draft: f"{draft} saved ({draft.total})."
            )
            if done:
                return HttpResponseRedirect(self.url_for("change", draft.pk))
        context = self.page_context(
            request,
            obj=invoice,
            title=f"Edit {invoice}" if invoice is not None else "Add a draft invoice",
            form=form,
            lines=lines,
            currency=currency,
            actions=self.invoice_actions(request, invoice) if invoice is not None else [],
            download=ObjectAction("Preview PDF", self.url_for("pdf", invoice.pk)) if invoice is not None else None,
            has_delete_permission=invoice is not None and self.has_delete_permission(request, invoice),
        )
        context["media"] += lines.media
        return TemplateResponse(request, "admin/billing/invoice/draft_form.html", context)

    def delete_view(self, request, object_id, extra_context=None):
        invoice = self.object_get(request, object_id)
        if not self.has_delete_permission(request, invoice):
            raise PermissionDenied
        return self.form_page(
            request,
            obj=invoice,
            permission=None,
            form=ConfirmForm(self.form_data(request)),
            call=lambda: invoice_draft_delete(invoice=invoice, actor=self.actor(request)),
            success=lambda _: f"{invoice} deleted.",
            success_url=self.url_for("changelist"),
            title=f"Delete {invoice}?",
            submit_label="Yes, delete the draft",
            cancel_url=self.url_for("change", invoice.pk),
            template=CONFIRM_TEMPLATE,
            consequences=[f"The draft and its {invoice.lines.count()} line(s) are deleted. No number is lost."],
        )

    # The invoice page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.object_get(request, object_id)
        if invoice.is_draft and self.has_change_permission(request, invoice):
            return self._draft_change_page(request, invoice)
        return self._invoice_page(request, invoice)

    def _invoice_page(self, request: HttpRequest, invoice: Invoice) -> HttpResponse:
        editable = (
            not invoice.is_draft
            and invoice.status != InvoiceStatus.VOID
            and self.has_change_permission(request, invoice)
        )
        if request.method == "POST" and not editable:
            raise PermissionDenied
        form = None
        if editable:
            form = InvoiceDetailsForm(
                self.form_data(request), initial={"due_date": invoice.due_date, "memo": invoice.memo}
            )
            if request.method == "POST" and form.is_valid():
                done, _ = self.service_run(
                    request,
                    lambda: invoice_details_update(invoice=invoice, actor=self.actor(request), **form.cleaned_data),
                    success=lambda updated: f"{updated} updated.",
                )
                if done:
                    return HttpResponseRedirect(self.url_for("change", invoice.pk))
        charge = invoice_available_to_charge(invoice)
        can_refund = request.user.has_perm(REFUND_PAYMENT)
        allocations = list(invoice_allocations(invoice=invoice))
        for allocation in allocations:
            if can_refund and allocation.status == allocation.Status.ACTIVE and payment_can_refund(allocation.payment):
                refund_url = reverse(f"{self.admin_site.name}:payments_payment_refund", args=[allocation.payment_id])
                allocation.refund_url = f"{refund_url}?{urlencode({'next': self.url_for('change', invoice.pk)})}"
        context = self.page_context(
            request,
            obj=invoice,
            title=str(invoice),
            form=form,
            lines=invoice.lines.all(),
            allocations=allocations,
            can_refund=can_refund,
            credit_notes=invoice_credit_notes(invoice=invoice),
            card_payments=invoice_card_payments_unsettled(invoice=invoice),
            activities=invoice_activities(invoice=invoice),
            reserved=charge.reserved,
            status_badge=status_badge(invoice),
            actions=self.invoice_actions(request, invoice, charge=charge),
            download=ObjectAction(
                "Preview PDF" if invoice.is_draft else "Download PDF", self.url_for("pdf", invoice.pk)
            ),
            can_unallocate=request.user.has_perm(ALLOCATE_PAYMENT),
        )
        return TemplateResponse(request, "admin/billing/invoice/invoice_page.html", context)

    def pdf_view(self, request, object_id):
        """The invoice as a PDF; a draft's is a preview, titled "Draft invoice" and without a number."""
        invoice = self.object_get(request, object_id)
        return pdf_response(invoice_pdf(invoice), filename=invoice_pdf_filename(invoice))

    # Buttons

    def issue_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        return self.action_post(
            request,
            permission=ISSUE_INVOICE,
            call=lambda: invoice_issue(invoice=invoice, actor=self.actor(request)),
            success=lambda issued: (
                f"{issued} issued; it is {issued.get_shown_status_display().lower()} "
                f"with {issued.amount_remaining} remaining."
            ),
            redirect_url=self.url_for("change", invoice.pk),
        )

    def create_payment_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        form = ExternalPaymentForm(
            self.form_data(request),
            currency=invoice.currency,
            initial={"amount": amount_initial(invoice.amount_remaining)},
        )

        def recorded(payment) -> str:
            message = f"{payment} recorded: {payment.amount_allocated} applied to {invoice}."
            if payment.amount_unallocated.amount:
                message += f" {payment.amount_unallocated} is more than it asked for and stays as the member's credit."
            return message

        return self.form_page(
            request,
            obj=invoice,
            permission=RECORD_EXTERNAL_PAYMENT,
            form=form,
            call=lambda: payment_create_external(invoice=invoice, actor=self.actor(request), **form.payment_kwargs()),
            success=recorded,
            success_url=self.url_for("change", invoice.pk),
            title=f"Record a payment for {invoice}",
            submit_label="Record payment",
            cancel_url=self.url_for("change", invoice.pk),
            intro=(
                f"{invoice.amount_remaining} remains to pay ({invoice.currency}). Money received beyond that stays "
                "unallocated on the payment, as the member's credit."
            ),
        )

    def charge_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        charge = invoice_available_to_charge(invoice)
        reserved, available = charge.reserved, charge.available
        cards = member_active_payment_methods(member=invoice.member)
        default = cards.first()
        form = CardChargeForm(
            self.form_data(request),
            currency=invoice.currency,
            payment_methods=cards,
            amount_help=f"At most {available}: what remains, less what is being charged already.",
            initial={
                "amount": amount_initial(available) if available.amount > 0 else None,
                "payment_method": default.pk if default else None,
            },
        )
        intro = f"{invoice.amount_remaining} remains on {invoice}"
        if reserved.amount:
            intro += f", of which {reserved} is being charged already (processing at the gateway)"
        intro += (
            f". At most {available} can be charged now. The gateway is asked right after you submit; the invoice "
            "shows the payment as processing until it answers."
        )
        if default is None:
            intro += f" {invoice.member} has no saved card: add one on the member's page first."
        return self.form_page(
            request,
            obj=invoice,
            permission=CHARGE_PAYMENT,
            form=form,
            call=lambda: payment_create_card(invoice=invoice, actor=self.actor(request), **form.charge_kwargs()),
            success=charge_outcome_message,
            success_url=self.url_for("change", invoice.pk),
            title=f"Charge a saved card for {invoice}",
            submit_label="Charge",
            cancel_url=self.url_for("change", invoice.pk),
            intro=intro,
        )

    def issue_and_charge_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        cards = member_active_payment_methods(member=invoice.member)
        default = cards.first()
        form = CardChoiceForm(
            self.form_data(request), payment_methods=cards, initial={"payment_method": default.pk if default else None}
        )
        intro = (
            f"{invoice} ({invoice.total}) is issued with its number; then all that remains on it is charged to the "
            "chosen card."
        )
        if settings.BILLING_APPLY_CREDIT_AT_ISSUE:
            intro += " The member's credit (money balance, then unallocated payments) is applied first."
        if default is None:
            intro += f" {invoice.member} has no saved card: add one on the member's page first."

        def issued_and_charged(result) -> ResultMessage:
            issued, payment = result  # `issued` as the service left it: before the gateway answered.
            credit = issued.amount_balance_applied + issued.amount_paid
            text = f"{issued} issued"
            if payment is None:
                if credit.amount:
                    return ResultMessage(f"{text} and paid by the member's credit ({credit}); no card was charged.")
                return ResultMessage(f"{text}; nothing remains to pay, so no card was charged.")
            text += f" ({credit} of the member's credit applied). " if credit.amount else ". "
            outcome = charge_outcome_message(payment)
            return ResultMessage(text + outcome.text, outcome.level)

        return self.form_page(
            request,
            obj=invoice,
            permission=(ISSUE_INVOICE, CHARGE_PAYMENT),
            form=form,
            call=lambda: invoice_issue_and_charge(
                invoice=invoice, actor=self.actor(request), payment_method=form.cleaned_data["payment_method"]
            ),
            success=issued_and_charged,
            success_url=self.url_for("change", invoice.pk),
            title=f"Issue and charge {invoice}",
            submit_label="Issue and charge",
            cancel_url=self.url_for("change", invoice.pk),
            intro=intro,
        )

    def apply_payment_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        payments = list(member_payments_with_unallocated(member=invoice.member, currency=invoice.currency))
        form = ApplyPaymentsForm(self.form_data(request), payments=payments, currency=invoice.currency)
        return self.form_page(
            request,
            obj=invoice,
            permission=ALLOCATE_PAYMENT,
            form=form,
            call=lambda: payment_apply(invoice=invoice, applications=form.applications(), actor=self.actor(request)),
            success=lambda allocations: (
                "Applied "
                + ", ".join(f"{allocation.amount} of {allocation.payment}" for allocation in allocations)
                + f" to {invoice}."
            ),
            success_url=self.url_for("change", invoice.pk),
            title=f"Apply existing payments to {invoice}",
            submit_label="Apply",
            cancel_url=self.url_for("change", invoice.pk),
            template="admin/billing/invoice/apply_payment.html",
            invoice=invoice,
        )

    def apply_balance_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        balance = member_money_balance(member=invoice.member, currency=invoice.currency)
        form = MoneyBalanceApplyForm(
            self.form_data(request),
            currency=invoice.currency,
            initial={"amount": amount_initial(min(balance, invoice.amount_remaining))},
        )
        return self.form_page(
            request,
            obj=invoice,
            permission=ADJUST_MONEY_BALANCE,
            form=form,
            call=lambda: invoice_apply_money_balance(
                invoice=invoice, amount=form.cleaned_data["amount"], actor=self.actor(request)
            ),
            success=lambda updated: (
                f"{form.cleaned_data['amount']} of money balance applied to {updated}; "
                f"{updated.amount_remaining} remains."
            ),
            success_url=self.url_for("change", invoice.pk),
            title=f"Apply money balance to {invoice}",
            submit_label="Apply money balance",
            cancel_url=self.url_for("change", invoice.pk),
            intro=f"{invoice.member} has {balance} of money balance; {invoice.amount_remaining} remains on {invoice}.",
        )

    def void_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        consequences = [f"{invoice} ({invoice.total}) will no longer ask for payment. This cannot be undone."]
        if invoice.amount_balance_applied.amount:
            consequences.append(
                f"{invoice.amount_balance_applied} of money balance applied to it returns to {invoice.member}."
            )
        return self.form_page(
            request,
            obj=invoice,
            permission=VOID_INVOICE,
            form=ConfirmForm(self.form_data(request)),
            call=lambda: invoice_void(invoice=invoice, actor=self.actor(request)),
            success=lambda voided: f"{voided} voided.",
            success_url=self.url_for("change", invoice.pk),
            title=f"Void {invoice}?",
            submit_label="Yes, void the invoice",
            cancel_url=self.url_for("change", invoice.pk),
            template=CONFIRM_TEMPLATE,
            consequences=consequences,
        )

    def mark_uncollectible_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        return self.action_post(
            request,
            permission=MARK_UNCOLLECTIBLE,
            call=lambda: invoice_mark_uncollectible(invoice=invoice, actor=self.actor(request)),
            success=lambda marked: f"{marked} marked uncollectible; it can still be paid or voided.",
            redirect_url=self.url_for("change", invoice.pk),
        )

    def credit_note_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        self.permission_require(request, ISSUE_CREDIT_NOTE)
        lines = invoice_lines_creditable(invoice)
        form_kwargs = {"currency": invoice.currency, "lines": lines}
        preview = credit_note_page_preview(
            invoice=invoice,
            data=request.POST if request.method == "POST" else {},
            lines=lines,
            line_field_name=CreditNoteForm.line_field_name,
            may_refund=request.user.has_perm(REFUND_PAYMENT),
        )
        if request.method == "POST" and "_preview" in request.POST:
            data = request.POST.copy()
            if preview.preview is not None and not split_settles(data, preview):
                for name, value in preview.suggested_split.items():
                    data[name] = str(amount_initial(value))
            form = preview_initial(CreditNoteForm, data, **form_kwargs)
        else:
            form = CreditNoteForm(self.form_data(request), **form_kwargs)
        creditable = invoice_creditable(invoice)
        back = self.url_for("change", invoice.pk)
        return self.form_page(
            request,
            obj=invoice,
            permission=ISSUE_CREDIT_NOTE,
            form=form,
            call=lambda: credit_note_issue(invoice=invoice, actor=self.actor(request), **form.issue_kwargs()),
            success=credit_note_outcome_message,
            success_url=back,
            title=f"Issue a credit note on {invoice}",
            submit_label="Issue credit note",
            cancel_url=back,
            template="admin/billing/invoice/credit_note_form.html",
            fieldsets=[
                (None, {"fields": ["amount", *form.line_field_names, "reason", "memo"]}),
                (
                    "How the part already paid is settled",
                    {
                        "fields": list(SPLIT_FIELDS),
                        "description": "What the credit note takes beyond what remains to pay was paid already: "
                        "refund, member credit and returned outside the system must add up to it exactly. Preview "
                        "fills them in: a refund of what payments paid, credit for what the money balance paid.",
                    },
                ),
            ],
            intro=(
                f"{invoice} totals {invoice.total}; {invoice.amount_credited} is credited already and "
                f"{invoice.amount_remaining} remains to pay. At most {creditable} can still be credited."
            ),
            invoice=invoice,
            preview=preview,
            preview_html=credit_note_preview_html(preview),
            preview_url=self.url_for("credit_note_preview", invoice.pk),
            preview_fields=" ".join(["amount", *form.line_field_names]),
        )

    def credit_note_preview_view(self, request, object_id):
        """What the credit note page's script asks when an amount changes: the preview as JSON, with its HTML."""
        invoice = self.object_get(request, object_id)
        self.permission_require(request, ISSUE_CREDIT_NOTE)
        preview = credit_note_page_preview(
            invoice=invoice,
            data=request.GET,
            lines=invoice_lines_creditable(invoice),
            line_field_name=CreditNoteForm.line_field_name,
            may_refund=request.user.has_perm(REFUND_PAYMENT),
        )
        data = {**preview.as_json(), "html": credit_note_preview_html(preview)}
        return JsonResponse(data, status=400 if preview.error else 200)
