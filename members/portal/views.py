"""The portal's pages. Thin: each reads through the member-scoped selectors, calls one service for a change, and turns
its BillingError into a form error or a message."""

from collections.abc import Callable
from decimal import Decimal
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import PasswordResetView, redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.activity import Actor
from billing.documents import invoice_pdf, invoice_pdf_filename, payment_has_receipt, pdf_response, receipt_pdf
from billing.errors import BillingError
from billing.form_intents import INTENT_OUT_OF_DATE, intent_from_post, intent_redirect, intent_repeat_response
from billing.intents import IntentRepeated, intent_check_unused
from billing.models import InvoiceStatus, ShownStatus, invoice_accepts_payment
from billing.money import amount_as_typed, money_from_db, money_sum, zero
from billing.selectors import member_balance_entries, member_money_balances
from members.languages import language_activate, member_language_set, session_language_remember
from members.portal.forms import AddCardForm, LanguageForm, PayAllForm, PayForm
from members.portal.selectors import (
    InvoiceAmounts,
    invoice_amounts,
    invoice_card_payments_in_progress,
    invoice_get_for_member,
    invoice_refunds,
    invoices_amounts,
    member_payable_by_currency,
    member_portal_invoices,
    member_portal_payments,
    payment_get_for_member,
    payment_invoices,
    payment_method_get_for_member,
    payment_retried_with_card,
    portal_member,
)
from payments.models import IN_FLIGHT_STATUSES, PaymentMethodKind, PaymentStatus
from payments.selectors import (
    invoice_allocations,
    invoice_credit_notes,
    member_active_payment_methods,
    member_payments_with_credit,
    member_unallocated_by_currency,
    payment_allocations,
    payment_refunds,
)
from payments.services.payment_card import invoices_pay_with_card, payment_create_card
from payments.services.payment_method import (
    payment_method_add,
    payment_method_remove,
    payment_method_set_default,
    payment_method_setup_start,
)

# Statuses a member can filter the invoice list by (drafts are never shown to members).
FILTER_STATUSES = [choice for choice in ShownStatus.choices if choice[0] != ShownStatus.DRAFT]


def member_required(view: Callable) -> Callable:
    """A logged-in member: `request.member` and `request.actor` are set. Anonymous visitors go to the login page;
    a login without a member (a staff account) gets the "members only" page. Pages are never cached."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        member = portal_member(request.user)
        if member is None:
            response = render(request, "portal/members_only.html", status=403)
        else:
            request.member = member
            request.actor = Actor.member(request.user)
            language_activate(request, member.language)
            response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapper


def once_per_intent(page: Callable[..., str]) -> Callable:
    """For a view that acts on POST (spec 11, once per intent): the form's one-time key goes to the services with
    the member (`request.actor`); a form sent again shows the first outcome (`intent_redirect` keeps it), even when
    the rules now refuse what the first submission did. A POST without a valid key is refused and acts on nothing.
    `page(request, **kwargs)` is the form's page, reloaded after that refusal and shown when a repeat finds no
    outcome to show."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != "POST":
                return view(request, *args, **kwargs)
            intent = intent_from_post(request)
            if intent is None:
                messages.error(request, INTENT_OUT_OF_DATE)
                return redirect(page(request, **kwargs))
            request.billing_intent = intent
            request.actor = Actor.member(request.user, intent=intent)
            try:
                intent_check_unused(actor=request.actor)
                try:
                    response = view(request, *args, **kwargs)
                except Http404:
                    intent_check_unused(actor=request.actor)  # a card the first submission removed
                    raise
                if not getattr(request, "intent_answered", False) and not getattr(request, "intent_spent", False):
                    # Refused before any service claimed the key: by rules that a first submission just changed?
                    intent_check_unused(actor=request.actor)
                return response
            except IntentRepeated as repeated:
                return intent_repeat_response(request, repeated, fallback_url=page(request, **kwargs))

        return wrapper

    return decorate


