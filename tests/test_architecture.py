"""The layout is the architecture: pages sit above the domain, and the project's modules import without a cycle.

Every module of the four apps is parsed (never imported), every `import` statement in it counts, including the
ones inside functions: a lazy import is how a cycle hides. Relative imports are resolved, and `from package import
name` points at the submodule when `name` is one. Migrations are left out: Django loads them on its own.

Page modules are the admin packages and modules, the portal, forms, views, template tags, the PDFs and the project's
URL and admin-site modules; every other module is domain, and no domain module may import a page module. Among the
domain modules the models go one way, members -> billing -> payments: `members` imports neither app, and billing's
modules outside its services import nothing of `payments` (the README's "Import direction").
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("billing", "payments", "members", "coworking_billing", "bank")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT, apps: tuple[str, ...] = APPS) -> dict[str, Path]:
    """Every module of the apps by dotted name, migrations left out."""
    modules = {}
    for app in apps:
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" in path.relative_to(root).parts:
                continue
            modules[module_name(path, root)] = path
    return modules


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        package = package[: len(package) - (level - 1)]
    return ".".join([*package, target] if target else package)


def imported_names(module: str, source: str, *, is_package: bool) -> set[str]:
    """The dotted names one module's source imports, wherever the statement stands (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, is_package, node.level, node.module) if node.level else node.module
            # `from a.b import c` imports a.b, and a.b.c too when c is a submodule (resolved against the project).
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, from {module: (source, is_package)}.

    A dotted name that is not a project module is taken as an attribute of its nearest project module parent
    (`from billing.models import Invoice` -> billing.models); names outside the project are dropped.
    """
    graph = {}
    for module, (source, is_package) in sources.items():
        edges = set()
        for name in imported_names(module, source, is_package=is_package):
            parts = name.split(".")
            while parts and ".".join(parts) not in sources:
                parts.pop()
            if parts and ".".join(parts) != module:
                edges.add(".".join(parts))
        graph[module] = edges
    return graph


def project_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    return import_graph({name: (path.read_text(), path.name == "__init__.py") for name, path in modules.items()})


def is_page(module: str) -> bool:
    parts = module.split(".")
    return (
        "admin" in parts
        or "templatetags" in parts
        or parts[-1] in ("forms", "views")
        or module == "members.portal"
        or module.startswith("members.portal.")
        or module in ("billing.documents", "coworking_billing.admin", "coworking_billing.urls")
    )


def forbidden_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(domain module, page module) for every domain module that imports a page."""
    return sorted(
        (module, target)
        for module, targets in graph.items()
        if not is_page(module)
        for target in targets
        if is_page(target)
    )


# The modules of `payments` that may import the bank app above it: the integrity check runs its invariant, and
# seed_demo seeds it.
BANK_READERS = ("payments.integrity", "payments.management.commands.seed_demo")


