"""Scheduler: aligned timestamps, hard deadlines that isolate a dead device, skipped (never
stacked) overruns, stable jitter and sharding. Real asyncio timing with short intervals."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from sentinelle.agent.core import Point
from sentinelle.agent.scheduler import Scheduler, in_shard, next_tick, stable_fraction
from sentinelle.agent.selfmetrics import AgentMetrics


@dataclass
class FakeDevice:
    """A poll target whose poll takes `delay` seconds (None: never answers)."""

    id: str
    interval_s: float
    delay: float | None = 0.0
    scheduled: list[int] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    running: int = 0
    max_running: int = 0

    async def poll(self, scheduled_ns: int) -> list[Point]:
        loop = asyncio.get_running_loop()
        self.started.append(loop.time())
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.delay is None:
                await asyncio.Event().wait()  # a black hole
            await asyncio.sleep(self.delay)
            self.scheduled.append(scheduled_ns)
            return [Point("device_status", {"device": self.id}, {"reachable": True}, scheduled_ns)]
        finally:
            self.running -= 1

    def on_deadline(self, scheduled_ns: int) -> list[Point]:
        return [Point("device_status", {"device": self.id}, {"reachable": False}, scheduled_ns)]


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_next_tick_is_aligned_and_strictly_after() -> None:
    assert next_tick(119.9, 60) == 120
    assert next_tick(120.0, 60) == 180
    assert next_tick(0.05, 0.25) == 0.25


async def test_timestamps_are_aligned_ticks() -> None:
    emitted: list[Point] = []

    async def emit(points: list[Point]) -> None:
        emitted.extend(points)

    dev = FakeDevice("sw-1", 0.2)
    await run_for(Scheduler([dev], emit, jitter_s=0.0), 1.1)
    assert len(dev.scheduled) >= 4
    step = int(0.2e9)
    assert all(ts % step == 0 for ts in dev.scheduled), dev.scheduled
    assert all(b - a == step for a, b in zip(dev.scheduled, dev.scheduled[1:], strict=False))
    assert {p.time_ns for p in emitted} == set(dev.scheduled)


async def test_a_dead_device_never_delays_another() -> None:
    emitted: list[Point] = []

    async def emit(points: list[Point]) -> None:
        emitted.extend(points)

    metrics = AgentMetrics()
    dead = FakeDevice("black-hole", 0.3, delay=None)
    alive = FakeDevice("pdu-1", 0.3, delay=0.01)
    await run_for(Scheduler([dead, alive], emit, jitter_s=0.0, concurrency=2, metrics=metrics), 1.6)
    # The live device was polled at every tick, each at the same offset from its tick
    # (loop.time() is monotonic, so compare offsets, not absolute times).
    assert len(alive.scheduled) >= 4
    lateness = [s - (t / 1e9) for s, t in zip(alive.started, alive.scheduled, strict=False)]
    assert max(lateness) - min(lateness) < 0.1, lateness
    # The dead one produced reachable=false at each deadline instead of hanging.
    dead_points = [p for p in emitted if p.tags["device"] == "black-hole"]
    assert dead_points and all(p.fields["reachable"] is False for p in dead_points)
    assert metrics.value("polls_total", {"device": "black-hole", "outcome": "deadline"}) >= 3


async def test_overrun_is_skipped_and_counted_never_stacked() -> None:
    async def emit(points: list[Point]) -> None:
        return None

    metrics = AgentMetrics()
    # One slot for two devices that each need 0.25 s of a 0.3 s interval: the second waits
    # for the slot and is still busy at its next tick.
    a = FakeDevice("a", 0.3, delay=0.2)
    b = FakeDevice("b", 0.3, delay=0.2)
    await run_for(Scheduler([a, b], emit, jitter_s=0.0, concurrency=1, deadline_s=0.3, metrics=metrics), 2.0)
    skipped = metrics.value("polls_skipped_total", {"device": "a"}) + metrics.value("polls_skipped_total", {"device": "b"})
    assert skipped >= 1
    assert a.max_running == 1 and b.max_running == 1


def test_jitter_is_stable_and_bounded() -> None:
    sched = Scheduler([], lambda pts: asyncio.sleep(0), jitter_s=5.0)  # type: ignore[arg-type, return-value]
    dev = FakeDevice("ups-1", 60.0)
    j1, j2 = sched.jitter_for(dev), sched.jitter_for(dev)
    assert j1 == j2 and 0 <= j1 < 5.0
    short = FakeDevice("ups-1", 10.0)
    assert sched.jitter_for(short) < 2.0  # at most a fifth of the interval
    assert stable_fraction("a") != stable_fraction("b")


def test_shards_partition_the_inventory() -> None:
    ids = [f"dev-{i}" for i in range(3000)]
    shards = [[i for i in ids if in_shard(i, k, 3)] for k in range(3)]
    assert sorted(sum(shards, [])) == sorted(ids)  # each device in exactly one shard
    assert all(800 < len(s) < 1200 for s in shards), [len(s) for s in shards]
    assert all(in_shard(i, 0, 1) for i in ids)