def _intent_spent(request: HttpRequest) -> Actor:
    """The member for the next service of the same form, once a first one (saving the new card) used its key; the
    page shown after a refusal then carries a fresh key."""
    request.intent_spent = True
    return request.actor.without_intent()


def _card_form_context() -> dict:
    """What the card forms need: Stripe.js (the only external script) only when the gateway is Stripe."""
    stripe = settings.PAYMENT_GATEWAY == "stripe"
    return {
        "gateway": settings.PAYMENT_GATEWAY,
        "stripe_js_url": settings.STRIPE_JS_URL if stripe else "",
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY if stripe else "",
    }


def _card_form_kwargs(request: HttpRequest) -> dict:
    return {"gateway": settings.PAYMENT_GATEWAY, "cards": list(member_active_payment_methods(member=request.member))}


def _card_saved_note(payment_method) -> str:
    """A sentence to add after a refusal, with its leading space."""
    return " " + _("Your new card (%(card)s) is saved and chosen below.") % {"card": payment_method}


class MemberPasswordResetView(PasswordResetView):
    """Django's password reset, with the space's name in the mail."""

    def form_valid(self, form):
        self.extra_email_context = {"site_name": settings.BILLING_SPACE_NAME}
        return super().form_valid(form)


@member_required
@require_POST
def language_choose(request: HttpRequest) -> HttpResponse:
    """The header's language selector: the member's language for the portal, the mails and the PDFs."""
    form = LanguageForm(request.POST)
    if form.is_valid():
        language = form.cleaned_data["language"]
        member_language_set(member=request.member, language=language)
        session_language_remember(request, language)
    else:
        messages.error(request, _("Choose one of the languages offered."))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("portal:invoice_list")
    return redirect(back)


# Invoices ----------------------------------------------------------------------------------------------------------


@member_required
@require_GET
def invoice_list(request: HttpRequest) -> HttpResponse:
    invoices = member_portal_invoices(member=request.member)
    status = request.GET.get("status", "")
    if status in dict(FILTER_STATUSES):
        invoices = invoices.with_shown_status(status)
    else:
        status = ""
    pay_all = [
        {"currency": currency, "count": len(rows), "total": money_sum((row.available for row in rows), currency)}
        for currency, rows in member_payable_by_currency(member=request.member).items()
        if len(rows) > 1
    ]
    return render(
        request,
        "portal/invoice_list.html",
        {
            "rows": invoices_amounts(list(invoices)),
            "pay_all": pay_all,
            "status_filter": status,
            "filter_statuses": FILTER_STATUSES,
        },
    )


def _invoice_context(request: HttpRequest, pk: int) -> dict:
    invoice = invoice_get_for_member(member=request.member, pk=pk)
    return {
        "invoice": invoice,
        "amounts": invoice_amounts(invoice),
        "lines": invoice.lines.all(),
        "allocations": invoice_allocations(invoice=invoice),
        "unsettled_payments": invoice_card_payments_in_progress(invoice=invoice),
        "credit_notes": invoice_credit_notes(invoice=invoice),
        "refunds": invoice_refunds(invoice=invoice),
        "member": request.member,
    }


@member_required
@require_GET
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "portal/invoice_detail.html", _invoice_context(request, pk))


@member_required
@require_GET
def invoice_print(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "portal/invoice_print.html", _invoice_context(request, pk))


