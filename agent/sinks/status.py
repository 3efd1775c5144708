"""HTTP answers of InfluxDB-like servers → the forwarder's three kinds of failure.

Shared by the InfluxDB 1.x and 2.x sinks so both treat a status the same way:
400/422 rejected (malformed lines), 413 too large, 401/403 credentials refused (retried: a fixed
token must resume the flow), 404 wrong database/bucket/org (retried: fixable in config),
429/503 and other 5xx unavailable with the server's Retry-After when given.
"""

from __future__ import annotations

import email.utils
import json
import time

from sentinelle.agent.sinks.base import SinkError, SinkRejected, SinkTooLarge, SinkUnavailable

MAX_REASON = 300


class SinkAuthRefused(SinkUnavailable):
    """401/403: the server refused our credentials. Retried (with backoff) so that fixing the
    token on the server side resumes the flow without restarting the agent."""


class SinkNotFound(SinkUnavailable):
    """404: database, bucket or organisation does not exist. Retried: creating it resumes."""


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def server_reason(body: bytes | str | None) -> str:
    """The server's own words: `{"error": ...}` (1.x), `{"message": ...}` (2.x), or the text."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message"):
            if isinstance(data.get(key), str) and data[key]:
                text = data[key]
                break
    text = " ".join(text.split())
    return text[:MAX_REASON] + ("…" if len(text) > MAX_REASON else "")


def error_for_status(sink: str, status: int, body: bytes | str | None, retry_after: str | None,
                     what: str = "") -> SinkError:
    """The `SinkError` for a non-2xx answer. `what` names the target (database or bucket)."""
    reason = server_reason(body)
    detail = f": {reason}" if reason else ""
    if status in (400, 422):
        return SinkRejected(f"{sink}: HTTP {status}{detail}" if not reason else reason)
    if status == 413:
        return SinkTooLarge(f"{sink}: HTTP 413 request too large{detail}")
    if status in (401, 403):
        return SinkAuthRefused(
            f"{sink}: credentials refused (HTTP {status}): check the token / username and password{detail}"
        )
    if status == 404:
        return SinkNotFound(f"{sink}: HTTP 404, {what or 'target'} not found{detail}")
    wait = retry_after_seconds(retry_after)
    return SinkUnavailable(f"{sink}: HTTP {status}{detail}", retry_after=wait)
