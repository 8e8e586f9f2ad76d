"""Mail sent after commit, by `payments.tasks.mail_send_task` from an outbox row (`payments.outbox.outbox_mail_add`).
Each function sends one mail and re-reads what it needs, so that a row handed over again sends it once.

Only the mail task calls these: a service asks for a mail by its name in `NOTIFICATIONS`, through the outbox, and
never imports this module."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from members.languages import member_language
from members.links import portal_link
from payments.models import Payment, Refund


def billing_admin_emails() -> list[str]:
    if settings.BILLING_ADMIN_EMAILS:
        return list(settings.BILLING_ADMIN_EMAILS)
    users = get_user_model().objects.filter(is_active=True, is_superuser=True).exclude(email="")
    return list(users.values_list("email", flat=True))


def _send(*, template: str, context: dict, recipients: list[str], language: str | None = None) -> None:
    """One mail, in `language` (the member's, for a mail to a member), else in LANGUAGE_CODE."""
    if not recipients:
        return
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"mail/{template}_subject.txt", context).strip()
        body = render_to_string(f"mail/{template}.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


def _payment_failed_context(payment_id: int) -> dict:
    payment = Payment.objects.select_related("member", "invoice", "payment_method").get(pk=payment_id)
    return {
        "payment": payment,
        "member": payment.member,
        "invoice": payment.invoice,
        # The payment's page in the portal: the decline reason, and a way to pay with another card.
        "portal_url": portal_link("portal:payment_status", payment.pk),
    }


def payment_failed_member_notify(*, payment_id: int) -> None:
    """No automatic retry follows: ask the member to pay in the portal."""
    context = _payment_failed_context(payment_id)
    _send(
        template="payment_failed_member",
        context=context,
        recipients=[context["member"].email],
        language=member_language(context["member"]),
    )


def payment_failed_admin_notify(*, payment_id: int) -> None:
    """No automatic retry follows: tell the administrators."""
    _send(
        template="payment_failed_admin", context=_payment_failed_context(payment_id), recipients=billing_admin_emails()
    )


def payment_disputed_notify(*, payment_id: int) -> None:
    payment = Payment.objects.select_related("member", "invoice").get(pk=payment_id)
    _send(
        template="payment_disputed_admin",
        context={"payment": payment, "member": payment.member},
        recipients=billing_admin_emails(),
    )


def refund_issued_notify(*, refund_id: int) -> None:
    refund = Refund.objects.select_related("payment__member", "payment__payment_method").get(pk=refund_id)
    _send(
        template="refund_issued_member",
        context={"refund": refund, "payment": refund.payment, "member": refund.payment.member},
        recipients=[refund.payment.member.email],
        language=member_language(refund.payment.member),
    )


def payment_receipt_notify(*, payment_id: int) -> None:
    """The member's receipt after a payment succeeded (card) or was recorded (external)."""
    payment = Payment.objects.select_related("member", "payment_method").get(pk=payment_id)
    # What the payment pays now: an allocation removed before the mail goes out would read "€0.00 paid on".
    allocations = payment.allocations.filter(status="active").select_related("invoice").order_by("created_at", "pk")
    _send(
        template="payment_receipt_member",
        context={
            "payment": payment,
            "member": payment.member,
            "allocations": allocations,
            "portal_url": portal_link("portal:receipt", payment.pk),
        },
        recipients=[payment.member.email],
        language=member_language(payment.member),
    )


def invoice_issued_notify(*, invoice_id: int) -> None:
    from billing.models import Invoice

    invoice = Invoice.objects.select_related("member").get(pk=invoice_id)
    _send(
        template="invoice_issued_member",
        context={
            "invoice": invoice,
            "member": invoice.member,
            "portal_url": portal_link("portal:invoice_detail", invoice.pk),
        },
        recipients=[invoice.member.email],
        language=member_language(invoice.member),
    )


def refund_failed_admin_notify(*, refund_id: int) -> None:
    """The gateway reports failed a refund we had recorded succeeded: the money is back on the payment."""
    refund = Refund.objects.select_related("payment__member", "payment__payment_method").get(pk=refund_id)
    _send(
        template="refund_failed_admin",
        context={"refund": refund, "payment": refund.payment, "member": refund.payment.member},
        recipients=billing_admin_emails(),
    )


# The mails `payments.tasks.mail_send_task` sends, by the name an outbox row gives.
NOTIFICATIONS = {
    "payment_failed_member": payment_failed_member_notify,
    "payment_failed_admin": payment_failed_admin_notify,
    "payment_disputed": payment_disputed_notify,
    "refund_issued": refund_issued_notify,
    "refund_failed_admin": refund_failed_admin_notify,
    "payment_receipt": payment_receipt_notify,
    "invoice_issued": invoice_issued_notify,
}
