"""The house plan as a test: which package may import which (docs/design.md, "Architecture").

The import graph is grimp's: every `import` of the three packages, including imports inside
functions and under `if TYPE_CHECKING:`, so a lazy import cannot hide an arrow. The rules are
data (`RULES`); a violation that exists today and that a planned step removes is listed in
`KNOWN_VIOLATIONS` with that step, so the test fails on any *new* violation, and also on a
listed one that no longer occurs (delete the entry when the fix lands).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sentinelle.agent", "sentinelle.collectors", "sentinelle.carbon")
FOLDERS = {"sentinelle.agent": ROOT / "agent", "sentinelle.collectors": ROOT / "collectors", "sentinelle.carbon": ROOT / "carbon"}

# agent/ modules that compose the parts: the only ones that name a collector or carbon/.
COMPOSITION_ROOT = ("sentinelle.agent.cli", "sentinelle.agent.runtime", "sentinelle.agent.demo", "sentinelle.agent.parts")

# agent/ modules carbon/'s maths may use besides the core: leaves that import no other part.
LEAF_HELPERS = (
    "sentinelle.agent.core",  # Point, NS, the interfaces
    "sentinelle.agent.lineprotocol",  # Point's text form (history reads line-protocol exports)
    "sentinelle.agent.statefile",  # durable JSON state (the live energy step's meter readings)
    "sentinelle.agent.logs",  # rate-limited problems, secrets redacted
    "sentinelle.agent.redaction",  # what logs uses
    "sentinelle.agent.configtypes",  # the value types every part's settings models are built on
)

# carbon/ modules that adapt the maths to the agent (commands, import delivery): they may use
# any of agent/. Everything else in carbon/ is maths and uses only LEAF_HELPERS.
CARBON_ADAPTERS = (
    "sentinelle.carbon.commands",  # the command layer: carbon's subcommands and their glue
)


@dataclass(frozen=True)
class Rule:
    importers: tuple[str, ...]  # modules (and their descendants) the rule applies to
    forbidden: tuple[str, ...]  # what they must not import (and descendants)
    why: str
    except_importers: tuple[str, ...] = ()
    except_imported: tuple[str, ...] = ()


RULES: list[Rule] = [
    Rule(("sentinelle.agent",), ("sentinelle.collectors", "sentinelle.carbon"),
         "the runtime knows no device and no carbon maths; only the composition root wires them in",
         except_importers=COMPOSITION_ROOT),
    Rule(("sentinelle.carbon",), ("sentinelle.agent",),
         "carbon's maths is a library on exported series: it needs the core, not the agent's machinery",
         except_importers=CARBON_ADAPTERS, except_imported=LEAF_HELPERS),
    Rule(("sentinelle.carbon",), CARBON_ADAPTERS,
         "the maths is called by the commands, never the other way round",
         except_importers=CARBON_ADAPTERS),
    Rule(("sentinelle.carbon",), ("sentinelle.collectors",),
         "carbon reads meter readings as Points; it never knows which protocol produced them"),
    Rule(("sentinelle.collectors",), ("sentinelle.carbon",),
         "collectors emit raw readings; the energy and carbon maths live once, in carbon/"),
    Rule(("sentinelle.collectors",), COMPOSITION_ROOT,
         "collectors register themselves; they never reach back into what wires them"),
]  # fmt: skip

# One collector never imports another (each is a subpackage of collectors/): what two share
# sits at the top of collectors/.
COLLECTOR_PACKAGES = tuple(
    f"sentinelle.collectors.{d.name}" for d in sorted((ROOT / "collectors").iterdir()) if (d / "__init__.py").is_file()
)
RULES += [
    Rule((mine,), tuple(other for other in COLLECTOR_PACKAGES if other != mine),
         "one collector does not import another: shared code sits at collectors/ top level")
    for mine in COLLECTOR_PACKAGES
]  # fmt: skip

# Imports that are for type annotations only and point back from the core (they run never, so
# they make no import-order cycle); the core's docstring says why it names these types.
TYPING_ONLY: dict[tuple[str, str], str] = {
    ("sentinelle.agent.core", "sentinelle.agent.selfmetrics"): "CollectorContext.metrics is an AgentMetrics",
    ("sentinelle.agent.core", "sentinelle.agent.logs"): "CollectorContext.problems is a Problems",
}

# (kind, importer, imported-or-cycle-members, reason and the step that removes it).
KNOWN_VIOLATIONS: list[tuple[str, str, str, str]] = [
]  # fmt: skip


@cache
def graph(exclude_type_checking: bool = False) -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=exclude_type_checking)


def _within(module: str, names: tuple[str, ...]) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def _edges() -> list[tuple[str, str]]:
    g = graph()
    return sorted((m, t) for m in g.modules for t in g.find_modules_directly_imported_by(m))


def _where(importer: str, imported: str) -> str:
    details = graph().get_import_details(importer=importer, imported=imported)
    return ", ".join(f"line {d['line_number']}: {d['line_contents']}" for d in details)


def arrow_violations() -> dict[tuple[str, str], str]:
    """(importer, imported) -> the rule it breaks."""
    found: dict[tuple[str, str], str] = {}
    for importer, imported in _edges():
        for rule in RULES:
            if (_within(importer, rule.importers) and _within(imported, rule.forbidden)
                    and not _within(importer, rule.except_importers) and not _within(imported, rule.except_imported)):
                found[(importer, imported)] = rule.why
    return found


def cycles() -> list[tuple[str, ...]]:
    """Strongly connected sets of modules (Tarjan), typing-only back-arrows of the core left out."""
    g = graph()
    succ = {m: sorted(t for t in g.find_modules_directly_imported_by(m) if (m, t) not in TYPING_ONLY) for m in g.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[tuple[str, ...]] = []

    def visit(v: str) -> None:  # recursive: ~150 modules stay far below the recursion limit
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                out.append(tuple(sorted(members)))

    for m in sorted(succ):
        if m not in index:
            visit(m)
    return sorted(out)


def _module_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join([package, *parts])] = path
    return files


def private_imports() -> dict[tuple[str, str], str]:
    """(importer, module._name) for every `from sentinelle.x import _name`, and every
    `alias._name` on a Sentinelle module imported as `alias`, across modules."""
    found: dict[tuple[str, str], str] = {}
    files = _module_files()
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = f"{path.relative_to(ROOT)}"
        modules_bound: dict[str, str] = {}  # local name -> the Sentinelle module it is
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in files and alias.asname:
                        modules_bound[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sentinelle."):
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in files:
                        modules_bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    elif alias.name.startswith("_") and not alias.name.startswith("__") and node.module != module:
                        found[(module, f"{node.module}.{alias.name}")] = f"{where}:{node.lineno}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules_bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")):  # fmt: skip
                found.setdefault((module, f"{modules_bound[node.value.id]}.{node.attr}"), f"{where}:{node.lineno}")
    return found


def _known(kind: str) -> dict[tuple[str, str], str]:
    return {(a, b): why for k, a, b, why in KNOWN_VIOLATIONS if k == kind}


def test_the_graph_sees_every_module() -> None:
    assert set(_module_files()) <= set(graph().modules)


def test_the_graph_sees_lazy_and_typing_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import inside a function or under TYPE_CHECKING is an arrow too."""
    package = tmp_path / "arrows_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "leaf.py").write_text("")
    (package / "lazy.py").write_text("def f():\n    from arrows_probe import leaf\n")
    (package / "typed.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import arrows_probe.leaf\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = grimp.build_graph("arrows_probe", cache_dir=None)
    assert probe.direct_import_exists(importer="arrows_probe.lazy", imported="arrows_probe.leaf")
    assert probe.direct_import_exists(importer="arrows_probe.typed", imported="arrows_probe.leaf")


def test_no_new_forbidden_arrow() -> None:
    known = _known("arrow")
    new = [f"{a} -> {b} ({_where(a, b)}): {why}" for (a, b), why in arrow_violations().items() if (a, b) not in known]
    assert not new, "imports the architecture forbids (docs/design.md, Architecture):\n" + "\n".join(new)


def test_no_new_import_cycle() -> None:
    known = {tuple(sorted(pair)) for pair in _known("cycle")}  # a cycle that grows is a new one
    new = []
    for members in cycles():
        if members in known:
            continue
        a, b = members[0], members[1]
        chain = graph().find_shortest_chain(importer=a, imported=b) or ()
        back = graph().find_shortest_chain(importer=b, imported=a) or ()
        new.append(f"{' <-> '.join(members)}: {' -> '.join(chain)} and back {' -> '.join(back)}")
    assert not new, "import cycles (move the shared part into a module both import):\n" + "\n".join(new)


def test_no_new_private_import_across_modules() -> None:
    known = _known("private")
    new = [f"{where}: {a} uses {b}" for (a, b), where in private_imports().items() if (a, b) not in known]
    assert not new, "a `_name` is private to its module: make it public where it lives, or move it:\n" + "\n".join(new)


def test_the_core_imports_no_other_module_at_run_time() -> None:
    runtime = graph(exclude_type_checking=True)
    imported = [m for m in runtime.find_modules_directly_imported_by("sentinelle.agent.core") if m.startswith("sentinelle.")]
    assert not imported, f"sentinelle.agent.core must stay a leaf every part may import: it imports {imported}"
    for (a, b), why in TYPING_ONLY.items():
        assert graph().direct_import_exists(importer=a, imported=b), f"TYPING_ONLY {a} -> {b} is gone: delete the entry"
        assert not runtime.direct_import_exists(importer=a, imported=b), f"{a} -> {b} must stay under TYPE_CHECKING ({why})"


def test_leaf_helpers_are_leaves() -> None:
    """What carbon's maths may import must not pull the agent's machinery in behind it."""
    runtime = graph(exclude_type_checking=True)
    heavy = {
        helper: sorted(m for m in runtime.find_modules_directly_imported_by(helper)
                       if m.startswith("sentinelle.") and m not in LEAF_HELPERS)
        for helper in LEAF_HELPERS
    }  # fmt: skip
    heavy = {helper: imported for helper, imported in heavy.items() if imported}
    assert not heavy, f"LEAF_HELPERS that import beyond the leaves: {heavy}"


def test_every_known_violation_still_occurs() -> None:
    """A fixed violation left in the list would let it come back unnoticed: delete it."""
    present = {
        "arrow": set(arrow_violations()),
        "cycle": set(cycles()),
        "private": set(private_imports()),
    }
    stale = [f"{k}: {a} / {b} ({why})" for k, a, b, why in KNOWN_VIOLATIONS
             if (tuple(sorted((a, b))) if k == "cycle" else (a, b)) not in present[k]]  # fmt: skip
    assert not stale, "KNOWN_VIOLATIONS entries that no longer occur: delete them:\n" + "\n".join(stale)


def test_rules_name_real_modules() -> None:
    """A rule about a renamed module would silently pass forever."""
    modules = set(graph().modules)
    named = {n for r in RULES for n in (*r.importers, *r.forbidden, *r.except_importers, *r.except_imported)}
    named |= set(LEAF_HELPERS) | set(CARBON_ADAPTERS) | {m for pair in TYPING_ONLY for m in pair}
    missing = sorted(n for n in named if n not in modules)
    assert not missing, f"names in the rules that are no module: {missing}"
