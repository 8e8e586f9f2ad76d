"""The payment admin: list, the payment page and its buttons, standalone payments and unallocation.

Payments are never added, edited or deleted through generic model forms: every change goes through a service.
"""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django_fsm import can_proceed

from billing.models import InvoiceStatus
from billing.selectors import target_activities
from members.models import Member
from payments.admin.base import (
    ALLOCATE_PAYMENT,
    CONFIRM_TEMPLATE,
    RECORD_EXTERNAL_PAYMENT,
    VOID_PAYMENT,
    BillingAdminMixin,
    ObjectAction,
)
from payments.admin.forms import PaymentApplyForm, PaymentVoidForm, StandalonePaymentForm, amount_initial
from payments.models import Allocation, Payment, PaymentStatus
from payments.selectors import member_invoices_payable, payment_allocations, payment_void_reopens
from payments.services.payment_apply import allocation_remove, payment_apply
from payments.services.payment_external import payment_create_standalone
from payments.services.payment_void import payment_void


@admin.register(Payment)
class PaymentAdmin(BillingAdminMixin, admin.ModelAdmin):
    list_display = (
        "number",
        "member",
        "method_label",
        "amount",
        "amount_allocated",
        "amount_unallocated",
        "status",
        "received_on",
    )
    list_filter = ("status", "method", "external_kind", "currency")
    search_fields = ("number", "member__name", "reference")
    list_select_related = ("member",)
    actions = None

    @admin.display(description="Method", ordering="method")
    def method_label(self, payment: Payment) -> str:
        return payment.get_method_label()

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member", "invoice")

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
            self.view_path(
                "allocations/<int:allocation_id>/unallocate/", self.unallocate_view, "unallocate", post_only=True
            ),
            self.view_path("<path:object_id>/void/", self.void_view, "void"),
            self.view_path("<path:object_id>/apply/", self.apply_view, "apply"),
            *super().get_urls(),
        ]

    def payment_actions(self, request: HttpRequest, payment: Payment) -> list[ObjectAction]:
        """The buttons the payment's state and the user's permissions allow. Refund and retry (card payments)
        belong in this list too."""
        user = request.user
        actions = []
        if (
            payment.status == PaymentStatus.SUCCEEDED
            and payment.amount_unallocated.amount > 0
            and user.has_perm(ALLOCATE_PAYMENT)
            and member_invoices_payable(member=payment.member, currency=payment.currency).exists()
        ):
            actions.append(ObjectAction("Apply to invoice", self.url_for("apply", payment.pk)))
        if (
            payment.is_external
            and can_proceed(payment.void)
            and payment.amount_refunded.amount == 0
            and payment.amount_refund_pending.amount == 0
            and user.has_perm(VOID_PAYMENT)
        ):
            actions.append(ObjectAction("Void payment", self.url_for("void", payment.pk), danger=True))
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
            allocations=payment_allocations(payment=payment),
            activities=target_activities(target=payment),
            actions=self.payment_actions(request, payment),
            can_unallocate=request.user.has_perm(ALLOCATE_PAYMENT),
        )
        return TemplateResponse(request, "admin/payments/payment/payment_page.html", context)

    # Buttons

    def record_standalone_view(self, request):
        member = None
        if member_id := request.GET.get("member"):
            member = Member.objects.filter(pk=member_id).first() if member_id.isdigit() else None
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
                f"{payment} recorded: {payment.amount} stays unallocated as {payment.member}'s "
                "credit until it is applied to an invoice."
            ),
            success_url=lambda payment: self.url_for("change", payment.pk),
            title="Record a standalone payment",
            submit_label="Record payment",
            cancel_url=(
                reverse(f"{self.admin_site.name}:members_member_change", args=[member.pk])
                if member
                else self.url_for("changelist")
            ),
            intro="Money received without an invoice (an advance, a deposit). It stays unallocated until applied.",
        )

    def unallocate_view(self, request, allocation_id):
        allocation = get_object_or_404(Allocation.objects.select_related("payment", "invoice"), pk=allocation_id)
        return self.action_post(
            request,
            permission=ALLOCATE_PAYMENT,
            call=lambda: allocation_remove(allocation=allocation, actor=self.actor(request)),
            success=lambda removed: (
                f"{removed} unallocated: {allocation.amount} is back as unallocated money on {allocation.payment}, "
                f"and {allocation.invoice} asks for it again."
            ),
            redirect_url=self.next_url(request, default=self.url_for("change", allocation.payment_id)),
        )

    def void_view(self, request, object_id):
        payment = self.object_get(request, object_id)
        reopens = list(payment_void_reopens(payment=payment))
        form = PaymentVoidForm(self.form_data(request))
        consequences = [
            f"{payment} ({payment.amount}, {payment.get_method_label().lower()}) becomes void and is kept for audit. "
            "This cannot be undone."
        ]
        consequences += [
            f"{allocation.invoice} ({allocation.invoice.get_shown_status_display().lower()}) gets {allocation.amount} "
            f"back to pay: {allocation.invoice.amount_remaining + allocation.amount} will remain"
            + (", and it reopens." if allocation.invoice.status == InvoiceStatus.PAID else ".")
            for allocation in reopens
        ]
        return self.form_page(
            request,
            obj=payment,
            permission=VOID_PAYMENT,
            form=form,
            call=lambda: payment_void(payment=payment, actor=self.actor(request), reason=form.cleaned_data["reason"]),
            success=lambda voided: (
                f"{voided} voided."
                + (
                    f" {', '.join(str(allocation.invoice) for allocation in reopens)} "
                    f"{'asks' if len(reopens) == 1 else 'ask'} for the money again."
                    if reopens
                    else ""
                )
            ),
            success_url=self.url_for("change", payment.pk),
            title=f"Void {payment}?",
            submit_label="Yes, void the payment",
            cancel_url=self.url_for("change", payment.pk),
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
                f"{allocations[0].amount} of {payment} applied to {allocations[0].invoice} ({allocations[0]})."
            ),
            success_url=self.url_for("change", payment.pk),
            title=f"Apply {payment} to an invoice",
            submit_label="Apply",
            cancel_url=self.url_for("change", payment.pk),
            intro=f"{payment.amount_unallocated} of {payment} is unallocated. Apply at most that, and at most what "
            "remains on the invoice.",
        )