def layer_violations(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(module, target) for every domain module of `members` that imports `billing`, `payments` or `bank`, every
    domain module of `billing` outside `billing.services` that imports `payments` or `bank`, and every domain module
    of `payments` but the BANK_READERS that imports `bank`."""
    below = {"members": ("billing", "payments", "bank"), "billing": ("payments", "bank"), "payments": ("bank",)}
    found = []
    for module, targets in graph.items():
        app = module.split(".")[0]
        if is_page(module) or app not in below or module.startswith("billing.services"):
            continue
        if module in BANK_READERS:
            continue
        found += [(module, target) for target in targets if target.split(".")[0] in below[app]]
    return sorted(found)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None. Depth-first, visiting in sorted order so the answer is stable."""
    on_path: list[str] = []
    position: dict[str, int] = {}
    done: set[str] = set()

    def visit(module: str) -> list[str] | None:
        position[module] = len(on_path)
        on_path.append(module)
        for target in sorted(graph.get(module, ())):
            if target in position:
                return [*on_path[position[target] :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        on_path.pop()
        del position[module]
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other round a circle (Tarjan), for a complete failure message."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(groups)


# The project.


def test_the_checker_sees_every_app_and_the_imports_inside_functions():
    graph = project_graph()

    assert {module.split(".")[0] for module in graph} == set(APPS)
    assert "billing.models" in graph and "payments.services.refund" in graph
    assert not any(".migrations" in module for module in graph)
    assert "billing.models" in graph["payments.models"]
    # Imported inside functions: the gateway's modules by `gateway_get`, the reports by the admin site's URLs.
    assert {"payments.gateways.stripe", "payments.sandbox.gateway"} <= graph["payments.gateways"]
    assert "payments.admin.reports" in graph["coworking_billing.admin"]


def test_no_domain_module_imports_a_page():
    found = forbidden_imports(project_graph())

    assert found == [], "domain modules import pages:\n" + "\n".join(f"  {a} -> {b}" for a, b in found)


def test_the_models_import_one_way_members_billing_payments():
    found = layer_violations(project_graph())

    assert found == [], "imports against members -> billing -> payments:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in found
    )


def test_the_modules_import_without_a_cycle():
    graph = project_graph()

    cycle = find_cycle(graph)

    assert cycle is None, (
        "import cycle: "
        + " -> ".join(cycle)
        + "\nmodules that import each other round a circle:\n"
        + "\n".join("  " + ", ".join(group) for group in strongly_connected(graph))
    )


# The checker itself, on a planted graph, so the tests above cannot pass for want of looking.


def test_the_checker_resolves_relative_lazy_and_submodule_imports():
    sources = {
        "shop": ("", True),
        "shop.models": ("from .selectors import total\n", False),
        "shop.selectors": ("def total():\n    from . import models\n    return models\n", False),
        "shop.admin": ("from shop.models import Order\n", True),
        "shop.admin.pages": ("from ..services import sell\nimport shop.admin\n", False),
        "shop.services": ("import django.db\nfrom shop import models as m\n", False),
    }

    graph = import_graph(sources)

    assert graph == {
        "shop": set(),
        "shop.models": {"shop.selectors"},
        "shop.selectors": {"shop", "shop.models"},
        "shop.admin": {"shop.models"},
        "shop.admin.pages": {"shop.services", "shop.admin"},
        "shop.services": {"shop", "shop.models"},
    }


def test_the_checker_finds_a_planted_cycle_and_a_planted_forbidden_import():
    sources = {
        "shop": ("", True),
        "shop.models": ("X = 1\n", False),
        "shop.services": ("def sell():\n    from shop.tasks import mail\n", False),
        "shop.tasks": ("from shop import outbox\n", False),
        "shop.outbox": ("from .services import sell\n", False),
        "shop.forms": ("from shop.models import X\n", False),
        "shop.rules": ("from shop.forms import OrderForm\n", False),
    }

    graph = import_graph(sources)

    assert find_cycle(graph) == ["shop.outbox", "shop.services", "shop.tasks", "shop.outbox"]
    assert strongly_connected(graph) == [["shop.outbox", "shop.services", "shop.tasks"]]
    assert forbidden_imports(graph) == [("shop.rules", "shop.forms")]
    assert layer_violations(graph) == []

    del graph["shop.outbox"]
    assert find_cycle(graph) is None
    assert strongly_connected(graph) == []


def test_the_checker_finds_a_model_that_imports_against_the_direction():
    graph = {
        "members.models": {"billing.models"},
        "billing.models": {"members.models"},
        "billing.selectors": {"billing.models", "payments.models"},
        "billing.services.invoice_issue": {"payments.allocations"},
        "billing.admin.invoices": {"payments.models"},
        "payments.models": {"billing.models", "members.models"},
        "payments.allocations": {"payments.models"},
    }

    assert layer_violations(graph) == [
        ("billing.selectors", "payments.models"),
        ("members.models", "billing.models"),
    ]


def test_page_modules_are_the_admin_the_portal_forms_views_template_tags_urls_and_the_admin_site():
    pages = [
        "billing.admin",
        "billing.admin.invoices",
        "members.admin",
        "members.portal",
        "members.portal.selectors",
        "payments.admin.forms",
        "payments.views",
        "billing.documents",
        "billing.templatetags.billing_money",
        "coworking_billing.admin",
        "coworking_billing.urls",
    ]
    domain = [
        "billing.models",
        "billing.form_intents",
        "payments.services.refund",
        "payments.outbox",
        "members.models",
        "coworking_billing.celery",
        "coworking_billing.settings",
    ]

    assert [module for module in pages if not is_page(module)] == []
    assert [module for module in domain if is_page(module)] == []
