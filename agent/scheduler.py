"""When to poll what: wall-clock aligned ticks, stable jitter, a global bound, hard deadlines.

Why aligned: every agent polls a 60 s device at :00 of each minute, so points from many agents
line up in Grafana and a replayed write lands on the same timestamp. The *timestamp* of a poll
is the aligned tick; the *start* is the tick plus a per-device jitter (stable across restarts,
derived from the device id) so 500 devices do not all fire in the same millisecond.

Why skip rather than queue: a poll that would start while the same device's previous poll is
still running (slow device, saturated concurrency) is skipped and counted. Stacking them would
turn one slow device into an ever-growing backlog.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence

from sentinelle.agent.core import Point, PollTarget
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics

log = logging.getLogger("sentinelle.agent.scheduler")

Emit = Callable[[list[Point]], Awaitable[None]]


def stable_fraction(key: str) -> float:
    """A number in [0, 1) that depends only on `key` (not on Python's per-process hash seed)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_shard(device_id: str, index: int, count: int) -> bool:
    """Whether this agent (shard `index` of `count`) polls `device_id`. Stable across hosts."""
    if count <= 1:
        return True
    digest = hashlib.sha256(device_id.encode("utf-8")).digest()
    return int.from_bytes(digest[8:16], "big") % count == index


def next_tick(now_s: float, interval_s: float) -> float:
    """The first multiple of `interval_s` (since the epoch) strictly after `now_s`."""
    return (math.floor(now_s / interval_s) + 1) * interval_s


class Scheduler:
    def __init__(
        self,
        targets: Sequence[PollTarget],
        emit: Emit,
        *,
        concurrency: int = 50,
        jitter_s: float = 5.0,
        deadline_s: float | None = None,
        metrics: AgentMetrics | None = None,
        problems: Problems | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.targets = list(targets)
        self._emit = emit
        self._sem = asyncio.Semaphore(concurrency)
        self._jitter_s = jitter_s
        self._deadline_s = deadline_s
        self._clock = clock
        self._problems = problems or Problems(log)
        m = metrics or AgentMetrics()
        self._polls = m.counter("polls", "Polls by outcome", ["device", "outcome"])
        self._skipped = m.counter("polls_skipped", "Polls skipped because the previous one was still running", ["device"])
        self._duration = m.histogram(
            "poll_duration_seconds", "Poll duration per device", ["device"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self.ticks = 0

    def deadline_for(self, target: PollTarget) -> float:
        if self._deadline_s is not None:
            return min(self._deadline_s, target.interval_s)
        return 0.8 * target.interval_s

    def jitter_for(self, target: PollTarget) -> float:
        # Never jitter past a fifth of the interval: the poll must fit well before the next tick.
        span = min(self._jitter_s, 0.2 * target.interval_s)
        return stable_fraction(target.id) * span

    async def run(self) -> None:
        """Poll every target forever (until cancelled)."""
        loops = [asyncio.create_task(self._loop(t), name=f"poll-{t.id}") for t in self.targets]
        try:
            await asyncio.gather(*loops)
        finally:
            for task in [*loops, *self._in_flight.values()]:
                task.cancel()
            await asyncio.gather(*loops, *self._in_flight.values(), return_exceptions=True)

    async def _loop(self, target: PollTarget) -> None:
        # Ticks in integer nanoseconds: float seconds drift off the alignment after a few adds.
        interval_ns = max(1, round(target.interval_s * 1e9))
        jitter = self.jitter_for(target)
        tick_ns = (int(self._clock() * 1e9) // interval_ns + 1) * interval_ns
        while True:
            delay = tick_ns / 1e9 + jitter - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            previous = self._in_flight.get(target.id)
            if previous is not None and not previous.done():
                self._skipped.labels(target.id).inc()
                self._problems.report(
                    ("overrun", target.id),
                    "poll of %s skipped: the previous poll is still running (interval %.0fs too short, or concurrency saturated)",
                    target.id, target.interval_s, device=target.id,
                )
            else:
                self._in_flight[target.id] = asyncio.create_task(self.poll_once(target, tick_ns))
            self.ticks += 1
            # Next aligned tick after now: if we woke late (suspend, overload), missed ticks are
            # not replayed in a burst.
            now_tick = (int((self._clock() - jitter) * 1e9) // interval_ns + 1) * interval_ns
            tick_ns = max(tick_ns + interval_ns, now_tick)

    async def poll_once(self, target: PollTarget, scheduled_ns: int) -> None:
        """One poll under the global bound and the target's hard deadline, then emit."""
        async with self._sem:
            started = time.monotonic()
            outcome = "ok"
            try:
                async with asyncio.timeout(self.deadline_for(target)):
                    points = await target.poll(scheduled_ns)
            except TimeoutError:
                outcome = "deadline"
                points = target.on_deadline(scheduled_ns)
                self._problems.report(
                    ("deadline", target.id),
                    "poll of %s cancelled at its deadline (%.1fs)", target.id, self.deadline_for(target),
                    device=target.id,
                )
            except Exception as exc:  # noqa: BLE001 - one broken target must not stop the others
                outcome = "error"
                points = target.on_deadline(scheduled_ns)
                self._problems.report(
                    ("poll-error", target.id, type(exc).__name__),
                    "poll of %s failed: %s: %s", target.id, type(exc).__name__, exc,
                    device=target.id,
                )
            self._duration.labels(target.id).observe(time.monotonic() - started)
            self._polls.labels(target.id, outcome).inc()
        try:
            await self._emit(points)
        except Exception as exc:  # noqa: BLE001
            self._problems.report(("emit", type(exc).__name__), "could not store points of %s: %s", target.id, exc, device=target.id)
