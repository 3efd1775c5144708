"""The installed distribution is one namespace, `sentinelle`, and nothing else.

Graphite ships a top-level `carbon` and many tools an `agent`: installing ours under those names
would shadow them (issue 12). The card's folders stay at the top of the repository and
`pyproject.toml` maps them to `sentinelle.agent`, `sentinelle.collectors`, `sentinelle.carbon`.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("agent", "collectors", "carbon")


def _package_dirs() -> set[str]:
    found = set()
    for top in TOPS:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            if "testdata" in rel.parts or "__pycache__" in rel.parts:
                continue
            found.add("sentinelle." + ".".join(rel.parts))
    return found


def test_pyproject_lists_every_package_under_the_namespace() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(tool["packages"]) == _package_dirs(), "run the package list update: a package is missing or stale"
    assert tool["package-dir"] == {f"sentinelle.{t}": t for t in TOPS}


def test_importing_everything_loads_no_top_level_agent_collectors_or_carbon() -> None:
    # Run from another folder so the repository root is not on sys.path: only the installed
    # mapping can resolve imports, as for a user.
    code = (
        "import importlib, pkgutil, sys\n"
        "import sentinelle.agent, sentinelle.collectors, sentinelle.carbon\n"
        "for pkg in (sentinelle.agent, sentinelle.collectors, sentinelle.carbon):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {TOPS!r})\n"
        "print(len(sys.modules)); assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_wheel_contains_only_the_sentinelle_namespace(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("sentinelle-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"sentinelle", next(t for t in tops if t.endswith(".dist-info"))}
    names = set(zipfile.ZipFile(wheel).namelist())
    # Every file git tracks in the three packages ships: profiles, factor tables, demo recordings.
    tracked = subprocess.run(["git", "ls-files", *TOPS], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    missing = sorted(f for f in tracked if f"sentinelle/{f}" not in names)
    assert not missing, f"not in the wheel: {missing[:10]}"
    assert not any(n.startswith("sentinelle/__init__") for n in names)  # a namespace, not a package
