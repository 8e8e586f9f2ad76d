"""After the commit, nothing fails the request (spec 11; STYLE 14): with the broker or the mail server down, every
money action answers its normal page, its rows are saved and its work waits in the outbox; when they are back, the
relay does the work once, and running it again does nothing more.

These tests commit for real (`transactional_db`), so the work after the commit runs inside the request, as it does
in production.
"""

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import InvoiceStatus
from payments.integrity import billing_integrity_violations
from payments.models import OutboxMessage, Payment, PaymentMethod, PaymentStatus, Refund, RefundStatus
from payments.outbox import MAIL_TASK, outbox_hand_over, outbox_relay
from payments.sandbox.models import SandboxCard, SandboxCharge, SandboxRefund
from payments.services.payment_card import payment_create_card
from payments.tasks import mail_send_task
from tests.factories import draft_invoice, eur, open_invoice, reload, saved_card, standalone_payment
from tests.members.portal.conftest import portal_member

pytestmark = pytest.mark.django_db(transaction=True)

LATER = datetime.timedelta(hours=2)


def hidden_inputs(client, url: str, *, page: str | None = None) -> dict:
    """The hidden fields of the form that posts to `url` (a one-time key, a `next`), as a browser would send them
    back; the form is on `page` when `url` only takes POSTs (the portal's card buttons are on the cards page)."""
    html = client.get(page or url).content.decode()
    forms = re.findall(r"<form[^>]*action=\"([^\"]*)\"[^>]*>(.*?)</form>", html, flags=re.S)
    html = next((body for action, body in forms if action == url), html)
    found = {}
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' in tag and "csrfmiddlewaretoken" not in tag:
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name:
                found[name.group(1)] = value.group(1) if value else ""
    return found


def submit(client, url: str, data: dict, *, expected: str, page: str | None = None):
    """POST the form as a browser would; it answers with a redirect to `expected` and a success message there."""
    response = client.post(url, {**hidden_inputs(client, url, page=page), **data})
    assert (response.status_code, response["Location"]) == (302, expected)
    page_after = client.get(response["Location"])
    assert page_after.status_code == 200
    return [str(message) for message in page_after.context["messages"]]


def waiting() -> list[str]:
    return sorted(
        f"{message.task.rsplit('.', 1)[1]}{':' + message.arguments['notification'] if 'notification' in message.arguments else ''}"
        for message in OutboxMessage.objects.filter(done_at__isnull=True)
    )


@pytest.fixture
def space(staff_user, mailoutbox):
    """A member with a portal login and a saved card, invoices for each action, and a card payment to refund; all
    of it made while everything works, then the mail sent so far forgotten."""
    member = portal_member(email="lea.martin@example.com", name="Léa Martin")
    card = saved_card(member)
    invoices = {
        "create_payment": open_invoice(member=member, amounts=["100.00"]),
        "charge": open_invoice(member=member, amounts=["50.00"]),
        "issue_and_charge": draft_invoice(member=member, amounts=["70.00"]),
        "card_paid": open_invoice(member=member, amounts=["40.00"]),
        "portal_pay": open_invoice(member=member, amounts=["25.00"]),
    }
    card_paid = reload(payment_create_card(invoice=invoices["card_paid"], actor=_staff(staff_user)))
    assert card_paid.status == PaymentStatus.SUCCEEDED
    standalone = standalone_payment(member=member, amount="20.00")
    assert not OutboxMessage.objects.filter(done_at__isnull=True).exists()
    mailoutbox.clear()
    staff_client = Client()
    staff_client.force_login(staff_user)
    member_client = Client()
    member_client.force_login(member.user)
    return member, card, invoices, card_paid, standalone, staff_client, member_client


def _staff(user):
    from billing.activity import Actor

    return Actor.staff(user)


