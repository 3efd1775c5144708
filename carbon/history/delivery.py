"""Where imported and recomputed points go, and what the sinks already hold (the adapter to
agent/: with carbon/cli.py, the only place in carbon/history that knows the sinks).

Delivery decision:
- the **local store** is written directly (`LocalStore.write_points`, one SQLite transaction
  per batch): it is a file on this machine, a failed write raises at once, and a rerun of the
  import is idempotent, so the spool would only add a second copy of every point;
- **InfluxDB / VictoriaMetrics** sinks go through the same path as live data: a dedicated
  import spool (`<data_dir>/import-spool.db`, not the running agent's) and one `Forwarder`
  per sink, flushed after each batch: retries with backoff, Retry-After, 413 splitting and
  the dead-letter table for lines a server rejects. If a sink stays unreachable the import
  stops with an error; what was spooled is delivered by the next import or recompute run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from agent.config import Config, InfluxDB1Sink, InfluxDB2Sink, LocalSink, sink_name
from agent.point import Point
from agent.sinks.local import LocalStore
from carbon.energy import NS
from carbon.history.importer import IMPORTED, LiveCoverage, PointBatch
from carbon.report.source import InfluxQLSource, LocalStoreSource, ReportSource, ReportSourceError

log = logging.getLogger("carbon.history")

FLUSH_TIMEOUT_S = 120.0
LIVE_LOOKBACK_NS = 31 * 86400 * NS  # a live interval ending in the file's span may start this long before


class DeliveryError(RuntimeError):
    """A sink did not accept the points in time. Messages never contain a secret."""


class Delivery:
    """`write(points)` to every configured sink; `close()` when done."""

    def __init__(self, config: Config):
        self.config = config
        self.sinks = config.effective_sinks()
        self._stores: list[LocalStore] = []
        self._spool: Any = None
        self._forwarders: list[Any] = []
        self._flushing: asyncio.Task[None] | None = None

    async def open(self) -> Delivery:
        remote = []
        for i, s in enumerate(self.sinks):
            if isinstance(s, LocalSink):
                self._stores.append(LocalStore(self.config.local_store_path(s)))
            else:
                remote.append((i, s))
        if remote:
            from agent.forwarder import Forwarder
            from agent.sinks import build_sink
            from agent.spool import Spool

            names = [sink_name(s, i) for i, s in remote]
            path = self.config.agent.data_dir / "import-spool.db"
            self._spool = await Spool.open(path, sinks=names, max_bytes=int(self.config.spool.max_bytes), sync="normal")
            for i, s in remote:
                self._forwarders.append(Forwarder(self._spool, build_sink(s, i, self.config), batch_size=s.batch_size,
                                                  retry_max_delay=min(s.retry_max_delay, 30.0), poll_interval=0.2))
        return self

    async def write(self, points: list[Point]) -> None:
        for store in self._stores:
            store.write_points(points)
        if self._spool is not None:
            await self._spool.append(points)
            await self.drain()
            await self.flush()

    async def write_batch(self, batch: PointBatch) -> None:
        """`write(batch.points())`, without building points for the local store (written
        here, in this thread: a store thread was slower, the GIL going back and forth for
        every row), and with the remote delivery of a batch running while the next one is
        computed: the batch is in the local store and the import spool when this returns;
        the previous batch's flush is awaited first, so at most one is in flight and its
        failure is raised here or by `drain()`, which the importer calls before it returns."""
        for store in self._stores:
            store.write_columns(batch.series, batch.rows)
        if self._spool is not None:
            # The spool encodes the points at once; they share their series' tag dict.
            await self._spool.append(batch.points(copy_tags=False))
            await self.drain()
            self._flushing = asyncio.create_task(self.flush())

    async def drain(self) -> None:
        """Wait for the flush `write_batch` left running (raises its `DeliveryError`)."""
        task, self._flushing = self._flushing, None
        if task is not None:
            await task

    async def flush(self) -> None:
        for fwd in self._forwarders:
            if not await fwd.flush(FLUSH_TIMEOUT_S):
                raise DeliveryError(
                    f"sink {fwd.name} did not accept the points within {FLUSH_TIMEOUT_S:.0f} s "
                    f"({self._spool.pending(fwd.name)} waiting in {self._spool.path}); rerun when it is back "
                    "(reruns are idempotent)"
                )

    async def close(self) -> None:
        if self._flushing is not None:  # left by a failed import: what is spooled waits for the next run
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError, DeliveryError):
                await self._flushing
            self._flushing = None
        for store in self._stores:
            store.close()
        self._stores = []
        for fwd in self._forwarders:
            await fwd.sink.close()
        self._forwarders = []
        if self._spool is not None:
            await self._spool.close()
            self._spool = None

    async def __aenter__(self) -> Delivery:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def readable_source(config: Config) -> tuple[ReportSource | None, Any, str]:
    """(source, closer, name) of the first sink that can be read back: a local store that
    exists, or an InfluxDB 1.x/2.x sink through InfluxQL."""
    for i, s in enumerate(config.effective_sinks()):
        if isinstance(s, LocalSink):
            path = config.local_store_path(s)
            if Path(path).exists():
                store = LocalStore.open_readonly(Path(path))
                return LocalStoreSource(store), store.close, sink_name(s, i)
            return None, lambda: None, sink_name(s, i)
        if isinstance(s, InfluxDB1Sink):
            pw = s.password.get_secret_value() if s.password else None
            src = InfluxQLSource(s.url, s.database, username=s.username, password=pw, retention_policy=s.retention_policy)
            return src, lambda: None, sink_name(s, i)
        if isinstance(s, InfluxDB2Sink):
            return InfluxQLSource(s.url, s.bucket, token=s.token.get_secret_value()), lambda: None, sink_name(s, i)
    return None, lambda: None, "-"


def live_coverage(config: Config, meter: str, start_ns: int, end_ns: int) -> LiveCoverage:
    """The time the meter's live (non-imported) energy intervals already cover."""
    source, close, name = readable_source(config)
    if source is None:
        return LiveCoverage()
    try:
        if isinstance(source, LocalStoreSource):
            pts = source.store.query("energy", start_ns - LIVE_LOOKBACK_NS, end_ns + LIVE_LOOKBACK_NS, {"meter": meter})
        else:
            pts = (p for p in source.points("energy", start_ns - LIVE_LOOKBACK_NS, end_ns + LIVE_LOOKBACK_NS)
                   if p.tags.get("meter") == meter)
        spans = []
        for p in pts:
            dur = p.fields.get("duration_s")
            if p.tags.get("method") == IMPORTED or not isinstance(dur, int | float) or dur <= 0:
                continue
            spans.append((p.time_ns - int(dur * NS), p.time_ns))
        return LiveCoverage(spans)
    except ReportSourceError as exc:
        log.warning("cannot read live data of %s from sink %s (%s): imported intervals are not cut to the live "
                    "ones; the report de-duplicates, dashboards may count the overlap twice", meter, name, exc)
        return LiveCoverage()
    finally:
        close()


