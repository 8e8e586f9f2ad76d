"""Statuses change only through state machines (STYLE principle 8): no code in the domain packages assigns to a
`status` attribute outside an FSM `@transition`, the sandbox gateway's included (its charges move by their own
transitions). Migrations and tests are not searched; no file is exempt."""

import ast
import re
from pathlib import Path

import pytest
from django_fsm import TransitionNotAllowed, can_proceed, has_transition_perm

from billing.models import CreditNote, Invoice
from payments.gateways.base import ChargeOutcome
from payments.models import Allocation, Payment, PaymentAttempt, Refund, RefundStatus
from payments.sandbox.gateway import SandboxGateway
from payments.sandbox.models import SandboxCharge
from payments.services.refund import payment_refund
from tests.factories import SYSTEM, card_payment, eur, external_payment, open_invoice, reload

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("billing", "payments", "members")
STATUS_ASSIGNMENT = re.compile(r"\.status\s*(?:[-+*/|&]?=)(?!=)")


def _sources() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or "tests" in relative.parts:
                continue
            files.append(path)
    return files


def _is_transition(function: ast.AST) -> bool:
    for decorator in getattr(function, "decorator_list", []):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "transition":
            return True
    return False


def _assigned_attributes(node: ast.AST) -> list[ast.Attribute]:
    """The attributes a statement assigns to, tuple targets included."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    else:
        return []
    found = []
    for target in targets:
        found.extend(sub for sub in ast.walk(target) if isinstance(sub, ast.Attribute))
    return found


def _status_writes(path: Path) -> list[int]:
    """Lines outside a transition that assign `.status` or call `setattr(..., "status", ...)`."""
    lines: list[int] = []

    def visit(node: ast.AST, in_transition: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_transition = in_transition or _is_transition(node)
        if not in_transition:
            if any(attribute.attr == "status" for attribute in _assigned_attributes(node)):
                lines.append(node.lineno)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "setattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "status"
            ):
                lines.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, in_transition)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return lines


def _transition_lines(path: Path) -> set[int]:
    """Lines inside the bodies of `@transition` methods."""
    inside: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_transition(node):
            inside.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return inside


def test_the_search_covers_the_domain_packages():
    searched = {str(path.relative_to(ROOT)) for path in _sources()}
    assert "payments/services/attempt_execute.py" in searched
    assert "payments/services/refund.py" in searched
    assert "payments/allocations.py" in searched
    assert "billing/models.py" in searched
    assert "payments/sandbox/gateway.py" in searched
    assert "payments/sandbox/models.py" in searched
    assert not any("migrations" in path for path in searched)


def test_no_status_assignment_outside_a_transition():
    offenders = []
    for path in _sources():
        relative = str(path.relative_to(ROOT))
        offenders += [f"{relative}:{line}" for line in _status_writes(path)]
        # A plain-text pass as well, as `grep` would do, so a write the parse above misses still shows.
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            code = text.split("#", 1)[0]
            where = f"{relative}:{number}"
            if STATUS_ASSIGNMENT.search(code) and where not in offenders and number not in _transition_lines(path):
                offenders.append(where)
    assert offenders == []


def test_the_search_finds_a_status_assignment(tmp_path):
    """The check itself works: a plain assignment is found, one inside a transition is not."""
    source = tmp_path / "example.py"
    source.write_text(
        "from django_fsm import transition\n"
        "\n"
        "def pay(invoice):\n"
        "    invoice.status = 'paid'\n"
        "    invoice.amount, invoice.status = 0, 'void'\n"
        "    setattr(invoice, 'status', 'open')\n"
        "\n"
        "class Invoice:\n"
        "    @transition(field='status', source='open', target='paid')\n"
        "    def mark_paid(self):\n"
        "        self.status = 'paid'\n"
    )
    assert _status_writes(source) == [4, 5, 6]


# The transitions state their rules (conditions=) and the right they need (permission=).


def _user_with(*permissions: str):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return type(user).objects.get(pk=user.pk)  # a fresh user: permissions are cached per instance


@pytest.mark.django_db
def test_an_invoice_can_be_voided_only_with_nothing_allocated_and_no_credit_note():
    invoice = open_invoice(amounts=["100.00"])
    assert can_proceed(invoice.void)
    assert has_transition_perm(invoice.void, _user_with("billing.void_invoice"))
    assert not has_transition_perm(invoice.void, _user_with("billing.mark_uncollectible_invoice"))
    external_payment(invoice=invoice, amount="30.00")
    invoice = reload(invoice)
    assert invoice.amount_paid == eur("30.00")
    assert not can_proceed(invoice.void)
    assert can_proceed(invoice.mark_uncollectible)
    assert has_transition_perm(invoice.mark_uncollectible, _user_with("billing.mark_uncollectible_invoice"))
    assert not has_transition_perm(invoice.mark_uncollectible, _user_with("billing.void_invoice"))


@pytest.mark.django_db
def test_a_payment_can_be_voided_only_when_external_and_not_refunded():
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")
    assert can_proceed(payment.void)
    assert has_transition_perm(payment.void, _user_with("payments.void_payment"))
    assert not has_transition_perm(payment.void, _user_with("payments.refund_payment"))
    payment_refund(
        payment=payment, amount=eur("10.00"), reason="requested_by_member", actor=SYSTEM, invoice_handling="reopen"
    )
    assert not can_proceed(reload(payment).void)
    card = card_payment(invoice=open_invoice(amounts=["20.00"]), amount="20.00", status="succeeded")
    assert not can_proceed(card.void)


@pytest.mark.django_db
def test_protected_statuses_refuse_a_plain_assignment():
    invoice = open_invoice(amounts=["100.00"])
    payment = external_payment(invoice=invoice, amount="40.00")
    allocation = Allocation.objects.get(payment=payment)
    refund = payment_refund(
        payment=payment, amount=eur("40.00"), reason="requested_by_member", actor=SYSTEM, invoice_handling="reopen"
    )
    for row in (reload(allocation), reload(refund), invoice, payment):
        with pytest.raises(AttributeError):
            row.status = "void"
    assert reload(allocation).status == Allocation.Status.REMOVED
    assert reload(refund).status == RefundStatus.SUCCEEDED


def test_the_attempt_refund_and_allocation_machines():
    """The moves the services make, and no others."""

    def moves(model) -> set[tuple[str, str, str]]:
        return {
            (transition.name, str(transition.source), str(transition.target))
            for transition in model._meta.get_field("status").get_all_transitions(model)
        }

    assert moves(PaymentAttempt) == {
        ("claim", "queued", "processing"),
        ("succeed", "queued", "succeeded"),
        ("succeed", "processing", "succeeded"),
        ("fail", "queued", "failed"),
        ("fail", "processing", "failed"),
        ("cancel", "queued", "canceled"),
    }
    assert moves(Refund) == {
        ("succeed", "pending", "succeeded"),
        ("fail", "pending", "failed"),
        ("fail_after_success", "succeeded", "failed"),
    }
    assert moves(Allocation) == {("remove", "active", "removed")}


def test_the_invoice_and_payment_machines():
    """The moves the services make, and the rule and right each one states (a button's transition names both)."""

    def moves(model) -> dict[tuple[str, str, str], tuple[set[str], str | None]]:
        return {
            (transition.name, str(transition.source), str(transition.target)): (
                {condition.__name__ for condition in transition.conditions},
                transition.permission,
            )
            for transition in model._meta.get_field("status").get_all_transitions(model)
        }

    void_invoice = (
        {"invoice_has_nothing_allocated", "invoice_has_no_card_payment_in_flight", "invoice_has_no_credit_note"},
        "billing.void_invoice",
    )
    assert moves(Invoice) == {
        ("issue", "draft", "open"): ({"invoice_has_lines"}, "billing.issue_invoice"),
        ("mark_paid", "open", "paid"): ({"invoice_nothing_remains"}, None),
        ("mark_paid", "uncollectible", "paid"): ({"invoice_nothing_remains"}, None),
        ("reopen", "paid", "open"): ({"invoice_something_remains"}, None),
        ("void", "open", "void"): void_invoice,
        ("void", "uncollectible", "void"): void_invoice,
        ("mark_uncollectible", "open", "uncollectible"): (
            {"invoice_has_no_card_payment_in_flight"},
            "billing.mark_uncollectible_invoice",
        ),
    }
    cancel = ({"payment_is_card"}, "payments.charge_payment")
    assert moves(Payment) == {
        ("void", "succeeded", "void"): ({"payment_is_external", "payment_has_no_refund"}, "payments.void_payment"),
        ("start_processing", "pending", "processing"): (set(), None),
        ("retry", "failed", "processing"): ({"payment_is_card"}, "payments.charge_payment"),
        ("succeed", "processing", "succeeded"): (set(), None),
        ("fail", "processing", "failed"): (set(), None),
        ("cancel", "pending", "canceled"): cancel,
        ("cancel", "failed", "canceled"): cancel,
    }
    assert moves(CreditNote) == {
        ("void", "issued", "void"): (
            {"credit_note_sent_nothing_back", "credit_note_credit_unused"},
            "billing.void_credit_note",
        )
    }


def test_the_sandbox_charge_machine():
    """A sandbox charge is confirmed once, into one of three outcomes, and never moves again."""
    moves = {
        (transition.name, str(transition.source), str(transition.target))
        for transition in SandboxCharge._meta.get_field("status").get_all_transitions(SandboxCharge)
    }

    assert moves == {
        ("succeed", "requires_confirmation", "succeeded"),
        ("fail", "requires_confirmation", "failed"),
        ("require_action", "requires_confirmation", "requires_action"),
    }


def _sandbox_charge(card_number: str) -> SandboxCharge:
    """A charge of 12.00 EUR on a sandbox test card, confirmed by the gateway."""
    gateway = SandboxGateway()
    customer_id = gateway.customer_create(email="ada@example.com", name="Ada", idempotency_key=f"cus-{card_number}")
    card = gateway.card_attach(customer_id=customer_id, card_token=card_number)
    charge_id = gateway.charge_prepare(
        customer_id=customer_id,
        payment_method_id=card.gateway_id,
        amount_minor=1200,
        currency="EUR",
        idempotency_key=f"pi-{card_number}",
        metadata={},
    )
    gateway.charge_confirm(gateway_payment_id=charge_id, idempotency_key=f"pi-{card_number}")
    return SandboxCharge.objects.get(pk=charge_id)


def _charge_state(charge: SandboxCharge) -> tuple:
    charge = SandboxCharge.objects.get(pk=charge.pk)
    return (charge.status, charge.decline_code, charge.message, charge.confirmations)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("card_number", "state"),
    [
        ("4242424242424242", (SandboxCharge.Status.SUCCEEDED, "", "", 1)),
        ("4000000000000341", (SandboxCharge.Status.FAILED, "generic_decline", "Your card was declined.", 1)),
        (
            "4000002500003155",
            (
                SandboxCharge.Status.REQUIRES_ACTION,
                "authentication_required",
                "The card needs the member's authentication (3-D Secure).",
                1,
            ),
        ),
    ],
)
def test_a_confirmed_sandbox_charge_keeps_its_outcome(card_number, state):
    """The gateway moves each charge by a transition; once confirmed, no transition and no assignment moves it (a
    succeeded charge cannot be failed, a declined one cannot succeed), and confirming again changes nothing."""
    charge = _sandbox_charge(card_number)
    assert _charge_state(charge) == state

    assert not any(can_proceed(move) for move in (charge.succeed, charge.fail, charge.require_action))
    with pytest.raises(TransitionNotAllowed):
        charge.succeed()
    with pytest.raises(TransitionNotAllowed):
        charge.fail(decline_code="generic_decline", message="Your card was declined.")
    with pytest.raises(TransitionNotAllowed):
        charge.require_action(decline_code="authentication_required", message="Authenticate.")
    with pytest.raises(AttributeError):
        charge.status = SandboxCharge.Status.FAILED
    result = SandboxGateway().charge_confirm(gateway_payment_id=charge.pk, idempotency_key="pi-again")

    assert _charge_state(charge) == state
    assert (
        result.outcome
        == {
            SandboxCharge.Status.SUCCEEDED: ChargeOutcome.SUCCEEDED,
            SandboxCharge.Status.FAILED: ChargeOutcome.DECLINED,
            SandboxCharge.Status.REQUIRES_ACTION: ChargeOutcome.AUTHENTICATION_REQUIRED,
        }[state[0]]
    )


