"""The whole agent against real servers: snmpsim devices in, influxd 1.6.7 out.

These are the agent core's delivery promises, tested as a user would meet them:
- the sink dies for a while and comes back: every point the collectors produced meanwhile
  reaches InfluxDB, none twice;
- the agent is SIGKILLed: nothing it had stored in the spool is lost, the next run sends it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sentinelle.agent.config import parse_config
from sentinelle.agent.runtime import Agent
from sentinelle.agent.spool import Spool

DEVICES = {"sw-1": "cisco-c3750-switch", "ups-1": "eaton-93e-ups"}


def config_dict(snmpsim: Any, data_dir: Path, sink_url: str, interval: float = 1.0) -> dict[str, Any]:
    return {
        "agent": {
            "name": "e2e", "interval": interval, "jitter": 0, "data_dir": str(data_dir),
            "http": {"enabled": False}, "internal_interval": 3600,
        },
        "inventory": {"sites": [{
            "id": "nro-test", "kind": "nro", "member": "m1", "contract": "c1", "operator": "o1",
            "devices": [
                {"id": dev, "kind": "switch", "snmp": {"host": snmpsim.host,
                                                       "port": snmpsim.port, "community": rec, "timeout": 0.5, "retries": 0},
                 "profiles": ["system"]}
                for dev, rec in DEVICES.items()
            ],
        }]},
        "sinks": [{"type": "influxdb1", "name": "central", "url": sink_url, "database": "sentinelle",
                   "timeout": 2, "retry_max_delay": 1}],
        "spool": {"sync": "full"},
    }


def status_times(influx: Any) -> dict[str, list[int]]:
    rows = influx.points("SELECT reachable FROM device_status GROUP BY device")
    out: dict[str, list[int]] = {}
    for row in rows:
        out.setdefault(row["device"], []).append(row["time"])
    return {k: sorted(v) for k, v in out.items()}


async def test_sink_outage_loses_nothing_and_duplicates_nothing(snmpsim: Any, influxdb1: Any, tmp_path: Path) -> None:
    config = parse_config(yaml.safe_dump(config_dict(snmpsim, tmp_path, influxdb1.url)))
    async with Agent(config) as agent:
        agent.start()
        await asyncio.sleep(2.5)
        influxdb1.stop()  # the WAN link drops
        await asyncio.sleep(3.5)
        outage_spooled = agent.spool.pending("central") if agent.spool else 0
        influxdb1.start()  # and comes back
        await asyncio.sleep(2.0)
        await agent.stop(drain_s=15)
        produced = agent.metrics.value("points_collected_total", {"measurement": "device_status"})
    assert outage_spooled > 0, "points should have waited in the spool during the outage"
    times = status_times(influxdb1)
    assert set(times) == set(DEVICES)
    assert sum(len(v) for v in times.values()) == produced
    for device, ts in times.items():
        assert len(ts) == len(set(ts)), f"{device}: duplicate timestamps"
        steps = {b - a for a, b in zip(ts, ts[1:], strict=False)}
        assert steps == {1_000_000_000}, f"{device}: ticks missing around the outage: {steps}"
        assert len(ts) >= 7


def test_sigkill_loses_nothing_acknowledged_to_the_spool(snmpsim: Any, influxdb1: Any, tmp_path: Path) -> None:
    # First run: the sink is unreachable (a closed port), so everything stays in the spool.
    dead = config_dict(snmpsim, tmp_path, "http://127.0.0.1:9")
    cfg_path = tmp_path / "agent.yaml"
    cfg_path.write_text(yaml.safe_dump(dead))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentinelle.agent.cli", "run", "-c", str(cfg_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    spool_path = tmp_path / "spool.db"
    try:
        # Count from the moment the agent opened its spool, not from the fork: a loaded machine
        # spends seconds importing before the first poll (bounded wait; then 4.5 polls of 1 s).
        started = time.monotonic()
        while not spool_path.exists() and time.monotonic() - started < 30 and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(4.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    async def pending_status_times() -> dict[str, set[int]]:
        spool = await Spool.open(spool_path, sinks=["central"], max_bytes=10**9)
        try:
            out: dict[str, set[int]] = {}
            batch = await spool.read_batch("central", 100_000)
            for _id, line in batch:
                text = line.decode()
                if text.startswith("device_status,"):
                    device = text.split("device=", 1)[1].split(",", 1)[0].split(" ", 1)[0]
                    out.setdefault(device, set()).add(int(text.rsplit(" ", 1)[1]))
            return out
        finally:
            await spool.close()

    before = asyncio.run(pending_status_times())
    assert set(before) == set(DEVICES), before
    for device, ts in before.items():
        ordered = sorted(ts)
        assert len(ordered) >= 3, (device, ordered)
        # No hole: the kill can only cut the poll in flight, never one already stored.
        assert {b - a for a, b in zip(ordered, ordered[1:], strict=False)} == {1_000_000_000}

    # Second run, same sink name, now pointing at a live InfluxDB: the backlog is delivered.
    live = config_dict(snmpsim, tmp_path, influxdb1.url)
    config = parse_config(yaml.safe_dump(live))

    async def second_run() -> None:
        async with Agent(config) as agent:
            await agent.run(duration_s=2.0)

    asyncio.run(second_run())
    after = status_times(influxdb1)
    for device, ts in before.items():
        missing = ts - set(after.get(device, []))
        assert not missing, f"{device}: {len(missing)} spooled points lost across SIGKILL"
