"""The README's state diagrams, drawn from the models' transitions (django-fsm-2) as Mermaid, which GitHub renders.

`make graph` runs `manage.py state_diagrams --write README.md`: it replaces the README's part between the two
markers below. tests/test_state_diagrams.py fails when that part is not what this command prints, or when it misses
a transition of a model, so the drawing cannot go stale. django-fsm-2's own `manage.py graph_transitions` prints the
same machines as Graphviz DOT.
"""

from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Model
from django_fsm import ANY_OTHER_STATE, ANY_STATE, GET_STATE, RETURN_VALUE, FSMFieldMixin

BEGIN = "<!-- state diagrams: written by `make graph` (manage.py state_diagrams --write README.md); do not edit -->"
END = "<!-- end of state diagrams -->"


def state_machines() -> list[tuple[type[Model], FSMFieldMixin]]:
    """Every FSM field of the installed models, in the order Django registers them."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, FSMFieldMixin)
    ]


def machine_name(model: type[Model], field: FSMFieldMixin) -> str:
    return f"{model._meta.label}.{field.name}"


def machine_transitions(model: type[Model], field: FSMFieldMixin) -> list[tuple[str, str, str]]:
    """(source, target, transition name) for every edge of the machine, in the order of the field's choices."""
    states = [value for value, _label in field.choices]
    edges = set()
    for transition in field.get_all_transitions(model):
        if isinstance(transition.target, GET_STATE | RETURN_VALUE):
            targets = list(transition.target.allowed_states)
        else:
            targets = [transition.target]
        for target in targets:
            if transition.source == ANY_STATE:
                sources = states
            elif transition.source == ANY_OTHER_STATE:
                sources = [state for state in states if state != target]
            else:
                sources = [transition.source]
            edges.update((source, source if target is None else target, transition.name) for source in sources)
    return sorted(edges, key=lambda edge: (states.index(edge[0]), states.index(edge[1]), edge[2]))


def machine_mermaid(model: type[Model], field: FSMFieldMixin) -> str:
    """One `stateDiagram-v2`: the initial state, every transition labelled with its method, and the final states
    (those no transition leaves)."""
    edges = machine_transitions(model, field)
    states = [value for value, _label in field.choices]
    leaving = {source for source, _target, _name in edges}
    reached = {target for _source, target, _name in edges}
    lines = ["stateDiagram-v2", f"    %% {machine_name(model, field)}", f"    [*] --> {field.default}"]
    lines += [f"    {source} --> {target} : {name}" for source, target, name in edges]
    lines += [f"    {state} --> [*]" for state in states if state in reached and state not in leaving]
    return "\n".join(lines)


def state_diagrams_markdown() -> str:
    """The README's part: one diagram per machine, under the model's name, between the markers."""
    parts = [BEGIN]
    for model, field in state_machines():
        parts.append(f"**{model._meta.object_name}** (`{machine_name(model, field)}`)")
        parts.append(f"```mermaid\n{machine_mermaid(model, field)}\n```")
    parts.append(END)
    return "\n\n".join(parts)


def readme_with_state_diagrams(text: str) -> str:
    """`text` with its part between the markers replaced by the current drawing."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise CommandError("The file needs the two state diagram markers once each, in order:\n" + BEGIN + "\n" + END)
    before, rest = text.split(BEGIN)
    _old, after = rest.split(END)
    return before + state_diagrams_markdown() + after


class Command(BaseCommand):
    help = (
        "Print the state machines (every FSM field) as Mermaid state diagrams, or with --write FILE replace the "
        "file's part between the state diagram markers (`make graph` writes README.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--write", metavar="FILE", help="Replace the drawing in FILE (README.md).")

    def handle(self, *args, **options):
        if not options["write"]:
            self.stdout.write(state_diagrams_markdown())
            return
        path = Path(options["write"])
        path.write_text(readme_with_state_diagrams(path.read_text()))
        self.stdout.write(f"Wrote {len(state_machines())} state diagrams to {path}.")
