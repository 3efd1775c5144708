"""InfluxDB 1.x sink: `POST /write?db=&rp=&precision=ns` with aiohttp.

Credentials go in a basic-auth header, never in the query string (`u=`/`p=`), so they cannot
end up in a proxy log, an exception's URL or ours. InfluxDB 1.x writes the good points of a batch
even when it answers 400 for a bad one ("partial write"); the forwarder's recursive split then
resends some good lines, which is harmless since a write is idempotent (same series + timestamp).
"""

from __future__ import annotations

import asyncio

import aiohttp

from sentinelle.agent.core import Point
from sentinelle.agent.redaction import Redactor
from sentinelle.agent.sinks.base import (
    SinkUnavailable,
    SinkUnreachable,
    TagFilter,
    gzip_body,
)
from sentinelle.agent.sinks.http import http_probe, http_session
from sentinelle.agent.sinks.influxql import InfluxQLClient
from sentinelle.agent.sinks.status import SinkAuthRefused, SinkNotFound, error_for_status


class InfluxDB1Sink:
    def __init__(self, name: str, url: str, database: str, *, retention_policy: str | None = None,
                 username: str | None = None, password: str | None = None, gzip_body: bool = True,
                 verify_tls: bool = True, timeout: float = 10.0):
        self.name = name
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        self._auth_headers = {"Authorization": _basic_auth(username, password or "")} if username else {}
        self.gzip = gzip_body
        self.verify_tls = verify_tls
        self.timeout = timeout
        self._redact = Redactor([password])
        self._session: aiohttp.ClientSession | None = None
        self._influxql = InfluxQLClient(name, self.url, database, headers=self._auth_headers,
                                        retention_policy=retention_policy, verify_tls=verify_tls,
                                        timeout=max(timeout, 30.0), secrets=[password])

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = http_session(verify_tls=self.verify_tls, timeout=self.timeout)
        return self._session

    async def write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        body = b"\n".join(lines)
        headers = {"Content-Type": "text/plain; charset=utf-8", **self._auth_headers}
        compressed = await gzip_body(body) if self.gzip else None
        if compressed is not None:
            body = compressed
            headers["Content-Encoding"] = "gzip"
        params = {"db": self.database, "precision": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        try:
            async with self._client().post(f"{self.url}/write", params=params, data=body, headers=headers) as resp:
                if resp.status in (200, 204):
                    return
                text = await resp.read()
                raise self._error(resp.status, text, resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SinkUnreachable(self._redact(f"{self.name}: cannot reach {self.url}: {_describe(exc)}")) from None

    async def read(self, measurement: str, start_ns: int, end_ns: int,
                   tags: TagFilter | None = None) -> list[Point]:
        """InfluxQL `SELECT` (see `InfluxQLClient.select`)."""
        return await self._influxql.select(measurement, start_ns, end_ns, tags)

    async def delete(self, measurement: str, start_ns: int, end_ns: int, tags: TagFilter | None = None) -> None:
        """InfluxQL `DELETE` (a retention policy does not qualify it: InfluxDB 1.x deletes from all)."""
        await self._influxql.delete(measurement, start_ns, end_ns, tags)

    async def probe(self) -> None:
        """`GET /ping` (InfluxDB 1.x answers 204 without credentials): is the server back?"""
        await http_probe(self._client(), self.name, f"{self.url}/ping")

    def _error(self, status: int, body: bytes, retry_after: str | None) -> Exception:
        err = error_for_status(self.name, status, body, retry_after, what=f"database {self.database!r}")
        err.args = (self._redact(str(err)),)
        return err

    async def check(self) -> None:
        """`/ping`, then `SHOW DATABASES` (which also checks credentials) to name a missing database."""
        try:
            async with self._client().get(f"{self.url}/ping") as resp:
                if resp.status not in (200, 204):
                    raise self._error(resp.status, await resp.read(), resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SinkUnreachable(self._redact(f"{self.name}: cannot reach {self.url}: {_describe(exc)}")) from None
        results = await self._influxql.query("SHOW DATABASES", in_database=False, raise_errors=False)
        if not results or not isinstance(results[0], dict):
            raise SinkUnavailable(f"{self.name}: unexpected answer to SHOW DATABASES from {self.url}")
        result = results[0]
        if "error" in result:
            message = self._redact(str(result["error"]))
            if "authorization" in message.lower() or "not authorized" in message.lower():
                raise SinkAuthRefused(f"{self.name}: credentials refused: {message}")
            raise SinkUnavailable(f"{self.name}: SHOW DATABASES failed: {message}")
        names = {row[0] for series in result.get("series", []) or [] for row in series.get("values", []) or []}
        if self.database not in names:
            raise SinkNotFound(
                f"{self.name}: database {self.database!r} does not exist on {self.url} "
                f'(create it with: CREATE DATABASE "{self.database}")'
            )

    async def close(self) -> None:
        await self._influxql.close()
        if self._session is not None:
            await self._session.close()
            self._session = None


def _basic_auth(username: str, password: str) -> str:
    encode = getattr(aiohttp, "encode_basic_auth", None)  # aiohttp >= 3.14; BasicAuth deprecated there
    return encode(username, password) if encode else aiohttp.BasicAuth(username, password).encode()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
