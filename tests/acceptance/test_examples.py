"""Every shipped example (`deploy/examples/*.yaml`), run as a syndicate would once its
addresses and secrets are filled in: `sentinelle check`, then `sentinelle run` for a few cycles
against the test bed (tests/acceptance/testbed.py), and its points must be in its sink.

A new example is picked up by the glob: no new test to write.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.acceptance.runner import assert_collected, needs, run_seconds, run_with_traffic, sentinelle
from tests.acceptance.testbed import REPO, TestBed

EXAMPLES = sorted((REPO / "deploy" / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


def make_bed(request: pytest.FixtureRequest, text: str, workdir: Path) -> TestBed:
    want = needs(text)
    return TestBed(
        workdir,
        snmp=request.getfixturevalue("snmpsim") if want["snmp"] else None,
        mqtt=request.getfixturevalue("mosquitto") if want["mqtt"] else None,
        influxdb1=request.getfixturevalue("influxdb1") if want["influxdb1"] else None,
        victoria=request.getfixturevalue("victoria_metrics") if want["victoria"] else None,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
async def test_example_checks_and_runs_into_its_sink(example: Path, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    text = example.read_text(encoding="utf-8")  # noqa: ASYNC240 - a small file, before anything runs
    assert "${" not in text, f"{example.name}: secrets are files (*_file), the systemd unit sets no environment"
    # The install guide puts secrets in /etc/sentinelle/credentials/: the examples say the same.
    for path in re.findall(r"\b\w+_file:\s*([^,}\s]+)", text):
        assert path.startswith("/etc/sentinelle/credentials/"), f"{example.name}: secret file {path} outside the credentials folder"
    bed = make_bed(request, text, tmp_path)
    try:
        cfg = bed.rewrite(text, example.stem)
        check = await sentinelle("check", "-c", str(cfg.path), env=cfg.env)
        assert check.rc == 0, f"{example.name}: check\n{check}"
        assert "Traceback" not in check.stderr
        result = await run_with_traffic(cfg, run_seconds(cfg))
        assert_collected(bed, cfg, result)
    finally:
        bed.close()
