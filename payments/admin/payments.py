"""The payment admin: list, the payment page and its buttons, standalone payments and unallocation.

Payments are never added, edited or deleted through generic model forms: every change goes through a service.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, Q, prefetch_related_objects
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_fsm import can_proceed
from djmoney.money import Money

from billing.admin.base import (
    ALLOCATE_PAYMENT,
    CHARGE_PAYMENT,
    CONFIRM_TEMPLATE,
    RECORD_EXTERNAL_PAYMENT,
    REFUND_PAYMENT,
    VOID_PAYMENT,
    BillingAdminMixin,
    ObjectAction,
    ResultMessage,
    transition_allowed,
)
from billing.admin.fields import ConfirmedForm, amount_initial, object_id_parse, preview_initial
from billing.admin.lists import currency_filter
from billing.admin.search import (
    WordSearchMixin,
    amount_equals,
    has_digit,
    is_last_four,
    members_named,
    text_contains,
)
from billing.admin.totals import NO_AMOUNT, ListSum, ListTotalsMixin, ListTotalsSpec
from billing.documents import payment_has_receipt, pdf_response, receipt_pdf
from billing.errors import BillingError
from billing.models import Invoice, InvoiceStatus
from billing.money import money_sum
from billing.selectors import target_activities
from members.models import Member
from payments.admin.forms import (
    AllocateForm,
    CardChargeForm,
    PaymentApplyForm,
    PaymentCancelForm,
    PaymentVoidForm,
    RefundForm,
    StandalonePaymentForm,
)
from payments.admin.previews import allocation_preview, refund_preview, refund_preview_html
from payments.dashboard import payments_needing_review
from payments.models import (
    Allocation,
    Payment,
    PaymentStatus,
    PaymentTarget,
    Refund,
    RefundStatus,
    payment_has_something_to_refund,
)
from payments.selectors import (
    invoice_available_to_charge,
    member_active_payment_methods,
    member_invoices_payable,
    payment_allocations,
    payment_attempts,
    payment_refunds,
    payment_void_reopens,
    payments_with_review_flag,
)
from payments.services.payment_allocate import allocation_split, payment_age_key, payments_allocate
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_card import payment_cancel, payment_retry
from payments.services.payment_external import payment_create_standalone
from payments.services.payment_void import payment_void
from payments.services.refund import payment_refund, payment_refundable


def retry_at_display(payment: Payment) -> str:
    return f"{timezone.localtime(payment.next_retry_at):%Y-%m-%d %H:%M}"


def charge_outcome_message(payment: Payment) -> ResultMessage:
    """What became of a card charge just asked for: settled already when the task ran in-process (no broker, as in
    `make run`), else queued for a worker."""
    payment = Payment.objects.select_related("payment_method", "invoice").get(pk=payment.pk)
    card, invoice = payment.payment_method, payment.invoice
    values = {"payment": payment, "amount": payment.amount, "card": card, "invoice": invoice}
    if payment.status == PaymentStatus.SUCCEEDED:
        sentences = [_("%(payment)s: %(amount)s charged to %(card)s.") % values]
        if invoice is not None:
            if invoice.status == InvoiceStatus.PAID:
                sentences.append(_("%(invoice)s is paid.") % values)
            else:
                sentences.append(
                    _("%(remaining)s remains on %(invoice)s.") % {**values, "remaining": invoice.amount_remaining}
                )
        return ResultMessage(" ".join(sentences))
    if payment.status == PaymentStatus.FAILED:
        sentences = [
            _("%(payment)s: the charge of %(amount)s to %(card)s failed: %(reason)s (%(code)s).")
            % {**values, "reason": payment.failure_message or _("The card was declined."), "code": payment.failure_code}
        ]
        if payment.next_retry_at:
            sentences.append(_("It is retried automatically on %(when)s.") % {"when": retry_at_display(payment)})
        else:
            sentences.append(_("It is not retried automatically."))
        return ResultMessage(" ".join(sentences), messages.WARNING)
    return ResultMessage(
        _(
            "%(payment)s: a charge of %(amount)s to %(card)s is queued at the gateway; it shows as processing until "
            "the gateway answers."
        )
        % values
    )


def payment_retry_limit(payment: Payment) -> Money | None:
    """The most a retry of this failed card payment may charge (its amount, or less when the invoice now asks for
    less), or None when there is nothing to retry. The service checks it again under its locks."""
    if not can_proceed(payment.retry):
        return None
    invoice = payment.invoice
    if invoice is None:
        return payment.amount
    available = invoice_available_to_charge(invoice).available
    if available.amount <= 0:
        return None
    return min(payment.amount, available)


class NeedsReviewFilter(admin.SimpleListFilter):
    title = gettext_lazy("review")
    parameter_name = "needs_review"

    def lookups(self, request, model_admin):
        return [("yes", _("Needs review"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return payments_needing_review(queryset)
        return queryset


def payment_shown_status(payment: Payment) -> tuple[str, str]:
    """The status a person sees (value, label): a succeeded payment with refunds shows as partially refunded or
    refunded (refunds still at the gateway do not count until they succeed)."""
    if payment.status == PaymentStatus.SUCCEEDED and payment.amount_refunded.amount > 0:
        if payment.amount_refunded >= payment.amount:
            return "refunded", _("Refunded")
        return "partially_refunded", _("Partially refunded")
    return payment.status, payment.get_status_display()


def payment_status_badges(payment: Payment) -> str:
    """The status, and the flags an administrator must not miss (a refund in progress, needs review, disputed).
    `needs_review` comes from `payments_with_review_flag`."""
    value, label = payment_shown_status(payment)
    flags = [
        ("refund_pending", _("Refund pending"), payment.amount_refund_pending.amount > 0),
        ("needs_review", _("Needs review"), getattr(payment, "needs_review", False)),
        ("disputed", _("Disputed"), payment.disputed),
    ]
    return format_html(
        '<span class="billing-badge billing-badge--{}">{}</span>{}',
        value,
        label,
        format_html_join(
            "",
            ' <span class="billing-badge billing-badge--{}">{}</span>',
            ((flag, text) for flag, text, on in flags if on),
        ),
    )


def refund_outcome_message(refund: Refund) -> ResultMessage:
    """What became of a refund just made: recorded at once (an external payment), or sent to the gateway, which
    has answered already when the task ran in-process (no broker, as in `make run`); then what happened to each
    invoice it took money from."""
    refund = (
        Refund.objects.select_related("payment__payment_method")
        .prefetch_related("takes__allocation__invoice", "takes__credit_note")
        .get(pk=refund.pk)
    )
    payment, level = refund.payment, messages.SUCCESS
    values = {
        "amount": refund.amount,
        "payment": payment,
        "card": payment.payment_method,
        "reason": refund.failure_message,
    }
    if refund.kind != Refund.Kind.GATEWAY:
        sentences = [_("Refund of %(amount)s from %(payment)s recorded.") % values]
    elif refund.status == RefundStatus.SUCCEEDED:
        sentences = [_("Refund of %(amount)s from %(payment)s to %(card)s succeeded at the gateway.") % values]
    elif refund.status == RefundStatus.PENDING:
        sentences = [
            _(
                "Refund of %(amount)s from %(payment)s to %(card)s is pending at the gateway; the payment shows it as "
                "in progress until the gateway answers."
            )
            % values
        ]
    else:
        level = messages.WARNING
        sentences = [
            _(
                "Refund of %(amount)s from %(payment)s to %(card)s failed at the gateway: %(reason)s The money stays "
                "on the payment, unallocated (the member's credit)."
            )
            % values
        ]
    for take in refund.takes.all():
        invoice = take.allocation.invoice
        if take.credit_note_id:
            sentences.append(
                _("%(credit_note)s reduces %(invoice)s by %(amount)s; it stays %(status)s.")
                % {
                    "credit_note": take.credit_note,
                    "invoice": invoice,
                    "amount": take.amount,
                    "status": invoice.get_shown_status_display().lower(),
                }
            )
        else:
            sentences.append(
                _("%(invoice)s asks for %(amount)s again (%(remaining)s remains).")
                % {"invoice": invoice, "amount": take.amount, "remaining": invoice.amount_remaining}
            )
    return ResultMessage(" ".join(sentences), level)


def payment_search(word: str) -> Q:
    """A payment matches a word of the search by its number, reference, member's name or email, its amount, or, for
    a word with a digit, the number of an invoice it was made for, is allocated to or charges, or its card's last 4
    digits."""
    matches = text_contains(["number", "reference"], word) | members_named(word)
    if has_digit(word):
        invoices = Invoice.objects.filter(text_contains(["number"], word)).values("pk")
        matches |= (
            text_contains(["invoice__number"], word)
            | Exists(Allocation.objects.filter(payment=OuterRef("pk"), invoice__in=invoices))
            | Exists(PaymentTarget.objects.filter(payment=OuterRef("pk"), invoice__in=invoices))
        )
    if is_last_four(word):
        matches |= Q(payment_method__last4=word)
    amounts = amount_equals(["amount"], word)
    return matches | amounts if amounts is not None else matches


PAYMENT_LIST_TOTALS = ListTotalsSpec(
    currency_field="currency",
    count_label=gettext_lazy("Payments"),
    sums=[
        ListSum("received", gettext_lazy("Received"), "amount", Q(status=PaymentStatus.SUCCEEDED)),
        ListSum("refunded", gettext_lazy("Refunded"), "amount_refunded", Q(status=PaymentStatus.SUCCEEDED)),
        ListSum("unallocated", gettext_lazy("Unallocated"), "amount_unallocated", Q(status=PaymentStatus.SUCCEEDED)),
    ],
    note=gettext_lazy(
        "Received counts succeeded payments, refunded ones included; pending, processing, failed, canceled and void "
        "payments are left out."
    ),
)


def payment_list_invoices(payment: Payment) -> list[tuple[Invoice, Money | None]]:
    """The invoices a listed payment pays, in order and once each, with what its money pays of each: those it is
    allocated to; else, for a card payment not settled, those it charges (no amount paid yet). `list_allocations`
    and `list_targets` are prefetched by the list."""
    paid: dict[int, tuple[Invoice, Money]] = {}
    for allocation in getattr(payment, "list_allocations", []):
        invoice, amount = paid.get(allocation.invoice_id, (allocation.invoice, None))
        paid[invoice.pk] = (invoice, allocation.amount if amount is None else amount + allocation.amount)
    if paid:
        return list(paid.values())
    targets = {target.invoice_id: target.invoice for target in getattr(payment, "list_targets", [])}
    return [(invoice, None) for invoice in targets.values()]


def payment_row_menu(
    request: HttpRequest, payment: Payment, *, back: str, allocation: Allocation | None = None, site: str = "admin"
) -> list[ObjectAction]:
    """The (...) menu of a payment's row on the invoice or the payment page (`allocation`: the row's allocation):
    what its state and the user's permissions allow, asked of the same state machines and predicates as the
    payment page's buttons and the services. Each page it opens comes back to `back`."""
    user = request.user
    query = "?" + urlencode({"next": back})

    def url(name: str, *args) -> str:
        return reverse(f"{site}:payments_payment_{name}", args=args)

    menu = []
    if allocation is not None and user.has_perm(ALLOCATE_PAYMENT) and can_proceed(allocation.remove):
        menu.append(ObjectAction(_("Unallocate"), url("unallocate", allocation.pk) + query))
    if payment_has_something_to_refund(payment) and user.has_perm(REFUND_PAYMENT):
        menu.append(ObjectAction(_("Refund"), url("refund", payment.pk) + query))
    if payment_retry_allowed(user, payment):
        menu.append(ObjectAction(_("Retry"), url("retry", payment.pk) + query))
    if transition_allowed(payment.cancel, user):
        menu.append(ObjectAction(_("Cancel payment"), url("cancel", payment.pk) + query, danger=True))
    if transition_allowed(payment.void, user):
        menu.append(ObjectAction(_("Void payment"), url("void", payment.pk) + query, danger=True))
    if payment_has_receipt(payment):
        menu.append(ObjectAction(_("Receipt (PDF)"), url("receipt_pdf", payment.pk), download=True))
    return menu


