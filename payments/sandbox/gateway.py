"""The embedded gateway for local runs, demos and tests: state in its own tables, Stripe's test card numbers,
idempotency keys honored, optional injected latency and failures."""

import datetime
import secrets
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from payments.gateways.base import (
    CardDetails,
    CardRejected,
    ChargeOutcome,
    ChargeResult,
    GatewayError,
    GatewayEvent,
    GatewayUnavailable,
    InvalidWebhook,
    RefundOutcome,
    RefundResult,
)
from payments.sandbox.models import SandboxCard, SandboxCharge, SandboxCustomer, SandboxRefund


@dataclass(frozen=True)
class TestCard:
    brand: str
    # Rejected when saved (Stripe declines these at attach time), with this decline code and message.
    attach_decline: tuple[str, str] | None = None
    behaviour: str = SandboxCard.Behaviour.SUCCEEDS


TEST_CARDS = {
    "4242424242424242": TestCard("visa"),
    "5555555555554444": TestCard("mastercard"),
    "378282246310005": TestCard("amex"),
    "4000000000000002": TestCard("visa", attach_decline=("generic_decline", "Your card was declined.")),
    "4000000000009995": TestCard("visa", attach_decline=("insufficient_funds", "Your card has insufficient funds.")),
    "4000000000000069": TestCard("visa", attach_decline=("expired_card", "Your card has expired.")),
    "4000000000000119": TestCard(
        "visa", attach_decline=("processing_error", "An error occurred while processing your card. Try again.")
    ),
    "4000000000000341": TestCard("visa", behaviour=SandboxCard.Behaviour.CHARGE_DECLINED),
    "4000002500003155": TestCard("visa", behaviour=SandboxCard.Behaviour.AUTHENTICATION_REQUIRED),
}


def _new_id(prefix: str) -> str:
    return f"{prefix}_sbx_{secrets.token_hex(8)}"


