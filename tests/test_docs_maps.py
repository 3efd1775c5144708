"""Every module is on its package's map: the README next to it says what the module is for.

A module belongs to the nearest README.md above it (agent/sinks/base.py to agent/README.md,
collectors/snmp/identity/spec.py to collectors/snmp/identity/README.md). The map is the
README's table rows and list items whose first cell (or text before the first colon) names the
module in backticks, by its path from the README's folder: `sinks/base.py`. A package
`__init__.py` that holds only a docstring has nothing to map.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED_FOLDERS = ("agent", "collectors", "carbon", "grafana")
SKIP_PARTS = {"testdata", "schema-check", "__pycache__", "node_modules"}


def _has_code(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in tree.body)


def modules() -> list[Path]:
    out = []
    for folder in MAPPED_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if SKIP_PARTS & set(path.relative_to(ROOT).parts):
                continue
            if path.name == "__init__.py" and not _has_code(path):
                continue
            out.append(path)
    return out


def readme_of(module: Path) -> Path | None:
    folder = module.parent
    while folder != ROOT:
        if (folder / "README.md").is_file():
            return folder / "README.md"
        folder = folder.parent
    return None


def mapped(readme: Path) -> set[str]:
    """Module paths named by the README's map rows."""
    names: set[str] = set()
    for line in readme.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("|"):
            head = line.split("|")[1]
        elif line.startswith("- "):
            head = line[2:].split(":")[0]
        else:
            continue
        names |= set(re.findall(r"`([\w/]+\.py)`", head))
    return names


def test_every_module_is_on_its_readme_map() -> None:
    missing = []
    for module in modules():
        readme = readme_of(module)
        if readme is None:
            missing.append(f"{module.relative_to(ROOT)}: no README.md in its folder or above")
            continue
        name = module.relative_to(readme.parent).as_posix()
        if name not in mapped(readme):
            missing.append(f"{readme.relative_to(ROOT)}: add a map row `{name}` ({module.relative_to(ROOT)}): its job")
    assert not missing, "modules missing from their package's module map:\n" + "\n".join(missing)


def test_no_map_names_a_module_that_is_gone() -> None:
    readmes = {r for m in modules() if (r := readme_of(m)) is not None}
    stale = [
        f"{readme.relative_to(ROOT)}: `{name}` is on the map but {(readme.parent / name).relative_to(ROOT)} does not exist"
        for readme in sorted(readmes)
        for name in sorted(mapped(readme))
        if not (readme.parent / name).is_file()
    ]
    assert not stale, "module maps naming moved or deleted modules:\n" + "\n".join(stale)


def test_readme_points_at_the_three_places_a_newcomer_looks_for() -> None:
    """Issue 12: a PDU's energy reading, kWh to CO2e and a point's retry are each at most two
    hops from the README (its "Where things are" table, then the file)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    expected = {
        "where a PDU's energy is read": ["collectors/snmp/profiles/", "collectors/snmp/decode.py"],
        "where kWh become CO2e": ["carbon/emissions.py"],
        "where a point is retried": ["agent/forwarder.py", "agent/spool.py"],
    }
    for question, files in expected.items():
        assert question in rows, f"README.md, Where things are: no row {question!r}"
        for name in files:
            assert f"]({name}" in rows[question], f"README.md, {question!r}: no link to {name}"
    # That each link resolves is tests/acceptance/test_docs.py's test_links_point_at_files_a_clone_has.