def payment_retry_allowed(user, payment: Payment) -> bool:
    """Retry: a failed card payment the user may charge, with something left to charge and a card to charge."""
    return (
        transition_allowed(payment.retry, user)
        and payment_retry_limit(payment) is not None
        and member_active_payment_methods(member=payment.member).exists()
    )


@admin.register(Payment)
class PaymentAdmin(ListTotalsMixin, WordSearchMixin, BillingAdminMixin, admin.ModelAdmin):
    list_display = (
        "number",
        "member",
        "method_label",
        "reference",
        "amount",
        "unallocated_display",
        "refunded_display",
        "status_badges",
        "invoices_display",
        "received_display",
    )
    list_filter = ("status", "method", NeedsReviewFilter, "external_kind", currency_filter("currency"))
    search_fields = ("number", "member__name", "reference")
    search_help_text = gettext_lazy(
        "Payment or invoice number, member, reference, amount (40.00) or a card's last 4 digits."
    )
    list_select_related = ("member",)
    actions = None
    word_search = staticmethod(payment_search)
    list_totals_spec = PAYMENT_LIST_TOTALS

    @admin.display(description=gettext_lazy("Method"), ordering="method")
    def method_label(self, payment: Payment) -> str:
        card = payment.payment_method
        if card is not None:
            return format_html("{}<br><small>•••• {}</small>", payment.get_method_label(), card.last4)
        return payment.get_method_label()

    @admin.display(description=gettext_lazy("Unallocated"), ordering="amount_unallocated")
    def unallocated_display(self, payment: Payment):
        return payment.amount_unallocated

    @admin.display(description=gettext_lazy("Refunded"), ordering="amount_refunded")
    def refunded_display(self, payment: Payment):
        return payment.amount_refunded if payment.amount_refunded.amount > 0 else NO_AMOUNT

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_badges(self, payment: Payment) -> str:
        return payment_status_badges(payment)

    @admin.display(description=gettext_lazy("Invoices"))
    def invoices_display(self, payment: Payment) -> str:
        """Each invoice paid, linked, with what the payment's money pays of it (the allocated amounts)."""
        invoices = payment_list_invoices(payment)
        if not invoices:
            return NO_AMOUNT
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a>{}',
            (
                (
                    reverse("admin:billing_invoice_change", args=[invoice.pk]),
                    invoice,
                    format_html(": {}", amount) if amount is not None else "",
                )
                for invoice, amount in invoices
            ),
        )

    @admin.display(description=gettext_lazy("Received"), ordering="received_on")
    def received_display(self, payment: Payment):
        return payment.received_on

    def get_queryset(self, request):
        return payments_with_review_flag(
            super().get_queryset(request).select_related("member", "invoice", "payment_method")
        )

    def get_changelist_instance(self, request):
        """The listed page's allocations and card targets with their invoices: two queries, whatever the rows."""
        changelist = super().get_changelist_instance(request)
        prefetch_related_objects(
            list(changelist.result_list),
            Prefetch(
                "allocations",
                queryset=Allocation.objects.filter(amount__gt=0).select_related("invoice").order_by("pk"),
                to_attr="list_allocations",
            ),
            Prefetch(
                "targets",
                queryset=PaymentTarget.objects.select_related("invoice").order_by("position", "pk"),
                to_attr="list_targets",
            ),
        )
        return changelist

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "standalone_url": self.url_for("record_standalone")
            if request.user.has_perm(RECORD_EXTERNAL_PAYMENT)
            else None,
        }
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        return [
            self.view_path("record-standalone/", self.record_standalone_view, "record_standalone"),
            self.view_path("allocations/<int:allocation_id>/unallocate/", self.unallocate_view, "unallocate"),
            self.view_path("<path:object_id>/void/", self.void_view, "void"),
            self.view_path("<path:object_id>/apply/", self.apply_view, "apply"),
            self.view_path("<path:object_id>/allocate/", self.allocate_view, "allocate"),
            self.view_path("<path:object_id>/retry/", self.retry_view, "retry"),
            self.view_path("<path:object_id>/cancel/", self.cancel_view, "cancel"),
            self.view_path("<path:object_id>/refund/", self.refund_view, "refund"),
            self.view_path("<path:object_id>/refund/preview/", self.refund_preview_view, "refund_preview"),
            self.view_path("<path:object_id>/receipt-pdf/", self.receipt_pdf_view, "receipt_pdf"),
            *super().get_urls(),
        ]

    def payment_actions(self, request: HttpRequest, payment: Payment) -> list[ObjectAction]:
        """The buttons the payment's state and the user's permissions allow."""
        user = request.user
        actions = []
        if payment_retry_allowed(user, payment):
            actions.append(ObjectAction(_("Retry payment"), self.url_for("retry", payment.pk)))
        if transition_allowed(payment.cancel, user):
            actions.append(ObjectAction(_("Cancel payment"), self.url_for("cancel", payment.pk), danger=True))
        if (
            payment.status == PaymentStatus.SUCCEEDED
            and payment.amount_unallocated.amount > 0
            and user.has_perm(ALLOCATE_PAYMENT)
            and member_invoices_payable(member=payment.member, currency=payment.currency).exists()
        ):
            actions.append(ObjectAction(_("Apply to invoice"), self.url_for("apply", payment.pk)))
            actions.append(ObjectAction(_("Allocate to open invoices"), self.url_for("allocate", payment.pk)))
        if payment_has_something_to_refund(payment) and user.has_perm(REFUND_PAYMENT):
            actions.append(ObjectAction(_("Refund"), self.url_for("refund", payment.pk)))
        if transition_allowed(payment.void, user):
            actions.append(ObjectAction(_("Void payment"), self.url_for("void", payment.pk), danger=True))
        return actions

    # The payment page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        payment = self.object_get(request, object_id)
        context = self.page_context(
            request,
            obj=payment,
            title=str(payment),
            status_badges=payment_status_badges(payment),
            attempts=payment_attempts(payment=payment) if not payment.is_external else None,
            next_retry_at=retry_at_display(payment) if payment.next_retry_at else None,
            allocations=self.allocation_rows(request, payment),
            refunds=payment_refunds(payment=payment),
            activities=target_activities(target=payment),
            actions=self.payment_actions(request, payment),
            download=(
                ObjectAction(_("Download receipt (PDF)"), self.url_for("receipt_pdf", payment.pk))
                if payment_has_receipt(payment)
                else None
            ),
            row_menus=True,
        )
        return TemplateResponse(request, "admin/payments/payment/payment_page.html", context)

    def allocation_rows(self, request: HttpRequest, payment: Payment) -> list[Allocation]:
        """The payment's allocations, each with its (...) menu (`menu`)."""
        back = self.url_for("change", payment.pk)
        allocations = list(payment_allocations(payment=payment))
        for allocation in allocations:
            allocation.menu = (
                [
                    ObjectAction(
                        _("Unallocate"), self.url_for("unallocate", allocation.pk) + "?" + urlencode({"next": back})
                    )
                ]
                if request.user.has_perm(ALLOCATE_PAYMENT) and can_proceed(allocation.remove)
                else []
            )
        return allocations

    def receipt_pdf_view(self, request, object_id):
        """The payment's receipt as a PDF: for money received (succeeded, or voided and kept for the record)."""
        payment = self.object_get(request, object_id)
        if not payment_has_receipt(payment):
            raise Http404(
                _("%(payment)s has no receipt: it is %(status)s.")
                % {"payment": payment, "status": payment.get_status_display().lower()}
            )
        return pdf_response(receipt_pdf(payment), filename=f"{payment.number}.pdf")

    # Buttons

    def record_standalone_view(self, request):
        member_id = object_id_parse(request.GET.get("member"))
        member = Member.objects.filter(pk=member_id).first() if member_id else None
        form = StandalonePaymentForm(
            self.form_data(request),
            initial={
                "member": member,
                "currency": member.default_currency if member else settings.BILLING_DEFAULT_CURRENCY,
            },
        )
        return self.form_page(
            request,
            obj=None,
            permission=RECORD_EXTERNAL_PAYMENT,
            form=form,
            call=lambda: payment_create_standalone(actor=self.actor(request), **form.payment_kwargs()),
            success=lambda payment: (
                _(
                    "%(payment)s recorded: %(amount)s stays unallocated as %(member)s's credit until it is applied to "
                    "an invoice."
                )
                % {"payment": payment, "amount": payment.amount, "member": payment.member}
            ),
            success_url=lambda payment: self.url_for("change", payment.pk),
            title=_("Record a standalone payment"),
            submit_label=_("Record payment"),
            cancel_url=(
                reverse(f"{self.admin_site.name}:members_member_change", args=[member.pk])
                if member
                else self.url_for("changelist")
            ),
            intro=_("Money received without an invoice (an advance, a deposit). It stays unallocated until applied."),
        )

    def unallocate_view(self, request, allocation_id):
        allocation = get_object_or_404(
            Allocation.objects.select_related("payment", "invoice", "invoice__member"), pk=allocation_id
        )
        if not self.has_view_or_change_permission(request, allocation.payment):
            raise PermissionDenied
        back = self.next_url(request, default=self.url_for("change", allocation.payment_id))
        invoice = allocation.invoice
        return self.form_page(
            request,
            obj=allocation.payment,
            permission=ALLOCATE_PAYMENT,
            form=ConfirmedForm(self.form_data(request)),
            call=lambda: allocation_remove(allocation=allocation, actor=self.actor(request)),
            success=lambda removed: (
                _(
                    "%(allocation)s unallocated: %(amount)s is back as unallocated money on %(payment)s, and "
                    "%(invoice)s asks for it again."
                )
                % {
                    "allocation": removed,
                    "amount": allocation.amount,
                    "payment": allocation.payment,
                    "invoice": invoice,
                }
            ),
            success_url=back,
            title=_("Unallocate %(amount)s of %(payment)s from %(invoice)s?")
            % {"amount": allocation.amount, "payment": allocation.payment, "invoice": invoice},
            submit_label=_("Yes, unallocate"),
            cancel_url=back,
            template=CONFIRM_TEMPLATE,
            consequences=[
                _("%(amount)s goes back to %(payment)s as unallocated money (the member's credit).")
                % {"amount": allocation.amount, "payment": allocation.payment},
                (
                    _("%(invoice)s asks for it again: %(remaining)s will remain, and it reopens.")
                    if invoice.status == InvoiceStatus.PAID
                    else _("%(invoice)s asks for it again: %(remaining)s will remain.")
                )
                % {"invoice": invoice, "remaining": invoice.amount_remaining + allocation.amount},
            ],
            next=self.next_url(request, default=""),
        )

    def void_view(self, request, object_id):
        payment = self.object_get(request, object_id)
        back = self.next_url(request, default=self.url_for("change", payment.pk))
        reopens = list(payment_void_reopens(payment=payment))
        form = PaymentVoidForm(self.form_data(request))
        consequences = [
            _("%(payment)s (%(amount)s, %(method)s) becomes void and is kept for audit. This cannot be undone.")
            % {"payment": payment, "amount": payment.amount, "method": payment.get_method_label().lower()}
        ]
        consequences += [
            (
                _("%(invoice)s (%(status)s) gets %(amount)s back to pay: %(remaining)s will remain, and it reopens.")
                if allocation.invoice.status == InvoiceStatus.PAID
                else _("%(invoice)s (%(status)s) gets %(amount)s back to pay: %(remaining)s will remain.")
            )
            % {
                "invoice": allocation.invoice,
                "status": allocation.invoice.get_shown_status_display().lower(),
                "amount": allocation.amount,
                "remaining": allocation.invoice.amount_remaining + allocation.amount,
            }
            for allocation in reopens
        ]
        return self.form_page(
            request,
            obj=payment,
            permission=VOID_PAYMENT,
            form=form,
            call=lambda: payment_void(payment=payment, actor=self.actor(request), reason=form.cleaned_data["reason"]),
            success=lambda voided: " ".join(
                [
                    _("%(payment)s voided.") % {"payment": voided},
                    *(
                        [
                            ngettext(
                                "%(invoices)s asks for the money again.",
                                "%(invoices)s ask for the money again.",
                                len(reopens),
                            )
                            % {"invoices": ", ".join(str(allocation.invoice) for allocation in reopens)}
                        ]
                        if reopens
                        else []
                    ),
                ]
            ),
            success_url=back,
            title=_("Void %(payment)s?") % {"payment": payment},
            submit_label=_("Yes, void the payment"),
            cancel_url=back,
            next=self.next_url(request, default=""),
            template=CONFIRM_TEMPLATE,
            consequences=consequences,
        )

    def apply_view(self, request, object_id):
        payment = self.object_get(request, object_id)
        invoices = member_invoices_payable(member=payment.member, currency=payment.currency)
        first = invoices.first()
        initial_amount = min(payment.amount_unallocated, first.amount_remaining) if first else None
        form = PaymentApplyForm(
            self.form_data(request),
            invoices=invoices,
            currency=payment.currency,
            initial={"amount": amount_initial(initial_amount) if initial_amount else None},
        )
        return self.form_page(
            request,
            obj=payment,
            permission=ALLOCATE_PAYMENT,
            form=form,
            call=lambda: payment_apply(
                invoice=form.cleaned_data["invoice"],
                applications=[(payment, form.cleaned_data["amount"])],
                actor=self.actor(request),
            ),
            success=lambda allocations: (
                _("%(amount)s of %(payment)s applied to %(invoice)s (%(allocation)s).")
                % {
                    "amount": allocations[0].amount,
                    "payment": payment,
                    "invoice": allocations[0].invoice,
                    "allocation": allocations[0],
                }
            ),
            success_url=self.url_for("change", payment.pk),
            title=_("Apply %(payment)s to an invoice") % {"payment": payment},
            submit_label=_("Apply"),
            cancel_url=self.url_for("change", payment.pk),
            intro=_(
                "%(amount)s of %(payment)s is unallocated. Apply at most that, and at most what remains on the invoice."
            )
            % {"amount": payment.amount_unallocated, "payment": payment},
        )

    def allocate_view(self, request, object_id):
        payment = self.object_get(request, object_id)
        back = self.url_for("change", payment.pk)
        return allocate_page(
            self,
            request,
            obj=payment,
            member=payment.member,
            currency=payment.currency,
            payments=[payment] if payment.amount_unallocated.amount > 0 else [],
            back_url=back,
            title=_("Allocate %(payment)s to open invoices") % {"payment": payment},
        )

    def retry_view(self, request, object_id):
        payment = self.object_get(request, object_id)
        back = self.next_url(request, default=self.url_for("change", payment.pk))
        limit = payment_retry_limit(payment)
        cards = member_active_payment_methods(member=payment.member)
        chosen = payment.payment_method
        if chosen is None or not chosen.is_active:
            chosen = cards.first()
        form = CardChargeForm(
            self.form_data(request),
            currency=payment.currency,
            payment_methods=cards,
            amount_help=(
                _("The same amount or less: at most %(limit)s.") % {"limit": limit}
                if limit is not None
                else _("The same amount or less.")
            ),
            initial={
                "amount": amount_initial(limit) if limit is not None else None,
                "payment_method": chosen.pk if chosen else None,
            },
        )
        values = {"payment": payment, "amount": payment.amount, "reason": payment.failure_message, "limit": limit}
        if payment.failure_message:
            asked = _("%(payment)s asked for %(amount)s and failed: %(reason)s.")
        else:
            asked = _("%(payment)s asked for %(amount)s.")
        intro = " ".join([_("A new attempt now, with a new idempotency key."), asked % values])
        if payment.invoice_id and limit is not None and limit < payment.amount:
            intro += " " + _("%(invoice)s now asks for less: at most %(limit)s can be charged.") % {
                **values,
                "invoice": payment.invoice,
            }
        return self.form_page(
            request,
            obj=payment,
            permission=CHARGE_PAYMENT,
            form=form,
            call=lambda: payment_retry(payment=payment, actor=self.actor(request), **form.charge_kwargs()),
            success=lambda attempt: charge_outcome_message(payment),
            success_url=back,
            title=_("Retry %(payment)s") % {"payment": payment},
            submit_label=_("Retry the charge"),
            cancel_url=back,
            next=self.next_url(request, default=""),
            intro=intro,
        )

    def cancel_view(self, request, object_id):
        payment = self.object_get(request, object_id)
        back = self.next_url(request, default=self.url_for("change", payment.pk))
        consequences = [
            _(
                "%(payment)s (%(amount)s, %(status)s) is canceled: nothing more is charged for it and its automatic "
                "retries stop. This cannot be undone."
            )
            % {"payment": payment, "amount": payment.amount, "status": payment.get_status_display().lower()}
        ]
        if payment.invoice_id:
            consequences.append(
                _("%(invoice)s keeps asking for %(remaining)s; charge a card again or record another payment for it.")
                % {"invoice": payment.invoice, "remaining": payment.invoice.amount_remaining}
            )
        form = PaymentCancelForm(self.form_data(request))
        return self.form_page(
            request,
            obj=payment,
            permission=CHARGE_PAYMENT,
            form=form,
            call=lambda: payment_cancel(payment=payment, actor=self.actor(request), reason=form.cleaned_data["reason"]),
            success=lambda canceled: (
                _("%(payment)s canceled; nothing more will be charged for it.") % {"payment": canceled}
            ),
            success_url=back,
            title=_("Cancel %(payment)s?") % {"payment": payment},
            submit_label=_("Yes, cancel the payment"),
            cancel_url=back,
            next=self.next_url(request, default=""),
            template=CONFIRM_TEMPLATE,
            consequences=consequences,
        )

    def refund_view(self, request, object_id):
        payment = self.object_get(request, object_id)
        self.permission_require(request, REFUND_PAYMENT)
        refundable = payment_refundable(payment)
        back = self.next_url(request, default=self.url_for("change", payment.pk))
        form_kwargs = {
            "currency": payment.currency,
            "amount_help": _("At most %(refundable)s: the payment's amount less what is refunded or being refunded.")
            % {"refundable": refundable},
        }
        if request.method == "POST" and "_preview" in request.POST:
            form = preview_initial(RefundForm, request.POST, **form_kwargs)
            amount_text = request.POST.get("amount")
        else:
            initial_amount = amount_initial(refundable) if refundable.amount > 0 else None
            form = RefundForm(self.form_data(request), initial={"amount": initial_amount}, **form_kwargs)
            amount_text = request.POST.get("amount") if request.method == "POST" else str(initial_amount or "")
        preview = refund_preview(payment=payment, text=amount_text)
        if payment.is_external:
            intro = _(
                "%(payment)s is an external payment (%(kind)s): the refund is recorded at once; give the money back "
                "outside the system."
            ) % {"payment": payment, "kind": payment.get_external_kind_display().lower()}
        else:
            intro = _(
                "%(payment)s was charged to %(card)s: the refund goes back to that card through the gateway, and is "
                "pending until the gateway answers."
            ) % {"payment": payment, "card": payment.payment_method}
        intro += " " + _(
            "It takes the payment's unallocated money first, then the money it paid invoices with, newest first."
        )
        return self.form_page(
            request,
            obj=payment,
            permission=REFUND_PAYMENT,
            form=form,
            call=lambda: payment_refund(payment=payment, actor=self.actor(request), **form.refund_kwargs()),
            success=refund_outcome_message,
            success_url=back,
            title=_("Refund %(payment)s") % {"payment": payment},
            submit_label=_("Refund"),
            cancel_url=back,
            template="admin/payments/payment/refund_form.html",
            fieldsets=[
                (None, {"fields": ["amount", "reason", "note"]}),
                (
                    _("What happens to the invoices"),
                    {
                        "fields": ["invoice_handling"],
                        "description": _(
                            "This refund takes money that paid invoices. Choose, for this refund, whether those "
                            "invoices ask for it again or are reduced by a credit note."
                        ),
                    },
                ),
            ],
            intro=intro,
            preview=preview,
            preview_html=refund_preview_html(preview, payment=payment),
            preview_url=self.url_for("refund_preview", payment.pk),
            next=self.next_url(request, default=""),
        )

    def refund_preview_view(self, request, object_id):
        """What the Refund page's script asks when the amount changes: the preview as JSON, with its HTML."""
        payment = self.object_get(request, object_id)
        self.permission_require(request, REFUND_PAYMENT)
        preview = refund_preview(payment=payment, text=request.GET.get("amount"))
        data = {**preview.as_json(), "html": refund_preview_html(preview, payment=payment)}
        return JsonResponse(data, status=400 if preview.error else 200)


