"""Benchmark: catch-up after an outage. A 1-hour backlog of a 1,000-device site sits in the spool
(what one hour of polls at the default 60 s interval produces); how long until the forwarder has
drained it into a real sink? Side by side, in the same run, the sink's own ceiling: bare aiohttp
POSTs of the same lines, same batch size, to a fresh database of the same server.

The site: 500 switches (device_status + 24 interfaces) and 500 PDUs (device_status, pdu,
pdu_phase, 24 outlets), i.e. 26,000 points a poll, 1,560,000 in the hour (the SNMP fleet
benchmark measured 25.5 points per device per poll on the same profile mix).

Sinks: influxd 1.6.7 (`/write`, the InfluxDB 1.x sink) and VictoriaMetrics (`/api/v2/write`,
the InfluxDB 2.x sink through influxdb-client), both started by the script on 127.0.0.1. Run:

    .venv/bin/python benchmarks/catchup.py [--devices 1000] [--polls 60] [--sinks influxdb1,victoria] [--write-results]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sentinelle.agent.core import Point  # noqa: E402

BATCH = 5000  # the sinks' default batch_size, for the agent and the baseline alike
INTERVAL_S = 60  # the agent's default poll interval
TARGET_S = 60.0


def poll_points(devices: int, step: int, start_s: int) -> list[Point]:
    """One poll of the whole site at `start_s + step * INTERVAL_S`."""
    t = (start_s + step * INTERVAL_S) * 1_000_000_000
    points: list[Point] = []
    for d in range(devices):
        site = f"nro-{d % 20:02d}"
        if d % 2 == 0:
            dev = f"sw-{d:04d}"
            points.append(Point("device_status", {"site": site, "device": dev, "device_kind": "switch"},
                                {"reachable": True, "uptime_s": 86400 + step * 60, "poll_duration_s": 0.21}, t))
            for port in range(24):
                points.append(Point("interface", {"site": site, "device": dev, "ifname": f"ge-0/0/{port}"},
                                    {"oper_up": True, "in_octets": 10_000 * step + port, "out_octets": 7_000 * step + d,
                                     "in_errors": 0}, t))
        else:
            dev = f"pdu-{d:04d}"
            points.append(Point("device_status", {"site": site, "device": dev, "device_kind": "pdu"},
                                {"reachable": True, "uptime_s": 86400 + step * 60, "poll_duration_s": 0.35}, t))
            points.append(Point("pdu", {"site": site, "device": dev}, {"power_w": 1830.0 + d % 50,
                                                                        "energy_kwh_total": 12_000.5 + step * 0.03}, t))
            points.append(Point("pdu_phase", {"site": site, "device": dev, "phase": "1"},
                                {"current_a": 7.9, "voltage_v": 231.0, "power_w": 1830.0}, t))
            for outlet in range(1, 25):
                points.append(Point("pdu_outlet", {"site": site, "device": dev, "outlet": str(outlet)},
                                    {"power_w": 76.0 + outlet, "current_a": 0.33}, t))
    return points


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
            f"Linux {platform.release()}")


async def fill_spool(path: Path, sink: str, devices: int, polls: int) -> tuple[float, int, int]:
    """The backlog: `polls` polls appended as the scheduler does (one emit per ~500 points)."""
    from sentinelle.agent.spool import Spool

    start_s = (int(time.time()) - 2 * 86400) // 60 * 60
    t0 = time.perf_counter()
    async with Spool.opened(path, sinks=[sink], max_bytes=4 * 1024**3, sync="full") as spool:
        for step in range(polls):
            points = poll_points(devices, step, start_s)
            for i in range(0, len(points), 500):
                result = await spool.append(points[i:i + 500])
                if result.dropped or result.evicted or result.invalid:
                    raise RuntimeError(f"the backlog did not fit the spool: {result}")
        stats = await spool.stats()
    return time.perf_counter() - t0, stats.points, stats.file_bytes


async def read_lines(path: Path, sink: str) -> list[bytes]:
    """The very lines the spool holds, for the baseline."""
    from sentinelle.agent.spool import Spool

    out: list[bytes] = []
    async with Spool.opened(path, sinks=[sink], max_bytes=4 * 1024**3) as spool:
        db = spool  # read through the public API, in id order, without acking
        last = 0
        while True:
            rows = await db._run(lambda after: db.db.execute(
                "SELECT id, line FROM points WHERE id > ? ORDER BY id LIMIT 50000", (after,)).fetchall(), last)
            if not rows:
                return out
            out.extend(bytes(r[1]) for r in rows)
            last = rows[-1][0]


async def bare_posts(url: str, lines: list[bytes]) -> float:
    """The sink's ceiling: the same lines, batches of BATCH, gzip level 1, one request at a time."""
    import aiohttp

    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        for i in range(0, len(lines), BATCH):
            body = gzip.compress(b"\n".join(lines[i:i + BATCH]), 1)
            async with http.post(url, data=body, headers={"Content-Encoding": "gzip",
                                                          "Authorization": "Token x"}) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"baseline write failed: {resp.status} {await resp.text()}")
    return time.perf_counter() - t0


async def drain(path: Path, sink: object) -> float:
    from sentinelle.agent.forwarder import Forwarder
    from sentinelle.agent.spool import Spool

    async with Spool.opened(path, sinks=[sink.name], max_bytes=4 * 1024**3) as spool:  # type: ignore[attr-defined]
        forwarder = Forwarder(spool, sink, batch_size=BATCH)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        done = await forwarder.flush(timeout=1800)
        elapsed = time.perf_counter() - t0
        if not done:
            raise RuntimeError("the backlog did not drain within 30 minutes")
        await sink.close()  # type: ignore[attr-defined]
    return elapsed