# --- deleting superseded carbon points (recompute) -----------------------------------------


def delete_carbon(config: Config, start_ns: int, end_ns: int, tracks: list[str]) -> list[str]:
    """Delete stored `carbon` points of `tracks` in [start, end) from every sink that allows it;
    returns warnings for sinks that do not (their old points stay beside the new ones)."""
    warnings = []
    for i, s in enumerate(config.effective_sinks()):
        name = sink_name(s, i)
        if isinstance(s, LocalSink):
            path = config.local_store_path(s)
            if Path(path).exists():
                _delete_local(Path(path), start_ns, end_ns, tracks)
        elif isinstance(s, InfluxDB1Sink):
            try:
                _delete_influxql(s, start_ns, end_ns, tracks)
            except (OSError, ValueError) as exc:
                raise DeliveryError(f"sink {name}: cannot delete old carbon points: {exc}") from None
        else:
            warnings.append(f"sink {name} ({s.type}): old carbon points are not deleted (no delete API used); "
                            "filter dashboards on factor_version")
    return warnings


def _delete_local(path: Path, start_ns: int, end_ns: int, tracks: list[str]) -> None:
    """Points of the `carbon` series whose `track` tag is one of `tracks`."""
    with LocalStore(path) as store:
        store.delete("carbon", start_ns, end_ns, {"track": tracks})


def _delete_influxql(s: InfluxDB1Sink, start_ns: int, end_ns: int, tracks: list[str]) -> None:
    import base64

    cond = " OR ".join("\"track\"='" + t.replace("'", "\\'") + "'" for t in tracks)
    q = f'DELETE FROM "carbon" WHERE ({cond}) AND time >= {start_ns} AND time < {end_ns}'
    body = urllib.parse.urlencode({"db": s.database, "q": q}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if s.username:
        pw = s.password.get_secret_value() if s.password else ""
        headers["Authorization"] = "Basic " + base64.b64encode(f"{s.username}:{pw}".encode()).decode()
    req = urllib.request.Request(s.url.rstrip("/") + "/query", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=s.timeout) as resp:
        data = json.loads(resp.read())
    for result in data.get("results", []):
        if "error" in result:
            raise ValueError(result["error"])
