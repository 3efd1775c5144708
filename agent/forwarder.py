"""One forwarder per sink: moves points from the spool to the sink, at least once.

A point leaves the spool for a sink only after that sink accepted it (`ack`), so a crash or an
outage at any moment means a resend, never a loss; resends are harmless because a write is
idempotent (same series + timestamp). Each sink has its own forwarder task, so a dead sink only
grows its own backlog in the spool and never slows collection or the other sinks.

Failure policies:
- `SinkUnavailable` (network, 5xx, 429, credentials, missing database): exponential backoff with
  jitter (`agent/backoff.py`), capped at `retry_max_delay` (8 s by default, so that a server answering errors is
  retried within seconds of its recovery), never shorter than the server's Retry-After.
- `SinkUnreachable` (no HTTP answer at all): the same backoff for the data, but in between the
  forwarder polls the sink's cheap `probe()` (`/ping`) every `probe_interval` and resends the
  moment the server answers, so writes resume within about one probe period of the server's
  return however long the outage and whatever `retry_max_delay` says.
- While a sink is failing, one status line every `status_interval` (60 s) says for how long,
  how many points wait, how old the oldest is and when the next attempt is due.
- `SinkTooLarge` (413): split the batch in halves, recursively.
- `SinkRejected` (400): split recursively to isolate the bad lines; a single rejected line goes
  to the dead-letter table with the server's reason, so it is never retried forever and never
  lost silently. The good halves are acked as soon as they are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from sentinelle.agent.backoff import backoff_delay
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.agent.sinks.base import (
    PROBE_TIMEOUT,
    Sink,
    SinkError,
    SinkRejected,
    SinkTooLarge,
    SinkUnavailable,
    SinkUnreachable,
)
from sentinelle.agent.sinks.status import SinkAuthRefused, SinkNotFound
from sentinelle.agent.spool import Spool, SpoolError

log = logging.getLogger("sentinelle.agent.forwarder")

# Data retries after an HTTP error answer are at most this far apart by default: the server's
# recovery is only seen by the next write, so this bounds how late writes resume after it.
DEFAULT_RETRY_MAX_DELAY = 8.0
PROBE_INTERVAL = 1.0  # one `/ping` a second while a sink is unreachable: cheap, and resumes fast
STATUS_INTERVAL = 60.0  # while down, one line a minute with backlog, oldest point, next attempt


class Forwarder:
    def __init__(self, spool: Spool, sink: Sink, *, batch_size: int = 5000,
                 retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY, retry_base_delay: float = 1.0,
                 metrics: AgentMetrics | None = None, problems: Problems | None = None, poll_interval: float = 1.0,
                 rng: random.Random | None = None, probe_interval: float = PROBE_INTERVAL,
                 status_interval: float = STATUS_INTERVAL):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.spool = spool
        self.sink = sink
        self.name = sink.name
        self.batch_size = batch_size
        self.retry_max_delay = max(0.0, retry_max_delay)
        self.retry_base_delay = max(0.0, retry_base_delay)
        self.poll_interval = poll_interval
        self.probe_interval = max(0.01, probe_interval)
        self.status_interval = max(0.0, status_interval)
        self.problems = problems or Problems(log)
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.failures = 0  # consecutive failed attempts
        self.current_backoff = 0.0
        self.down_since: float | None = None  # monotonic time of the first failure of this outage
        self.next_attempt_at: float | None = None  # monotonic time of the next data write, while failing
        self._last_status = 0.0
        self._last_probe_due = 0.0
        self._last_error = ""
        metrics = metrics or AgentMetrics()
        self._written = metrics.counter("sink_points_written", "Points accepted by a sink", ["sink"]).labels(sink=self.name)
        self._errors = metrics.counter("sink_write_errors", "Failed writes by sink and kind", ["sink", "kind"])
        self._duration = metrics.histogram("sink_write_duration_seconds", "Duration of one write to a sink", ["sink"],
                                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
                                           ).labels(sink=self.name)
        self._backoff = metrics.gauge("sink_backoff_seconds", "Current wait before retrying a sink", ["sink"]).labels(sink=self.name)
        self._last_ok = metrics.gauge("sink_last_success_timestamp_seconds", "Unix time of the last accepted write",
                                      ["sink"]).labels(sink=self.name)
        self._pending = metrics.gauge("spool_pending", "Points waiting for a sink", ["sink"]).labels(sink=self.name)
        self._up = metrics.gauge("sink_up", "1 while the last write to the sink succeeded, 0 while it fails",
                                 ["sink"]).labels(sink=self.name)
        self._up.set(1)
        self._probes = metrics.counter("sink_probes", "Liveness probes of a sink that could not be reached, by outcome",
                                       ["sink", "outcome"])
        spool.subscribe(self.notify)

    def notify(self) -> None:
        """New points were spooled: wake up now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Forward until cancelled."""
        while True:
            self._wake.clear()
            try:
                moved = await self._step()
            except SinkUnavailable as exc:
                await self._wait_before_retry(exc, self._on_unavailable(exc))
                continue
            except SpoolError:
                log.info("spool closed: forwarder for %s stops", self.name, extra={"sink": self.name})
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a sink bug must not kill the forwarder
                self._errors.labels(sink=self.name, kind="internal").inc()
                self.problems.report((self.name, "internal"), "sink %s: unexpected error %s: %s", self.name,
                                     type(exc).__name__, str(exc)[:300], level=logging.ERROR, sink=self.name)
                await asyncio.sleep(self._backoff_delay(None))
                continue
            if not moved:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def flush(self, timeout: float) -> bool:  # noqa: ASYNC109 - the runtime's API: a drain budget
        """Try to deliver everything pending now within `timeout` seconds; True if none is left."""
        deadline = time.monotonic() + timeout
        while self.spool.pending(self.name) > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._step(), remaining)
            except TimeoutError:
                return self.spool.pending(self.name) == 0
            except SinkUnavailable as exc:
                delay = self._on_unavailable(exc)
                await self._wait_before_retry(exc, max(0.0, min(delay, deadline - time.monotonic())))
        return True

    # --- waiting out a failure ------------------------------------------------------------

    async def _wait_before_retry(self, exc: SinkUnavailable, delay: float) -> None:
        """Sleep `delay` seconds before the next data write, but while the sink cannot be reached
        at all, probe it every `probe_interval` and return as soon as it answers. A server's
        Retry-After is a server answering: it is waited out in full."""
        now = time.monotonic()
        deadline = now + delay
        self.next_attempt_at = deadline
        probe = getattr(self.sink, "probe", None)
        probing = isinstance(exc, SinkUnreachable) and exc.retry_after is None and probe is not None
        while True:
            await self._maybe_log_status(probing)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            step = min(remaining, self.probe_interval) if probing else remaining
            if self.status_interval:
                step = min(step, max(0.01, self._last_status + self.status_interval - time.monotonic()))
            await asyncio.sleep(step)
            if not probing or time.monotonic() >= deadline:
                continue
            if self._last_probe_due > time.monotonic():
                continue
            self._last_probe_due = time.monotonic() + self.probe_interval
            try:
                await asyncio.wait_for(probe(), PROBE_TIMEOUT + 1.0)  # type: ignore[misc]
            except (SinkError, TimeoutError):
                self._probes.labels(sink=self.name, outcome="no_answer").inc()
                continue
            except Exception as err:  # noqa: BLE001 - a probe bug must not stop the retries
                self._probes.labels(sink=self.name, outcome="error").inc()
                log.debug("sink %s: probe failed: %s", self.name, err, extra={"sink": self.name})
                continue
            self._probes.labels(sink=self.name, outcome="answered").inc()
            log.info("sink %s answers again: writing now instead of in %.1fs", self.name,
                     max(0.0, deadline - time.monotonic()), extra={"sink": self.name})
            return

    async def _maybe_log_status(self, probing: bool) -> None:
        """While the sink fails, one line per `status_interval`: how long, how much waits, how old."""
        now = time.monotonic()
        if self.down_since is None or not self.status_interval or now - self._last_status < self.status_interval:
            return
        self._last_status = now
        try:
            oldest = await self.spool.oldest_pending_age(self.name)
        except SpoolError:
            return
        next_in = max(0.0, (self.next_attempt_at or now) - now)
        log.warning("sink %s failing for %s: %d points waiting, oldest queued %s ago; next write attempt in %.1fs%s "
                    "(last error: %s)", self.name, _duration(now - self.down_since), self.spool.pending(self.name),
                    "-" if oldest is None else _duration(oldest), next_in,
                    f", probing every {self.probe_interval:g}s" if probing else "", self._last_error,
                    extra={"sink": self.name})

    # --- one batch ------------------------------------------------------------------------

    async def _step(self) -> int:
        """Deliver the oldest batch. Returns how many points it held (0: nothing pending)."""
        async with self._lock:
            batch = await self.spool.read_batch(self.name, self.batch_size)
            if not batch:
                self._pending.set(0)
                return 0
            try:
                await self._deliver(batch)
            finally:
                # The batch is no longer in flight: what was not acked may be evicted again.
                with contextlib.suppress(SpoolError):
                    await self.spool.release_batch(self.name)
            self._pending.set(self.spool.pending(self.name))
            return len(batch)

    async def _deliver(self, batch: list[tuple[int, bytes]]) -> None:
        try:
            started = time.perf_counter()
            await self.sink.write([line for _, line in batch])
            self._duration.observe(time.perf_counter() - started)
        except SinkTooLarge as exc:
            self._errors.labels(sink=self.name, kind="too_large").inc()
            if len(batch) == 1:
                await self._set_aside(batch, f"too large for the sink: {exc}")
                return
            await self._split(batch)
            return
        except SinkRejected as exc:
            self._errors.labels(sink=self.name, kind="rejected").inc()
            if len(batch) == 1:
                await self._set_aside(batch, str(exc) or "rejected by the sink")
                return
            await self._split(batch)
            return
        # The sink is healthy from the moment it accepted a write: say so before the ack, so
        # whoever sees the points acked (another task, a test, /metrics) also sees the sink up.
        self._on_success(in_flight=len(batch))
        await self.spool.ack(self.name, [i for i, _ in batch])
        self._written.inc(len(batch))
        self._last_ok.set(time.time())

    async def _split(self, batch: list[tuple[int, bytes]]) -> None:
        middle = len(batch) // 2
        await self._deliver(batch[:middle])
        await self._deliver(batch[middle:])

    async def _set_aside(self, batch: list[tuple[int, bytes]], reason: str) -> None:
        self._on_success(in_flight=len(batch))  # the sink answered: it is up, the line is bad
        await self.spool.dead_letter(self.name, batch, reason)
        self.problems.report((self.name, "dead_letter"),
                             "sink %s rejected a line, set aside in the dead-letter table (see `sentinelle spool`): %s",
                             self.name, reason[:300], sink=self.name)

    # --- outcome bookkeeping --------------------------------------------------------------

    def _on_success(self, in_flight: int = 0) -> None:
        """The sink answered a write. `in_flight`: points of that write not yet acked."""
        if self.failures:
            down = time.monotonic() - self.down_since if self.down_since is not None else 0.0
            waiting = max(0, self.spool.pending(self.name) - in_flight)
            log.info("sink %s: writes resumed after %d failed attempts over %s (%d points still waiting)", self.name,
                     self.failures, _duration(down), waiting, extra={"sink": self.name})
            for kind in ("unavailable", "auth", "not_found"):
                self.problems.clear((self.name, kind))
        self.failures = 0
        self.current_backoff = 0.0
        self.down_since = self.next_attempt_at = None
        self._backoff.set(0)
        self._up.set(1)

    def _on_unavailable(self, exc: SinkUnavailable) -> float:
        kind = "auth" if isinstance(exc, SinkAuthRefused) else "not_found" if isinstance(exc, SinkNotFound) else "unavailable"
        self._errors.labels(sink=self.name, kind=kind).inc()
        delay = self._backoff_delay(exc.retry_after)
        message = str(exc)[:400]
        if not message.startswith(f"{self.name}:"):
            message = f"{self.name}: {message}"
        self._last_error = message[len(self.name) + 2:]
        if self.down_since is None:
            self.down_since = self._last_status = time.monotonic()
            self._last_probe_due = 0.0
        self._up.set(0)
        self.problems.report((self.name, kind), "sink %s; retrying in %.1fs (%d points waiting)", message, delay,
                             self.spool.pending(self.name), sink=self.name)
        return delay

    def _backoff_delay(self, retry_after: float | None) -> float:
        self.failures += 1
        delay = backoff_delay(self.failures, self.retry_base_delay, self.retry_max_delay, retry_after, self._rng)
        self.current_backoff = delay
        self._backoff.set(delay)
        return delay


async def write_halving(sink: Sink, lines: list[bytes], deadline: float, *, retry_base_delay: float = 1.0,
                        retry_max_delay: float = 30.0, rng: random.Random | None = None,
                        on_written: Callable[[int], None] | None = None,
                        on_first_retry: Callable[[SinkUnavailable], None] | None = None) -> None:
    """Write `lines` to `sink` without a spool (imports and recomputes, whose file is the
    durable copy): the forwarder's policies in one loop. A batch the sink finds too large (413)
    is halved, recursively; an unavailable sink is retried with the same full-jitter backoff,
    honouring Retry-After, until `deadline` (monotonic time). `on_written(n)` after each
    accepted part. Raises `SinkTooLarge` for one line still too large, `SinkRejected` as is,
    and the last `SinkUnavailable` once the next retry would fall after `deadline`."""
    rng = rng or random.Random()
    failures = 0
    while True:
        try:
            await sink.write(lines)
        except SinkTooLarge:
            if len(lines) == 1:
                raise
            middle = len(lines) // 2
            for part in (lines[:middle], lines[middle:]):
                await write_halving(sink, part, deadline, retry_base_delay=retry_base_delay,
                                    retry_max_delay=retry_max_delay, rng=rng, on_written=on_written,
                                    on_first_retry=on_first_retry)
            return
        except SinkUnavailable as exc:
            failures += 1
            delay = backoff_delay(failures, retry_base_delay, retry_max_delay, exc.retry_after, rng)
            if time.monotonic() + delay > deadline:
                raise
            if failures == 1 and on_first_retry is not None:
                on_first_retry(exc)
            await asyncio.sleep(delay)
        else:
            if on_written is not None:
                on_written(len(lines))
            return


def _duration(seconds: float) -> str:
    """`45s`, `3m12s`, `2h05m`: what an operator reads in a status line."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
