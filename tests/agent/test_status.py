"""The HTTP face: /metrics in Prometheus format, /healthz, /readyz, on loopback."""

from __future__ import annotations

import aiohttp

from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.agent.status import StatusServer


async def test_metrics_health_and_readiness_endpoints() -> None:
    metrics = AgentMetrics("nro-1")
    metrics.counter("points_spooled", "Points stored in the spool", ["measurement"]).labels("ups").inc(3)
    state = {"ready": False}
    async with StatusServer(metrics, lambda: (state["ready"], {"sinks": ["local-0"]}), "127.0.0.1", 0) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/metrics") as r:
                text = await r.text()
                assert r.status == 200
                assert 'sentinelle_points_spooled_total{measurement="ups"} 3.0' in text
            async with http.get(base + "/healthz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"
            async with http.get(base + "/readyz") as r:
                assert r.status == 503 and (await r.json())["ready"] is False
            state["ready"] = True
            async with http.get(base + "/readyz") as r:
                assert r.status == 200 and (await r.json())["sinks"] == ["local-0"]


def test_internal_points_mirror_the_registry() -> None:
    metrics = AgentMetrics("nro-1")
    metrics.counter("sink_points_written", "w", ["sink"]).labels("influx").inc(42)
    metrics.gauge("spool_bytes", "b").set(1000)
    metrics.histogram("poll_duration_seconds", "d", ["device"]).labels("ups-1").observe(0.5)
    points = metrics.snapshot_points(123)
    by_tags = {tuple(sorted(p.tags.items())): p for p in points}
    assert by_tags[(("agent", "nro-1"), ("sink", "influx"))].fields["sink_points_written_total"] == 42.0
    assert by_tags[(("agent", "nro-1"),)].fields["spool_bytes"] == 1000.0
    dev = by_tags[(("agent", "nro-1"), ("device", "ups-1"))].fields
    assert dev["poll_duration_seconds_sum"] == 0.5 and dev["poll_duration_seconds_count"] == 1.0
    assert all(p.measurement == "agent_internal" and p.time_ns == 123 for p in points)