def influx_count(server: object, db: str) -> int:
    total = 0
    for measurement, field in (("device_status", "reachable"), ("interface", "oper_up"), ("pdu", "power_w"),
                               ("pdu_phase", "current_a"), ("pdu_outlet", "power_w")):
        res = server.query(f'SELECT COUNT("{field}") FROM "{measurement}"', db=db)  # type: ignore[attr-defined]
        series = res["results"][0].get("series")
        total += series[0]["values"][0][1] if series else 0
    return total


async def run_influxdb1(work: Path, backlog: Path, lines: list[bytes]) -> dict[str, float]:
    import shutil

    from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
    from tests.support.influxdb1 import InfluxDB1

    server = InfluxDB1(workdir=work / "influxd")
    await asyncio.to_thread(server.start)
    try:
        server.query('CREATE DATABASE "base"')
        server.query('CREATE DATABASE "agent"')
        base_s = await bare_posts(f"{server.url}/write?db=base&precision=ns", lines)
        copy = work / "spool-influx.db"
        shutil.copy(backlog, copy)
        agent_s = await drain(copy, InfluxDB1Sink("central", server.url, "agent"))
        return {"base_s": base_s, "agent_s": agent_s, "base_n": influx_count(server, "base"),
                "agent_n": influx_count(server, "agent")}
    finally:
        await asyncio.to_thread(server.stop)


async def run_victoria(work: Path, backlog: Path, lines: list[bytes]) -> dict[str, float]:
    import shutil

    from sentinelle.agent.sinks.influxdb2 import InfluxDB2Sink
    from tests.support.victoriametrics import VictoriaMetrics

    # Two servers: the baseline's points must not make the agent's a no-op rewrite (same series).
    base_server = VictoriaMetrics(workdir=work / "vm-base")
    agent_server = VictoriaMetrics(workdir=work / "vm-agent")
    await asyncio.to_thread(base_server.start)
    await asyncio.to_thread(agent_server.start)
    try:
        base_s = await bare_posts(f"{base_server.url}/api/v2/write?org=o&bucket=b&precision=ns", lines)
        copy = work / "spool-vm.db"
        shutil.copy(backlog, copy)
        agent_s = await drain(copy, InfluxDB2Sink("central", agent_server.url, "o", "b", "x"))
        return {"base_s": base_s, "agent_s": agent_s}
    finally:
        await asyncio.to_thread(base_server.stop)
        await asyncio.to_thread(agent_server.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=60, help="polls in the backlog (60 = one hour at 60 s)")
    parser.add_argument("--sinks", default="influxdb1,victoria")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    sinks = [s.strip() for s in args.sinks.split(",") if s.strip()]

    with tempfile.TemporaryDirectory(prefix="sentinelle-catchup-") as tmp:
        work = Path(tmp)
        backlog = work / "backlog.db"
        fill_s, points, file_bytes = asyncio.run(fill_spool(backlog, "central", args.devices, args.polls))
        print(f"backlog: {points:,} points, spool file {file_bytes / 1024**2:.0f} MiB, filled in {fill_s:.1f} s",
              flush=True)
        lines = asyncio.run(read_lines(backlog, "central"))
        results: dict[str, dict[str, float]] = {}
        for sink in sinks:
            runner = run_influxdb1 if sink == "influxdb1" else run_victoria
            results[sink] = asyncio.run(runner(work, backlog, lines))
            r = results[sink]
            print(f"{sink}: baseline {r['base_s']:.1f} s ({points / r['base_s']:,.0f} points/s), agent drain "
                  f"{r['agent_s']:.1f} s ({points / r['agent_s']:,.0f} points/s)", flush=True)

    rows = []
    names = {"influxdb1": "influxd 1.6.7 `/write` (InfluxDB 1.x sink)",
             "victoria": "VictoriaMetrics `/api/v2/write` (InfluxDB 2.x sink, influxdb-client)"}
    for sink, r in results.items():
        verdict = "yes" if r["agent_s"] <= TARGET_S else "**no**"
        stored = f", {int(r['agent_n']):,} / {int(r['base_n']):,} points queried back" if "agent_n" in r else ""
        rows.append(f"| {names[sink]} | {r['base_s']:.1f} | {points / r['base_s']:,.0f} | {r['agent_s']:.1f} | "
                    f"{points / r['agent_s']:,.0f} | {r['base_s'] / r['agent_s']:.2f} | {verdict}{stored} |")
    report = f"""## Catch-up: a 1-hour backlog drains to a real sink (`benchmarks/catchup.py`)

Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: {machine()}; the 2 cores were shared with
seven other engineers' work (tests, benchmarks) during the run, so absolute times are noisy: compare
the agent with the baseline measured in the same run, a minute apart.
Backlog: {args.devices:,} devices (half switches with 24 interfaces, half PDUs with 24 outlets), {args.polls}
polls at {INTERVAL_S} s ({args.polls * INTERVAL_S / 3600:g} h): **{points:,} points** in the spool ({file_bytes / 1024**2:.0f} MiB on disk,
`synchronous=FULL`), written there before the sink starts. Agent: one `Forwarder.flush` (read a
{BATCH}-point batch, gzip level 5, POST, ack in the spool, repeat). Baseline: the same lines, the same
batch size, bare aiohttp POSTs (gzip level 1), one request at a time, to a fresh database / server.

| sink | baseline (s) | baseline points/s | agent drain (s) | agent points/s | agent / baseline | within {TARGET_S:.0f} s |
|---|---:|---:|---:|---:|---:|---|
{chr(10).join(rows)}
"""
    print(report)
    if args.write_results:
        from benchmarks.sink_path import write_section

        write_section(ROOT / "benchmarks" / "RESULTS.md", "## Catch-up", report)


if __name__ == "__main__":
    main()