def test_with_the_broker_and_the_mail_server_down_every_action_succeeds_and_its_work_is_done_once_when_they_are_back(
    space, broker_down, smtp_down, mailoutbox
):
    member, card, invoices, card_paid, standalone, staff_client, member_client = space
    charges_before = SandboxCharge.objects.count()
    invoice_page = lambda invoice: reverse("admin:billing_invoice_change", args=[invoice.pk])  # noqa: E731
    payment_page = lambda payment: reverse("admin:payments_payment_change", args=[payment.pk])  # noqa: E731
    today = timezone.localdate().isoformat()

    # First, while the standalone payment's money is unallocated (issuing an invoice applies it).
    refunded_recorded = submit(
        staff_client,
        reverse("admin:payments_payment_refund", args=[standalone.pk]),
        {"amount": "5.00", "reason": "requested_by_member", "note": "", "invoice_handling": ""},
        expected=payment_page(standalone),
    )
    created = submit(
        staff_client,
        reverse("admin:billing_invoice_create_payment", args=[invoices["create_payment"].pk]),
        {
            "amount": "100.00",
            "method": "external",
            "kind": "check",
            "reference": "CHK-1",
            "received_on": today,
            "note": "",
        },
        expected=invoice_page(invoices["create_payment"]),
    )
    charged = submit(
        staff_client,
        reverse("admin:billing_invoice_create_payment", args=[invoices["charge"].pk]),
        {"amount": "50.00", "method": str(card.pk)},
        expected=invoice_page(invoices["charge"]),
    )
    issued = submit(
        staff_client,
        reverse("admin:billing_invoice_issue_and_charge", args=[invoices["issue_and_charge"].pk]),
        {"payment_method": card.pk},
        expected=invoice_page(invoices["issue_and_charge"]),
    )
    refunded_to_card = submit(
        staff_client,
        reverse("admin:payments_payment_refund", args=[card_paid.pk]),
        {"amount": "30.00", "reason": "requested_by_member", "note": "", "invoice_handling": "reopen"},
        expected=payment_page(card_paid),
    )
    response = staff_client.post(
        reverse("admin:payments_payment_record_standalone"),
        {
            **hidden_inputs(staff_client, reverse("admin:payments_payment_record_standalone")),
            "member": member.pk,
            "amount": "15.00",
            "currency": "EUR",
            "kind": "cash",
            "reference": "",
            "received_on": today,
            "note": "",
        },
    )
    assert response.status_code == 302
    pay_url = reverse("portal:invoice_pay", args=[invoices["portal_pay"].pk])
    response = member_client.post(
        pay_url,
        {
            **hidden_inputs(member_client, pay_url),
            "amount": "25.00",
            "card": card.pk,
            "card_number": "",
            "card_expiry": "",
        },
    )
    paid_by_member = Payment.objects.get(targets__invoice=invoices["portal_pay"])
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("portal:payment_status", args=[paid_by_member.pk]),
    )
    added = submit(
        member_client,
        reverse("portal:card_add"),
        {"card_number": "5555555555554444", "card_expiry": "12/34"},
        expected=reverse("portal:card_list"),
        page=reverse("portal:card_list"),
    )
    new_card = PaymentMethod.objects.get(last4="4444")
    removed = submit(
        member_client,
        reverse("portal:card_remove", args=[new_card.pk]),
        {},
        expected=reverse("portal:card_list"),
    )

    # Each action said it succeeded, and its rows are saved.
    assert any("recorded" in text for text in created)
    assert any("queued at the gateway" in text for text in charged + issued)
    assert any("pending at the gateway" in text for text in refunded_to_card)
    assert any("recorded" in text for text in refunded_recorded)
    assert any("is saved" in text for text in added) and any("is removed" in text for text in removed)
    assert reload(invoices["create_payment"]).status == InvoiceStatus.PAID
    assert reload(invoices["issue_and_charge"]).status == InvoiceStatus.OPEN
    in_flight = list(Payment.objects.filter(status=PaymentStatus.PENDING).values_list("pk", flat=True))
    assert set(Payment.objects.filter(pk__in=in_flight).values_list("targets__invoice", flat=True)) == {
        invoices["charge"].pk,
        invoices["issue_and_charge"].pk,
        invoices["portal_pay"].pk,
    }
    card_refund = Refund.objects.get(payment=card_paid)
    assert card_refund.status == RefundStatus.PENDING
    assert reload(new_card).removed_at is not None
    # Their work waits in the outbox, with the broker's error; nothing reached the gateway or a mailbox.
    assert waiting() == [
        "attempt_execute_task",
        "attempt_execute_task",
        "attempt_execute_task",
        "mail_send_task:invoice_issued",
        "mail_send_task:payment_receipt",
        "mail_send_task:payment_receipt",
        "mail_send_task:refund_issued",
        "payment_method_detach_task",
        "payments_retry_with_new_card_task",
        "refund_execute_task",
    ]
    for message in OutboxMessage.objects.filter(done_at__isnull=True):
        if message.task == MAIL_TASK:  # mails wake no relay: they wait for beat's, untried
            assert (message.attempts, message.sent_at, message.last_error) == (0, None, "")
        else:  # the request's wake-up failed, so it handed its rows over itself, and that failed
            assert (message.attempts, message.sent_at) == (1, None)
            assert "OperationalError" in message.last_error
    assert SandboxCharge.objects.count() == charges_before
    assert not SandboxRefund.objects.exists()
    assert mailoutbox == []
    assert billing_integrity_violations() == []

    # The relay does nothing before the rows' next attempt is due.
    assert outbox_relay().due == 0

    broker_down()
    smtp_down()
    summary = outbox_relay(now=timezone.now() + LATER)

    assert (summary.due, summary.handed_over, summary.failed) == (10, 10, 0)
    assert not OutboxMessage.objects.filter(done_at__isnull=True).exists()
    assert SandboxCharge.objects.count() == charges_before + 3
    assert set(Payment.objects.filter(pk__in=in_flight).values_list("status", flat=True)) == {PaymentStatus.SUCCEEDED}
    assert reload(invoices["charge"]).status == InvoiceStatus.PAID
    assert reload(invoices["portal_pay"]).status == InvoiceStatus.PAID
    assert reload(invoices["issue_and_charge"]).status == InvoiceStatus.PAID
    assert reload(card_refund).status == RefundStatus.SUCCEEDED
    assert SandboxRefund.objects.get().amount_minor == 3000
    assert SandboxCard.objects.get(pk=new_card.gateway_id).customer_id is None
    subjects = sorted(mail.subject for mail in mailoutbox)
    assert len(subjects) == 8 == len(set(subjects)), subjects
    assert all(mail.to == [member.email] for mail in mailoutbox)
    assert billing_integrity_violations() == []

    # Running the relay again, or handing a done row over again, does nothing more.
    assert outbox_relay(now=timezone.now() + 2 * LATER).due == 0
    for message in OutboxMessage.objects.all():
        assert outbox_hand_over(message_id=message.pk) is False
    assert SandboxCharge.objects.count() == charges_before + 3
    assert len(mailoutbox) == 8


