"""Benchmark: the agent beside Debian's prometheus-snmp-exporter on the shared SNMP farm
(`/work/shared/bench/snmp-peer/`, one net-snmp snmpd answering as 1,000 devices on
127.0.1.1 ... 127.0.4.238), in the same run, both agent backends (gufo-snmp, pysnmp).

The agent goes through its real path: an inventory YAML parsed by `parse_config`, profiles
loaded from a profiles directory (`snmp.profiles_dirs`) that asks exactly the farm's `oids.txt`
(1 GET + 11 column walks), `build_targets` (state files in the data dir), `Scheduler.poll_once`
of every device per cycle (concurrency 50, `max_in_flight` 50), points counted by the emit
callback. Cycle 1 identifies the devices; cycles 2.. are the steady state. Each backend runs in
its own process under the farm's `measure.sh` (CPU and peak RSS of that process tree).

    .venv/bin/python benchmarks/snmp_peer.py [--devices 1000] [--cycles 4] [--write-results]

The farm is started if it is not running and then stopped again (`farm.sh stop`). Traffic goes
to 127.0.0.0/8 only, at most 50 requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PEER = Path(os.environ.get("SNMP_PEER_DIR", "/work/shared/bench/snmp-peer"))
CONCURRENCY = 50

# Profiles that ask exactly oids.txt. `system` and `if-mib` replace the shipped ones of the same
# name (the user path for trimming what is polled); `bench-host` is named in the inventory.
PROFILES = {
    "system.yaml": """
name: system
always: true
groups:
  - measurement: device_status
    fields:
      - {name: uptime_s, oid: 1.3.6.1.2.1.1.3.0, type: gauge, scale: 0.01}
""",
    "if-mib.yaml": """
name: if-mib
always: true
groups:
  - measurement: interface
    table: true
    index_tags: [{tag: ifindex}]
    tags: [{tag: interface, oid: 1.3.6.1.2.1.31.1.1.1.1}]
    fields:
      - {name: oper_status, oid: 1.3.6.1.2.1.2.2.1.8, type: gauge}
      - {name: in_errors, oid: 1.3.6.1.2.1.2.2.1.14, type: counter, bits: 32}
      - {name: out_errors, oid: 1.3.6.1.2.1.2.2.1.20, type: counter, bits: 32}
      - {name: in_octets, oid: 1.3.6.1.2.1.31.1.1.1.6, type: counter, bits: 64}
      - {name: out_octets, oid: 1.3.6.1.2.1.31.1.1.1.10, type: counter, bits: 64}
""",
    "bench-host.yaml": """
name: bench-host
groups:
  - measurement: cpu
    table: true
    index_tags: [{tag: index}]
    fields:
      - {name: load_pct, oid: 1.3.6.1.2.1.25.3.3.1.2, type: gauge}
  - measurement: storage
    table: true
    index_tags: [{tag: index}]
    tags: [{tag: descr, oid: 1.3.6.1.2.1.25.2.3.1.3}]
    fields:
      - {name: allocation_units, oid: 1.3.6.1.2.1.25.2.3.1.4, type: gauge}
      - {name: size, oid: 1.3.6.1.2.1.25.2.3.1.5, type: gauge}
      - {name: used, oid: 1.3.6.1.2.1.25.2.3.1.6, type: gauge}
