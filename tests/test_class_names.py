"""No class name is defined twice in the code base.

A config model and a runtime class once shared names (`InfluxDB1Sink` was both the `sinks:`
entry and the sink that writes to InfluxDB): a reader, a traceback or a `grep` could not tell
which one was meant. Config models are named `*Settings`; this test keeps every name unique.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "collectors", "carbon", "grafana")


def class_definitions() -> dict[str, list[str]]:
    where: dict[str, list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    where[node.name].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return where


def test_the_walk_sees_the_code_base() -> None:
    names = class_definitions()
    assert "AgentSettings" in names and "SnmpTargetSettings" in names and "InfluxDB1Sink" in names


def test_no_class_name_is_defined_twice() -> None:
    twice = {name: places for name, places in class_definitions().items() if len(places) > 1}
    assert not twice, "class names defined more than once: " + "; ".join(
        f"{name} ({', '.join(places)})" for name, places in sorted(twice.items()))