ALLOCATE_TEMPLATE = "admin/payments/allocate_form.html"


def allocate_page(
    model_admin: BillingAdminMixin,
    request: HttpRequest,
    *,
    obj,
    member: Member,
    currency: str,
    payments: list[Payment],
    back_url: str,
    title: str,
    **extra,
):
    """The Allocate page of a payment or a member: the member's open invoices in `currency`, oldest first, with the
    unallocated money of `payments` split over them (oldest invoice first), a preview of the result (on GET and on
    Preview, read from the current rows), and Allocate, which calls `payments_allocate` once for the form's key."""
    invoices = list(member_invoices_payable(member=member, currency=currency))
    available = money_sum([payment.amount_unallocated for payment in payments], currency)
    form = AllocateForm(
        model_admin.form_data(request), rows=allocation_split(available=available, invoices=invoices), currency=currency
    )
    common = {
        "payments": sorted(payments, key=payment_age_key),
        "available": available,
        "currency": currency,
        "allocate_member": member,
        "intro": _(
            "%(available)s of %(member)s's money in %(currency)s is unallocated. It is split over their open invoices "
            "oldest first; untick an invoice to leave it out, or change the amounts, then preview and allocate."
        )
        % {"available": available, "member": member, "currency": currency},
        **extra,
    }
    if request.method == "POST" and "_preview" in request.POST:
        model_admin.permission_require(request, ALLOCATE_PAYMENT)
        preview = None
        if form.is_valid():
            try:
                preview = allocation_preview(payments=payments, amounts=form.amounts())
            except BillingError as error:
                form.add_error(None, error.message)
        context = model_admin.page_context(
            request,
            obj=obj,
            title=title,
            form=form,
            submit_label=_("Allocate"),
            cancel_url=back_url,
            preview=preview,
            **common,
        )
        return TemplateResponse(request, ALLOCATE_TEMPLATE, context)
    preview = None
    if request.method != "POST" and payments:
        split = allocation_split(available=available, invoices=invoices)
        proposed = [(invoice, amount) for invoice, amount in split if amount.amount > 0]
        if proposed:
            preview = allocation_preview(payments=payments, amounts=proposed)
    return model_admin.form_page(
        request,
        obj=obj,
        permission=ALLOCATE_PAYMENT,
        form=form,
        call=lambda: payments_allocate(
            member=member, payments=payments, amounts=form.amounts(), actor=model_admin.actor(request)
        ),
        success=lambda allocations: (
            _("Allocated %(total)s: %(allocations)s.")
            % {
                "total": money_sum([allocation.amount for allocation in allocations], currency),
                "allocations": ", ".join(
                    _("%(amount)s of %(payment)s to %(invoice)s")
                    % {"amount": allocation.amount, "payment": allocation.payment, "invoice": allocation.invoice}
                    for allocation in allocations
                ),
            }
        ),
        success_url=back_url,
        title=title,
        submit_label=_("Allocate"),
        cancel_url=back_url,
        template=ALLOCATE_TEMPLATE,
        preview=preview,
        **common,
    )
