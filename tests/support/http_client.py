"""A blocking HTTP client small enough for test setup (no dependency on aiohttp's loop)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request


def http(
    method: str,
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """Tiny blocking HTTP client for test setup; returns (status, body) even for 4xx/5xx."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