def _luhn_valid(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def _insert(row) -> None:
    """Insert the row in one statement; raises IntegrityError on a duplicate key. Inside a transaction (tests), a
    savepoint keeps it usable after the error; outside one, the INSERT commits alone (no BEGIN and COMMIT)."""
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            row.save(force_insert=True)
    else:
        row.save(force_insert=True)


class SandboxGateway:
    name = "sandbox"
    # The sandbox keeps its keys for ever; it says 24 hours, as Stripe does, so that what comes after a key's
    # lifetime (finding a charge by its metadata) runs against it too.
    idempotency_key_lifetime = datetime.timedelta(hours=24)

    def __init__(
        self,
        *,
        latency_seconds: float = 0.0,
        fail_before_charge: bool = False,
        fail_after_charge: bool = False,
        fail_refunds: bool = False,
    ):
        """`fail_before_charge` makes calls fail as if the gateway were unreachable; `fail_after_charge` charges
        and then loses the answer (a timeout after the money moved); `fail_refunds` makes refunds fail."""
        self.latency_seconds = latency_seconds
        self.fail_before_charge = fail_before_charge
        self.fail_after_charge = fail_after_charge
        self.fail_refunds = fail_refunds

    def _network(self) -> None:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if self.fail_before_charge:
            raise GatewayUnavailable("The sandbox gateway is unreachable (injected failure).")

    def customer_create(self, *, email: str, name: str, idempotency_key: str) -> str:
        self._network()
        customer, _ = SandboxCustomer.objects.get_or_create(
            idempotency_key=idempotency_key, defaults={"id": _new_id("cus"), "email": email, "name": name}
        )
        return customer.id

    def card_attach(self, *, customer_id: str, card_token: str) -> CardDetails:
        """`card_token` is one of Stripe's test card numbers, or a card the sandbox created, "number|MM|YYYY"."""
        self._network()
        number, _, expiry = card_token.partition("|")
        number = number.replace(" ", "").replace("-", "")
        if not number.isdigit() or not 13 <= len(number) <= 19 or not _luhn_valid(number):
            raise CardRejected("The card number is invalid.", code="incorrect_number")
        test_card = TEST_CARDS.get(number)
        if test_card is None:
            raise CardRejected(
                "The sandbox accepts only test card numbers, such as 4242 4242 4242 4242.", code="incorrect_number"
            )
        if test_card.attach_decline:
            code, message = test_card.attach_decline
            raise CardRejected(message, code=code)
        exp_month, _, exp_year = expiry.partition("|")
        today = datetime.date.today()
        exp_month = int(exp_month) if exp_month else 12
        exp_year = int(exp_year) if exp_year else today.year + 3
        if not 1 <= exp_month <= 12 or (exp_year, exp_month) < (today.year, today.month):
            raise CardRejected("The card's expiry date is in the past.", code="expired_card")
        customer = SandboxCustomer.objects.get(pk=customer_id)
        card = SandboxCard.objects.create(
            id=_new_id("pm"),
            customer=customer,
            brand=test_card.brand,
            last4=number[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
            behaviour=test_card.behaviour,
        )
        return CardDetails(card.id, card.brand, card.last4, card.exp_month, card.exp_year)

    def setup_intent_create(self, *, customer_id: str) -> tuple[str, str]:
        raise GatewayError("The sandbox gateway collects cards with its test-card form, not with Stripe.js.")

    def card_detach(self, *, gateway_id: str) -> None:
        self._network()
        SandboxCard.objects.filter(pk=gateway_id).update(customer=None)

    def charge_prepare(self, *, customer_id, payment_method_id, amount_minor, currency, idempotency_key, metadata):
        self._network()
        try:
            with transaction.atomic():
                charge, _ = SandboxCharge.objects.get_or_create(
                    idempotency_key=idempotency_key,
                    defaults={
                        "id": _new_id("pi"),
                        "customer_id": customer_id,
                        "card_id": payment_method_id,
                        "amount_minor": amount_minor,
                        "currency": currency.lower(),
                        "metadata": metadata,
                    },
                )
        except IntegrityError:
            charge = SandboxCharge.objects.get(idempotency_key=idempotency_key)
        return charge.id

    def _answer_after(self, started: float) -> None:
        """A remote gateway does its own work within the time it takes to answer: a create or a find answers
        `latency_seconds` after it was sent, the sandbox's own rows written meanwhile (longer if they took longer)."""
        remaining = self.latency_seconds - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)

    def charge_create(self, *, customer_id, payment_method_id, amount_minor, currency, idempotency_key, metadata):
        """Create and confirm in one call (one latency): a new key inserts the charge with its outcome at once; a
        key sent before answers the first call's outcome (confirming it once if it was only prepared)."""
        started = time.monotonic()
        if self.fail_before_charge:
            self._network()  # the latency, then the gateway is found unreachable
        try:
            return self._charge_create(
                customer_id=customer_id,
                payment_method_id=payment_method_id,
                amount_minor=amount_minor,
                currency=currency,
                idempotency_key=idempotency_key,
                metadata=metadata,
            )
        finally:
            self._answer_after(started)

    def _charge_create(self, *, customer_id, payment_method_id, amount_minor, currency, idempotency_key, metadata):
        card = SandboxCard.objects.filter(pk=payment_method_id).first()
        if card is None:
            return ChargeResult(
                ChargeOutcome.DECLINED,
                decline_code="card_not_attached",
                message="This card is no longer saved for the customer.",
            )
        charge = SandboxCharge(
            id=_new_id("pi"),
            idempotency_key=idempotency_key,
            customer_id=customer_id,
            card=card,
            amount_minor=amount_minor,
            currency=currency.lower(),
            metadata=metadata,
        )
        self._charge_decide(charge)
        try:
            _insert(charge)
        except IntegrityError:
            charge = self._charge_confirm_once(SandboxCharge.objects.get(idempotency_key=idempotency_key).pk)
        if self.fail_after_charge:
            return ChargeResult(ChargeOutcome.UNKNOWN, message="The gateway did not answer.")
        return self._result(charge)

    def charge_find(self, *, customer_id: str, attempt: str) -> ChargeResult | None:
        started = time.monotonic()
        if self.fail_before_charge:
            self._network()
        try:
            charge = (
                SandboxCharge.objects.filter(customer_id=customer_id, metadata__attempt=attempt)
                .exclude(status=SandboxCharge.Status.REQUIRES_CONFIRMATION)
                .order_by("created_at", "id")
                .first()
            )
        finally:
            self._answer_after(started)
        return None if charge is None else self._result(charge)

    @staticmethod
    def _charge_decide(charge: SandboxCharge) -> None:
        """Confirm the charge into its outcome, from its card's behaviour (the card must still be the customer's)."""
        charge.confirmations += 1
        card = charge.card
        behaviour = card.behaviour if card.customer_id == charge.customer_id else None
        if behaviour is None:
            charge.fail(decline_code="card_not_attached", message="This card is no longer saved for the customer.")
        elif behaviour == SandboxCard.Behaviour.SUCCEEDS:
            charge.succeed()
        elif behaviour == SandboxCard.Behaviour.AUTHENTICATION_REQUIRED:
            charge.require_action(
                decline_code="authentication_required",
                message="The card needs the member's authentication (3-D Secure).",
            )
        else:
            charge.fail(decline_code="generic_decline", message="Your card was declined.")

    def _charge_confirm_once(self, charge_id: str) -> SandboxCharge:
        with transaction.atomic():
            charge = SandboxCharge.objects.select_for_update().select_related("card").get(pk=charge_id)
            if charge.status == SandboxCharge.Status.REQUIRES_CONFIRMATION:
                self._charge_decide(charge)
                charge.save()
        return charge

    def charge_confirm(self, *, gateway_payment_id: str, idempotency_key: str) -> ChargeResult:
        try:
            self._network()
        except GatewayUnavailable:
            return ChargeResult(ChargeOutcome.UNKNOWN, gateway_payment_id, message="The gateway did not answer.")
        charge = self._charge_confirm_once(gateway_payment_id)
        if self.fail_after_charge:
            return ChargeResult(ChargeOutcome.UNKNOWN, gateway_payment_id, message="The gateway did not answer.")
        return self._result(charge)

    def charge_retrieve(self, *, gateway_payment_id: str) -> ChargeResult | None:
        self._network()
        charge = SandboxCharge.objects.filter(pk=gateway_payment_id).first()
        if charge is None or charge.status == SandboxCharge.Status.REQUIRES_CONFIRMATION:
            return None
        return self._result(charge)

    @staticmethod
    def _result(charge: SandboxCharge) -> ChargeResult:
        outcome = {
            SandboxCharge.Status.SUCCEEDED: ChargeOutcome.SUCCEEDED,
            SandboxCharge.Status.FAILED: ChargeOutcome.DECLINED,
            SandboxCharge.Status.REQUIRES_ACTION: ChargeOutcome.AUTHENTICATION_REQUIRED,
        }[charge.status]
        return ChargeResult(
            outcome,
            charge.id,
            gateway_charge_id=f"ch_{charge.id}" if outcome == ChargeOutcome.SUCCEEDED else "",
            decline_code=charge.decline_code,
            message=charge.message,
        )

    def refund_create(self, *, gateway_payment_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        self._network()
        with transaction.atomic():
            existing = SandboxRefund.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return self._refund_result(existing)
            charge = SandboxCharge.objects.select_for_update().get(pk=gateway_payment_id)
            refunded = sum(charge.refunds.filter(status=RefundOutcome.SUCCEEDED).values_list("amount_minor", flat=True))
            if self.fail_refunds:
                status, message = RefundOutcome.FAILED, "The card issuer refused the refund (injected failure)."
            elif charge.status != SandboxCharge.Status.SUCCEEDED:
                status, message = RefundOutcome.FAILED, "This payment was never charged."
            elif refunded + amount_minor > charge.amount_minor:
                status, message = RefundOutcome.FAILED, "The refund is more than what is left of the charge."
            else:
                status, message = RefundOutcome.SUCCEEDED, ""
            refund = SandboxRefund.objects.create(
                id=_new_id("re"),
                idempotency_key=idempotency_key,
                charge=charge,
                amount_minor=amount_minor,
                status=status,
                message=message,
            )
        return self._refund_result(refund)

    def refund_retrieve(self, *, gateway_refund_id: str) -> RefundResult:
        self._network()
        return self._refund_result(SandboxRefund.objects.get(pk=gateway_refund_id))

    @staticmethod
    def _refund_result(refund: SandboxRefund) -> RefundResult:
        return RefundResult(RefundOutcome(refund.status), refund.id, refund.message)

    def webhook_event_verify(self, *, payload: bytes, signature: str) -> GatewayEvent:
        raise InvalidWebhook("The sandbox gateway sends no webhooks.")
