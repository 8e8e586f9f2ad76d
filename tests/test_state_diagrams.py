"""The state machines are drawn in the README from the models' transitions, and the drawing cannot go stale."""

import io
import re
from pathlib import Path

from django.apps import apps
from django.core.management import call_command
from django_fsm import ANY_OTHER_STATE, ANY_STATE, FSMFieldMixin

from payments.management.commands.state_diagrams import (
    BEGIN,
    END,
    readme_with_state_diagrams,
    state_diagrams_markdown,
)

README = Path(__file__).resolve().parent.parent / "README.md"
EDGE = re.compile(r"^\s*(\w+) --> (\w+) : (\w+)\s*$")


def declared_transitions() -> dict[str, set[tuple[str, str, str]]]:
    """{"app.Model.field": {(source, target, transition)}} for every FSM field of every installed model, read
    through django-fsm's `get_all_<field>_transitions` on an unsaved instance."""
    machines = {}
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not isinstance(field, FSMFieldMixin):
                continue
            states = [value for value, _label in field.choices]
            edges = set()
            for transition in getattr(model(), f"get_all_{field.name}_transitions")():
                if transition.source == ANY_STATE:
                    sources = states
                elif transition.source == ANY_OTHER_STATE:
                    sources = [state for state in states if state != transition.target]
                else:
                    sources = [transition.source]
                edges.update((source, transition.target, transition.name) for source in sources)
            machines[f"{model._meta.label}.{field.name}"] = edges
    return machines


def drawn_transitions(text: str) -> dict[str, set[tuple[str, str, str]]]:
    """The same, read back from the Mermaid blocks of `text` (each names its machine in a `%%` comment)."""
    machines = {}
    for block in re.findall(r"```mermaid\n(.*?)```", text, flags=re.S):
        lines = block.splitlines()
        assert lines[0] == "stateDiagram-v2"
        name = lines[1].strip().removeprefix("%% ")
        machines[name] = {match.groups() for line in lines if (match := EDGE.match(line))}
    return machines


def test_the_readme_draws_every_transition_of_every_state_machine():
    text = README.read_text()
    drawing = text[text.index(BEGIN) : text.index(END)]

    drawn = drawn_transitions(drawing)
    declared = declared_transitions()

    assert set(declared) == {
        "billing.Invoice.status",
        "billing.CreditNote.status",
        "payments.Payment.status",
        "payments.Allocation.status",
        "payments.PaymentAttempt.status",
        "payments.Refund.status",
        "sandbox.SandboxCharge.status",
        "bank.BankTransaction.status",
    }
    assert drawn == declared, "the README's state diagrams are stale: run `make graph`"
    assert ("draft", "open", "issue") in drawn["billing.Invoice.status"]


def test_the_readme_holds_what_make_graph_writes():
    text = README.read_text()

    assert readme_with_state_diagrams(text) == text, "the README's state diagrams are stale: run `make graph`"
    assert state_diagrams_markdown() in text


def test_the_drawing_check_finds_a_missing_transition():
    text = README.read_text()
    stale = text.replace("    paid --> open : reopen\n", "", 1)

    assert stale != text
    assert drawn_transitions(stale)["billing.Invoice.status"] != declared_transitions()["billing.Invoice.status"]
    assert readme_with_state_diagrams(stale) == text


def test_graph_transitions_draws_the_machines_as_dot():
    """django-fsm-2's command (it needs the `graphviz` package, a test dependency) prints every transition."""
    out = io.StringIO()
    machines = [
        "billing.Invoice",
        "payments.Payment",
        "billing.CreditNote",
        "payments.PaymentAttempt",
        "payments.Refund",
    ]

    call_command("graph_transitions", *machines, stdout=out)

    edges = {
        (left.rsplit(".", 1)[0], left.rsplit(".", 1)[1], right.rsplit(".", 1)[1], label)
        for left, right, label in re.findall(r'"([\w.]+)" -> "([\w.]+)" \[label=(\w+)\]', out.getvalue())
    }
    expected = set()
    for label in machines:
        model = apps.get_model(label)
        prefix = f"{model._meta.app_label}.{model._meta.verbose_name.replace(' ', '_')}.status"
        expected |= {(prefix, *edge) for edge in declared_transitions()[f"{label}.status"]}
    assert edges == expected