@member_required
@require_GET
def invoice_download(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = invoice_get_for_member(member=request.member, pk=pk)
    return pdf_response(invoice_pdf(invoice), filename=invoice_pdf_filename(invoice))


def _not_payable_reason(amounts: InvoiceAmounts) -> str:
    invoice = amounts.invoice
    if invoice.status == InvoiceStatus.VOID:
        return _("%(invoice)s is void: there is nothing to pay.") % {"invoice": invoice}
    if not invoice_accepts_payment(invoice):
        return _("%(invoice)s is paid in full.") % {"invoice": invoice}
    return _("%(reserved)s of %(invoice)s is being processed; check back in a moment.") % {
        "reserved": amounts.reserved,
        "invoice": invoice,
    }


@member_required
@require_http_methods(["GET", "POST"])
@once_per_intent(lambda request, pk: reverse("portal:invoice_pay", args=[pk]))
def invoice_pay(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = invoice_get_for_member(member=request.member, pk=pk)
    amounts = invoice_amounts(invoice)
    context = {
        "invoice": invoice,
        "amounts": amounts,
        "partial_minimum": money_from_db(Decimal(settings.BILLING_PORTAL_PARTIAL_MINIMUM), invoice.currency),
        **_card_form_context(),
    }
    if not amounts.payable:
        if request.method == "POST":
            messages.error(request, _not_payable_reason(amounts))
            return redirect("portal:invoice_detail", pk=invoice.pk)
        return render(request, "portal/invoice_pay.html", {**context, "not_payable": _not_payable_reason(amounts)})
    form_kwargs = {
        **_card_form_kwargs(request),
        "currency": invoice.currency,
        "partial": settings.BILLING_PORTAL_PARTIAL_PAYMENTS,
    }
    if request.method == "POST":
        form = PayForm(request.POST, **form_kwargs)
        if form.is_valid():
            payment = _invoice_pay(request, invoice, form)
            if payment is not None:
                return intent_redirect(request, reverse("portal:payment_status", args=[payment.pk]))
    else:
        form = PayForm(initial={"amount": amount_as_typed(amounts.available)}, **form_kwargs)
    return render(request, "portal/invoice_pay.html", {**context, "form": form})


def _invoice_pay(request: HttpRequest, invoice, form: PayForm):
    """Save the new card if one was typed, then pay; the payment to follow, or None with the form's errors set.
    A new card retries the member's failed payments at once: when it retried one of this invoice, that is the
    payment to follow, not a second one."""
    payment_method = form.cleaned_data["payment_method"]
    actor = request.actor
    try:
        if form.pays_with_new_card:
            payment_method = payment_method_add(
                member=request.member, card_token=form.cleaned_data["card_token"], actor=actor
            )
            actor = _intent_spent(request)
            retried = payment_retried_with_card(member=request.member, invoice=invoice, payment_method=payment_method)
            if retried is not None:
                return retried
    except BillingError as error:
        form.add_error(None, error.message)
        return None
    try:
        return payment_create_card(
            invoice=invoice, actor=actor, amount=form.cleaned_data["amount"], payment_method=payment_method
        )
    except BillingError as error:
        if form.pays_with_new_card:
            retried = payment_retried_with_card(member=request.member, invoice=invoice, payment_method=payment_method)
            if retried is not None:
                return retried
            form.add_error(None, error.message + _card_saved_note(payment_method))
            form.card_saved(payment_method)
        else:
            form.add_error(None, error.message)
        return None


@member_required
@require_http_methods(["GET", "POST"])
@once_per_intent(lambda request, currency: reverse("portal:invoices_pay_all", args=[currency]))
def invoices_pay_all(request: HttpRequest, currency: str) -> HttpResponse:
    currency = currency.upper()
    rows = member_payable_by_currency(member=request.member).get(currency, [])
    total = money_sum((row.available for row in rows), currency) if rows else None
    context = {"currency": currency, "rows": rows, "total": total, **_card_form_context()}
    if not rows:
        if request.method == "POST":
            messages.error(request, _("You have no invoice to pay in %(currency)s.") % {"currency": currency})
            return redirect("portal:invoice_list")
        return render(request, "portal/invoices_pay_all.html", context)
    if request.method == "POST":
        form = PayAllForm(request.POST, **_card_form_kwargs(request))
        if form.is_valid():
            payment = _invoices_pay_all(request, currency, form)
            if payment is not None:
                return intent_redirect(request, reverse("portal:payment_status", args=[payment.pk]))
            rows = member_payable_by_currency(member=request.member).get(currency, [])
            total = money_sum((row.available for row in rows), currency) if rows else None
            context.update(rows=rows, total=total)
            form.data = form.data.copy()
            form.data["expected_total"] = str(total.amount) if total else ""
    else:
        form = PayAllForm(initial={"expected_total": str(total.amount)}, **_card_form_kwargs(request))
    return render(request, "portal/invoices_pay_all.html", {**context, "form": form})


def _invoices_pay_all(request: HttpRequest, currency: str, form: PayAllForm):
    payment_method = form.cleaned_data["payment_method"]
    actor = request.actor
    saved_note = ""
    if form.pays_with_new_card:
        try:
            payment_method = payment_method_add(
                member=request.member, card_token=form.cleaned_data["card_token"], actor=actor
            )
        except BillingError as error:
            form.add_error(None, error.message)
            return None
        actor = _intent_spent(request)
        saved_note = _card_saved_note(payment_method)
        form.card_saved(payment_method)
    rows = member_payable_by_currency(member=request.member).get(currency, [])
    if not rows:
        form.add_error(
            None, _("You have no invoice left to pay in %(currency)s.") % {"currency": currency} + saved_note
        )
        return None
    total = money_sum((row.available for row in rows), currency)
    if form.cleaned_data["expected_total"] != str(total.amount):
        form.add_error(None, _("What you owe changed since you opened this page: check the new total.") + saved_note)
        return None
    try:
        return invoices_pay_with_card(
            member=request.member,
            invoices=[row.invoice for row in rows],
            actor=actor,
            payment_method=payment_method,
        )
    except BillingError as error:
        form.add_error(None, error.message + saved_note)
        return None


# Payments and receipts ---------------------------------------------------------------------------------------------


@member_required
@require_GET
def payment_list(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/payment_list.html", {"payments": member_portal_payments(member=request.member)})


def _payment_state(payment) -> str:
    if payment.status in IN_FLIGHT_STATUSES:
        return "processing"
    return payment.status


@member_required
@require_GET
def payment_status(request: HttpRequest, pk: int) -> HttpResponse:
    payment = payment_get_for_member(member=request.member, pk=pk)
    if payment.method != PaymentMethodKind.CARD:
        return redirect("portal:receipt", pk=payment.pk)
    invoices = payment_invoices(payment=payment)
    retry_url = ""
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        payable = [row for row in invoices_amounts(invoices) if row.payable]
        if len(payable) == 1:
            retry_url = reverse("portal:invoice_pay", args=[payable[0].invoice.pk])
        elif payable:
            retry_url = reverse("portal:invoices_pay_all", args=[payment.currency])
    return render(
        request,
        "portal/payment_status.html",
        {"payment": payment, "state": _payment_state(payment), "invoices": invoices, "retry_url": retry_url},
    )


@member_required
@require_GET
def payment_status_json(request: HttpRequest, pk: int) -> JsonResponse:
    payment = payment_get_for_member(member=request.member, pk=pk)
    state = _payment_state(payment)
    return JsonResponse(
        {"number": payment.number, "status": payment.status, "state": state, "done": state != "processing"}
    )


@member_required
@require_GET
def receipt(request: HttpRequest, pk: int) -> HttpResponse:
    payment = payment_get_for_member(member=request.member, pk=pk)
    if not payment_has_receipt(payment):
        return redirect("portal:payment_status", pk=payment.pk)
    return render(
        request,
        "portal/receipt.html",
        {
            "payment": payment,
            "member": request.member,
            "allocations": payment_allocations(payment=payment),
            "refunds": payment_refunds(payment=payment),
        },
    )


@member_required
@require_GET
def receipt_download(request: HttpRequest, pk: int) -> HttpResponse:
    payment = payment_get_for_member(member=request.member, pk=pk)
    if not payment_has_receipt(payment):
        raise Http404(_("This payment has no receipt yet."))
    return pdf_response(receipt_pdf(payment), filename=f"{payment.number}.pdf")


# Cards -------------------------------------------------------------------------------------------------------------


def _cards_page(request: HttpRequest, form: AddCardForm, *, status: int = 200) -> HttpResponse:
    return render(
        request,
        "portal/cards.html",
        {"cards": member_active_payment_methods(member=request.member), "form": form, **_card_form_context()},
        status=status,
    )


@member_required
@require_GET
def card_list(request: HttpRequest) -> HttpResponse:
    return _cards_page(request, AddCardForm(gateway=settings.PAYMENT_GATEWAY))


@member_required
@require_POST
@once_per_intent(lambda request: reverse("portal:card_list"))
def card_add(request: HttpRequest) -> HttpResponse:
    form = AddCardForm(request.POST, gateway=settings.PAYMENT_GATEWAY)
    if form.is_valid():
        try:
            card = payment_method_add(
                member=request.member,
                card_token=form.cleaned_data["card_token"],
                actor=request.actor,
                make_default=form.cleaned_data["make_default"],
            )
        except BillingError as error:
            form.add_error(None, error.message)
        else:
            return intent_redirect(
                request, reverse("portal:card_list"), message=_("Your card %(card)s is saved.") % {"card": card}
            )
    return _cards_page(request, form)


@member_required
@require_POST
def card_setup(request: HttpRequest) -> JsonResponse:
    """The client secret of a new SetupIntent, for Stripe.js to confirm the card typed in the card element."""
    try:
        client_secret = payment_method_setup_start(member=request.member, actor=request.actor)
    except BillingError as error:
        return JsonResponse({"error": error.message}, status=400)
    return JsonResponse({"client_secret": client_secret})


@member_required
@require_POST
@once_per_intent(lambda request, pk: reverse("portal:card_list"))
def card_set_default(request: HttpRequest, pk: int) -> HttpResponse:
    card = payment_method_get_for_member(member=request.member, pk=pk)
    try:
        payment_method_set_default(payment_method=card, actor=request.actor)
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("portal:card_list")
    return intent_redirect(
        request, reverse("portal:card_list"), message=_("%(card)s is now your default card.") % {"card": card}
    )


@member_required
@require_http_methods(["GET", "POST"])
@once_per_intent(lambda request, pk: reverse("portal:card_list"))
def card_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove a card, after a confirmation page: a POST that does not come from it (the button of an older page)
    removes nothing and shows the confirmation."""
    card = payment_method_get_for_member(member=request.member, pk=pk)
    if request.method == "POST" and request.POST.get("confirmed") == "1":
        try:
            payment_method_remove(payment_method=card, actor=request.actor)
        except BillingError as error:
            messages.error(request, error.message)
            return redirect("portal:card_list")
        return intent_redirect(request, reverse("portal:card_list"), message=_("%(card)s is removed.") % {"card": card})
    if request.method == "POST":
        messages.info(request, _("Nothing was removed yet: confirm below."))
    others = member_active_payment_methods(member=request.member).exclude(pk=card.pk)
    return render(request, "portal/card_remove.html", {"card": card, "others": others.exists()})


# Credit ------------------------------------------------------------------------------------------------------------


@member_required
@require_GET
def credit(request: HttpRequest) -> HttpResponse:
    member = request.member
    balances = member_money_balances(member=member)
    unallocated = member_unallocated_by_currency(member=member)
    currencies = sorted(set(balances) | set(unallocated))
    summary = [
        {
            "currency": currency,
            "balance": balances.get(currency, zero(currency)),
            "unallocated": unallocated.get(currency, zero(currency)),
            "total": balances.get(currency, zero(currency)) + unallocated.get(currency, zero(currency)),
        }
        for currency in currencies
    ]
    return render(
        request,
        "portal/credit.html",
        {
            "summary": summary,
            "payments_with_credit": member_payments_with_credit(member=member),
            "entries": list(member_balance_entries(member=member)[:100]),
        },
    )
