"""agent/redaction.py: the one secret redactor behind logs, sink errors and CLI output."""

from __future__ import annotations

import logging

from sentinelle.agent.logs import SecretRedactor
from sentinelle.agent.redaction import Redactor


def test_a_secret_containing_a_shorter_one_is_masked_whole_in_any_order() -> None:
    for secrets in (["s3cr", "s3cr3t-token"], ["s3cr3t-token", "s3cr"]):
        out = Redactor(secrets)("GET /?token=s3cr3t-token failed; user s3cr")
        assert out == "GET /?token=*** failed; user ***"


def test_empty_and_very_short_values_are_not_secrets() -> None:
    redact = Redactor([None, "", "ab"])
    assert not redact and redact("ab cd") == "ab cd"


def test_log_filter_uses_the_same_rule() -> None:
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "auth %s / %s", ("s3cr3t-token", "s3cr"), None)
    SecretRedactor(["s3cr", "s3cr3t-token"]).filter(record)
    assert record.getMessage() == "auth *** / ***"
