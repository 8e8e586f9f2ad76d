"""Every sentence a person reads goes through gettext: the messages of refusals (BillingError and its family, form
errors, 404s), of the admin's and the portal's outcomes (ResultMessage, django.contrib.messages, a form's key
redirect) are never f-strings or bare English literals, which no catalogue can translate. A sentence with values is
one `_("... %(name)s ...") % {...}`; plurals use `ngettext`."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("billing", "members", "payments", "coworking_billing", "bank")

ERROR_CLASSES = {
    "BillingError",
    "InvalidAmount",
    "CurrencyMismatch",
    "InvalidState",
    "NotPermitted",
    "ValidationError",
    "Http404",
    "ResultMessage",
}
MESSAGE_LEVELS = {"debug", "info", "success", "warning", "error"}
WORD = re.compile(r"[A-Za-z]{2,}")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")


def _untranslated(node: ast.AST | None) -> bool:
    """An f-string, or a literal with words in it, or a concatenation holding one: text no catalogue can
    translate. A call (`_(...)`, `" ".join(...)`) and a name are fine."""
    if node is None:
        return False
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(WORD.search(PLACEHOLDER.sub("", node.value)))
    if isinstance(node, ast.BinOp):
        return _untranslated(node.left) or (not isinstance(node.op, ast.Mod) and _untranslated(node.right))
    if isinstance(node, ast.IfExp):
        return _untranslated(node.body) or _untranslated(node.orelse)
    return False


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _argument(call: ast.Call, position: int, *keywords: str) -> ast.AST | None:
    for keyword in call.keywords:
        if keyword.arg in keywords:
            return keyword.value
    return call.args[position] if len(call.args) > position else None


def _message_of(call: ast.Call) -> ast.AST | None:
    """The argument of `call` that a person reads, when it is a call that shows one."""
    name = _name(call.func)
    from_messages = isinstance(call.func, ast.Attribute) and _name(call.func.value) == "messages"
    if name in ERROR_CLASSES:
        return _argument(call, 0, "message", "text")
    if from_messages and name in MESSAGE_LEVELS:
        return _argument(call, 1, "message")
    if from_messages and name == "add_message":
        return _argument(call, 2, "message")
    if name == "add_error":
        return _argument(call, 1, "error")
    if name == "intent_redirect":
        return _argument(call, 99, "message")
    return None


def untranslated_messages(source: str, filename: str = "<source>") -> list[str]:
    """`filename:line: code` of each message in `source` that is not translatable."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and _untranslated(_message_of(node)):
            found.append(f"{filename}:{node.lineno}: {ast.get_source_segment(source, node)}")
    return found


def project_files() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and "management" not in path.parts
    )


def test_user_facing_messages_are_translatable():
    found = []
    for path in project_files():
        found += untranslated_messages(path.read_text(), path.relative_to(ROOT).as_posix())
    assert found == [], "Wrap these in gettext, with named placeholders:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'raise BillingError(f"{invoice} is void.")',
        'raise InvalidState("The invoice is void.")',
        'raise forms.ValidationError(f"The start date {start} is after the end date {end}.")',
        'messages.error(request, f"{payment} failed.")',
        'messages.add_message(request, messages.WARNING, "Refund failed.")',
        'return ResultMessage(f"{refund} pending.", messages.WARNING)',
        'form.add_error(None, error.message + f" Your card {card} is saved.")',
        'form.add_error("card_number", "Enter the card number.")',
        'intent_redirect(request, url, message=f"{card} is removed.")',
        'raise Http404(f"No such {name} for you.")',
        'raise BillingError(f"{a} is void." if void else _("%(a)s is open.") % {"a": a})',
    ],
)
def test_an_untranslatable_message_is_found(source):
    assert len(untranslated_messages(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        'raise BillingError(_("%(invoice)s is void.") % {"invoice": invoice})',
        "raise BillingError(error.message)",
        'messages.success(request, " ".join(sentences))',
        'form.add_error(None, _("What you owe changed.") + saved_note)',
        'ResultMessage(_("%(payment)s failed.") % values, messages.WARNING)',
        'raise ValidationError(self.error_messages["invalid"], code="invalid")',
        'raise InvalidState(refusal % {"invoice": invoice, "reserved": reserved})',
        'raise InvalidAmount(_("Line %(position)s: %(problem)s") % {**where, "problem": f"{error}"})',
    ],
)
def test_a_translatable_message_is_not_found(source):
    assert untranslated_messages(source) == []
