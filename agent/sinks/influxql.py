"""The one InfluxQL client: `SELECT` and `DELETE` over HTTP `/query` (aiohttp).

InfluxQL over `/query` is the one read API that InfluxDB 1.x, 2.x (through the DBRP mapping of
a bucket) and 3.x all answer, so the sinks' `read` (and through it the report, `import`'s live
coverage and `recompute`) has a single InfluxDB reader; InfluxDB 1.x deletes through it too.
`epoch=ns` keeps timestamps exact. Messages never contain a password or token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Mapping
from typing import Any

import aiohttp

from sentinelle.agent.core import Point
from sentinelle.agent.redaction import Redactor
from sentinelle.agent.sinks.base import SinkUnavailable, SinkUnreachable
from sentinelle.agent.sinks.http import http_session
from sentinelle.agent.sinks.status import error_for_status


def quote_identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tag_condition(tags: Mapping[str, Collection[str]] | None) -> str:
    """`("k"='a' OR "k"='b') AND ...`: a series matches when its tag `k` is one of `tags[k]`."""
    parts = []
    for key, allowed in (tags or {}).items():
        values = [allowed] if isinstance(allowed, str) else list(allowed)
        parts.append("(" + " OR ".join(f"{quote_identifier(key)}={quote_string(v)}" for v in values) + ")")
    return " AND ".join(parts)


class InfluxQLClient:
    """`/query` of one database (1.x) or DBRP-mapped bucket (2.x/3.x), with its credentials as
    ready-made headers (Basic for 1.x, `Token` for 2.x/3.x)."""

    def __init__(self, name: str, url: str, database: str, *, headers: Mapping[str, str] | None = None,
                 retention_policy: str | None = None, verify_tls: bool = True, timeout: float = 30.0,
                 secrets: Collection[str | None] = ()):
        self.name = name
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        self.verify_tls = verify_tls
        self.timeout = timeout
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._redact = Redactor(list(secrets))
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"InfluxQLClient(url={self.url!r}, database={self.database!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = http_session(verify_tls=self.verify_tls, timeout=self.timeout)
        return self._session

    def measurement(self, name: str) -> str:
        """The measurement's name in a FROM clause, qualified by the retention policy if any."""
        if self.retention_policy:
            return f"{quote_identifier(self.retention_policy)}.{quote_identifier(name)}"
        return quote_identifier(name)

    async def query(self, q: str, *, in_database: bool = True, raise_errors: bool = True) -> list[dict[str, Any]]:
        """The `results` of one statement; an InfluxQL error in them raises `SinkUnavailable`
        unless `raise_errors=False` (the caller words it). `in_database=False` for a
        server-wide statement (`SHOW DATABASES`)."""
        form = {"q": q, "epoch": "ns", **({"db": self.database} if in_database else {})}
        try:
            async with self._client().post(f"{self.url}/query", data=form, headers=self._headers) as resp:
                body = await resp.read()
                if resp.status != 200:
                    err = error_for_status(self.name, resp.status, body, resp.headers.get("Retry-After"),
                                           what=f"database {self.database!r}")
                    err.args = (self._redact(str(err)),)
                    raise err
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            what = "timed out" if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}: {exc}"[:300]
            raise SinkUnreachable(self._redact(f"{self.name}: cannot query InfluxDB at {self.url}: {what}")) from None
        try:
            results = json.loads(body).get("results", [])
        except (ValueError, AttributeError):
            raise SinkUnavailable(f"{self.name}: unexpected answer from {self.url}/query") from None
        for result in results if raise_errors else ():
            if "error" in result:
                raise SinkUnavailable(self._redact(f"{self.name}: InfluxDB {self.url}: {result['error']}"))
        return results

    async def select(self, measurement: str, start_ns: int, end_ns: int,
                     tags: Mapping[str, Collection[str]] | None = None) -> list[Point]:
        """Points of `measurement` in [start_ns, end_ns) (`GROUP BY *`: tags come back as tags)."""
        where = f"time >= {int(start_ns)} AND time < {int(end_ns)}"
        cond = tag_condition(tags)
        if cond:
            where = f"{cond} AND {where}"
        points = []
        for result in await self.query(f"SELECT * FROM {self.measurement(measurement)} WHERE {where} GROUP BY *"):
            for series in result.get("series", []) or []:
                series_tags = {k: v for k, v in (series.get("tags") or {}).items() if v != ""}
                cols = series["columns"]
                for row in series.get("values", []):
                    fields = {c: v for c, v in zip(cols[1:], row[1:], strict=False) if v is not None}
                    if fields:
                        points.append(Point(measurement, dict(series_tags), fields, int(row[0])))
        return points

    async def delete(self, measurement: str, start_ns: int, end_ns: int,
                     tags: Mapping[str, Collection[str]] | None = None) -> None:
        """`DELETE FROM m WHERE tags AND time in [start, end)` (InfluxDB 1.x)."""
        where = f"time >= {int(start_ns)} AND time < {int(end_ns)}"
        cond = tag_condition(tags)
        if cond:
            where = f"{cond} AND {where}"
        await self.query(f"DELETE FROM {quote_identifier(measurement)} WHERE {where}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
