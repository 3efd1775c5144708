"""Every `sentinelle` subcommand with bad arguments, run as a user runs it (a subprocess):
no traceback, one clear message, and the exit code of the house rule (0 fine, 1 problems found
or a peer did not answer, 2 usage or configuration)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sentinelle.agent.cli import build_parser

CANARY = "CANARY-s3cr3t-7f3a"


def sentinelle(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, SENTINELLE_DATA_DIR=str(cwd / "default-data")))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "ok.yaml").write_text(f"""\
agent: {{data_dir: {tmp_path / 'data'}, http: {{enabled: false}}}}
inventory:
  sites:
    - id: nro-lannion
      devices:
        - id: pdu-1
          snmp: {{host: 127.0.0.1, port: 9, community: {CANARY}, timeout: 0.2, retries: 0}}
          meter: {{load: facility, kind: counter, unit: kWh}}
""")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "fake.xlsx").write_text("time;value\n2026-01-01T00:00;1\n")
    with zipfile.ZipFile(tmp_path / "notexcel.xlsx", "w") as z:
        z.writestr("hello.txt", "not a workbook")
    (tmp_path / "header-only.csv").write_text("time,kwh\n")
    (tmp_path / "not-a-db").mkdir()
    # An InfluxDB token file missing: fatal for what uses the sink, not for a local-store report.
    (tmp_path / "tokenless.yaml").write_text((tmp_path / "ok.yaml").read_text() + (
        "sinks:\n  - {type: local}\n"
        "  - {type: influxdb2, url: http://127.0.0.1:9, org: o, bucket: b, token_file: /nonexistent/token}\n"))
    return tmp_path


# (arguments, exit code, a fragment of the message). `ok.yaml` is a valid configuration.
CASES = [
    (["run", "-c", "missing.yaml"], 2, "file not found"),
    (["run", "-c", "ok.yaml", "--duration", "soon"], 2, "invalid duration"),
    (["run", "-c", "ok.yaml", "--duration=-5s"], 2, "negative"),
    (["check", "-c", "not-a-db"], 2, "is a directory"),
    (["check", "-c", "ok.yaml", "--timeout", "1 fortnight"], 2, "invalid duration"),
    (["spool", "stats", "-c", "ok.yaml"], 1, "pas de spool"),
    (["spool", "frobnicate", "-c", "ok.yaml"], 2, "invalid choice"),
    (["spool", "dead-letters", "-c", "ok.yaml", "--sink", "UNKNOWN"], 2, "UNKNOWN"),
    (["spool", "replay", "-c", "ok.yaml", "--sink", "UNKNOWN"], 2, "UNKNOWN"),
    (["spool", "replay", "-c", "ok.yaml"], 2, "--sink"),
    (["spool", "dead-letters", "-c", "ok.yaml", "--limit", "0"], 2, "at least 1"),
    (["demo", "--duration", "ten"], 2, "invalid duration"),
    (["probe"], 2, "host"),
    (["probe", "127.0.0.1", "--timeout", "abc"], 2, "invalid duration"),
    (["report", "-c", "ok.yaml", "--year", "26"], 2, "four digits"),
    # A bad --format value exits 1, as tests/carbon/report/test_outputs.py has it for --group-by.
    (["report", "-c", "ok.yaml", "--year", "2026", "--format", "pdf"], 1, "pdf"),
    (["report", "-c", "ok.yaml", "--from", "2026-02-01", "--to", "2026-01-01"], 1, "after"),
    (["report", "-c", "ok.yaml", "--from", "yesterday", "--to", "2026-01-01"], 2, "not an ISO date"),
    (["report", "-c", "tokenless.yaml", "--year", "2026"], 2, "/nonexistent/token"),
    (["report", "-c", "tokenless.yaml", "--year", "2026", "--source", "local"], 1, "local store"),
    (["import", "-c", "ok.yaml", "--meter", "pdu-1", "binary.csv"], 1, "binary.csv: a binary file"),
    (["import", "-c", "ok.yaml", "--meter", "pdu-1", "fake.xlsx"], 1, "fake.xlsx: not an Excel workbook"),
    (["import", "-c", "ok.yaml", "--meter", "pdu-1", "notexcel.xlsx"], 1, "notexcel.xlsx"),
    (["import", "-c", "ok.yaml", "--meter", "pdu-1", "header-only.csv"], 1, "header-only.csv"),
    (["import", "-c", "ok.yaml", "--meter", "nope", "header-only.csv"], 2, "nope"),
    (["recompute", "-c", "ok.yaml", "--from", "x", "--to", "y"], 2, "not an ISO date"),
    ([], 2, "COMMAND"),
    (["frobnicate"], 2, "invalid choice"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_arguments(workdir: Path, args: list[str], code: int, fragment: str) -> None:
    proc = sentinelle(*args, cwd=workdir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, f"exit {proc.returncode}: {out}"
    assert "Traceback" not in out, out
    assert fragment.lower() in out.lower(), out
    assert CANARY not in out


def test_every_subcommand_refuses_an_unknown_option(workdir: Path) -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"run", "check", "spool", "demo", "report", "import", "recompute", "probe"} <= set(commands)
    for name in commands:
        proc = sentinelle(name, "--no-such-option", cwd=workdir)
        assert proc.returncode == 2, f"{name}: {proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr and "error:" in proc.stderr, proc.stderr


def test_every_option_has_help_and_shows_its_default() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        text = sub.format_help()
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]}: no help line"
            shown = action.default not in (None, False, "", [], argparse_suppress())
            if shown:
                assert "default" in sub._get_formatter()._get_help_string(action).lower(), (name, action.dest)
        assert "-v, --verbose" in text, f"{name}: -v not accepted after the subcommand"


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


def test_version_and_verbose_after_the_subcommand(workdir: Path) -> None:
    proc = sentinelle("--version", cwd=workdir)
    assert proc.returncode == 0 and proc.stdout.startswith("sentinelle "), proc.stdout + proc.stderr
    proc = sentinelle("check", "-c", "ok.yaml", "--no-devices", "-v", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DEBUG" in proc.stderr
    assert f"{workdir / 'data'}" in proc.stdout, "check prints the data directory"


def test_unexpected_error_is_one_line_and_traceback_only_with_verbose(workdir: Path) -> None:
    # A spool file that is not SQLite (a disk restored from the wrong backup): not a case any
    # command handles on purpose, so the last-resort guard in main() answers.
    (workdir / "data").mkdir()
    (workdir / "data" / "spool.db").write_bytes(b"this is not a database" * 100)
    proc = sentinelle("spool", "stats", "-c", "ok.yaml", cwd=workdir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "DatabaseError" in proc.stderr or "database" in proc.stderr, proc.stderr
    proc = sentinelle("spool", "stats", "-c", "ok.yaml", "-v", cwd=workdir)
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_spool_stats_does_not_need_the_secrets_it_does_not_use(workdir: Path) -> None:
    text = (workdir / "ok.yaml").read_text().replace(CANARY, "${SENTINELLE_UNSET_COMMUNITY}")
    text += "sinks:\n  - {type: local}\n  - {type: influxdb2, url: http://127.0.0.1:9, org: o, bucket: b, token_file: /nonexistent/token}\n"
    (workdir / "env.yaml").write_text(text)
    assert sentinelle("run", "-c", "env.yaml", "--duration", "1s", cwd=workdir).returncode == 2  # run needs them
    # A spool made by a run of the same sinks without the influx secret problem.
    (workdir / "token").write_text("tok-123456789\n")
    runnable = text.replace("/nonexistent/token", str(workdir / "token")).replace("${SENTINELLE_UNSET_COMMUNITY}", "x")
    (workdir / "run.yaml").write_text(runnable)
    assert sentinelle("run", "-c", "run.yaml", "--duration", "1s", cwd=workdir).returncode == 0
    proc = sentinelle("spool", "stats", "-c", "env.yaml", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "point(s) en attente" in proc.stdout and "destination influxdb2-1" in proc.stdout, proc.stdout


def test_sigint_says_stopping_and_what_stays_in_the_spool(workdir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "sentinelle.agent.cli", "run", "-c", "ok.yaml"], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            if "started" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "arrêt demandé (SIGINT)" in err and "restent dans le spool" in err, err
    assert "Traceback" not in err


def test_second_sigint_stops_at_once(workdir: Path) -> None:
    # A sink that never answers keeps the drain busy: only the second signal ends it early.
    text = (workdir / "ok.yaml").read_text() + "sinks:\n  - {type: influxdb1, url: http://10.255.255.1:8086, database: s, timeout: 30s}\n"
    (workdir / "slow.yaml").write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "sentinelle.agent.cli", "run", "--lang", "en", "-c", "slow.yaml"], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            if "started" in line:
                break
        proc.send_signal(signal.SIGINT)
        for line in proc.stderr:  # type: ignore[union-attr]
            if "stopping (SIGINT)" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def test_run_duration_ends_and_counts_what_stays_for_a_dead_sink(workdir: Path) -> None:
    import re

    # 10.255.255.1 drops packets: the sink never answers, the drain is bounded all the same.
    text = (workdir / "ok.yaml").read_text() + "sinks:\n  - {type: influxdb1, url: http://10.255.255.1:8086, database: s, timeout: 30s}\n"
    (workdir / "dead.yaml").write_text(text)
    proc = sentinelle("run", "-c", "dead.yaml", "--duration", "2s", cwd=workdir, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"arrêté : (\d+) point\(s\) restent dans le spool", proc.stderr)
    assert found and int(found.group(1)) >= 1, proc.stderr


def test_check_fails_when_the_data_directory_cannot_be_created(workdir: Path) -> None:
    (workdir / "a-file").write_text("x")
    text = (workdir / "ok.yaml").read_text().replace(str(workdir / "data"), str(workdir / "a-file" / "data"))
    (workdir / "blocked.yaml").write_text(text)
    proc = sentinelle("check", "-c", "blocked.yaml", "--no-devices", "--lang", "en", cwd=workdir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("data_dir"))
    assert "FAIL" in row and "a-file" in row, proc.stdout
