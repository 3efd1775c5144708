"""Eviction accounting (issue 15): what the spool counts as dropped for a sink is exactly what
never reaches that sink, even when the cap evicts points while a forwarder is writing them.

Real sinks: the embedded local store (slowed down by a sleep before each write so that batches
stay in flight while the producer fills the spool) and a real influxd 1.6. The expected figure
is computed from what is really in the sink afterwards, never from the spool's own counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sentinelle.agent.core import Point
from sentinelle.agent.forwarder import Forwarder
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
from sentinelle.agent.sinks.local import LocalSink, LocalStore
from sentinelle.agent.spool import Spool
from tests.agent.sinks.test_sinks import new_db

T0 = 1_700_000_000_000_000_000


class SlowLocalSink(LocalSink):
    """The real local store, with a pause before each write: batches stay in flight long enough
    for the producer to fill the spool and make it evict while they are being written."""

    def __init__(self, name: str, path: Path, pause_s: float, seed: int):
        super().__init__(name, path)
        self.pause_s = pause_s
        self._rng = random.Random(seed)

    async def write(self, lines: list[bytes]) -> None:
        await asyncio.sleep(self._rng.uniform(0, self.pause_s))
        await super().write(lines)


def point(i: int) -> Point:
    # Two priorities, so eviction also runs across them; every point its own series+time.
    if i % 5 == 0:
        return Point("energy", {"site": "s", "meter": "m"}, {"kwh": float(i)}, T0 + i)
    return Point("interface", {"device": "sw-1", "ifname": "ge-0/0/1"}, {"in_octets": i}, T0 + i)


@contextlib.asynccontextmanager
async def running(*forwarders: Forwarder) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(f.run()) for f in forwarders]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def produce(spool: Spool, total: int, per_append: int, seed: int) -> None:
    rng = random.Random(seed)
    for start in range(0, total, per_append):
        await spool.append([point(i) for i in range(start, min(total, start + per_append))])
        await asyncio.sleep(rng.uniform(0, 0.004))


def local_times(path: Path) -> set[int]:
    with LocalStore.open_readonly(path) as store:
        return {p.time_ns for m in ("energy", "interface") for p in store.query(m)}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_dropped_equals_missing_at_the_local_store_under_eviction_during_delivery(
        tmp_path: Path, seed: int) -> None:
    total = 6000
    metrics = AgentMetrics()
    sink = SlowLocalSink("local", tmp_path / "store.db", pause_s=0.03, seed=seed)
    async with Spool.opened(tmp_path / "spool.db", sinks=["local"], max_bytes=12_000, metrics=metrics) as spool:
        forwarder = Forwarder(spool, sink, batch_size=40, metrics=metrics)
        async with running(forwarder):
            await produce(spool, total, 25, seed)
            assert await forwarder.flush(timeout=60)
        stats = await spool.stats()
        await sink.close()
    delivered = local_times(tmp_path / "store.db")
    missing = total - len(delivered)
    assert stats.dropped > 0 and len(delivered) > 0  # the cap really evicted, the sink really got points
    assert stats.dropped_by_sink["local"] == missing
    assert stats.dropped == missing  # one sink: points dropped == points missing there
    assert metrics.value("spool_dropped", {"sink": "local"}) == missing


async def test_per_sink_drops_are_exact_with_a_fast_and_a_slow_sink(tmp_path: Path) -> None:
    """A point the fast sink accepted and the cap then evicted is missing only at the slow one."""
    total = 5000
    metrics = AgentMetrics()
    fast = LocalSink("fast", tmp_path / "fast.db")
    slow = SlowLocalSink("slow", tmp_path / "slow.db", pause_s=0.05, seed=9)
    async with Spool.opened(tmp_path / "spool.db", sinks=["fast", "slow"], max_bytes=15_000,
                            metrics=metrics) as spool:
        forwarders = [Forwarder(spool, s, batch_size=50, metrics=metrics) for s in (fast, slow)]
        async with running(*forwarders):
            await produce(spool, total, 25, 9)
            for f in forwarders:
                assert await f.flush(timeout=60)
        stats = await spool.stats()
        await fast.close()
        await slow.close()
    for name in ("fast", "slow"):
        missing = total - len(local_times(tmp_path / f"{name}.db"))
        assert stats.dropped_by_sink.get(name, 0) == missing, name
        assert metrics.value("spool_dropped", {"sink": name}) == missing
    assert stats.dropped_by_sink["slow"] > 0


async def test_dropped_equals_missing_at_a_real_influxd(tmp_path: Path, influxdb1: Any) -> None:
    total = 4000
    db = new_db(influxdb1)
    metrics = AgentMetrics()
    sink = InfluxDB1Sink("influx", influxdb1.url, db, gzip_body=False)
    async with Spool.opened(tmp_path / "spool.db", sinks=["influx"], max_bytes=8_000, metrics=metrics) as spool:
        forwarder = Forwarder(spool, sink, batch_size=40, metrics=metrics)
        async with running(forwarder):
            await produce(spool, total, 20, 4)
            assert await forwarder.flush(timeout=60)
        stats = await spool.stats()
        await sink.close()
    counted = 0
    for measurement, field in (("energy", "kwh"), ("interface", "in_octets")):
        counted += len(influxdb1.points(f'SELECT "{field}" FROM "{measurement}"', db=db))
    assert stats.dropped > 0 and counted > 0
    assert stats.dropped_by_sink["influx"] == total - counted
