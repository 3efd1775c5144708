"""`sentinelle demo`: the real agent against a simulated site, on this machine, in seconds.

Nothing is mocked: snmpsim (shipped as a dependency) serves recordings of real devices on a
loopback port, the agent polls them through the normal scheduler, pipeline and spool into the
embedded local store, and the summary is read back from that store. A new user sees what
Sentinelle does before installing any server.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent.config import Config, parse_config

RECORDINGS = Path(__file__).resolve().parent.parent / "collectors" / "snmp" / "testdata"

# The simulated site: two sites of one syndicate, with the devices a RIP NRO and a small data
# centre really have. Community = recording file name (snmpsim selects the recording by it).
DEMO_DEVICES: list[dict[str, Any]] = [
    # demo/*: recordings with moving counters (snmpsim's numeric variation): energy rises,
    # interface octets move. The PDU is metered behind the UPS: a sub-meter, never added twice.
    {"site": "nro-lannion", "id": "ups-nro-lannion", "kind": "ups", "recording": "demo/demo-ups",
     "meter": {"role": "sub", "load": "other", "parent": "meter-tgbt-nro-lannion"}},
    {"site": "nro-lannion", "id": "pdu-nro-lannion", "kind": "pdu", "recording": "demo/demo-pdu",
     "meter": {"role": "sub", "load": "it", "parent": "ups-nro-lannion"}},
    {"site": "nro-lannion", "id": "sw-nro-lannion", "kind": "switch", "recording": "demo/demo-switch"},
    # A RIP network is GPON: the NRO's OLT, ONT optical levels per PON port.
    {"site": "nro-lannion", "id": "olt-nro-lannion", "kind": "olt", "recording": "huawei-ma5800-olt"},
    # Recordings of real devices, as captured.
    # The data centre's UPS meters the whole room (facility), its PDU the IT load: PUE.
    {"site": "dc-saint-brieuc", "id": "ups-dc", "kind": "ups", "recording": "eaton-93e-ups",
     "meter": {"role": "primary", "load": "facility"}},
    {"site": "dc-saint-brieuc", "id": "pdu-dc-a", "kind": "pdu", "recording": "apc-ap8641",
     "meter": {"role": "sub", "load": "it", "parent": "ups-dc"}},
    {"site": "dc-saint-brieuc", "id": "core-sw-dc", "kind": "switch", "recording": "arista-entity-sensor"},
]
DEMO_SITES: list[dict[str, Any]] = [
    {"id": "nro-lannion", "kind": "nro", "member": "lannion-tregor-communaute", "contract": "dsp-rip-22", "operator": "example-delegataire"},
    {"id": "dc-saint-brieuc", "kind": "datacentre", "member": "saint-brieuc-armor-agglomeration", "contract": "dsp-rip-22", "operator": "example-delegataire"},
]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SnmpSimulator:
    """snmpsim-command-responder on 127.0.0.1, started and stopped with `async with`."""

    def __init__(self, data_dir: Path, work_dir: Path):
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.port = _free_udp_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = work_dir / "snmpsim.log"

    def _exe(self) -> str:
        candidate = Path(sys.executable).parent / "snmpsim-command-responder"
        if candidate.exists():
            return str(candidate)
        found = shutil.which("snmpsim-command-responder")
        if not found:
            raise RuntimeError("snmpsim-command-responder not found: install Sentinelle with its dependencies (pip install .)")
        return found

    async def __aenter__(self) -> SnmpSimulator:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: ASYNC230, SIM115 - once, at start-up
        self._log = log
        self.proc = await asyncio.create_subprocess_exec(
            self._exe(),
            f"--data-dir={self.data_dir}",
            f"--cache-dir={self.work_dir / 'cache'}",
            f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
            "--log-level=error",
            stdout=log, stderr=log,
            env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
        )
        await self._wait_ready(60.0)
        return self

    async def _wait_ready(self, timeout_s: float) -> None:
        from pysnmp.hlapi.v3arch.asyncio import (
            CommunityData,
            ContextData,
            ObjectIdentity,
            ObjectType,
            SnmpEngine,
            UdpTransportTarget,
            get_cmd,
        )

        community = next(iter(sorted(p.stem for p in self.data_dir.glob("*.snmprec"))))
        engine = SnmpEngine()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise RuntimeError(f"snmpsim exited: {self.log_path.read_text(errors='replace')[-800:]}")
                target = await UdpTransportTarget.create(("127.0.0.1", self.port), timeout=0.5, retries=0)
                err, _status, _idx, _binds = await get_cmd(
                    engine, CommunityData(community), target, ContextData(), ObjectType(ObjectIdentity("1.3.6.1.2.1.1.2.0"))
                )
                if not err:
                    return
                await asyncio.sleep(0.2)
            raise RuntimeError(f"snmpsim did not answer within {timeout_s:.0f}s")
        finally:
            engine.close_dispatcher()

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._log.close()


def write_demo_intensity(path: Path, around_s: float, hours: int = 6) -> Path:
    """A synthetic grid intensity series in the ODRÉ éCO2mix export layout, around now.

    The demo cannot fetch RTE's data (no network on the machines it must run on), so it writes
    a plausible French day (lower at night, an evening peak) in the exact layout the `csv`
    provider reads from a real export. Values are synthetic; the summary says so.
    """
    import math
    from datetime import datetime
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    start = int(around_s // 900 * 900) - hours * 1800
    lines = ["Périmètre;Nature;Date;Heure;Date - Heure;Consommation (MW);Taux de CO2 (g/kWh)"]
    for t in range(start, start + hours * 3600 + 900, 900):
        local = datetime.fromtimestamp(t, paris)
        hour = local.hour + local.minute / 60
        g = round(32 + 14 * math.sin((hour - 13) / 24 * 2 * math.pi) + (12 if 18 <= hour < 21 else 0))
        lines.append(f"France;Données synthétiques (démo);{local:%Y-%m-%d};{local:%H:%M};{local.isoformat()};48000;{g}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def demo_config(data_dir: Path, snmp_port: int, mqtt: tuple[str, int] | None = None, interval_s: float = 3.0) -> Config:
    """The agent configuration the demo runs: the same YAML shape a technician writes."""
    from collectors.mqtt.sim import DEMO_LORA_DEVICES, demo_mqtt_config

    sites = []
    for site in DEMO_SITES:
        devices = []
        if mqtt is not None:
            devices += [{k: v for k, v in d.items() if k != "site"} for d in DEMO_LORA_DEVICES if d["site"] == site["id"]]
        for dev in DEMO_DEVICES:
            if dev["site"] != site["id"]:
                continue
            entry: dict[str, Any] = {
                "id": dev["id"],
                "kind": dev["kind"],
                "snmp": {"host": "127.0.0.1", "port": snmp_port, "version": "2c", "community": dev["recording"], "timeout": 1, "retries": 1},
            }
            if "meter" in dev:
                entry["meter"] = dev["meter"]
            devices.append(entry)
        sites.append({**site, "devices": devices})
    raw = {
        "agent": {"name": "demo", "interval": interval_s, "jitter": 0.2, "data_dir": str(data_dir), "http": {"enabled": False}, "internal_interval": 5},
        "inventory": {"sites": sites},
        "spool": {"sync": "normal"},
        "carbon": {"grid_intensity": {"provider": "csv", "path": str(write_demo_intensity(data_dir / "intensite-demo.csv", time.time()))}},
    }
    if mqtt is not None:
        raw["mqtt"] = [demo_mqtt_config(*mqtt)]
    return parse_config(yaml.safe_dump(raw), "<demo>")


@dataclass
class DeviceSummary:
    device: str
    site: str
    kind: str
    polls: int
    reachable_polls: int
    last_reachable: bool | None
    uptime_s: float | None
    sys_name: str | None
    points: int


def summarise_devices(store_path: Path, devices: list[dict[str, Any]] | None = None) -> list[DeviceSummary]:
    """Per device, from the local store: polls, reachability, uptime, points stored.

    LoRa devices are not polled: they count as reachable when their messages arrived.
    """
    from agent.sinks.local import LocalStore

    store = LocalStore.open_readonly(store_path)
    try:
        rows = []
        for dev in devices if devices is not None else DEMO_DEVICES:
            statuses = list(store.query("device_status", tags={"device": dev["id"]}))
            total_points = sum(
                sum(1 for _ in store.query(m, tags={"device": dev["id"]})) for m in store.measurements() if m != "agent_internal"
            )
            last = statuses[-1] if statuses else None
            polled = "snmp" in dev or "recording" in dev
            rows.append(
                DeviceSummary(
                    device=dev["id"],
                    site=dev["site"],
                    kind=dev["kind"],
                    polls=len(statuses),
                    reachable_polls=sum(1 for p in statuses if p.fields.get("reachable") is True),
                    last_reachable=(bool(last.fields.get("reachable")) if last else None) if polled else total_points > 0,
                    uptime_s=_float(last.fields.get("uptime_s")) if last else None,
                    sys_name=str(last.fields["sys_name"]) if last and "sys_name" in last.fields else None,
                    points=total_points,
                )
            )
        return rows
    finally:
        store.close()


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _print_table(rows: list[DeviceSummary]) -> None:
    header = ("device", "site", "kind", "reachable", "polls ok", "uptime", "sysName", "points")
    table = [header]
    for r in rows:
        table.append((
            r.device, r.site, r.kind,
            {True: "yes", False: "NO", None: "-"}[r.last_reachable],
            f"{r.reachable_polls}/{r.polls}" if r.polls else "-",
            _human_duration(r.uptime_s),
            (r.sys_name or "-")[:24],
            str(r.points),
        ))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours:02d}h{rest // 60:02d}m"


async def run_demo(duration_s: float = 20.0, data_dir: Path = Path("sentinelle-demo"), as_json: bool = False, verbose: bool = False) -> int:
    from agent.logs import setup_logging
    from agent.runtime import Agent

    data_dir = data_dir.resolve()  # noqa: ASYNC240 - once, before anything runs
    data_dir.mkdir(parents=True, exist_ok=True)
    setup_logging("debug" if verbose else "warning")
    from collectors.mqtt.sim import DEMO_SENSORS, demo_broker, publish_demo_traffic

    with tempfile.TemporaryDirectory(prefix="sentinelle-sim-") as tmp:
        async with SnmpSimulator(RECORDINGS, Path(tmp)) as sim, demo_broker() as broker:
            config = demo_config(data_dir, sim.port, broker)
            if not as_json:
                print(
                    f"Simulated site: snmpsim on udp://127.0.0.1:{sim.port} ({len(DEMO_DEVICES)} SNMP devices), "
                    f"LoRaWAN network server on mqtt://{broker[0]}:{broker[1]} (1 gateway, {len(DEMO_SENSORS)} sensors); "
                    f"collecting for {duration_s:.0f}s into {data_dir}"
                )
            start_ns = time.time_ns()
            async with Agent(config) as agent:
                lns = asyncio.create_task(publish_demo_traffic(*broker, duration_s=duration_s, interval_s=2.0))
                await agent.run(duration_s=duration_s)
                await asyncio.gather(lns, return_exceptions=True)
            end_ns = time.time_ns()
    store_path = config.local_store_path()
    from collectors.mqtt.sim import DEMO_LORA_DEVICES

    rows = summarise_devices(store_path, DEMO_DEVICES + DEMO_LORA_DEVICES)
    from carbon.report import summarise

    carbon = summarise(store_path, data_dir, start_ns - int(2 * config.agent.interval * 1e9), end_ns)
    if as_json:
        print(json.dumps({
            "store": str(store_path),
            "devices": [r.__dict__ for r in rows],
            "energy_carbon": {
                "kwh": carbon.kwh, "beges_kgco2e": carbon.beges_tco2e * 1000,
                "beges_uncertainty_pct": carbon.beges_uncertainty_pct, "grid_kgco2e": carbon.grid_tco2e * 1000,
                "completeness_pct": carbon.completeness_pct, "html_report": str(carbon.html),
            },
        }, indent=2))
    else:
        print()
        _print_table(rows)
        print()
        for line in carbon.lines("fr"):
            print(line)
        print("(intensité du réseau : série synthétique au format éCO2mix, intensite-demo.csv)")
        print(f"\nLocal store: {store_path}")
    ok = all(r.last_reachable for r in rows)
    return 0 if ok else 1

