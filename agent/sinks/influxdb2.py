"""InfluxDB 2.x / 3.x (and compatible: VictoriaMetrics) sink via influxdb-client's async API.

Reading back goes through InfluxQL (`agent.sinks.influxql`, the bucket's DBRP mapping), deleting
through `/api/v2/delete`; VictoriaMetrics has no delete there (`SinkUnsupported`).

`InfluxDBClientAsync.write_api().write()` makes exactly one HTTP request and raises
`ApiException` for a non-2xx answer (status, body, headers) or aiohttp's errors for the network;
it has no retry of its own (retries exist only in the synchronous batching API), so the
forwarder's backoff is the only one. The client is created lazily, inside the running loop, as
the library requires. The library's own `str(ApiException)` includes response headers and body;
we never log it as is: we build our message from the status and the server's reason, with the
token removed.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import aiohttp
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.rest import ApiException

from sentinelle.agent.core import NS, Point
from sentinelle.agent.redaction import Redactor
from sentinelle.agent.sinks.base import (
    SinkError,
    SinkUnavailable,
    SinkUnreachable,
    SinkUnsupported,
    TagFilter,
    gzip_body,
)
from sentinelle.agent.sinks.http import http_probe, http_session
from sentinelle.agent.sinks.influxql import InfluxQLClient
from sentinelle.agent.sinks.status import error_for_status


class InfluxDB2Sink:
    def __init__(self, name: str, url: str, org: str, bucket: str, token: str, *, gzip_body: bool = True,
                 verify_tls: bool = True, timeout: float = 10.0):
        self.name = name
        self.url = url.rstrip("/")
        self.org = org
        self.bucket = bucket
        self._token = token
        self.gzip = gzip_body
        self.verify_tls = verify_tls
        self.timeout = timeout
        self._redact = Redactor([token])
        self._client: InfluxDBClientAsync | None = None
        self._probe_session: aiohttp.ClientSession | None = None
        # Reading back: InfluxQL through the bucket's DBRP mapping (same reader as InfluxDB 1.x).
        self._influxql = InfluxQLClient(name, self.url, bucket, headers={"Authorization": f"Token {token}"},
                                        verify_tls=verify_tls, timeout=max(timeout, 30.0), secrets=[token])

    def _api(self) -> InfluxDBClientAsync:
        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self.url, token=self._token, org=self.org, timeout=int(self.timeout * 1000),
                # gzip is ours (`gzip_body`): the library's runs at level 9 on the event loop.
                enable_gzip=False, verify_ssl=self.verify_tls,
            )
        return self._client

    async def write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        body = b"\n".join(lines)
        extra = {}
        compressed = await gzip_body(body) if self.gzip else None
        if compressed is not None:
            body, extra = compressed, {"content_encoding": "gzip"}
        try:
            # One level below `WriteApiAsync.write` (which would re-join and re-check the body).
            await self._api().write_api()._write_service.post_write_async(
                org=self.org, bucket=self.bucket, body=body, precision="ns", async_req=False,
                _return_http_data_only=False, content_type="text/plain; charset=utf-8", **extra)
        except ApiException as exc:
            raise self._from_api(exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SinkUnreachable(self._redact(f"{self.name}: cannot reach {self.url}: {_describe(exc)}")) from None
        except InfluxDBError as exc:
            raise SinkUnavailable(self._redact(f"{self.name}: {exc.message}"[:400])) from None

    def _from_api(self, exc: ApiException) -> SinkError:
        status = int(exc.status or 0)
        if status == 0:  # the library refused to send (no HTTP answer)
            return SinkUnavailable(self._redact(f"{self.name}: request not sent: {exc.reason}"[:400]))
        headers: Any = exc.headers or {}
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        err = error_for_status(self.name, status, exc.body, retry_after,
                               what=f"bucket {self.bucket!r} or org {self.org!r}")
        err.args = (self._redact(str(err)),)
        return err

    async def check(self) -> None:
        """`/ping`, then an empty write, which checks token, org and bucket without writing."""
        try:
            if not await self._api().ping():
                raise SinkUnavailable(f"{self.name}: {self.url} does not answer /ping")
            # An empty body is refused by the library, so go one level down: POST /api/v2/write.
            service = self._api().write_api()._write_service
            await service.post_write_async(org=self.org, bucket=self.bucket, body=b"", precision="ns",
                                           async_req=False, _return_http_data_only=False,
                                           content_type="text/plain; charset=utf-8")
        except ApiException as exc:
            err = self._from_api(exc)
            if exc.status in (400, 422):
                return  # "no data" for an empty body: the token and bucket were accepted
            raise err from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SinkUnreachable(self._redact(f"{self.name}: cannot reach {self.url}: {_describe(exc)}")) from None

    async def read(self, measurement: str, start_ns: int, end_ns: int,
                   tags: TagFilter | None = None) -> list[Point]:
        """InfluxQL `SELECT` on `/query`: the bucket needs a DBRP mapping (InfluxDB 2.x; 3.x has one)."""
        return await self._influxql.select(measurement, start_ns, end_ns, tags)

    async def delete(self, measurement: str, start_ns: int, end_ns: int, tags: TagFilter | None = None) -> None:
        """`POST /api/v2/delete` with a predicate. A predicate has no OR, so one request per
        combination of allowed tag values. Its stop is inclusive: `end_ns - 1`. A server without
        the endpoint (VictoriaMetrics) raises `SinkUnsupported`."""
        keys = list((tags or {}).keys())
        values = [[v] if isinstance(v, str) else list(v) for v in (tags or {}).values()]
        if any(not v for v in values):
            return
        headers = {"Authorization": f"Token {self._token}", "Content-Type": "application/json"}
        for combination in itertools.product(*values):
            predicate = " AND ".join([f"_measurement={_predicate_string(measurement)}"] + [
                f"{_predicate_string(k)}={_predicate_string(v)}" for k, v in zip(keys, combination, strict=True)])
            body = {"start": _rfc3339(start_ns), "stop": _rfc3339(end_ns - 1), "predicate": predicate}
            try:
                async with self._http().post(f"{self.url}/api/v2/delete", params={"org": self.org, "bucket": self.bucket},
                                                    json=body, headers=headers,
                                                    timeout=aiohttp.ClientTimeout(total=max(self.timeout, 30.0))) as resp:
                    text = await resp.read()
                    if resp.status in (200, 204):
                        continue
                    if resp.status in (404, 405, 501) or b"unsupported path" in text:
                        raise SinkUnsupported(f"{self.name}: {self.url} has no /api/v2/delete (HTTP {resp.status})")
                    err = error_for_status(self.name, resp.status, text, resp.headers.get("Retry-After"),
                                           what=f"bucket {self.bucket!r} or org {self.org!r}")
                    err.args = (self._redact(str(err)),)
                    raise err
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise SinkUnreachable(self._redact(f"{self.name}: cannot reach {self.url}: {_describe(exc)}")) from None

    async def probe(self) -> None:
        """`GET /ping` (InfluxDB 2.x/3.x and VictoriaMetrics answer it without a token): is the
        server back? A plain aiohttp session: influxdb-client's ping would need a token-less
        client of its own and hides the network error we want to report."""
        await http_probe(self._http(), self.name, f"{self.url}/ping")

    def _http(self) -> aiohttp.ClientSession:
        """A plain aiohttp session for what influxdb-client does not do our way (probe, delete)."""
        if self._probe_session is None or self._probe_session.closed:
            self._probe_session = http_session(verify_tls=self.verify_tls)
        return self._probe_session

    async def close(self) -> None:
        await self._influxql.close()
        if self._probe_session is not None:
            await self._probe_session.close()
            self._probe_session = None
        if self._client is not None:
            await self._client.close()
            self._client = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def _predicate_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rfc3339(time_ns: int) -> str:
    """RFC 3339 with nanoseconds, UTC: what `/api/v2/delete` takes for start and stop."""
    seconds, nanos = divmod(int(time_ns), NS)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
