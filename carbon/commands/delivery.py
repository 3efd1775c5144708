"""Where imported and recomputed points go, and what the sinks already hold (the adapter between
carbon/history and the agent's sinks).

Delivery decision: imports do **not** go through a spool. The live agent spools because a
reading it does not store is lost for good; an import's points are recomputed identically from
its file, and a rerun overwrites instead of adding (same series and timestamps), so the file
is the durable copy. Spooling 3 points per reading (encode, store, read back, acknowledge)
only cost time: it held imports into VictoriaMetrics at 10,000 readings/s.
- the **local store** is written directly (`LocalStore.write_columns`, one SQLite
  transaction per batch);
- **InfluxDB / VictoriaMetrics / file** sinks get line protocol encoded per series
  (`agent.lineprotocol.encode_columns`) and written with the live forwarder's policies
  (`agent.forwarder.write_halving`): batches of the sink's `batch_size`, retries with
  full-jitter backoff honouring Retry-After, halves on 413. A batch a sink still refuses after `FLUSH_TIMEOUT_S`,
  or rejects as malformed (400: a field type conflict with older data, say), stops the import
  with a `DeliveryError` naming the sink and the reason; what was written stays, and a rerun
  when the sink is back completes it without duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING

from sentinelle.agent.core import NS, Point
from sentinelle.agent.forwarder import write_halving
from sentinelle.agent.lineprotocol import encode_columns, encode_point
from sentinelle.agent.sinks.base import (
    Sink,
    SinkError,
    SinkRejected,
    SinkTooLarge,
    SinkUnavailable,
    SinkUnsupported,
)
from sentinelle.agent.sinks.build import build_sink
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.agent.sinks.settings import sink_name
from sentinelle.carbon.commands.sources import readable_source
from sentinelle.carbon.history.importer import IMPORTED, LiveCoverage, PointBatch
from sentinelle.carbon.report.source import ReportSourceError

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig  # composed at run time


log = logging.getLogger("sentinelle.carbon.history")

FLUSH_TIMEOUT_S = 120.0  # how long one batch may wait for a sink that is down
LIVE_LOOKBACK_NS = 31 * 86400 * NS  # a live interval ending in the file's span may start this long before


class DeliveryError(RuntimeError):
    """A sink did not accept the points in time. Messages never contain a secret."""


class RemoteWriter:
    """One remote sink written directly, with the forwarder's retry policies (see above)."""

    def __init__(self, sink: Sink, batch_size: int, retry_max_delay: float, *, retry_base_delay: float = 1.0,
                 timeout_s: float = FLUSH_TIMEOUT_S, rng: random.Random | None = None):
        self.sink = sink
        self.name = sink.name
        self.batch_size = max(1, batch_size)
        self.retry_max_delay = retry_max_delay
        self.retry_base_delay = retry_base_delay
        self.timeout_s = timeout_s
        self.written = 0
        self._rng = rng or random.Random()

    async def write(self, lines: list[bytes]) -> None:
        for i in range(0, len(lines), self.batch_size):
            try:
                await write_halving(self.sink, lines[i:i + self.batch_size], time.monotonic() + self.timeout_s,
                                    retry_base_delay=self.retry_base_delay, retry_max_delay=self.retry_max_delay,
                                    rng=self._rng, on_written=self._count, on_first_retry=self._warn)
            except SinkTooLarge as exc:
                raise DeliveryError(f"sink {self.name}: one line is too large for it ({exc})") from None
            except SinkRejected as exc:
                raise DeliveryError(f"sink {self.name} refused the points as malformed: {str(exc)[:400]}") from None
            except SinkUnavailable as exc:
                raise DeliveryError(
                    f"sink {self.name} did not accept the points within {self.timeout_s:.0f} s ({str(exc)[:300]}); "
                    f"{self.written} points were written; rerun when it is back (reruns are idempotent)") from None

    def _count(self, n: int) -> None:
        self.written += n

    def _warn(self, exc: SinkUnavailable) -> None:
        log.warning("%s; retrying for up to %.0f s", str(exc)[:300], self.timeout_s)