@pytest.mark.django_db
def test_a_sandbox_charge_for_a_card_no_longer_saved_fails_with_its_decline_code():
    gateway = SandboxGateway()
    customer_id = gateway.customer_create(email="ada@example.com", name="Ada", idempotency_key="cus-detached")
    card = gateway.card_attach(customer_id=customer_id, card_token="4242424242424242")
    charge_id = gateway.charge_prepare(
        customer_id=customer_id,
        payment_method_id=card.gateway_id,
        amount_minor=1200,
        currency="EUR",
        idempotency_key="pi-detached",
        metadata={},
    )
    charge = SandboxCharge.objects.get(pk=charge_id)
    assert charge.status == SandboxCharge.Status.REQUIRES_CONFIRMATION
    assert can_proceed(charge.succeed) and can_proceed(charge.fail) and can_proceed(charge.require_action)
    gateway.card_detach(gateway_id=card.gateway_id)

    result = gateway.charge_confirm(gateway_payment_id=charge_id, idempotency_key="pi-detached")

    assert (result.outcome, result.decline_code) == (ChargeOutcome.DECLINED, "card_not_attached")
    assert _charge_state(charge) == (
        SandboxCharge.Status.FAILED,
        "card_not_attached",
        "This card is no longer saved for the customer.",
        1,
    )
