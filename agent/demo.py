"""`sentinelle demo`: the real agent against a simulated site, on this machine, in seconds.

Nothing is mocked: snmpsim (shipped as a dependency) serves recordings of real devices on a
loopback port, the agent polls them through the normal scheduler, pipeline and spool into the
embedded local store, and the summary is read back from that store. A new user sees what
Sentinelle does before installing any server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sentinelle.agent.config import parse_config

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig  # composed at run time


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


# Each simulated site is its own snmpsim process (`simulated_sites`): snmpsim answers one request
# at a time, ~5 ms each, and the seven devices ask ~300 PDUs in the same second (the core switch
# alone 92). Measured on 2 cores with both busy (a loaded CI machine): one process for all seven
# put the slowest poll at 2.5-3.0 s, at the 3.2 s deadline of a 4 s interval, and the demo failed
# for a slow simulator, not a device; one process per site: 1.5-1.8 s. The demo's polls also start
# spread over a fifth of the interval (`agent.jitter`), as a fleet's do, not in one burst.
DEMO_INTERVAL_S = 4.0


def demo_raw(data_dir: Path, snmp_port: int | Mapping[str, int], mqtt: tuple[str, int] | None = None,
             interval_s: float = DEMO_INTERVAL_S) -> dict[str, Any]:
    """The demo's configuration as the YAML mapping a technician would write. `snmp_port` is
    one simulator's port for every site, or each site's own (`{site id: port}`)."""
    from sentinelle.collectors.mqtt.sim import DEMO_LORA_DEVICES, demo_mqtt_config

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
                "snmp": {"host": "127.0.0.1", "port": _site_port(snmp_port, site["id"]), "version": "2c", "community": dev["recording"], "timeout": 1, "retries": 1},
            }
            if "meter" in dev:
                entry["meter"] = dev["meter"]
            devices.append(entry)
        sites.append({**site, "devices": devices})
    raw: dict[str, Any] = {
        "agent": {"name": "demo", "interval": interval_s, "jitter": round(0.2 * interval_s, 3), "data_dir": str(data_dir), "http": {"enabled": False}, "internal_interval": 5},
        "inventory": {"sites": sites},
        "spool": {"sync": "normal"},
        "carbon": {"grid_intensity": {"provider": "csv", "path": str(write_demo_intensity(data_dir / "intensite-demo.csv", time.time()))}},
    }
    if mqtt is not None:
        raw["mqtt"] = [demo_mqtt_config(*mqtt)]
    return raw


def _site_port(snmp_port: int | Mapping[str, int], site_id: str) -> int:
    return snmp_port if isinstance(snmp_port, int) else snmp_port[site_id]


@contextlib.asynccontextmanager
async def simulated_sites(work_dir: Path) -> AsyncIterator[dict[str, int]]:
    """One snmpsim per demo site, started side by side: `{site id: port}` (see DEMO_INTERVAL_S
    for why not one for all). Each serves every recording, from its own cache."""
    async with contextlib.AsyncExitStack() as stack:
        sims = {site["id"]: SnmpSimulator(RECORDINGS, work_dir / site["id"]) for site in DEMO_SITES}
        await asyncio.gather(*(stack.enter_async_context(sim) for sim in sims.values()))
        yield {site_id: sim.port for site_id, sim in sims.items()}


def demo_config(data_dir: Path, snmp_port: int | Mapping[str, int], mqtt: tuple[str, int] | None = None,
                interval_s: float = DEMO_INTERVAL_S) -> AgentConfig:
    """The agent configuration the demo runs: the same YAML shape a technician writes."""
    return parse_config(yaml.safe_dump(demo_raw(data_dir, snmp_port, mqtt, interval_s)), "<demo>")


DEMO_YAML_HEADER = {
    "fr": (
        "# Configuration exécutée par `sentinelle demo` (écrite par la démo, réutilisable) :\n"
        "#   sentinelle report -c {path} --year {year}\n"
        "#   sentinelle spool stats -c {path}\n"
        "#   sentinelle run -c {path} --duration 30\n"
        "# Le simulateur SNMP et le broker MQTT de la démo se sont arrêtés avec elle : `run` sur ce\n"
        "# fichier trouve les équipements injoignables (et le dit) ; relancer `sentinelle demo` pour\n"
        "# collecter à nouveau. Pour un vrai site, partir de deploy/examples/.\n"
    ),
    "en": (
        "# Configuration run by `sentinelle demo` (written by the demo, reusable):\n"
        "#   sentinelle report -c {path} --year {year}\n"
        "#   sentinelle spool stats -c {path}\n"
        "#   sentinelle run -c {path} --duration 30\n"
        "# The demo's SNMP simulator and MQTT broker stopped with it: `run` on this file finds the\n"
        "# devices unreachable (and says so); run `sentinelle demo` again to collect again. For a real\n"
        "# site, start from deploy/examples/.\n"
    ),
}


def write_demo_yaml(raw: dict[str, Any], path: Path, shown_as: str, lang: str = "fr") -> Path:
    """Write the configuration the demo ran, so the next commands it prints work on it."""
    from datetime import datetime

    header = DEMO_YAML_HEADER[lang].format(path=shown_as, year=datetime.now().year)
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def next_commands(config_shown_as: str, year: int) -> list[str]:
    """What to try after the demo, on the configuration it wrote (tested: each one runs)."""
    return [
        f"sentinelle report -c {config_shown_as} --year {year}",
        f"sentinelle spool stats -c {config_shown_as}",
        f"sentinelle run -c {config_shown_as} --duration 30",
    ]


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
    from sentinelle.agent.sinks.local import LocalStore

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


TABLE_HEADERS = {
    "fr": ("équipement", "site", "type", "joignable", "relevés ok", "en service", "sysName", "points"),
    "en": ("device", "site", "kind", "reachable", "polls ok", "uptime", "sysName", "points"),
}
YES_NO = {"fr": {True: "oui", False: "NON", None: "-"}, "en": {True: "yes", False: "NO", None: "-"}}


def _print_table(rows: list[DeviceSummary], lang: str = "fr") -> None:
    header = TABLE_HEADERS[lang]
    table = [header]
    for r in rows:
        table.append((
            r.device, r.site, r.kind,
            YES_NO[lang][r.last_reachable],
            f"{r.reachable_polls}/{r.polls}" if r.polls else "-",
            _human_duration(r.uptime_s, lang),
            (r.sys_name or "-")[:24],
            str(r.points),
        ))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


COMPLETENESS_NOTE = {
    "fr": ("Complétude : part de la période résumée couverte par les relevés des compteurs principaux de "
           "chaque site. La démo part sans historique (un compteur ne donne une énergie qu'à partir de son "
           "deuxième relevé) et ne dure que {duration:.0f} s : la valeur est donc partielle ; un agent qui "
           "tourne toute l'année approche 100 %, et le rapport annuel signale tout trou."),
    "en": ("Completeness: the share of the summarised period covered by the readings of each site's primary "
           "meters. The demo starts with no history (a counter gives energy from its second reading on) and "
           "lasts only {duration:.0f} s, so the figure is partial; an agent running all year comes close to "
           "100 %, and the annual report flags every gap."),
}


def _human_duration(seconds: float | None, lang: str = "fr") -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}{'j' if lang == 'fr' else 'd'}{hours:02d}h{rest // 60:02d}m"


def _shown_path(path: Path, given: Path) -> str:
    """How to name `path` in printed commands: relative when the user gave a relative folder."""
    if not given.is_absolute():
        return str(given / path.name)
    return str(path)


async def run_demo(duration_s: float = 20.0, data_dir: Path = Path("sentinelle-demo"), as_json: bool = False,
                   verbose: bool = False, lang: str = "fr") -> int:
    from datetime import datetime

    from sentinelle.agent.logs import setup_logging
    from sentinelle.agent.runtime import Agent

    given = data_dir
    data_dir = data_dir.resolve()  # noqa: ASYNC240 - once, before anything runs
    data_dir.mkdir(parents=True, exist_ok=True)
    setup_logging("debug" if verbose else "warning")
    from sentinelle.collectors.mqtt.sim import DEMO_LORA_DEVICES, demo_broker, publish_demo_traffic

    gateways = sum(1 for d in DEMO_LORA_DEVICES if d["kind"] == "lora_gateway")
    sensors = len(DEMO_LORA_DEVICES) - gateways
    yaml_path = data_dir / "demo.yaml"
    shown = _shown_path(yaml_path, given)
    with tempfile.TemporaryDirectory(prefix="sentinelle-sim-") as tmp:
        async with simulated_sites(Path(tmp)) as ports, demo_broker() as broker:
            raw = demo_raw(data_dir, ports, broker)
            listening = ", ".join(f"udp://127.0.0.1:{port} ({site})" for site, port in ports.items())
            config = parse_config(yaml.safe_dump(raw), "<demo>")
            write_demo_yaml(raw, yaml_path, shown, lang)
            if not as_json:
                if lang == "fr":
                    print(
                        f"Sites simulés : snmpsim sur {listening} ({len(DEMO_DEVICES)} équipements SNMP), "
                        f"serveur LoRaWAN sur mqtt://{broker[0]}:{broker[1]} ({gateways} passerelle, {sensors} capteurs) ; "
                        f"collecte pendant {duration_s:.0f} s dans {data_dir}"
                    )
                else:
                    print(
                        f"Simulated sites: snmpsim on {listening} ({len(DEMO_DEVICES)} SNMP devices), "
                        f"LoRaWAN network server on mqtt://{broker[0]}:{broker[1]} ({gateways} gateway, {sensors} sensors); "
                        f"collecting for {duration_s:.0f}s into {data_dir}"
                    )
            start_ns = time.time_ns()
            async with Agent(config) as agent:
                lns = asyncio.create_task(publish_demo_traffic(*broker, duration_s=duration_s, interval_s=2.0))
                await agent.run(duration_s=duration_s)
                await asyncio.gather(lns, return_exceptions=True)
            end_ns = time.time_ns()
    store_path = config.local_store_path()
    rows = summarise_devices(store_path, DEMO_DEVICES + DEMO_LORA_DEVICES)
    from sentinelle.carbon.commands.demo_summary import summarise

    carbon = summarise(store_path, data_dir, start_ns - int(2 * config.agent.interval * 1e9), end_ns, lang=lang)  # type: ignore[arg-type]
    year = datetime.now().year
    commands = next_commands(shown, year)
    if as_json:
        print(json.dumps({
            "store": str(store_path),
            "config": str(yaml_path),
            "next_commands": commands,
            "devices": [r.__dict__ for r in rows],
            "energy_carbon": {
                "kwh": carbon.kwh, "beges_kgco2e": carbon.beges_tco2e * 1000,
                "beges_uncertainty_pct": carbon.beges_uncertainty_pct, "grid_kgco2e": carbon.grid_tco2e * 1000,
                "completeness_pct": carbon.completeness_pct, "html_report": str(carbon.html),
            },
        }, indent=2))
    else:
        print()
        _print_table(rows, lang)
        print()
        for line in carbon.lines(lang):  # type: ignore[arg-type]
            print(line)
        print(COMPLETENESS_NOTE[lang].format(duration=duration_s))
        if lang == "fr":
            print("(intensité du réseau : série synthétique au format éCO2mix, intensite-demo.csv)")
            print(f"\nMagasin local : {store_path}")
            print(f"Configuration exécutée : {shown}\n\nEnsuite :")
        else:
            print("(grid intensity: synthetic series in the éCO2mix layout, intensite-demo.csv)")
            print(f"\nLocal store: {store_path}")
            print(f"Configuration it ran: {shown}\n\nNext:")
        for command in commands:
            print(f"  {command}")
    # Success = every simulated device answered during the demo. On a loaded machine a big
    # walk (the Arista switch's 95 sensors) may end at its deadline once: the table shows it
    # (e.g. 3/6), but the demo did show the device, so that alone is not a failure.
    ok = all((r.reachable_polls > 0) if r.polls else bool(r.last_reachable) for r in rows)
    return 0 if ok else 1
