"""Where the report reads points: the embedded local store, or InfluxDB through InfluxQL.

InfluxQL over `/query` is the one read API that InfluxDB 1.x, 2.x (with a DBRP mapping) and
3.x all answer, so the report has a single InfluxDB reader. Queries are cut into month-long
windows so no answer is huge; `epoch=ns` keeps timestamps exact.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from sentinelle.agent.core import NS, Point

WINDOW_NS = 31 * 86400 * NS


class ReportSourceError(RuntimeError):
    """The store cannot be read. Messages never contain a token or password."""


class ReportSource(Protocol):
    def points(self, measurement: str, start_ns: int, end_ns: int) -> Iterable[Point]: ...


class LocalStoreSource:
    """Any object with `query(measurement, start_ns, end_ns)` (agent.sinks.local.LocalStore)."""

    def __init__(self, store: Any):
        self.store = store

    def points(self, measurement: str, start_ns: int, end_ns: int) -> Iterator[Point]:
        return iter(self.store.query(measurement, start_ns, end_ns))


class InfluxQLSource:
    """`SELECT * FROM m WHERE time in window GROUP BY *` over HTTP `/query`.

    Auth: `username`/`password` (1.x, sent as HTTP Basic) or `token` (2.x/3.x, sent as
    `Authorization: Token ...`). `retention_policy` qualifies the measurement if given.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        retention_policy: str | None = None,
        timeout_s: float = 30.0,
    ):
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        self.timeout_s = timeout_s
        self._headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        elif username:
            cred = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {cred}"

    def __repr__(self) -> str:
        return f"InfluxQLSource(url={self.url!r}, database={self.database!r})"

    def _query(self, q: str) -> dict[str, Any]:
        body = urllib.parse.urlencode({"db": self.database, "q": q, "epoch": "ns"}).encode()
        req = urllib.request.Request(f"{self.url}/query", data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise ReportSourceError(f"InfluxDB {self.url}/query answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReportSourceError(f"cannot query InfluxDB at {self.url}: {reason}") from None
        for result in data.get("results", []):
            if "error" in result:
                raise ReportSourceError(f"InfluxDB {self.url}: {result['error']}")
        return data

    def _from(self, measurement: str) -> str:
        m = '"' + measurement.replace('"', '\\"') + '"'
        if self.retention_policy:
            return '"' + self.retention_policy.replace('"', '\\"') + '".' + m
        return m

    def points(self, measurement: str, start_ns: int, end_ns: int) -> Iterator[Point]:
        t = start_ns
        while t < end_ns:
            stop = min(t + WINDOW_NS, end_ns)
            q = f"SELECT * FROM {self._from(measurement)} WHERE time >= {t} AND time < {stop} GROUP BY *"
            for result in self._query(q).get("results", []):
                for series in result.get("series", []) or []:
                    tags = {k: v for k, v in (series.get("tags") or {}).items() if v != ""}
                    cols = series["columns"]
                    for row in series.get("values", []):
                        fields = {c: v for c, v in zip(cols[1:], row[1:], strict=False) if v is not None}
                        if fields:
                            yield Point(measurement, dict(tags), fields, int(row[0]))
            t = stop

