"""Logging: one line per problem per window, and no secret ever reaches a log line."""

from __future__ import annotations

import io
import json
import logging

from sentinelle.agent.logs import Problems, setup_logging


def test_problems_are_rate_limited_and_repeats_counted() -> None:
    now = [0.0]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test.problems")
    logger.handlers[:] = [Keep()]
    logger.propagate = False
    problems = Problems(logger, window_s=60, clock=lambda: now[0])
    for _ in range(5):
        problems.report(("timeout", "ups-1"), "ups-1 timed out", device="ups-1")
    problems.report(("timeout", "pdu-1"), "pdu-1 timed out", device="pdu-1")
    assert [r.getMessage() for r in records] == ["ups-1 timed out", "pdu-1 timed out"]
    now[0] = 61.0
    problems.report(("timeout", "ups-1"), "ups-1 timed out", device="ups-1")
    assert records[-1].repeats == 4  # type: ignore[attr-defined]
    problems.clear(("timeout", "ups-1"))
    assert problems.report(("timeout", "ups-1"), "again", device="ups-1")


def test_secrets_are_redacted_everywhere_in_json_logs() -> None:
    stream = io.StringIO()
    setup_logging("info", "json", secrets=["s3cr3t-token-value"], stream=stream)
    log = logging.getLogger("agent.test")
    log.warning("write failed with token %s", "s3cr3t-token-value", extra={"sink": "influx s3cr3t-token-value"})
    try:
        raise RuntimeError("401 for s3cr3t-token-value")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    assert "s3cr3t-token-value" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["message"] == "write failed with token ***"
    assert lines[0]["sink"] == "influx ***"
    assert "***" in lines[1]["exception"]
    setup_logging("warning", "text")
