"""Structured, rate-limited logging with secret redaction.

One line per problem with its context (`device`, `site`, `sink`, `topic`...), never a flood:
`Problems.report(key, ...)` logs a given problem key at most once per window and counts the
repeats, which are summarised when the window reopens. Every handler carries a redaction
filter holding this agent's secret values, so a key pasted into an error by a library never
reaches a log line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

from sentinelle.agent.redaction import Redactor

CONTEXT_KEYS = ("device", "site", "sink", "broker", "topic", "target", "reason")


class SecretRedactor(logging.Filter):
    """The logging side of `agent.redaction.Redactor`: message, traceback and context fields."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.redact = Redactor(secrets)
        self.secrets = self.redact.secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redact:
            return True
        message = self.redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        repeats = getattr(record, "repeats", None)
        if repeats:
            out["repeats"] = repeats
        if record.exc_text:
            out["exception"] = record.exc_text
        elif record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        ctx = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_KEYS if getattr(record, k, None) is not None)
        repeats = getattr(record, "repeats", None)
        if repeats:
            ctx += f" (repeated {repeats} times since last report)"
        return f"{base} [{ctx.strip()}]" if ctx.strip() else base


def setup_logging(level: str = "info", fmt: str = "text", secrets: Iterable[str] = (), stream: Any = None) -> SecretRedactor:
    """Configure the `sentinelle` logger tree (not the root: libraries keep their own)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    redactor = SecretRedactor(secrets)
    handler.addFilter(redactor)
    for name in ("sentinelle",):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # Libraries log to the root logger; send their warnings through the same redaction.
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    return redactor


class Problems:
    """Rate limiter for recurring problems: one log line per key per window, repeats counted."""

    def __init__(self, logger: logging.Logger, window_s: float = 300.0, clock: Any = time.monotonic):
        self.logger = logger
        self.window_s = window_s
        self.clock = clock
        self._last: dict[tuple[Any, ...], float] = {}
        self._suppressed: dict[tuple[Any, ...], int] = {}

    def report(self, key: tuple[Any, ...] | str, message: str, *args: Any, level: int = logging.WARNING, **context: Any) -> bool:
        """Log unless the same key was logged within the window. Returns True if logged."""
        k = key if isinstance(key, tuple) else (key,)
        now = self.clock()
        last = self._last.get(k)
        if last is not None and now - last < self.window_s:
            self._suppressed[k] = self._suppressed.get(k, 0) + 1
            return False
        self._last[k] = now
        repeats = self._suppressed.pop(k, 0)
        extra = {key_: value for key_, value in context.items() if value is not None}
        if repeats:
            extra["repeats"] = repeats
        self.logger.log(level, message, *args, extra=extra)
        return True

    def clear(self, key: tuple[Any, ...] | str) -> None:
        """Forget a key (the problem is over), so its next occurrence is logged at once."""
        k = key if isinstance(key, tuple) else (key,)
        self._last.pop(k, None)
        self._suppressed.pop(k, None)
