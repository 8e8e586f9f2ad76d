"""The bank pages of the admin: import a statement, review the transactions with their proposed matches (filters
matched / needs review / unmatched), confirm one or many, match by hand, ignore, undo; the CSV column mappings and
the members' known IBANs."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from bank.forms import (
    GUESS,
    BankTransactionIgnoreForm,
    BankTransactionMatchForm,
    BankTransactionUndoForm,
    StatementUploadForm,
)
from bank.matching import allocation_plan, bank_transaction_candidates
from bank.models import (
    HIGH_CONFIDENCE,
    BankTransaction,
    BankTransactionPayment,
    BankTransactionStatus,
    CsvMapping,
    MemberBankAccount,
    ProposedAllocation,
    StatementFormat,
    StatementImport,
)
from bank.services.bank_transaction_match import (
    bank_transaction_ignore,
    bank_transaction_match,
    bank_transaction_propose_again,
)
from bank.services.bank_transaction_record import bank_transaction_record, bank_transaction_undo
from bank.services.statement_import import statement_import
from bank.statements import statement_format_guess
from billing.admin.base import (
    CONFIRM_TEMPLATE,
    RECORD_EXTERNAL_PAYMENT,
    VOID_PAYMENT,
    BillingAdminMixin,
    ObjectAction,
    ReadOnlyAdmin,
    transition_allowed,
)
from billing.admin.fields import ConfirmedForm, object_id_parse
from billing.errors import BillingError
from billing.selectors import target_activities
from members.models import Member

IMPORT_STATEMENT = "bank.add_banktransaction"
CHANGE_BANK_TRANSACTION = "bank.change_banktransaction"


class ReviewFilter(admin.SimpleListFilter):
    """What needs a person: proposals sure enough to confirm, proposals to check, credits with no proposal."""

    title = gettext_lazy("review")
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [
            ("matched", gettext_lazy("Matched")),
            ("needs_review", gettext_lazy("Needs review")),
            ("unmatched", gettext_lazy("Unmatched")),
            ("not_matchable", gettext_lazy("Debits and other currencies")),
        ]

    def queryset(self, request, queryset):
        matchable = Q(is_credit=True, currency__in=settings.BILLING_CURRENCIES)
        if self.value() == "matched":
            return queryset.filter(status=BankTransactionStatus.MATCHED, confidence__gte=HIGH_CONFIDENCE)
        if self.value() == "needs_review":
            return queryset.filter(status=BankTransactionStatus.MATCHED, confidence__lt=HIGH_CONFIDENCE)
        if self.value() == "unmatched":
            return queryset.filter(matchable, status=BankTransactionStatus.UNMATCHED)
        if self.value() == "not_matchable":
            return queryset.exclude(matchable)
        return queryset


@admin.register(BankTransaction)
class BankTransactionAdmin(BillingAdminMixin, admin.ModelAdmin):
    list_display = (
        "booking_date",
        "amount_shown",
        "counterparty",
        "remittance_shown",
        "status_shown",
        "proposed_match",
    )
    list_display_links = ("booking_date",)
    list_filter = (ReviewFilter, "status", "booking_date")
    search_fields = ("counterparty_name", "counterparty_iban", "remittance", "bank_reference")
    actions = ["confirm_selected", "propose_again"]
    list_per_page = 50

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("member")
            .prefetch_related(
                Prefetch("proposed", queryset=ProposedAllocation.objects.select_related("invoice").order_by("pk")),
                Prefetch(
                    "recordings", queryset=BankTransactionPayment.objects.select_related("payment").order_by("pk")
                ),
            )
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            self.view_path("import/", self.import_view, "import"),
            self.view_path("<path:object_id>/record/", self.record_view, "record"),
            self.view_path("<path:object_id>/match/", self.match_view, "match"),
            self.view_path("<path:object_id>/ignore/", self.ignore_view, "ignore"),
            self.view_path("<path:object_id>/undo/", self.undo_view, "undo"),
            *super().get_urls(),
        ]

    # The list's columns

    @admin.display(description=gettext_lazy("Amount"), ordering="amount")
    def amount_shown(self, obj: BankTransaction):
        if obj.is_credit:
            return str(obj.amount)
        return format_html('<span class="billing-quiet">−{} ({})</span>', obj.amount, _("debit"))

    @admin.display(description=gettext_lazy("From"))
    def counterparty(self, obj: BankTransaction):
        return format_html("{}<div class='billing-quiet'>{}</div>", obj.counterparty_name or "–", obj.counterparty_iban)

    @admin.display(description=gettext_lazy("Remittance"))
    def remittance_shown(self, obj: BankTransaction):
        text = obj.remittance or obj.ignored_reason
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_shown(self, obj: BankTransaction):
        payments = self.payment_shown(obj)
        if not payments:
            return obj.get_status_display()
        return format_html("{}<div>{}</div>", obj.get_status_display(), payments)

    @admin.display(description=gettext_lazy("Proposed match"), ordering="confidence")
    def proposed_match(self, obj: BankTransaction):
        if obj.member_id is None:
            return "–"
        invoices = format_html_join(
            ", ",
            "{}{}",
            (
                (proposal.invoice, f" ({proposal.amount})" if proposal.amount is not None else "")
                for proposal in obj.proposed.all()
            ),
        )
        return format_html(
            '<a href="{}">{}</a><div>{}</div><div class="billing-quiet">{} % · {}</div>',
            reverse("admin:members_member_change", args=[obj.member_id]),
            obj.member,
            invoices or _("no invoice: kept as credit"),
            obj.confidence,
            obj.get_match_rule_display(),
        )

    def payment_shown(self, obj: BankTransaction):
        payments = [recording.payment for recording in obj.recordings.all()]
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>{}',
            (
                (
                    reverse("admin:payments_payment_change", args=[payment.pk]),
                    payment,
                    f" ({payment.get_status_display().lower()})" if payment.status != "succeeded" else "",
                )
                for payment in payments
            ),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if request.user.has_perm(IMPORT_STATEMENT):
            extra_context["import_url"] = self.url_for("import")
        return super().changelist_view(request, extra_context=extra_context)

    # The list's actions

    @admin.action(
        description=gettext_lazy("Confirm the selected matches (record the payments)"), permissions=["record"]
    )
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet[BankTransaction]) -> None:
        recorded, refused = [], []
        for bank_transaction in queryset.order_by("booking_date", "pk"):
            try:
                payment = bank_transaction_record(bank_transaction=bank_transaction, actor=self.actor(request))
            except BillingError as error:
                refused.append(
                    _("%(transaction)s: %(error)s") % {"transaction": bank_transaction, "error": error.message}
                )
            else:
                recorded.append(str(payment))
        if recorded:
            messages.success(
                request,
                ngettext(
                    "%(count)s payment recorded: %(payments)s.",
                    "%(count)s payments recorded: %(payments)s.",
                    len(recorded),
                )
                % {"count": len(recorded), "payments": ", ".join(recorded)},
            )
        for refusal in refused:
            messages.error(request, refusal)

    def has_record_permission(self, request):
        return request.user.has_perm(RECORD_EXTERNAL_PAYMENT)

    @admin.action(description=gettext_lazy("Propose matches again"), permissions=["change"])
    def propose_again(self, request: HttpRequest, queryset: QuerySet[BankTransaction]) -> None:
        proposed = 0
        for bank_transaction in queryset.order_by("pk"):
            try:
                proposed += bank_transaction_propose_again(bank_transaction=bank_transaction, actor=self.actor(request))
            except BillingError as error:
                messages.error(
                    request,
                    _("%(transaction)s: %(error)s") % {"transaction": bank_transaction, "error": error.message},
                )
        messages.info(
            request,
            ngettext("%(count)s match proposed.", "%(count)s matches proposed.", proposed) % {"count": proposed},
        )

    # The transaction's page

    def transaction_actions(self, request: HttpRequest, bank_transaction: BankTransaction) -> list[ObjectAction]:
        user = request.user
        actions = []
        if transition_allowed(bank_transaction.record, user):
            actions.append(ObjectAction(_("Confirm: record the payment"), self.url_for("record", bank_transaction.pk)))
        if bank_transaction.status in (
            BankTransactionStatus.UNMATCHED,
            BankTransactionStatus.MATCHED,
            BankTransactionStatus.UNDONE,
        ) and user.has_perm(CHANGE_BANK_TRANSACTION):
            if bank_transaction.is_credit and bank_transaction.currency in settings.BILLING_CURRENCIES:
                actions.append(ObjectAction(_("Match by hand"), self.url_for("match", bank_transaction.pk)))
            actions.append(ObjectAction(_("Ignore"), self.url_for("ignore", bank_transaction.pk)))
        if transition_allowed(bank_transaction.undo, user):
            actions.append(
                ObjectAction(_("Undo (void the payment)"), self.url_for("undo", bank_transaction.pk), danger=True)
            )
        return actions

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        bank_transaction = self.object_get(request, object_id)
        context = self.page_context(
            request,
            obj=bank_transaction,
            title=str(bank_transaction),
            actions=self.transaction_actions(request, bank_transaction),
            proposed=list(bank_transaction.proposed.select_related("invoice").order_by("pk")),
            recordings=list(bank_transaction.recordings.select_related("payment").order_by("pk")),
            activities=target_activities(target=bank_transaction),
            candidates=self.candidates(request, bank_transaction),
        )
        return TemplateResponse(request, "admin/bank/banktransaction/page.html", context)

    def candidates(self, request: HttpRequest, bank_transaction: BankTransaction) -> list[dict]:
        """What the rules find, most confident first, each with the link that picks it by hand (while the
        transaction can be matched)."""
        can_match = bank_transaction.status in (
            BankTransactionStatus.UNMATCHED,
            BankTransactionStatus.MATCHED,
            BankTransactionStatus.UNDONE,
        ) and request.user.has_perm(CHANGE_BANK_TRANSACTION)
        return [
            {
                "proposal": candidate,
                "choose_url": (
                    self.url_for("match", bank_transaction.pk)
                    + f"?member={candidate.member.pk}&invoices={','.join(str(i.pk) for i in candidate.invoices)}"
                    if can_match
                    else None
                ),
            }
            for candidate in bank_transaction_candidates(bank_transaction)
        ]

    def change_url(self, bank_transaction: BankTransaction) -> str:
        return reverse("admin:bank_banktransaction_change", args=[bank_transaction.pk])

    def import_view(self, request):
        form = StatementUploadForm(self.form_data(request), request.FILES if request.method == "POST" else None)

        def call():
            upload = form.cleaned_data["file"]
            data = upload.read()
            file_format = form.cleaned_data["file_format"] or statement_format_guess(data)
            if (
                file_format == StatementFormat.CSV
                and form.cleaned_data["mapping"] is None
                and form.cleaned_data["file_format"] == GUESS
            ):
                raise BillingError(_("The file looks like a CSV file: choose its column mapping (or another format)."))
            return statement_import(
                data=data,
                file_name=upload.name,
                file_format=file_format,
                mapping=form.cleaned_data["mapping"],
                actor=self.actor(request),
            )

        def success(statement: StatementImport) -> str:
            return _(
                "%(file)s imported: %(entries)s transactions, %(added)s new, %(known)s imported before. Check the "
                "proposed matches and confirm them."
            ) % {
                "file": statement.file_name,
                "entries": statement.entries,
                "added": statement.added,
                "known": statement.entries - statement.added,
            }

        return self.form_page(
            request,
            obj=None,
            permission=IMPORT_STATEMENT,
            form=form,
            call=call,
            success=success,
            success_url=lambda statement: (
                reverse("admin:bank_banktransaction_changelist") + f"?statement_import__id__exact={statement.pk}"
            ),
            title=_("Import a bank statement"),
            submit_label=_("Import"),
            cancel_url=reverse("admin:bank_banktransaction_changelist"),
            template="admin/bank/banktransaction/import_form.html",
            intro=_(
                "CAMT.053 (ISO 20022 XML), MT940 or CSV. Each transaction is added once: a transaction imported "
                "before (from this file or an overlapping statement) is skipped. Matches are proposed, never "
                "recorded until you confirm them. A file with an error is refused as a whole."
            ),
        )

    def record_view(self, request, object_id):
        """The confirmation of the proposed match: the payment it records, what goes to which invoice, the excess."""
        bank_transaction = self.object_get(request, object_id)
        back = self.change_url(bank_transaction)
        return self.form_page(
            request,
            obj=bank_transaction,
            permission=RECORD_EXTERNAL_PAYMENT,
            form=ConfirmedForm(self.form_data(request)),
            call=lambda: bank_transaction_record(bank_transaction=bank_transaction, actor=self.actor(request)),
            success=lambda payment: (
                _("%(payment)s recorded: %(amount)s from %(member)s.")
                % {"payment": payment, "amount": payment.amount, "member": payment.member}
            ),
            success_url=back,
            title=_("Record %(transaction)s as a payment?") % {"transaction": bank_transaction},
            submit_label=_("Yes, record the payment"),
            cancel_url=back,
            template=CONFIRM_TEMPLATE,
            consequences=self.record_consequences(bank_transaction),
        )

    @staticmethod
    def record_consequences(bank_transaction: BankTransaction) -> list[str]:
        """What recording the proposed match does, as the service will do it (while nothing changes meanwhile)."""
        if bank_transaction.member is None:
            return []
        proposed = list(bank_transaction.proposed.select_related("invoice"))
        applications, excess = allocation_plan(
            bank_transaction.amount,
            [allocation.invoice for allocation in proposed],
            {allocation.invoice_id: allocation.amount for allocation in proposed},
        )
        consequences = [
            _("A bank transfer of %(amount)s from %(member)s, booked %(date)s, is recorded as a payment.")
            % {
                "amount": bank_transaction.amount,
                "member": bank_transaction.member,
                "date": bank_transaction.booking_date,
            }
        ]
        consequences += [
            _("%(amount)s pays %(invoice)s.") % {"amount": amount, "invoice": invoice}
            for invoice, amount in applications
        ]
        if excess.amount > 0:
            consequences.append(_("%(amount)s stays as the member's unallocated credit.") % {"amount": excess})
        return consequences

    def match_view(self, request, object_id):
        bank_transaction = self.object_get(request, object_id)
        member_id = object_id_parse(request.GET.get("member")) or bank_transaction.member_id
        member = Member.objects.filter(pk=member_id).first() if member_id else None
        if request.method == "POST" and "_show" in request.POST:
            chosen = object_id_parse(request.POST.get("member"))
            url = self.url_for("match", bank_transaction.pk) + (f"?member={chosen}" if chosen else "")
            return HttpResponseRedirect(url)
        chosen_invoices = [object_id_parse(part) for part in request.GET.get("invoices", "").split(",")]
        if any(chosen_invoices):
            proposed = {invoice_id: None for invoice_id in chosen_invoices if invoice_id}
        elif member is not None and member.pk == bank_transaction.member_id:
            proposed = {p.invoice_id: p.amount for p in bank_transaction.proposed.all()}
        else:
            proposed = {}
        form = BankTransactionMatchForm(
            self.form_data(request), bank_transaction=bank_transaction, member=member, proposed=proposed
        )

        def call():
            if form.cleaned_data["member"].pk != (member.pk if member else None):
                raise BillingError(_("Show this member's invoices first, then choose them."))
            return bank_transaction_match(
                bank_transaction=bank_transaction,
                member=form.cleaned_data["member"],
                invoices=form.cleaned_data["invoices"],
                actor=self.actor(request),
            )

        return self.form_page(
            request,
            obj=bank_transaction,
            permission=CHANGE_BANK_TRANSACTION,
            form=form,
            call=call,
            success=lambda matched: (
                _("%(transaction)s matched to %(member)s; confirm it to record the payment.")
                % {"transaction": matched, "member": matched.member}
            ),
            success_url=self.change_url(bank_transaction),
            title=_("Match %(transaction)s by hand") % {"transaction": bank_transaction},
            submit_label=_("Save the match"),
            cancel_url=self.change_url(bank_transaction),
            template="admin/bank/banktransaction/match_form.html",
            intro=_(
                "Choose the member the money is from, then the invoices it pays. Amounts are optional: the ticked "
                "invoices without one get what is left, oldest first; anything more stays as the member's credit."
            ),
            bank_transaction=bank_transaction,
            member=member,
        )

    def ignore_view(self, request, object_id):
        bank_transaction = self.object_get(request, object_id)
        form = BankTransactionIgnoreForm(self.form_data(request))
        return self.form_page(
            request,
            obj=bank_transaction,
            permission=CHANGE_BANK_TRANSACTION,
            form=form,
            call=lambda: bank_transaction_ignore(
                bank_transaction=bank_transaction, actor=self.actor(request), reason=form.cleaned_data["reason"]
            ),
            success=lambda ignored: _("%(transaction)s ignored.") % {"transaction": ignored},
            success_url=self.change_url(bank_transaction),
            title=_("Ignore %(transaction)s") % {"transaction": bank_transaction},
            submit_label=_("Ignore"),
            cancel_url=self.change_url(bank_transaction),
        )

    def undo_view(self, request, object_id):
        bank_transaction = self.object_get(request, object_id)
        form = BankTransactionUndoForm(self.form_data(request))
        payments = [
            recording.payment
            for recording in bank_transaction.recordings.select_related("payment")
            if recording.payment.status != "void"
        ]
        return self.form_page(
            request,
            obj=bank_transaction,
            permission=VOID_PAYMENT,
            form=form,
            call=lambda: bank_transaction_undo(
                bank_transaction=bank_transaction, actor=self.actor(request), reason=form.cleaned_data["reason"]
            ),
            success=lambda undone: _("%(transaction)s undone; its payment is void.") % {"transaction": undone},
            success_url=self.change_url(bank_transaction),
            title=_("Undo %(transaction)s?") % {"transaction": bank_transaction},
            submit_label=_("Undo and void the payment"),
            cancel_url=self.change_url(bank_transaction),
            template=CONFIRM_TEMPLATE,
            consequences=[
                _("%(payment)s (%(amount)s) becomes void; the invoices it paid ask for the money again.")
                % {"payment": payment, "amount": payment.amount}
                for payment in payments
            ]
            + [_("The transaction can then be matched again.")],
        )


@admin.register(StatementImport)
class StatementImportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "file_name", "file_format", "entries", "added", "created_by", "transactions")
    fields = ("created_at", "file_name", "file_format", "csv_mapping", "entries", "added", "created_by")

    @admin.display(description=gettext_lazy("Transactions"))
    def transactions(self, obj: StatementImport):
        return format_html(
            '<a href="{}?statement_import__id__exact={}">{}</a>',
            reverse("admin:bank_banktransaction_changelist"),
            obj.pk,
            _("List"),
        )


@admin.register(CsvMapping)
class CsvMappingAdmin(admin.ModelAdmin):
    list_display = ("name", "delimiter", "decimal_comma", "date_format")
    search_fields = ("name",)


@admin.register(MemberBankAccount)
class MemberBankAccountAdmin(admin.ModelAdmin):
    list_display = ("iban", "member", "created_at")
    search_fields = ("iban", "member__name")
    autocomplete_fields = ("member",)
    readonly_fields = ("created_at",)
