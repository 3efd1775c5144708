"""The broken-configuration corpus: each file under `broken/` holds one realistic mistake.

Its header says the key path (`# key:`) and a fragment of the reason (`# reason:`); the line
holding the mistake ends with `# <- mistake` (line 1 when there is none). `sentinelle check`,
`check --no-devices` and `run` must each refuse it the same way, as a user runs them (a
subprocess): exit 2, the same lines on stderr, `FILE:LINE: key.path: reason`, no traceback,
and never the secret each file holds (CANARY below). Adding a file adds a case.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "broken"
CANARY = "CANARY-s3cr3t-7f3a"
FILES = sorted(HERE.glob("*.yaml"))


def expectation(path: Path) -> tuple[str, str, int]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    key = re.search(r"^# key: ?(.*)$", text, re.M)
    reason = re.search(r"^# reason: (.+)$", text, re.M)
    assert key and reason, f"{path.name}: header needs '# key:' and '# reason:'"
    line = next((n for n, row in enumerate(text.splitlines(), 1) if row.rstrip().endswith("# <- mistake")), 1)
    return key.group(1).strip(), reason.group(1).strip(), line


def sentinelle(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SENTINELLE_DATA_DIR=str(data_dir))
    env.pop("SENTINELLE_CORPUS_UNSET", None)
    return subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", *args], cwd=HERE, capture_output=True, text=True,
                          timeout=60, env=env)


def test_corpus_is_large_and_every_file_holds_the_canary() -> None:
    assert len(FILES) >= 30
    for path in FILES:
        assert CANARY.encode() in path.read_bytes(), f"{path.name}: put the canary secret in the file"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_check_and_run_refuse_alike(path: Path, tmp_path: Path) -> None:
    key, reason, line = expectation(path)
    runs = {
        "check": sentinelle("check", "-c", path.name, data_dir=tmp_path),
        "check --no-devices": sentinelle("check", "--no-devices", "-c", path.name, data_dir=tmp_path),
        "run": sentinelle("run", "--duration", "1s", "-c", path.name, data_dir=tmp_path),
    }
    for what, proc in runs.items():
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, f"{what}: exit {proc.returncode}\n{out}"
        assert "Traceback" not in out, f"{what}: {out}"
        assert CANARY not in out, f"{what} echoed the secret: {out}"
    stderr = runs["check"].stderr
    assert runs["run"].stderr == stderr and runs["check --no-devices"].stderr == stderr
    problems = [row.strip() for row in stderr.splitlines()[1:]]
    assert problems, stderr
    first = problems[0]
    assert first.startswith(f"{path.name}:{line}: "), f"expected line {line}: {stderr}"
    if key:
        assert f": {key}: " in first, f"expected key {key}: {stderr}"
    assert reason.lower() in first.lower(), f"expected reason {reason!r}: {stderr}"
    assert not list(tmp_path.iterdir()), "a refused configuration must not create the data directory"