""",
}
# oids.txt: what counts as a value (sysObjectID/sysName, which the agent also GETs, do not).
GET_OIDS = {"1.3.6.1.2.1.1.3.0"}


def farm(*args: str) -> str:
    # `farm.sh status` exits 1 when the farm is down: that is an answer ("down"), not a failure.
    done = subprocess.run([str(PEER / "farm.sh"), *args], check=args != ("status",), capture_output=True, text=True)
    return done.stdout


def write_setup(workdir: Path, targets: list[str], backend: str) -> Path:
    profiles = workdir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    for name, text in PROFILES.items():
        (profiles / name).write_text(text.lstrip())
    lines = [f"agent: {{name: bench, data_dir: {json.dumps(str(workdir / ('data-' + backend)))}, "
             f"concurrency: {CONCURRENCY}}}",
             f"snmp: {{backend: {backend}, max_in_flight: {CONCURRENCY}, timeout: 5s, retries: 3, "
             f"profiles_dirs: [{json.dumps(str(profiles))}]}}",
             "inventory:", "  sites:"]
    for s in range(0, len(targets), 100):
        lines += [f"    - id: site-{s // 100:02d}", "      devices:"]
        for i in range(s, min(s + 100, len(targets))):
            host, port = targets[i].rsplit(":", 1)
            lines.append(f"        - {{id: dev-{i:04d}, snmp: {{host: {host}, port: {port}, community: public}}, "
                         "profiles: [bench-host]}")
    path = workdir / f"agent-{backend}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the agent process -------------------------------------------------------------------------


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def agent_cycles(config_path: Path, cycles: int) -> list[dict]:
    from sentinelle.agent.config import load_config
    from sentinelle.agent.core import Point
    from sentinelle.agent.logs import Problems
    from sentinelle.agent.scheduler import Scheduler
    from sentinelle.agent.selfmetrics import AgentMetrics
    from sentinelle.collectors.snmp.client import SnmpClient
    from sentinelle.collectors.snmp.device import build_targets

    config = load_config(config_path)
    metrics = AgentMetrics("bench")
    problems = Problems(logging.getLogger("bench.snmp_peer"))
    stats = {"values": 0, "points": 0, "failed": 0}

    async def emit(points: list[Point]) -> None:
        # Values = the fields that came from oids.txt: every field of the polled measurements
        # except the agent's own (reachable, poll_duration_s).
        stats["points"] += len(points)
        for p in points:
            if p.measurement == "device_status":
                if p.fields.get("reachable") is False:
                    stats["failed"] += 1
                stats["values"] += "uptime_s" in p.fields
            elif p.measurement in ("interface", "cpu", "storage"):
                stats["values"] += len(p.fields)
                stats["values"] += ("interface" in p.tags) + ("descr" in p.tags)

    results = []
    async with SnmpClient(config.snmp) as client:
        targets = build_targets(config, client, metrics, problems)
        scheduler = Scheduler(targets, emit, concurrency=config.agent.concurrency, metrics=metrics, problems=problems)
        tick = (int(time.time()) // 60) * 60 * 1_000_000_000
        for c in range(cycles):
            stats.update(values=0, points=0, failed=0)
            requests0, cpu0, wall0 = client.requests, cpu_s(), time.perf_counter()
            await asyncio.gather(*(scheduler.poll_once(t, tick + c * 60_000_000_000) for t in targets))
            wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
            results.append({"cycle": c + 1, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                            "values": stats["values"], "points": stats["points"], "failed": stats["failed"],
                            "requests": client.requests - requests0, "rss_mb": round(rss_mb(), 1),
                            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


# --- the orchestrator ----------------------------------------------------------------------------


def measure(label: str, cmd: list[str]) -> dict:
    out = subprocess.run([str(PEER / "measure.sh"), "--label", label, "--", *cmd],
                         capture_output=True, text=True, timeout=1800)
    line = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if not line:
        raise SystemExit(f"measure.sh failed: {out.stderr[-2000:]}")
    return json.loads(line[-1])


def run(devices: int, cycles: int, write: bool, backends: list[str]) -> dict:
    started_farm = False
    if not farm("status").startswith("up"):
        print("starting the farm (about a minute)...", file=sys.stderr)
        farm("start")
        started_farm = True
    try:
        targets = farm("targets", str(devices)).split()
        result: dict = {"devices": devices, "cycles": cycles, "concurrency": CONCURRENCY,
                        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
                        "load_before": os.getloadavg()[0]}
        exp = subprocess.run([str(PEER / "bench-snmp-exporter.sh"), str(devices), str(CONCURRENCY), "3"],
                             capture_output=True, text=True, timeout=1800)
        rounds = [json.loads(x) for x in exp.stdout.splitlines() if x.startswith("{")]
        result["exporter"] = [r for r in rounds if r["tool"] == "snmp_exporter"]
        result["netsnmp"] = [r for r in rounds if r["tool"] == "netsnmp_bulkwalk"]
        with tempfile.TemporaryDirectory(prefix="snmp-peer-") as tmp:
            work = Path(tmp)
            for backend in backends:
                config = write_setup(work, targets, backend)
                out = work / f"cycles-{backend}.json"
                m = measure(f"sentinelle-{backend}", [sys.executable, __file__, "agent", "--config", str(config),
                                                      "--cycles", str(cycles), "--out", str(out)])
                result[backend] = {"process": m, "cycles": json.loads(out.read_text()) if out.exists() else []}
        result["load_after"] = os.getloadavg()[0]
    finally:
        if started_farm:
            farm("stop")
    print(json.dumps(result, indent=1))
    if write:
        write_results(result)
    return result


def write_results(r: dict) -> None:
    exp = r["exporter"]
    best = min(exp, key=lambda x: x["wall_s"])
    e_wall, e_cpu = best["wall_s"], best["exporter_cpu_s"]
    lines = [
        "",
        f"## SNMP beside prometheus-snmp-exporter ({r['devices']} devices, one run)",
        "",
        f"`benchmarks/snmp_peer.py --devices {r['devices']} --cycles {r['cycles']}`, {r['date']}, {r['machine']}; "
        f"load average {r['load_before']:.2f} before, {r['load_after']:.2f} after. The machine is shared with "
        "seven other engineers' sessions: numbers can be disturbed, ratios are taken inside one run.",
        "Farm: `/work/shared/bench/snmp-peer/` (one net-snmp 5.9.3 snmpd answering as every device, v2c, "
        f"{len(r['exporter'])} exporter rounds, concurrency {r['concurrency']} for all pollers). Values: the 59 "
        "varbinds of `oids.txt` per device (exporter: series). Agent CPU is the poll cycle's own (getrusage "
        "around `Scheduler.poll_once`); exporter CPU is the exporter process (plus its scraper, shown apart).",
        "",
        "| poller | cycle | wall s | CPU s | values | failed | requests | RSS MB | wall / exporter | CPU / exporter |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in exp:
        lines.append(f"| snmp_exporter 0.21 | round {x['round']} | {x['wall_s']:.2f} | {x['exporter_cpu_s']:.2f} "
                     f"(+{x['client_cpu_s']:.2f} scraper) | {x['series']} | {x['targets_failed']} | "
                     f"{x['snmp_pkts_sent']} | {x['exporter_peak_rss_mb']} | | |")
    for x in r.get("netsnmp", []):
        lines.append(f"| net-snmp snmpbulkwalk (process per request) | 1 | {x['wall_s']:.2f} | {x['poller_cpu_s']:.2f} | "
                     f"{x['series']} | | | {x['peak_rss_mb']} | {x['wall_s'] / e_wall:.2f} | {x['poller_cpu_s'] / e_cpu:.2f} |")
    for backend in ("gufo", "pysnmp"):
        if backend not in r:
            continue
        for c in r[backend]["cycles"]:
            kind = "1 (identify)" if c["cycle"] == 1 else str(c["cycle"])
            lines.append(f"| sentinelle, {backend} | {kind} | {c['wall_s']:.2f} | {c['cpu_s']:.2f} | {c['values']} | "
                         f"{c['failed']} | {c['requests']} | {c['peak_rss_mb']} | {c['wall_s'] / e_wall:.2f} | "
                         f"{c['cpu_s'] / e_cpu:.2f} |")
        p = r[backend]["process"]
        lines.append(f"| sentinelle, {backend}: whole process (start-up, {r['cycles']} cycles) | | {p['wall_s']:.2f} | "
                     f"{p['cmd_cpu_s']:.2f} | | | | {p['peak_rss_mb']} (peak) | | |")
    lines.append("")
    lines.append(f"Ratios against the exporter's fastest round (wall {e_wall:.2f} s, CPU {e_cpu:.2f} s).")
    results = ROOT / "benchmarks" / "RESULTS.md"
    results.write_text(results.read_text().rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    a = sub.add_parser("agent")
    a.add_argument("--config", type=Path, required=True)
    a.add_argument("--cycles", type=int, default=4)
    a.add_argument("--out", type=Path, required=True)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--backends", default="gufo,pysnmp")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.cmd == "agent":
        args.out.write_text(json.dumps(asyncio.run(agent_cycles(args.config, args.cycles))))
        return 0
    run(args.devices, args.cycles, args.write_results, args.backends.split(","))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