class Delivery:
    """`write(points)` / `write_batch(batch)` to every configured sink; `close()` when done."""

    def __init__(self, config: AgentConfig):
        self.config = config
        self.sinks = config.effective_sinks()
        self._stores: list[LocalStore] = []
        self._remotes: list[RemoteWriter] = []
        self._flushing: asyncio.Task[None] | None = None

    async def open(self) -> Delivery:
        for i, s in enumerate(self.sinks):
            if s.type == "local":
                self._stores.append(LocalStore(self.config.local_store_path(s)))
            else:
                self._remotes.append(RemoteWriter(build_sink(s, i, self.config), getattr(s, "batch_size", 5000),
                                                  min(getattr(s, "retry_max_delay", 30.0), 30.0)))
        return self

    async def write(self, points: list[Point]) -> None:
        for store in self._stores:
            store.write_points(points)
        if self._remotes:
            await self.drain()
            await self._send([encode_point(p).encode() for p in points])

    async def write_batch(self, batch: PointBatch) -> None:
        """`write(batch.points())` without building points, and with the remote delivery of a
        batch running while the next one is computed: the batch is in the local stores when
        this returns; the previous batch's remote writes are awaited first, so at most one is
        in flight and its failure is raised here or by `drain()`, which the importer calls
        before it returns. (The local store is written here, in this thread: a store thread
        was slower, the GIL going back and forth for every row.)"""
        for store in self._stores:
            store.write_columns(batch.series, batch.rows)
        if self._remotes:
            lines = encode_columns(batch.series, batch.rows)
            await self.drain()
            self._flushing = asyncio.create_task(self._send(lines))

    async def _send(self, lines: list[bytes]) -> None:
        # Every sink gets the batch even if another fails; the first failure is then raised.
        results = await asyncio.gather(*(r.write(lines) for r in self._remotes), return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException):
                raise res

    async def drain(self) -> None:
        """Wait for the remote writes `write_batch` left running (raises their `DeliveryError`)."""
        task, self._flushing = self._flushing, None
        if task is not None:
            await task

    async def close(self) -> None:
        if self._flushing is not None:  # left by a failed import: a rerun writes it again
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError, DeliveryError):
                await self._flushing
            self._flushing = None
        for store in self._stores:
            store.close()
        self._stores = []
        for remote in self._remotes:
            await remote.sink.close()
        self._remotes = []

    async def __aenter__(self) -> Delivery:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def live_coverage(config: AgentConfig, meter: str, start_ns: int, end_ns: int) -> LiveCoverage:
    """The time the meter's live (non-imported) energy intervals already cover."""
    source, close, name = readable_source(config)
    if source is None:
        return LiveCoverage()
    try:
        pts = source.points("energy", start_ns - LIVE_LOOKBACK_NS, end_ns + LIVE_LOOKBACK_NS, {"meter": meter})
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


async def delete_carbon(config: AgentConfig, start_ns: int, end_ns: int, tracks: list[str]) -> list[str]:
    """Delete stored `carbon` points of `tracks` in [start, end) from every sink that allows it
    (each sink's `delete`); returns warnings for sinks that do not (their old points stay
    beside the new ones)."""
    warnings = []
    for i, s in enumerate(config.effective_sinks()):
        name = sink_name(s, i)
        sink = build_sink(s, i, config, create=False)
        try:
            await sink.delete("carbon", start_ns, end_ns, {"track": tracks})
        except SinkUnsupported:
            warnings.append(f"sink {name} ({s.type}): old carbon points are not deleted (no delete API used); "
                            "filter dashboards on factor_version")
        except SinkError as exc:
            raise DeliveryError(f"sink {name}: cannot delete old carbon points: {exc}") from None
        finally:
            await sink.close()
    return warnings
