"""The invoice admin: list, draft editing, the invoice page and its buttons."""

from functools import reduce
from operator import or_

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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
    transition_allowed,
)
from billing.admin.fields import ConfirmedForm, ConfirmForm, amount_initial, preview_initial
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
from billing.admin.lists import MemberFilter, currency_filter
from billing.admin.previews import (
    CreditNotePagePreview,
    credit_note_page_preview,
    credit_note_preview_html,
    invoice_lines_creditable,
)
from billing.admin.search import (
    WordSearchMixin,
    amount_equals,
    has_digit,
    is_last_four,
    members_named,
    text_contains,
)
from billing.admin.totals import NO_AMOUNT, ListSum, ListTotalsMixin, ListTotalsSpec
from billing.documents import invoice_pdf, invoice_pdf_filename, pdf_response
from billing.errors import BillingError
from billing.models import (
    PAYABLE_STATUSES,
    CreditNote,
    Invoice,
    InvoiceStatus,
    ShownStatus,
    invoice_accepts_credit_note,
    invoice_accepts_payment,
    invoice_creditable,
)
from billing.money import money_parse, money_sum
from billing.selectors import invoice_activities, invoice_draft_version, member_money_balance
from billing.services.credit_note_issue import credit_note_issue
from billing.services.invoice_draft import (
    invoice_details_update,
    invoice_draft_create,
    invoice_draft_delete,
    invoice_draft_update,
)
from billing.services.invoice_issue import invoice_issue, invoice_issue_credit_preview
from billing.services.invoice_money_balance import invoice_apply_money_balance
from billing.services.invoice_void import invoice_mark_uncollectible, invoice_void
from payments.admin.forms import EXTERNAL_METHOD, CardChoiceForm, PaymentCreateForm
from payments.admin.payments import charge_outcome_message, payment_row_menu
from payments.models import (
    IN_FLIGHT_STATUSES,
    Allocation,
    Payment,
    PaymentAttempt,
    PaymentStatus,
    PaymentTarget,
    Refund,
    RefundStatus,
)
from payments.selectors import (
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

NO_SAVED_CARD = gettext_lazy("%(member)s has no saved card: add one on the member's page first.")
CHARGE_LABEL = gettext_lazy("Charge")
# The draft's edit page: its form, and the field its Issue buttons send it with (to the Issue pages, which save it).
DRAFT_FORM_ID = "invoice_form"
DRAFT_ISSUE_FIELD = "_issue"
# A POST of the draft's whole form (its lines formset), rather than of a confirmation.
DRAFT_FORM_SENT = "lines-TOTAL_FORMS"
ISSUE_CONFIRM_TEMPLATE = "admin/billing/invoice/issue_confirm.html"
RECORD_LABEL = gettext_lazy("Record payment")


def status_badge(invoice: Invoice) -> str:
    return format_html(
        '<span class="billing-badge billing-badge--{}">{}</span>',
        invoice.shown_status(),
        invoice.get_shown_status_display(),
    )


def split_settles(data, preview: CreditNotePagePreview) -> bool:
    """Whether the split typed on the page (empty fields count as zero) settles the previewed post-payment amount."""
    currency = preview.invoice.currency
    try:
        parts = [money_parse(data.get(name) or "0", currency, allow_zero=True) for name in SPLIT_FIELDS]
    except BillingError:
        return False
    return money_sum(parts, currency) == preview.preview.post_payment_amount


# The split the page last suggested, sent back with the form: a split field that still holds its suggestion was not
# typed by the user, and a new preview may suggest again; one the user typed is never overwritten.
SUGGESTED_PREFIX = "suggested_"


def split_typed(data) -> bool:
    """Whether the user typed any part of the split: a field that is not empty and not what the page suggested."""
    return any(
        (data.get(name) or "").strip() and data.get(name) != data.get(f"{SUGGESTED_PREFIX}{name}")
        for name in SPLIT_FIELDS
    )


def credit_note_outcome_message(credit_note: CreditNote) -> ResultMessage:
    """What the credit note did: the parts of its amount, the invoice after it, and its refunds' state (a refund to
    a card is pending until the gateway answers, which it has done already when the task ran in-process)."""
    credit_note = CreditNote.objects.select_related("invoice").get(pk=credit_note.pk)
    invoice = credit_note.invoice
    parts = [
        (credit_note.pre_payment_amount, _("%(amount)s off what remained to pay")),
        (credit_note.refund_amount, _("%(amount)s refunded")),
        (credit_note.credit_amount, _("%(amount)s kept as the member's credit")),
        (credit_note.out_of_band_amount, _("%(amount)s recorded as returned outside the system")),
    ]
    sentences = [
        _("%(credit_note)s issued on %(invoice)s for %(amount)s: %(parts)s.")
        % {
            "credit_note": credit_note,
            "invoice": invoice,
            "amount": credit_note.amount,
            "parts": ", ".join(part % {"amount": amount} for amount, part in parts if amount.amount),
        },
        _("%(invoice)s is %(status)s with %(remaining)s remaining.")
        % {
            "invoice": invoice,
            "status": invoice.get_shown_status_display().lower(),
            "remaining": invoice.amount_remaining,
        },
    ]
    level = messages.SUCCESS
    refunds = list(credit_note.refunds.filter(kind=Refund.Kind.GATEWAY).select_related("payment"))
    if any(refund.status == RefundStatus.PENDING for refund in refunds):
        sentences.append(_("The refund to the card is pending at the gateway."))
    failed = [refund for refund in refunds if refund.status == RefundStatus.FAILED]
    if failed:
        level = messages.WARNING
        sentences += [
            _(
                "The refund of %(amount)s from %(payment)s failed at the gateway: %(reason)s That money stays as the "
                "member's credit."
            )
            % {"amount": refund.amount, "payment": refund.payment, "reason": refund.failure_message}
            for refund in failed
        ]
    return ResultMessage(" ".join(sentences), level)


class ShownStatusFilter(admin.SimpleListFilter):
    title = gettext_lazy("status")
    parameter_name = "shown_status"

    def lookups(self, request, model_admin):
        return ShownStatus.choices

    def queryset(self, request, queryset):
        if self.value() in ShownStatus.values:
            return queryset.with_shown_status(self.value())
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    """Open invoices more than 30, 60 or 90 days past their due date (the admin home's queue links to the first)."""

    title = gettext_lazy("overdue")
    parameter_name = "overdue_for_more_than"
    DAYS = (30, 60, 90)

    def lookups(self, request, model_admin):
        return [(str(days), _("More than %(days)s days") % {"days": days}) for days in self.DAYS]

    def queryset(self, request, queryset):
        if self.value() in {str(days) for days in self.DAYS}:
            return queryset.overdue_for_more_than(int(self.value()))
        return queryset


class PaymentFlag(models.TextChoices):
    """What may need doing about an invoice's payments, shown as badges in the list and offered as a filter."""

    PAYMENT_FAILED = "payment_failed", gettext_lazy("Payment failed")
    RETRY_SCHEDULED = "retry_scheduled", gettext_lazy("Retry scheduled")
    PROCESSING = "processing", gettext_lazy("Processing")
    NEEDS_REVIEW = "needs_review", gettext_lazy("Needs review")
    DISPUTED = "disputed", gettext_lazy("Disputed")


def payment_flag_rows() -> dict[PaymentFlag, list[QuerySet]]:
    """For each flag, the rows that raise it for the outer query's invoice, each found through an indexed foreign
    key. Card payments name the invoices they pay by their targets."""
    targets = PaymentTarget.objects.filter(invoice=OuterRef("pk"))
    return {
        PaymentFlag.PAYMENT_FAILED: [targets.filter(payment__status=PaymentStatus.FAILED)],
        PaymentFlag.RETRY_SCHEDULED: [
            targets.filter(payment__status=PaymentStatus.FAILED, payment__next_retry_at__isnull=False)
        ],
        PaymentFlag.PROCESSING: [targets.filter(payment__status__in=IN_FLIGHT_STATUSES)],
        PaymentFlag.NEEDS_REVIEW: [
            PaymentAttempt.objects.filter(payment__targets__invoice=OuterRef("pk"), needs_review=True),
            Refund.objects.filter(payment__targets__invoice=OuterRef("pk"), needs_review=True),
            Refund.objects.filter(takes__allocation__invoice=OuterRef("pk"), needs_review=True),
        ],
        PaymentFlag.DISPUTED: [
            targets.filter(payment__disputed=True),
            Allocation.objects.filter(invoice=OuterRef("pk"), payment__disputed=True),
        ],
    }


def row_found(rows: list[QuerySet]) -> Coalesce:
    """The id of a row of the first of `rows` that has one, else None: scalar subqueries, which PostgreSQL runs for
    the listed page's rows only (an EXISTS in the select list may be planned as a hash of every matching row of
    the table, which grows with it)."""
    found = [Subquery(queryset.order_by().values("pk")[:1]) for queryset in rows]
    return Coalesce(*found, output_field=models.BigIntegerField()) if len(found) > 1 else found[0]


def invoices_with_payment_flags(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Annotate what the invoice list shows beside the status (no query per row): for each flag, the id of a row
    that raises it or None (`payment_failed`, `retry_scheduled`, `processing`, `needs_review`, `disputed`), and
    `next_retry_at`, the soonest automatic retry of a failed card payment for it."""
    rows = payment_flag_rows()
    return queryset.annotate(
        **{f"flag_{flag.value}": row_found(rows[flag]) for flag in PaymentFlag},
        next_retry_at=Subquery(
            rows[PaymentFlag.RETRY_SCHEDULED][0].order_by("payment__next_retry_at").values("payment__next_retry_at")[:1]
        ),
    )


FLAG_FIELDS = [*(f"flag_{flag.value}" for flag in PaymentFlag), "next_retry_at"]


def invoice_flags_attach(invoices: list[Invoice]) -> None:
    """Set the annotations of `invoices_with_payment_flags` on `invoices`, in one query."""
    if not invoices:
        return
    rows = invoices_with_payment_flags(Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices]))
    values = {row["pk"]: row for row in rows.values("pk", *FLAG_FIELDS)}
    for invoice in invoices:
        for name in FLAG_FIELDS:
            setattr(invoice, name, values.get(invoice.pk, {}).get(name))


# A failed charge matters while the invoice still asks for money; the other flags whatever its status.
FLAGS_WHILE_PAYABLE = {PaymentFlag.PAYMENT_FAILED, PaymentFlag.RETRY_SCHEDULED}


def invoices_with_payment_flag(queryset: QuerySet[Invoice], flag: PaymentFlag) -> QuerySet[Invoice]:
    """The invoices that `flag` is raised for: EXISTS in the WHERE clause (a semi-join of the matching rows)."""
    condition = reduce(or_, (Q(Exists(rows)) for rows in payment_flag_rows()[flag]))
    if flag in FLAGS_WHILE_PAYABLE:
        condition &= Q(status__in=PAYABLE_STATUSES)
    return queryset.filter(condition)


def invoice_payment_flags(invoice: Invoice) -> list[PaymentFlag]:
    """The flags of an invoice annotated by `invoices_with_payment_flags` (none for one that is not)."""
    payable = invoice.status in PAYABLE_STATUSES
    return [
        flag
        for flag in PaymentFlag
        if getattr(invoice, f"flag_{flag.value}", None) is not None and (payable or flag not in FLAGS_WHILE_PAYABLE)
    ]


def invoice_list_badges(invoice: Invoice) -> str:
    """The status badge, then a badge for each payment flag (the retry's date as its tooltip)."""
    flags = invoice_payment_flags(invoice)
    retry = (
        _("Next retry: %(when)s") % {"when": f"{timezone.localtime(invoice.next_retry_at):%Y-%m-%d %H:%M}"}
        if PaymentFlag.RETRY_SCHEDULED in flags
        else ""
    )
    return format_html(
        "{}{}",
        status_badge(invoice),
        format_html_join(
            "",
            ' <span class="billing-badge billing-badge--{}"{}>{}</span>',
            (
                (
                    flag.value,
                    format_html(' title="{}"', retry) if flag == PaymentFlag.RETRY_SCHEDULED else "",
                    flag.label,
                )
                for flag in flags
            ),
        ),
    )


class PaymentFlagFilter(admin.SimpleListFilter):
    title = gettext_lazy("payments")
    parameter_name = "payment_flag"

    def lookups(self, request, model_admin):
        return PaymentFlag.choices

    def queryset(self, request, queryset):
        if self.value() in PaymentFlag.values:
            return invoices_with_payment_flag(queryset, PaymentFlag(self.value()))
        return queryset


def invoice_search(word: str) -> Q:
    """An invoice matches a word of the search by its number, its member's name or email, its total or remaining
    amount, or, for a word with a digit, the number, reference or card's last 4 digits of a payment for it
    (created for it, allocated to it or charging it)."""
    matches = text_contains(["number"], word) | members_named(word)
    if has_digit(word):
        payment_matches = text_contains(["number", "reference"], word)
        if is_last_four(word):
            payment_matches |= Q(payment_method__last4=word)
        payments = Payment.objects.filter(payment_matches).values("pk")
        matches |= (
            Exists(Payment.objects.filter(payment_matches, invoice=OuterRef("pk")))
            | Exists(Allocation.objects.filter(invoice=OuterRef("pk"), payment__in=payments))
            | Exists(PaymentTarget.objects.filter(invoice=OuterRef("pk"), payment__in=payments))
        )
    amounts = amount_equals(["total", "amount_remaining"], word)
    return matches | amounts if amounts is not None else matches


ISSUED_NOT_VOID = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)
INVOICE_LIST_TOTALS = ListTotalsSpec(
    currency_field="currency",
    count_label=gettext_lazy("Invoices"),
    sums=[
        ListSum("invoiced", gettext_lazy("Invoiced"), "total", Q(status__in=ISSUED_NOT_VOID)),
        ListSum("paid", gettext_lazy("Paid"), "amount_paid", Q(status__in=ISSUED_NOT_VOID)),
        ListSum("remaining", gettext_lazy("Remaining"), "amount_remaining", Q(status__in=PAYABLE_STATUSES)),
    ],
    note=gettext_lazy(
        "Invoiced and paid leave out drafts and void invoices; remaining is what open and uncollectible invoices "
        "still ask for."
    ),
)


@admin.register(Invoice)
class InvoiceAdmin(ListTotalsMixin, WordSearchMixin, BillingAdminMixin, admin.ModelAdmin):
    list_display = (
        "number_display",
        "member",
        "shown_status_badge",
        "total",
        "amount_remaining_display",
        "due_date",
    )
    list_filter = (
        ShownStatusFilter,
        OverdueFilter,
        PaymentFlagFilter,
        MemberFilter,
        currency_filter("currency"),
        "issue_date",
        "due_date",
    )
    search_fields = ("number", "member__name", "member__email")
    search_help_text = gettext_lazy(
        "Invoice or payment number, member, payment reference, amount (40.00) or a card's last 4 digits."
    )
    list_select_related = ("member",)
    actions = None  # No bulk delete: drafts are deleted one by one through the service.
    word_search = staticmethod(invoice_search)
    list_totals_spec = INVOICE_LIST_TOTALS

    @admin.display(description=gettext_lazy("Number"), ordering="number")
    def number_display(self, invoice: Invoice) -> str:
        return str(invoice)

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def shown_status_badge(self, invoice: Invoice) -> str:
        return invoice_list_badges(invoice)

    @admin.display(description=gettext_lazy("Amount remaining"), ordering="amount_remaining")
    def amount_remaining_display(self, invoice: Invoice):
        """Nothing remains to pay on a void invoice: a dash, not the amount it asked for when it was voided."""
        if invoice.status == InvoiceStatus.VOID:
            return NO_AMOUNT
        return invoice.amount_remaining

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member")

    def get_changelist_instance(self, request):
        """The listed page's payment flags, in one query on its rows: kept out of the list's own query, whose plan
        (a search or a sort over the whole table) would otherwise weigh every row's subqueries."""
        changelist = super().get_changelist_instance(request)
        invoice_flags_attach(list(changelist.result_list))
        return changelist

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.is_draft:
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self):
        return [
            self.view_path("<path:object_id>/issue/", self.issue_view, "issue"),
            self.view_path("<path:object_id>/issue-and-charge/", self.issue_and_charge_view, "issue_and_charge"),
            self.view_path("<path:object_id>/create-payment/", self.create_payment_view, "create_payment"),
            self.view_path("<path:object_id>/apply-payment/", self.apply_payment_view, "apply_payment"),
            self.view_path("<path:object_id>/apply-balance/", self.apply_balance_view, "apply_balance"),
            self.view_path("<path:object_id>/void/", self.void_view, "void"),
            self.view_path("<path:object_id>/mark-uncollectible/", self.mark_uncollectible_view, "mark_uncollectible"),
            self.view_path("<path:object_id>/credit-note/", self.credit_note_view, "credit_note"),
            self.view_path("<path:object_id>/pdf/", self.pdf_view, "pdf"),
            self.view_path(
                "<path:object_id>/credit-note/preview/", self.credit_note_preview_view, "credit_note_preview"
            ),
            *super().get_urls(),
        ]

    def invoice_actions(
        self,
        request: HttpRequest,
        invoice: Invoice,
        *,
        charge: ChargeAvailability | None = None,
        draft_form: str = "",
    ) -> list[ObjectAction]:
        """The buttons the invoice's state and the user's permissions allow, the primary one first (`charge`: what
        its card payments in flight reserve and what can still be charged; not needed for a draft). On the draft's
        edit page (`draft_form`: its form's id), Issue and Issue and charge submit the draft's form to their pages,
        which save its edits before they ask for the confirmation."""
        user = request.user
        actions = []

        def member_has_card() -> bool:
            return member_active_payment_methods(member=invoice.member).exists()

        def draft_action(label: str, name: str) -> ObjectAction:
            return ObjectAction(label, self.url_for(name, invoice.pk), form=draft_form, name=DRAFT_ISSUE_FIELD)

        if invoice.is_draft:
            if transition_allowed(invoice.issue, user):
                actions.append(draft_action(_("Issue"), "issue"))
                if user.has_perm(CHARGE_PAYMENT) and member_has_card():
                    actions.append(draft_action(_("Issue and charge"), "issue_and_charge"))
            return actions
        if invoice_accepts_payment(invoice) and self.create_payment_allowed(request, invoice, charge):
            actions.append(ObjectAction(_("Create payment"), self.url_for("create_payment", invoice.pk)))
        if invoice_accepts_payment(invoice):
            if (
                user.has_perm(ALLOCATE_PAYMENT)
                and member_payments_with_unallocated(member=invoice.member, currency=invoice.currency).exists()
            ):
                actions.append(ObjectAction(_("Apply existing payment"), self.url_for("apply_payment", invoice.pk)))
            if (
                user.has_perm(ADJUST_MONEY_BALANCE)
                and member_money_balance(member=invoice.member, currency=invoice.currency).amount > 0
            ):
                actions.append(ObjectAction(_("Apply money balance"), self.url_for("apply_balance", invoice.pk)))
        if invoice_accepts_credit_note(invoice) and user.has_perm(ISSUE_CREDIT_NOTE):
            actions.append(ObjectAction(_("Issue credit note"), self.url_for("credit_note", invoice.pk)))
        if transition_allowed(invoice.mark_uncollectible, user):
            actions.append(ObjectAction(_("Mark uncollectible"), self.url_for("mark_uncollectible", invoice.pk)))
        if transition_allowed(invoice.void, user):
            actions.append(ObjectAction(_("Void invoice"), self.url_for("void", invoice.pk), danger=True))
        return actions

    def create_payment_allowed(self, request: HttpRequest, invoice: Invoice, charge: ChargeAvailability) -> bool:
        """Whether Create payment has a method to offer the user: External, or a saved card to charge."""
        if request.user.has_perm(RECORD_EXTERNAL_PAYMENT):
            return True
        return (
            request.user.has_perm(CHARGE_PAYMENT)
            and charge.available.amount > 0
            and member_active_payment_methods(member=invoice.member).exists()
        )

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

    def _draft_change_page(
        self, request: HttpRequest, invoice: Invoice, *, then_url: str | None = None
    ) -> HttpResponse:
        """The draft's edit page; with `then_url` (Issue, Issue and charge), its edits are saved when there are any
        and the user goes on to `then_url`, or sees the page again with what to correct (nothing issued)."""
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
            then_url=then_url,
        )

    def _draft_page(
        self, request: HttpRequest, *, invoice: Invoice | None, form, currency, call, then_url: str | None = None
    ) -> HttpResponse:
        lines = InvoiceLineFormSet(
            self.form_data(request),
            prefix="lines",
            initial=invoice_line_initial(invoice) if invoice is not None else None,
            form_kwargs={"currency": currency},
        )
        if request.method == "POST" and form.is_valid() and lines.is_valid():
            if then_url is not None and not (form.has_changed() or lines.has_changed()):
                return HttpResponseRedirect(then_url)
            done, draft = self.service_run(
                request,
                lambda: call(lines.line_inputs()),
                success=lambda draft: _("%(invoice)s saved (%(total)s).") % {"invoice": draft, "total": draft.total},
            )
            if done:
                return HttpResponseRedirect(then_url or self.url_for("change", draft.pk))
        elif request.method == "POST" and then_url is not None:
            messages.error(request, _("Nothing was issued: correct the draft below, then issue it."))
        context = self.page_context(
            request,
            obj=invoice,
            title=_("Edit %(invoice)s") % {"invoice": invoice} if invoice is not None else _("Add a draft invoice"),
            form=form,
            lines=lines,
            currency=currency,
            actions=self.invoice_actions(request, invoice, draft_form=DRAFT_FORM_ID) if invoice is not None else [],
            download=ObjectAction(_("Preview PDF"), self.url_for("pdf", invoice.pk)) if invoice is not None else None,
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
            success=lambda deleted: _("%(invoice)s deleted.") % {"invoice": invoice},
            success_url=self.url_for("changelist"),
            title=_("Delete %(invoice)s?") % {"invoice": invoice},
            submit_label=_("Yes, delete the draft"),
            cancel_url=self.url_for("change", invoice.pk),
            template=CONFIRM_TEMPLATE,
            consequences=[
                _("The draft and its %(count)s line(s) are deleted. No number is lost.")
                % {"count": invoice.lines.count()}
            ],
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
                done, _updated = self.service_run(
                    request,
                    lambda: invoice_details_update(invoice=invoice, actor=self.actor(request), **form.cleaned_data),
                    success=lambda updated: _("%(invoice)s updated.") % {"invoice": updated},
                )
                if done:
                    return HttpResponseRedirect(self.url_for("change", invoice.pk))
        charge = invoice_available_to_charge(invoice)
        back = self.url_for("change", invoice.pk)
        site = self.admin_site.name
        allocations = list(invoice_allocations(invoice=invoice))
        for allocation in allocations:
            allocation.menu = payment_row_menu(request, allocation.payment, allocation=allocation, back=back, site=site)
        card_payments = list(invoice_card_payments_unsettled(invoice=invoice))
        for payment in card_payments:
            payment.menu = payment_row_menu(request, payment, back=back, site=site)
        context = self.page_context(
            request,
            obj=invoice,
            title=str(invoice),
            form=form,
            lines=invoice.lines.all(),
            allocations=allocations,
            row_menus=True,
            create_payment_url=(
                self.url_for("create_payment", invoice.pk)
                if not invoice.is_draft
                and invoice_accepts_payment(invoice)
                and self.create_payment_allowed(request, invoice, charge)
                else None
            ),
            credit_notes=invoice_credit_notes(invoice=invoice),
            card_payments=card_payments,
            activities=invoice_activities(invoice=invoice),
            reserved=charge.reserved,
            status_badge=status_badge(invoice),
            actions=self.invoice_actions(request, invoice, charge=charge),
            download=ObjectAction(
                _("Preview PDF") if invoice.is_draft else _("Download PDF"), self.url_for("pdf", invoice.pk)
            ),
        )
        return TemplateResponse(request, "admin/billing/invoice/invoice_page.html", context)

    def pdf_view(self, request, object_id):
        """The invoice as a PDF; a draft's is a preview, titled "Draft invoice" and without a number."""
        invoice = self.object_get(request, object_id)
        return pdf_response(invoice_pdf(invoice), filename=invoice_pdf_filename(invoice))

    # Buttons

    def issue_consequences(self, invoice: Invoice) -> list[str]:
        """What issuing the draft does, for its confirmation: the credit applied now by the rule the service follows
        (money balance, then unallocated payments, oldest first) and what remains."""
        balance, applications = invoice_issue_credit_preview(invoice=invoice)
        consequences = [
            _(
                "%(invoice)s (%(total)s) gets its invoice number and is sent to %(member)s; it can no longer be edited, "
                "only credited or voided."
            )
            % {"invoice": invoice, "total": invoice.total, "member": invoice.member}
        ]
        if balance.amount:
            consequences.append(
                _("%(amount)s of %(member)s's money balance is applied to it.")
                % {"amount": balance, "member": invoice.member}
            )
        consequences += [
            _("%(amount)s of %(payment)s (unallocated, received %(date)s) is applied to it.")
            % {
                "amount": amount,
                "payment": payment,
                "date": f"{payment.received_on or timezone.localdate(payment.created_at):%Y-%m-%d}",
            }
            for payment, amount in applications
        ]
        remaining = invoice.total - balance - money_sum([amount for _payment, amount in applications], invoice.currency)
        if balance.amount or applications:
            consequences.append(_("%(remaining)s will remain to pay.") % {"remaining": remaining})
        elif settings.BILLING_APPLY_CREDIT_AT_ISSUE:
            consequences.append(
                _("%(member)s has no credit to apply: all %(remaining)s will remain to pay.")
                % {"member": invoice.member, "remaining": remaining}
            )
        return consequences

    def issue_view(self, request, object_id):
        """Issue a draft, after a confirmation showing its lines, total and the credit applied. The draft page's
        Issue button sends the draft's form here: its edits are saved first (or it is shown again to correct)."""
        invoice = self.object_get(request, object_id)
        self.permission_require(request, ISSUE_INVOICE)
        if request.method == "POST" and DRAFT_FORM_SENT in request.POST and invoice.is_draft:
            if not self.has_change_permission(request, invoice):
                raise PermissionDenied
            return self._draft_change_page(request, invoice, then_url=self.url_for("issue", invoice.pk))
        back = self.url_for("change", invoice.pk)
        return self.form_page(
            request,
            obj=invoice,
            permission=ISSUE_INVOICE,
            form=ConfirmedForm(self.form_data(request)),
            call=lambda: invoice_issue(
                invoice=invoice, actor=self.actor(request), expected_version=request.POST.get("version", "")
            ),
            success=lambda issued: (
                _("%(invoice)s issued; it is %(status)s with %(remaining)s remaining.")
                % {
                    "invoice": issued,
                    "status": issued.get_shown_status_display().lower(),
                    "remaining": issued.amount_remaining,
                }
            ),
            success_url=back,
            title=_("Issue %(invoice)s?") % {"invoice": invoice},
            submit_label=_("Yes, issue the invoice"),
            cancel_url=back,
            template=ISSUE_CONFIRM_TEMPLATE,
            **self.issue_confirm_context(invoice),
        )

    def issue_confirm_context(self, invoice: Invoice) -> dict:
        if not invoice.is_draft:
            return {"consequences": [], "lines": [], "draft_version": ""}
        return {
            "consequences": self.issue_consequences(invoice),
            "lines": invoice.lines.all(),
            "draft_version": invoice_draft_version(invoice),
        }

    def create_payment_methods(self, request: HttpRequest, invoice: Invoice, charge: ChargeAvailability):
        """What Create payment offers the user on the invoice: the member's saved cards (with the right to charge,
        while something can still be charged) and External (with the right to record it)."""
        cards = []
        if request.user.has_perm(CHARGE_PAYMENT) and charge.available.amount > 0:
            cards = list(member_active_payment_methods(member=invoice.member))
        return cards, request.user.has_perm(RECORD_EXTERNAL_PAYMENT)

    def create_payment_view(self, request, object_id):
        """Create payment: one form for an amount and a method, a saved card (Charge) or External (Record payment);
        each calls its own service."""
        invoice = self.object_get(request, object_id)
        self.permission_require_any(request, (CHARGE_PAYMENT, RECORD_EXTERNAL_PAYMENT))
        charge = invoice_available_to_charge(invoice)
        cards, external = self.create_payment_methods(request, invoice, charge)
        if not cards and not external:
            messages.error(
                request,
                NO_SAVED_CARD % {"member": invoice.member}
                if not member_active_payment_methods(member=invoice.member).exists()
                else _("Nothing more can be charged on %(invoice)s now.") % {"invoice": invoice},
            )
            return HttpResponseRedirect(self.url_for("change", invoice.pk))
        method = str(cards[0].pk) if cards else EXTERNAL_METHOD
        form = PaymentCreateForm(
            self.form_data(request),
            currency=invoice.currency,
            payment_methods=cards,
            external=external,
            amount_help=(
                _("A card is charged at most %(available)s: what remains, less what is being charged already.")
                % {"available": charge.available}
                if cards and charge.reserved.amount
                else ""
            ),
            initial={
                "amount": amount_initial(charge.available if cards else invoice.amount_remaining),
                "method": method,
            },
        )
        intro = _("%(remaining)s remains to pay on %(invoice)s (%(currency)s).") % {
            "remaining": invoice.amount_remaining,
            "invoice": invoice,
            "currency": invoice.currency,
        }
        if charge.reserved.amount:
            intro += " " + _("%(reserved)s of it is being charged already (processing at the gateway).") % {
                "reserved": charge.reserved
            }
        if cards:
            intro += " " + _(
                "A saved card is charged through the gateway right after you submit; the invoice shows the payment as "
                "processing until it answers."
            )
        elif (
            request.user.has_perm(CHARGE_PAYMENT) and not member_active_payment_methods(member=invoice.member).exists()
        ):
            intro += " " + NO_SAVED_CARD % {"member": invoice.member}
        if external:
            intro += " " + _(
                "Money received outside the system beyond what remains stays unallocated on the payment, as the "
                "member's credit."
            )

        def create():
            if form.payment_method() is not None:
                return payment_create_card(invoice=invoice, actor=self.actor(request), **form.charge_kwargs())
            return payment_create_external(invoice=invoice, actor=self.actor(request), **form.payment_kwargs())

        def created(payment) -> str | ResultMessage:
            if not payment.is_external:
                return charge_outcome_message(payment)
            message = _("%(payment)s recorded: %(amount)s applied to %(invoice)s.") % {
                "payment": payment,
                "amount": payment.amount_allocated,
                "invoice": invoice,
            }
            if payment.amount_unallocated.amount:
                message += " " + _("%(amount)s is more than it asked for and stays as the member's credit.") % {
                    "amount": payment.amount_unallocated
                }
            return message

        back = self.url_for("change", invoice.pk)
        return self.form_page(
            request,
            obj=invoice,
            permission=None,
            form=form,
            call=create,
            success=created,
            success_url=back,
            title=_("Create a payment for %(invoice)s") % {"invoice": invoice},
            submit_label=CHARGE_LABEL if form.charges_card() else RECORD_LABEL,
            cancel_url=back,
            template="admin/billing/invoice/create_payment.html",
            fieldsets=[
                (None, {"fields": ["amount", "method"]}),
                (_("Received outside the system"), {"fields": list(PaymentCreateForm.EXTERNAL_FIELDS)}),
            ]
            if external
            else [(None, {"fields": ["amount", "method"]})],
            intro=intro,
            charge_label=CHARGE_LABEL,
            record_label=RECORD_LABEL,
            charges_card=form.charges_card(),
        )

    def issue_and_charge_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        self.permission_require(request, (ISSUE_INVOICE, CHARGE_PAYMENT))
        if request.method == "POST" and DRAFT_FORM_SENT in request.POST and invoice.is_draft:
            if not self.has_change_permission(request, invoice):
                raise PermissionDenied
            return self._draft_change_page(request, invoice, then_url=self.url_for("issue_and_charge", invoice.pk))
        cards = member_active_payment_methods(member=invoice.member)
        default = cards.first()
        form = CardChoiceForm(
            self.form_data(request), payment_methods=cards, initial={"payment_method": default.pk if default else None}
        )
        intro = _(
            "%(invoice)s (%(total)s) is issued with its number; then all that remains on it is charged to the chosen "
            "card."
        ) % {"invoice": invoice, "total": invoice.total}
        if default is None:
            intro += " " + NO_SAVED_CARD % {"member": invoice.member}

        def issued_and_charged(result) -> ResultMessage:
            issued, payment = result  # `issued` as the service left it: before the gateway answered.
            credit = issued.amount_balance_applied + issued.amount_paid
            values = {"invoice": issued, "credit": credit}
            if payment is None:
                if credit.amount:
                    return ResultMessage(
                        _("%(invoice)s issued and paid by the member's credit (%(credit)s); no card was charged.")
                        % values
                    )
                return ResultMessage(_("%(invoice)s issued; nothing remains to pay, so no card was charged.") % values)
            if credit.amount:
                text = _("%(invoice)s issued (%(credit)s of the member's credit applied).") % values
            else:
                text = _("%(invoice)s issued.") % values
            outcome = charge_outcome_message(payment)
            return ResultMessage(" ".join([text, outcome.text]), outcome.level)

        return self.form_page(
            request,
            obj=invoice,
            permission=(ISSUE_INVOICE, CHARGE_PAYMENT),
            form=form,
            call=lambda: invoice_issue_and_charge(
                invoice=invoice,
                actor=self.actor(request),
                payment_method=form.cleaned_data["payment_method"],
                expected_version=request.POST.get("version", ""),
            ),
            success=issued_and_charged,
            success_url=self.url_for("change", invoice.pk),
            title=_("Issue and charge %(invoice)s") % {"invoice": invoice},
            submit_label=_("Issue and charge"),
            cancel_url=self.url_for("change", invoice.pk),
            template=ISSUE_CONFIRM_TEMPLATE,
            intro=intro,
            **self.issue_confirm_context(invoice),
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
                _("Applied %(amounts)s to %(invoice)s.")
                % {
                    "amounts": ", ".join(
                        _("%(amount)s of %(payment)s") % {"amount": allocation.amount, "payment": allocation.payment}
                        for allocation in allocations
                    ),
                    "invoice": invoice,
                }
            ),
            success_url=self.url_for("change", invoice.pk),
            title=_("Apply existing payments to %(invoice)s") % {"invoice": invoice},
            submit_label=_("Apply"),
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
                _("%(amount)s of money balance applied to %(invoice)s; %(remaining)s remains.")
                % {"amount": form.cleaned_data["amount"], "invoice": updated, "remaining": updated.amount_remaining}
            ),
            success_url=self.url_for("change", invoice.pk),
            title=_("Apply money balance to %(invoice)s") % {"invoice": invoice},
            submit_label=_("Apply money balance"),
            cancel_url=self.url_for("change", invoice.pk),
            intro=_("%(member)s has %(balance)s of money balance; %(remaining)s remains on %(invoice)s.")
            % {"member": invoice.member, "balance": balance, "remaining": invoice.amount_remaining, "invoice": invoice},
        )

    def void_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        consequences = [
            _("%(invoice)s (%(total)s) will no longer ask for payment. This cannot be undone.")
            % {"invoice": invoice, "total": invoice.total}
        ]
        if invoice.amount_balance_applied.amount:
            consequences.append(
                _("%(amount)s of money balance applied to it returns to %(member)s.")
                % {"amount": invoice.amount_balance_applied, "member": invoice.member}
            )
        return self.form_page(
            request,
            obj=invoice,
            permission=VOID_INVOICE,
            form=ConfirmForm(self.form_data(request)),
            call=lambda: invoice_void(invoice=invoice, actor=self.actor(request)),
            success=lambda voided: _("%(invoice)s voided.") % {"invoice": voided},
            success_url=self.url_for("change", invoice.pk),
            title=_("Void %(invoice)s?") % {"invoice": invoice},
            submit_label=_("Yes, void the invoice"),
            cancel_url=self.url_for("change", invoice.pk),
            template=CONFIRM_TEMPLATE,
            consequences=consequences,
        )

    def mark_uncollectible_view(self, request, object_id):
        invoice = self.object_get(request, object_id)
        back = self.url_for("change", invoice.pk)
        return self.form_page(
            request,
            obj=invoice,
            permission=MARK_UNCOLLECTIBLE,
            form=ConfirmedForm(self.form_data(request)),
            call=lambda: invoice_mark_uncollectible(invoice=invoice, actor=self.actor(request)),
            success=lambda marked: (
                _("%(invoice)s marked uncollectible; it can still be paid or voided.") % {"invoice": marked}
            ),
            success_url=back,
            title=_("Mark %(invoice)s uncollectible?") % {"invoice": invoice},
            submit_label=_("Yes, mark it uncollectible"),
            cancel_url=back,
            template=CONFIRM_TEMPLATE,
            consequences=[
                _(
                    "%(invoice)s stops being collected: %(remaining)s stays unpaid, it is no longer counted as overdue, "
                    "and its failed card payments are no longer retried automatically."
                )
                % {"invoice": invoice, "remaining": invoice.amount_remaining},
                _("It can still be paid (it becomes paid) or voided later."),
            ],
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
        suggested = {}
        if request.method == "POST" and "_preview" in request.POST:
            data = request.POST.copy()
            if preview.preview is not None and not split_typed(data) and not split_settles(data, preview):
                suggested = {name: str(amount_initial(value)) for name, value in preview.suggested_split.items()}
                data.update(suggested)
            else:
                suggested = {name: data.get(f"{SUGGESTED_PREFIX}{name}", "") for name in SPLIT_FIELDS}
            form = preview_initial(CreditNoteForm, data, **form_kwargs)
        else:
            form = CreditNoteForm(self.form_data(request), **form_kwargs)
            if request.method == "POST":
                suggested = {name: request.POST.get(f"{SUGGESTED_PREFIX}{name}", "") for name in SPLIT_FIELDS}
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
            title=_("Issue a credit note on %(invoice)s") % {"invoice": invoice},
            submit_label=_("Issue credit note"),
            cancel_url=back,
            template="admin/billing/invoice/credit_note_form.html",
            fieldsets=[
                (None, {"fields": ["amount", *form.line_field_names, "reason", "memo"]}),
                (
                    _("How the part already paid is settled"),
                    {
                        "fields": list(SPLIT_FIELDS),
                        "description": _(
                            "What the credit note takes beyond what remains to pay was paid already: refund, member "
                            "credit and returned outside the system must add up to it exactly. Preview fills them in: "
                            "a refund of what payments paid, credit for what the money balance paid."
                        ),
                    },
                ),
            ],
            intro=_(
                "%(invoice)s totals %(total)s; %(credited)s is credited already and %(remaining)s remains to pay. At "
                "most %(creditable)s can still be credited."
            )
            % {
                "invoice": invoice,
                "total": invoice.total,
                "credited": invoice.amount_credited,
                "remaining": invoice.amount_remaining,
                "creditable": creditable,
            },
            invoice=invoice,
            preview=preview,
            preview_html=credit_note_preview_html(preview),
            preview_url=self.url_for("credit_note_preview", invoice.pk),
            preview_fields=" ".join(["amount", *form.line_field_names]),
            suggested_split=[(f"{SUGGESTED_PREFIX}{name}", suggested.get(name, "")) for name in SPLIT_FIELDS],
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
