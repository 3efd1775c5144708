"""Forwarder: spool → sink with batching, backoff, splitting and dead letters.

Real servers where they can show the behaviour: influxd 1.6.7 (writes, a field type conflict,
an outage by stopping the server) and the local store. 413 and 429-with-Retry-After cannot be
produced on demand by any server installable here, so those use the aiohttp stand-in from
`tests.agent.sinks.test_sinks` (a small server on 127.0.0.1 that answers those statuses as InfluxDB does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sentinelle.agent.core import Point
from sentinelle.agent.forwarder import Forwarder
from sentinelle.agent.lineprotocol import encode_point
from sentinelle.agent.logs import Problems, SecretRedactor
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
from sentinelle.agent.sinks.influxdb2 import InfluxDB2Sink
from sentinelle.agent.sinks.local import LocalSink, LocalStore
from sentinelle.agent.spool import Spool
from tests.agent.sinks.test_sinks import PASSWORD, TOKEN, closed_port_url, new_db
from tests.support.standin import standin_servers

T0 = 1_700_000_000_000_000_000


def ups(i: int, device: str = "ups-1") -> Point:
    return Point("ups", {"site": "nro-lannion", "device": device},
                 {"battery_charge_pct": 100.0 - i % 50, "on_battery": False}, T0 + i * 10**9)


@pytest.fixture
async def stand_in() -> AsyncIterator[Any]:
    async with standin_servers() as start:
        yield start


@contextlib.asynccontextmanager
async def running(forwarder: Forwarder):
    task = asyncio.create_task(forwarder.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def count_series(influxdb1: Any, db: str, field: str, measurement: str) -> int:
    result = influxdb1.query(f'SELECT COUNT("{field}") FROM "{measurement}"', db=db)
    series = result["results"][0].get("series")
    return 0 if not series else series[0]["values"][0][1]


async def test_forwarder_delivers_to_influxdb1_and_empties_the_spool(tmp_path: Path, influxdb1: Any) -> None:
    db = new_db(influxdb1)
    metrics = AgentMetrics()
    sink = InfluxDB1Sink("influx", influxdb1.url, db)
    async with Spool.opened(tmp_path / "spool.db", sinks=["influx"], max_bytes=10**8, metrics=metrics) as spool:
        forwarder = Forwarder(spool, sink, batch_size=300, metrics=metrics)
        async with running(forwarder):
            await spool.append([ups(i) for i in range(1000)])
            assert await forwarder.flush(timeout=20)
        await sink.close()
        assert (await spool.stats()).points == 0
    assert count_series(influxdb1, db, "battery_charge_pct", "ups") == 1000
    assert metrics.value("sink_points_written", {"sink": "influx"}) == 1000
    assert metrics.value("sink_last_success_timestamp_seconds", {"sink": "influx"}) > 0
    assert metrics.value("spool_pending", {"sink": "influx"}) == 0


async def test_a_rejected_line_is_dead_lettered_with_the_reason_and_the_rest_written(tmp_path: Path,
                                                                                   influxdb1: Any) -> None:
    db = new_db(influxdb1)
    influxdb1.write(f"ups,device=ups-9,site=nro-lannion on_battery_count=1i {T0}", db=db)
    metrics = AgentMetrics()
    sink = InfluxDB1Sink("influx", influxdb1.url, db)
    async with Spool.opened(tmp_path / "spool.db", sinks=["influx"], max_bytes=10**8, metrics=metrics) as spool:
        good = [ups(i) for i in range(200)]
        # Same series and field as the integer above, now a string: a field type conflict.
        bad = Point("ups", {"site": "nro-lannion", "device": "ups-9"}, {"on_battery_count": "many"}, T0 + 5)
        await spool.append(good[:77] + [bad] + good[77:])
        forwarder = Forwarder(spool, sink, batch_size=500, metrics=metrics)
        assert await forwarder.flush(timeout=20)
        await sink.close()
        letters = await spool.dead_letters("influx")
        assert [d.line for d in letters] == [encode_point(bad).encode()]
        assert "field type conflict" in letters[0].reason
        assert metrics.value("spool_dead_letters", {"sink": "influx"}) == 1
        assert metrics.value("sink_write_errors", {"sink": "influx", "kind": "rejected"}) >= 2
        assert spool.pending("influx") == 0
    assert count_series(influxdb1, db, "battery_charge_pct", "ups") == 200


async def test_outage_backs_off_then_delivers_every_point_exactly_once(tmp_path: Path, influxdb1: Any) -> None:
    """Stop influxd, keep spooling for a while, start it again: nothing lost, nothing doubled."""
    db = new_db(influxdb1)
    metrics = AgentMetrics()
    sink = InfluxDB1Sink("influx", influxdb1.url, db, timeout=2)
    async with Spool.opened(tmp_path / "spool.db", sinks=["influx"], max_bytes=10**8, metrics=metrics) as spool:
        forwarder = Forwarder(spool, sink, batch_size=100, retry_base_delay=0.05, retry_max_delay=0.4,
                              metrics=metrics, rng=random.Random(1))
        async with running(forwarder):
            await spool.append([ups(i) for i in range(100)])
            assert await forwarder.flush(timeout=20)
            influxdb1.stop()
            try:
                for k in range(1, 9):
                    await spool.append([ups(k * 100 + i) for i in range(100)])
                    await asyncio.sleep(0.25)
                assert spool.pending("influx") > 0
                assert forwarder.failures > 0
                assert metrics.value("sink_write_errors", {"sink": "influx", "kind": "unavailable"}) > 0
            finally:
                influxdb1.start()
            assert await forwarder.flush(timeout=30)
        await sink.close()
    assert metrics.value("sink_backoff_seconds", {"sink": "influx"}) == 0
    rows = influxdb1.points('SELECT COUNT("battery_charge_pct") FROM "ups" GROUP BY "device"', db=db)
    assert [(r["device"], r["count"]) for r in rows] == [("ups-1", 900)]
    times = influxdb1.points('SELECT "battery_charge_pct" FROM "ups"', db=db)
    assert sorted(r["time"] for r in times) == [T0 + i * 10**9 for i in range(900)]


async def test_too_large_batches_are_split_until_accepted(tmp_path: Path, stand_in: Any) -> None:
    received: list[bytes] = []

    def respond(request: web.Request, body: bytes) -> web.Response:
        if body.count(b"\n") + 1 > 60:
            return web.Response(status=413, text='{"error":"Request Entity Too Large"}')
        received.extend(body.split(b"\n"))
        return web.Response(status=204)

    server = await stand_in(respond)
    sink = InfluxDB1Sink("s", server.url, "db")
    metrics = AgentMetrics()
    async with Spool.opened(tmp_path / "spool.db", sinks=["s"], max_bytes=10**8) as spool:
        points = [ups(i) for i in range(500)]
        await spool.append(points)
        forwarder = Forwarder(spool, sink, batch_size=500, metrics=metrics)
        assert await forwarder.flush(timeout=20)
        await sink.close()
        assert await spool.dead_letters() == []
    assert received == [encode_point(p).encode() for p in points]
    assert metrics.value("sink_write_errors", {"sink": "s", "kind": "too_large"}) >= 7


async def test_the_sink_is_up_before_its_points_are_acked(tmp_path: Path, stand_in: Any) -> None:
    """Whoever sees a recovered sink's points leave the spool also sees the sink up (no backoff,
    no failure count): the health is set when the write is accepted, before the ack."""
    answers = iter([web.Response(status=503, text='{"error":"busy"}') for _ in range(2)])
    server = await stand_in(lambda request, body: next(answers, web.Response(status=204)))
    sink = InfluxDB1Sink("s", server.url, "db")
    metrics = AgentMetrics()
    seen_at_ack: list[tuple[int, float, float | None]] = []
    async with Spool.opened(tmp_path / "spool.db", sinks=["s"], max_bytes=10**8) as spool:
        forwarder = Forwarder(spool, sink, batch_size=5, retry_base_delay=0.01, retry_max_delay=0.05, metrics=metrics)
        ack = spool.ack

        async def observed_ack(name: str, ids: list[int]) -> None:
            seen_at_ack.append((forwarder.failures, forwarder.current_backoff, metrics.value("sink_up", {"sink": "s"})))
            await ack(name, ids)

        spool.ack = observed_ack  # type: ignore[method-assign]
        await spool.append([ups(i) for i in range(12)])
        assert await forwarder.flush(timeout=10)
        await sink.close()
    assert sum(1 for _, r, _ in server.requests if r.path == "/write") == 5  # 2 refused, 3 batches
    assert seen_at_ack == [(0, 0.0, 1.0)] * 3


async def test_retry_after_is_honoured(tmp_path: Path, stand_in: Any) -> None:
    answers = iter([web.Response(status=429, headers={"Retry-After": "1"}, text='{"message":"slow down"}')])
    server = await stand_in(lambda request, body: next(answers, web.Response(status=204)))
    sink = InfluxDB2Sink("v2", server.url, "org", "bucket", TOKEN)
    async with Spool.opened(tmp_path / "spool.db", sinks=["v2"], max_bytes=10**8) as spool:
        forwarder = Forwarder(spool, sink, retry_base_delay=0.01, retry_max_delay=0.05)
        await spool.append([ups(1)])
        assert await forwarder.flush(timeout=10)
        await sink.close()
    (first, _, _), (second, _, body) = server.requests
    assert second - first >= 0.95  # the server's Retry-After, not our 50 ms cap
    assert body == encode_point(ups(1)).encode()


async def test_a_dead_sink_does_not_hold_back_the_others(tmp_path: Path) -> None:
    good = LocalSink("local", tmp_path / "local.db")
    dead = InfluxDB1Sink("dead", closed_port_url(), "db", timeout=1)
    async with Spool.opened(tmp_path / "spool.db", sinks=["local", "dead"], max_bytes=10**8) as spool:
        forwarders = [Forwarder(spool, s, retry_base_delay=0.05, retry_max_delay=0.2) for s in (good, dead)]
        async with running(forwarders[0]), running(forwarders[1]):
            for k in range(5):
                await spool.append([ups(k * 10 + i) for i in range(10)])
            assert await forwarders[0].flush(timeout=10)
            assert not await forwarders[1].flush(timeout=0.3)
        assert spool.pending("local") == 0 and spool.pending("dead") == 50
        assert forwarders[1].failures > 0
        for s in (good, dead):
            await s.close()
    with LocalStore.open_readonly(tmp_path / "local.db") as store:
        assert store.count("ups") == 50


async def test_run_wakes_up_promptly_on_new_points(tmp_path: Path) -> None:
    sink = LocalSink("local", tmp_path / "local.db")
    async with Spool.opened(tmp_path / "spool.db", sinks=["local"], max_bytes=10**8) as spool:
        forwarder = Forwarder(spool, sink, poll_interval=60.0)  # only a notify can wake it in time
        async with running(forwarder):
            await asyncio.sleep(0.05)
            await spool.append([ups(1), ups(2)])
            for _ in range(200):
                if spool.pending("local") == 0:
                    break
                await asyncio.sleep(0.01)
            assert spool.pending("local") == 0
        await sink.close()


@pytest.mark.parametrize("kind", ["influxdb1", "influxdb2"])
async def test_refused_credentials_are_retried_and_never_logged(tmp_path: Path, stand_in: Any, kind: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Wrong token / password: errors counted as `auth`, logged with a clear message, no secret;
    once the server accepts again (token fixed), the flow resumes without a restart."""
    secret = PASSWORD if kind == "influxdb1" else TOKEN
    state = {"refuse": True}

    def respond(request: web.Request, body: bytes) -> web.Response:
        if state["refuse"]:
            return web.Response(status=401, text=f'{{"error":"authorization failed for {secret}"}}')
        return web.Response(status=204)

    server = await stand_in(respond)
    if kind == "influxdb1":
        sink: Any = InfluxDB1Sink("s", server.url, "db", username="noc", password=secret)
    else:
        sink = InfluxDB2Sink("s", server.url, "org", "bucket", secret)
    metrics = AgentMetrics()
    caplog.set_level(logging.DEBUG)
    problems = Problems(logging.getLogger("sentinelle.agent.forwarder"), window_s=0.0)
    async with Spool.opened(tmp_path / "spool.db", sinks=["s"], max_bytes=10**8) as spool:
        forwarder = Forwarder(spool, sink, retry_base_delay=0.01, retry_max_delay=0.02, metrics=metrics,
                              problems=problems)
        await spool.append([ups(i) for i in range(3)])
        assert not await forwarder.flush(timeout=0.3)
        assert metrics.value("sink_write_errors", {"sink": "s", "kind": "auth"}) >= 2
        assert "credentials refused" in caplog.text
        state["refuse"] = False
        assert await forwarder.flush(timeout=5)
        await sink.close()
    assert "writes resumed" in caplog.text
    # Our own records never carry the secret. influxdb-client logs the raw error body at DEBUG on
    # the root logger; the agent's logging setup keeps the root at WARNING and redacts anyway.
    ours = [r for r in caplog.records if r.name.startswith("sentinelle.agent")]
    assert ours and all(secret not in r.getMessage() for r in ours)
    assert all(r.levelno < logging.WARNING for r in caplog.records if secret in r.getMessage())
    redactor = SecretRedactor([secret])
    for record in caplog.records:
        redactor.filter(record)
        assert secret not in record.getMessage()


async def test_unique_names_keep_tests_apart() -> None:
    # Guard for the helpers above: two databases created by new_db never collide.
    assert len({uuid.uuid4().hex[:10] for _ in range(1000)}) == 1000