def test_with_the_mail_server_down_a_payment_is_recorded_and_its_receipt_is_sent_once_when_it_is_back(
    space, smtp_down, mailoutbox
):
    member, _, invoices, _, _, staff_client, _ = space
    invoice = invoices["create_payment"]

    messages = submit(
        staff_client,
        reverse("admin:billing_invoice_create_payment", args=[invoice.pk]),
        {
            "amount": "100.00",
            "method": "external",
            "kind": "cash",
            "reference": "",
            "received_on": timezone.localdate().isoformat(),
        },
        expected=reverse("admin:billing_invoice_change", args=[invoice.pk]),
    )

    assert any("recorded" in text for text in messages)
    assert reload(invoice).status == InvoiceStatus.PAID
    [message] = OutboxMessage.objects.filter(done_at__isnull=True)
    assert (message.task, message.arguments["notification"], message.attempts) == (
        "payments.tasks.mail_send_task",
        "payment_receipt",
        1,
    )
    assert "ConnectionRefusedError" in message.last_error
    listed = staff_client.get(reverse("admin:payments_outboxmessage_changelist"), {"state": "waiting"})
    assert [row.pk for row in listed.context["cl"].result_list] == [message.pk]
    assert "ConnectionRefusedError" in listed.content.decode()

    smtp_down()
    assert outbox_relay(now=timezone.now() + LATER).handed_over == 1

    [mail] = mailoutbox
    assert mail.to == [member.email]
    message = reload(message)
    assert (message.done_at is not None, message.last_error) == (True, "")
    # A copy of the task delivered again (the relay raced a slow worker) finds its row done and sends nothing.
    assert (
        mail_send_task.apply(kwargs={**message.arguments, "outbox_id": message.pk}).get() == "already done or running"
    )
    assert outbox_relay(now=timezone.now() + 2 * LATER).due == 0
    assert len(mailoutbox) == 1
    assert eur("100.00") == reload(invoice).amount_paid
