"""Recovery after a sink outage (issue 15): writes resume within 10 s of the sink's return.

A real influxd 1.6 is stopped for `SENTINELLE_TEST_OUTAGE_S` seconds (15 by default, so CI stays
short; set it to 180 to replay the chaos run's 3 minutes) and restarted on the same port. The
forwarder runs with a data backoff that, on its own, would wait far longer than 10 s at the
moment of the restart (asserted), so only the liveness probe can make the deadline.

A sink whose probe answers but whose write fails (HTTP 503 from a proxy in front of a sick
InfluxDB) cannot be produced on demand by a real server here: it uses the aiohttp stand-in of
`tests.support.standin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sentinelle.agent.core import Point
from sentinelle.agent.forwarder import Forwarder
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
from sentinelle.agent.spool import Spool
from tests.agent.sinks.test_sinks import new_db
from tests.support.standin import standin_servers

T0 = 1_700_000_000_000_000_000
OUTAGE_S = float(os.environ.get("SENTINELLE_TEST_OUTAGE_S", "15"))
RESUME_WITHIN_S = 10.0


class CeilingRandom(random.Random):
    """Draws the top of every jitter range: the backoff at its longest, so the test knows how
    long the data backoff alone would wait."""

    def uniform(self, a: float, b: float) -> float:
        return b


def ups(i: int) -> Point:
    return Point("ups", {"site": "nro-lannion", "device": "ups-1"}, {"battery_charge_pct": float(i % 100)},
                 T0 + i * 10**9)


@pytest.fixture
async def stand_in() -> AsyncIterator[Any]:
    async with standin_servers() as start:
        yield start


@contextlib.asynccontextmanager
async def running(forwarder: Forwarder) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(forwarder.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(condition: Any, limit_s: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(step)
    return bool(condition())


async def test_writes_resume_within_10s_of_influxd_restart_whatever_the_backoff(
        tmp_path: Path, influxdb1: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sentinelle.agent.forwarder")
    db = new_db(influxdb1)
    metrics = AgentMetrics()
    sink = InfluxDB1Sink("influx", influxdb1.url, db, timeout=2)
    async with Spool.opened(tmp_path / "spool.db", sinks=["influx"], max_bytes=10**8, metrics=metrics) as spool:
        # Data backoff 6 s, 12 s, 24 s, 48 s... (the old default cap of 300 s): alone, it leaves
        # the backlog waiting tens of seconds after the server is back.
        forwarder = Forwarder(spool, sink, batch_size=500, retry_base_delay=6.0, retry_max_delay=300.0,
                              rng=CeilingRandom(), metrics=metrics, status_interval=5.0)
        async with running(forwarder):
            await spool.append([ups(i) for i in range(100)])
            assert await wait_for(lambda: spool.pending("influx") == 0, 10)
            await influxdb1.astop()
            n = 100
            started = time.monotonic()
            while time.monotonic() - started < OUTAGE_S:
                await spool.append([ups(n + i) for i in range(50)])
                n += 50
                await asyncio.sleep(0.5)
            # Restart at a moment when the data backoff has more than 10 s to go.
            assert await wait_for(lambda: forwarder.next_attempt_at is not None
                                  and forwarder.next_attempt_at - time.monotonic() > RESUME_WITHIN_S + 2, 60)
            assert forwarder.failures >= 2 and spool.pending("influx") > 0
            restart = time.monotonic()
            await influxdb1.astart()  # same port, same data directory
            assert await wait_for(lambda: forwarder.failures == 0, 60)
            resumed_after = time.monotonic() - restart
            assert await wait_for(lambda: spool.pending("influx") == 0, 30)
        await sink.close()
    assert resumed_after <= RESUME_WITHIN_S, f"first write {resumed_after:.1f}s after the restart began"
    assert metrics.value("sink_probes", {"sink": "influx", "outcome": "answered"}) >= 1
    assert metrics.value("sink_probes", {"sink": "influx", "outcome": "no_answer"}) >= 1
    assert metrics.value("sink_up", {"sink": "influx"}) == 1
    # Everything arrived once: nothing lost during the outage, nothing doubled by the resends.
    times = influxdb1.points('SELECT "battery_charge_pct" FROM "ups"', db=db)
    assert sorted(r["time"] for r in times) == [T0 + i * 10**9 for i in range(n)]
    # While down: status lines with the backlog, the oldest point's age and the next attempt.
    status = [r.getMessage() for r in caplog.records if "failing for" in r.getMessage()]
    assert status, caplog.text
    assert all("points waiting, oldest queued" in m and "next write attempt in" in m for m in status)
    assert any("writes resumed" in r.getMessage() for r in caplog.records)


async def test_a_sink_answering_errors_is_retried_by_its_data_backoff_and_resumes_within_10s(
        tmp_path: Path, stand_in: Any) -> None:
    """`/ping` answers, `/write` says 503: probing would prove nothing, the data write is the
    only test of recovery, so its backoff (capped at 8 s by default) bounds the resume delay."""
    state = {"healthy": False}

    def respond(request: web.Request, body: bytes) -> web.Response:
        if request.path == "/ping":
            return web.Response(status=204)
        if not state["healthy"]:
            return web.Response(status=503, text='{"error":"engine: cache maximum memory size exceeded"}')
        return web.Response(status=204)

    server = await stand_in(respond)
    sink = InfluxDB1Sink("sick", server.url, "db", timeout=2)
    async with Spool.opened(tmp_path / "spool.db", sinks=["sick"], max_bytes=10**8) as spool:
        forwarder = Forwarder(spool, sink, rng=CeilingRandom(), status_interval=5.0)  # default cap
        async with running(forwarder):
            await spool.append([ups(i) for i in range(20)])
            # Backoff 1, 2, 4, 8, 8... seconds: fails for a while, longer than the cap.
            assert await wait_for(lambda: forwarder.failures >= 5, 40)
            writes_while_sick = sum(1 for _, r, _ in server.requests if r.path == "/write")
            healed = time.monotonic()
            state["healthy"] = True
            assert await wait_for(lambda: spool.pending("sick") == 0, 30)
            resumed_after = time.monotonic() - healed
        await sink.close()
    assert resumed_after <= RESUME_WITHIN_S
    # The data backoff held: a handful of writes in ~15 s, not a hammering; no probe was sent.
    assert 5 <= writes_while_sick <= 8
    assert not [r for _, r, _ in server.requests if r.path == "/ping"]
    assert forwarder.current_backoff == 0.0


async def test_probes_answer_on_real_servers_and_fail_fast_on_a_closed_port(influxdb1: Any,
                                                                             victoria_metrics: Any) -> None:
    """The probe each HTTP sink uses while down: `/ping` of influxd 1.6 and of VictoriaMetrics
    (the InfluxDB 2.x sink's servers) answers; a closed port is `SinkUnreachable`, not a hang."""
    from sentinelle.agent.sinks.base import SinkUnreachable
    from sentinelle.agent.sinks.influxdb2 import InfluxDB2Sink
    from tests.agent.sinks.test_sinks import closed_port_url

    sinks: list[Any] = [InfluxDB1Sink("v1", influxdb1.url, "sentinelle"),
                        InfluxDB2Sink("v2", victoria_metrics.url, "org", "bucket", "token-x")]
    for sink in sinks:
        await sink.probe()
        await sink.close()
    dead: list[Any] = [InfluxDB1Sink("v1", closed_port_url(), "db"),
                       InfluxDB2Sink("v2", closed_port_url(), "org", "bucket", "token-x")]
    for sink in dead:
        with pytest.raises(SinkUnreachable, match="no answer from http://127.0.0.1:[0-9]+/ping"):
            await sink.probe()
        # A write to it is unreachable too (what makes the forwarder probe instead of resending).
        with pytest.raises(SinkUnreachable):
            await sink.write([b"m f=1 1"])
        await sink.close()
