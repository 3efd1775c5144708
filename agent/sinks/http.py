"""The HTTP side the InfluxDB sinks and the InfluxQL client share: one session shape, one probe.

Apart from `base.py` so that what a sink *is* (and the forwarder, which only needs its errors)
loads without aiohttp: an agent writing to its local store with the status server off never
imports it.
"""

from __future__ import annotations

import asyncio

import aiohttp

from sentinelle.agent.sinks.base import PROBE_TIMEOUT, SinkUnreachable


def http_session(*, verify_tls: bool, timeout: float | None = None) -> aiohttp.ClientSession:
    """The aiohttp session every HTTP sink opens: one connection pool per sink, TLS checked unless
    the configuration says `verify_tls: false` (a self-signed server on the site's LAN)."""
    connector = aiohttp.TCPConnector(ssl=None if verify_tls else False)
    if timeout is None:
        return aiohttp.ClientSession(connector=connector)
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), connector=connector)


async def http_probe(session: aiohttp.ClientSession, sink: str, url: str, limit_s: float = PROBE_TIMEOUT) -> None:
    """GET `url` (a liveness endpoint such as `/ping`); any HTTP answer means the server is back,
    whatever its status (a 401 or 404 is for the data write to report). Raises `SinkUnreachable`
    (message without the query string: no credentials travel in a probe, none can leak)."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=limit_s), allow_redirects=False) as resp:
            await resp.read()
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        what = "timed out" if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}: {exc}"[:200]
        raise SinkUnreachable(f"{sink}: no answer from {url.split('?', 1)[0]}: {what}") from None
