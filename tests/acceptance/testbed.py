"""The acceptance test bed: a user's configuration, pointed at real servers on 127.0.0.1.

A shipped example or a documentation snippet names hosts such as `10.22.1.5`,
`mqtts://lns.syndicat.example:8883` and `https://influx.syndicat.example`, and secret files
under `/etc/sentinelle/credentials/`. `TestBed.rewrite` keeps everything the user wrote
(profiles, SNMP versions and protocols, meter hierarchy, topics, shared group, sinks' types)
and changes only what a technician fills in for their own site:

- SNMP host/port -> an snmpsim serving real recordings; the recording is chosen by matching
  the device's profiles' `sys_object_ids` against each recording's sysObjectID, so a new
  example with a new profile is covered as long as a recording of such a device exists (and
  fails loudly when none does). SNMPv3 devices get the recording through the v3 context name;
  the snmpsim is started with the example's own v3 user and protocols.
- MQTT broker URL -> mosquitto (plain TCP: TLS material is site-specific); `ChirpStackTraffic`
  publishes, for the gateways and end devices the inventory binds, what ChirpStack v4 and its
  gateway bridge publish, on the region prefix the example subscribes to.
- sinks -> influxdb2: VictoriaMetrics (`/api/v2/write`); influxdb1: influxd 1.6;
  local/file: a temp dir.
- every `*_file` secret -> a file in a temp dir with a value the test bed accepts;
  `${VAR}` -> an environment variable set for the subprocess.
- timing -> 5 s intervals so "a few cycles" take seconds (a big walk, e.g. the Arista
  recording's 95 sensors, needs its 4 s deadline on a loaded machine); data_dir, spool, http -> temp / port 0.

What cannot be rewritten raises `Unsupported` naming the key, so the test fails and says why
instead of silently testing less.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from tests.support.ports import HOST
from tests.support.snmpsim import SnmpSim

REPO = Path(__file__).resolve().parents[2]
PROFILES_DIR = REPO / "collectors" / "snmp" / "profiles"
RECORDING_DIRS = (REPO / "collectors" / "snmp" / "testdata",)
ECO2MIX_CSV = REPO / "carbon" / "testdata" / "odre_eco2mix_2026-03-29_dst.csv"

# Values the test bed gives to secrets (at least 8 characters: RFC 3414 keys).
V3_AUTH_KEY = "acceptance-auth-key"
V3_PRIV_KEY = "acceptance-priv-key"
TOKEN = "acceptance-influx-token"
PASSWORD = "acceptance-password"

# Our protocol names -> snmpsim's (`aes192`/`aes256` are the Blumenthal key extension).
SNMPSIM_AUTH = {"md5": "MD5", "sha": "SHA", "sha224": "SHA224", "sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512", "none": "NONE"}
SNMPSIM_PRIV = {"des": "DES", "3des": "3DES", "aes": "AES", "aes128": "AES128", "aes192": "AES192BLMT",
                "aes256": "AES256BLMT", "aes192c": "AES192", "aes256c": "AES256", "none": "NONE"}


class Unsupported(AssertionError):
    """The test bed cannot stand in for something the configuration uses."""


# --- SNMP recordings --------------------------------------------------------------------------


# A device with no profile named is auto-detected: serve it a recording of its kind.
KIND_STANDS_FOR = {"ups": "ups-mib", "pdu": "apc-rpdu2", "olt": "huawei-gpon-olt", "energy_meter": "eaton-epdu"}


def recordings() -> dict[str, str]:
    """community (recording name) -> sysObjectID, for the recordings the test bed serves."""
    out: dict[str, str] = {}
    for base in RECORDING_DIRS:
        for rec in sorted(base.glob("*.snmprec")):
            for line in rec.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("1.3.6.1.2.1.1.2.0|"):
                    out[rec.stem] = line.split("|", 2)[2].strip()
                    break
    return out


def profile_object_ids(name: str) -> list[str] | None:
    """The sysObjectID prefixes a shipped profile declares; None if there is no such profile."""
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [str(x) for x in data.get("sys_object_ids") or []]


def recording_for(device: dict[str, Any], available: dict[str, str]) -> str:
    """A recording of a device the profiles of `device` are written for."""
    profiles = list(device.get("profiles") or ([device["profile"]] if isinstance(device.get("profile"), str) else []))
    if not profiles and device.get("kind") in KIND_STANDS_FOR:
        # No profile named: the agent picks one by sysObjectID; serve a device of that kind.
        profiles = [KIND_STANDS_FOR[device["kind"]]]
    prefixes: list[str] = []
    for name in profiles:
        ids = profile_object_ids(name)
        if ids:
            prefixes += ids
    if not prefixes:
        # Generic profiles (system, if-mib) or auto-detection: a switch is the typical device.
        for community in ("cisco-c3750-switch", *sorted(available)):
            if community in available:
                return community
    for community, oid in sorted(available.items()):
        if any(oid == p or oid.startswith(p + ".") for p in prefixes):
            return community
    raise Unsupported(f"device {device.get('id')!r}: no recording in {[str(d) for d in RECORDING_DIRS]} matches "
                      f"the sysObjectIDs of profiles {profiles} ({prefixes})")


class V3SnmpSim(SnmpSim):
    """snmpsim answering v2c (community = recording) and one SNMPv3 user (context = recording)."""

    def __init__(self, data_dir: Path, user: str, auth: str, priv: str, workdir: Path) -> None:
        super().__init__(data_dir, workdir=workdir)
        self.v3 = (user, auth, priv)

    def _argv(self) -> list[str]:
        argv = super()._argv()
        user, auth, priv = self.v3
        engine = ["--v3-engine-id=auto", f"--v3-user={user}", f"--v3-auth-proto={SNMPSIM_AUTH[auth]}"]
        if auth != "none":
            engine.append(f"--v3-auth-key={V3_AUTH_KEY}")
        if priv != "none":
            engine += [f"--v3-priv-proto={SNMPSIM_PRIV[priv]}", f"--v3-priv-key={V3_PRIV_KEY}"]
        # Engine options go before the data dir / endpoints they configure.
        return [argv[0], *engine, *argv[1:]]


# --- ChirpStack traffic --------------------------------------------------------------------------


@dataclass
class ChirpStackTraffic:
    """What a ChirpStack v4 server and its gateway bridge publish for the bound devices."""

    host: str
    port: int
    region: str
    gateways: list[str]
    devices: list[str]
    sent: int = 0

    async def publish(self, duration_s: float, interval_s: float = 1.0) -> int:
        from chirpstack_api.gw import gw_pb2

        from sentinelle.collectors.mqtt.sim import DemoSensor, SiteModel

        model = SiteModel(seed=1)
        sensors = [DemoSensor(eui, f"sensor-{eui[-4:]}", kind, "acceptance")
                   for eui, kind in zip(self.devices, ("climate", "door", "meter") * 100, strict=False)]
        app = str(uuid.UUID(int=7))
        loop = asyncio.get_running_loop()
        end = loop.time() + duration_s
        async with aiomqtt.Client(self.host, self.port, identifier=f"acceptance-lns-{uuid.uuid4().hex[:8]}") as client:
            for gw in self.gateways:
                conn = json.dumps({"gatewayId": gw, "state": "ONLINE"}).encode()
                await client.publish(f"{self.region}/gateway/{gw}/state/conn", conn, qos=1, retain=True)
                self.sent += 1
            while loop.time() < end:
                now_ns = time.time_ns()
                for sensor in sensors:
                    payload = model.uplink(sensor, now_ns)
                    if self.gateways:
                        payload["rxInfo"][0]["gatewayId"] = self.gateways[0]
                    await client.publish(f"application/{app}/device/{sensor.dev_eui}/event/up", json.dumps(payload).encode(), qos=1)
                    self.sent += 1
                for gw in self.gateways:
                    stats = gw_pb2.GatewayStats(gateway_id=gw, rx_packets_received=len(sensors),
                                                rx_packets_received_ok=len(sensors))
                    stats.time.FromNanoseconds(now_ns)
                    await client.publish(f"{self.region}/gateway/{gw}/event/stats", stats.SerializeToString(), qos=1)
                    self.sent += 1
                await asyncio.sleep(interval_s)
        return self.sent


def region_of(topics: list[str]) -> str:
    """The region prefix a ChirpStack gateway subscription names (`eu868/gateway/+/...`)."""
    for topic in topics:
        levels = topic.split("/")
        if len(levels) >= 2 and levels[1] == "gateway" and levels[0] not in ("+", "#"):
            return levels[0]
    return "eu868"


# --- the rewrite ----------------------------------------------------------------------------------


@dataclass
class Rewritten:
    """A configuration ready for the test bed, and what the test should expect of it."""

    path: Path
    data: dict[str, Any]
    env: dict[str, str]
    snmp_devices: dict[str, str] = field(default_factory=dict)  # device id -> recording
    lora_gateways: dict[str, str] = field(default_factory=dict)  # device id -> gateway_id
    lora_devices: dict[str, str] = field(default_factory=dict)  # device id -> dev_eui
    chirpstack: list[ChirpStackTraffic] = field(default_factory=list)
    sink_types: list[str] = field(default_factory=list)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


@dataclass
class TestBed:
    """Servers a rewritten configuration talks to. Each is optional; a config that needs a
    missing one raises `Unsupported`. `snmp` must serve `recordings()`; `v3_for` starts the
    v3 simulator a configuration needs."""

    __test__ = False  # not a pytest class

    workdir: Path
    snmp: SnmpSim | None = None
    mqtt: Any = None
    influxdb1: Any = None
    victoria: Any = None
    v3_sims: dict[tuple[str, str, str], SnmpSim] = field(default_factory=dict)

    def close(self) -> None:
        for sim in self.v3_sims.values():
            sim.stop()

    def _v3_sim(self, user: str, auth: str, priv: str) -> SnmpSim:
        key = (user, auth, priv)
        if key not in self.v3_sims:
            assert self.snmp is not None
            sim = V3SnmpSim(self.snmp.data_dir, user, auth, priv, workdir=self.workdir / f"snmpsim-v3-{len(self.v3_sims)}")
            sim.start()
            self.v3_sims[key] = sim
        return self.v3_sims[key]

    def rewrite(self, text: str, name: str, *, interval: str = "5s") -> Rewritten:
        """`text` (a user's YAML) -> a file under workdir/name/ pointed at this test bed."""
        base = self.workdir / name
        if base.exists():
            shutil.rmtree(base)
        secrets = base / "credentials"
        secrets.mkdir(parents=True)
        env = {var: f"acceptance-{var.lower()}" for var in _ENV.findall(text)}
        # `${VAR}` in a flow mapping is not plain YAML: parse as the agent does, with placeholders.
        protected = _ENV.sub(lambda m: f"ACCEPTANCE_ENV_{m.group(1)}", text)
        data = yaml.safe_load(protected) or {}
        if not isinstance(data, dict):
            raise Unsupported(f"{name}: not a mapping")
        data = copy.deepcopy(data)
        out = Rewritten(base / "sentinelle.yaml", data, env)

        def secret_file(original: Any, value: str, sub: str = "") -> str:
            target = secrets / sub / Path(str(original)).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(value + "\n", encoding="utf-8")
            return str(target)

        agent = data.setdefault("agent", {}) or {}
        data["agent"] = agent
        agent["data_dir"] = str(base / "data")
        agent["interval"] = interval
        agent["jitter"] = "0s"
        agent["internal_interval"] = interval
        agent["http"] = {**(agent.get("http") or {}), "listen": f"{HOST}:0"}
        if "spool" in data and isinstance(data["spool"], dict) and "path" in data["spool"]:
            data["spool"]["path"] = str(base / "data" / "spool.db")
        snmp_settings = data.get("snmp") or {}
        if snmp_settings.get("profiles_dirs"):
            raise Unsupported(f"{name}: snmp.profiles_dirs points at the user's own profiles")

        available = recordings()
        for site in (data.get("inventory") or {}).get("sites") or []:
            for dev in site.get("devices") or []:
                if dev.get("interval") is not None:
                    dev["interval"] = interval
                snmp = dev.get("snmp")
                if isinstance(snmp, dict):
                    self._rewrite_snmp(dev, snmp, available, out, secret_file)
                lora = dev.get("lora")
                if isinstance(lora, dict):
                    if lora.get("gateway_id"):
                        out.lora_gateways[dev["id"]] = str(lora["gateway_id"]).lower()
                    if lora.get("dev_eui"):
                        out.lora_devices[dev["id"]] = str(lora["dev_eui"]).lower()

        for broker in data.get("mqtt") or []:
            self._rewrite_mqtt(broker, out, secret_file)

        carbon = data.get("carbon") or {}
        grid = carbon.get("grid_intensity") or {}
        if grid.get("provider") == "csv":
            grid["path"] = str(ECO2MIX_CSV)
        elif grid.get("provider") in ("rte", "electricitymaps"):
            raise Unsupported(f"{name}: carbon.grid_intensity.provider {grid['provider']} needs the Internet")
        if carbon.get("factors_file"):
            raise Unsupported(f"{name}: carbon.factors_file is the user's own table")

        for i, sink in enumerate(data.get("sinks") or []):
            self._rewrite_sink(sink, i, base, out, secret_file)

        base.joinpath("sentinelle.yaml").write_text(
            _restore_env(yaml.safe_dump(data, sort_keys=False, allow_unicode=True)), encoding="utf-8")
        return out

    def _rewrite_snmp(self, dev: dict[str, Any], snmp: dict[str, Any], available: dict[str, str],
                      out: Rewritten, secret_file: Any) -> None:
        if self.snmp is None:
            raise Unsupported("the configuration polls SNMP devices: the test bed needs snmpsim")
        recording = recording_for(dev, available)
        version = str(snmp.get("version", 2)).lower().lstrip("v")
        snmp["host"] = HOST
        if version == "3":
            auth = str(snmp.get("auth_protocol", "none")).lower()
            priv = str(snmp.get("priv_protocol", "none")).lower()
            sim = self._v3_sim(str(snmp.get("user")), auth, priv)
            snmp["port"] = sim.port
            snmp["context"] = recording
            for key, value in (("auth_key", V3_AUTH_KEY), ("priv_key", V3_PRIV_KEY)):
                if f"{key}_file" in snmp:
                    snmp[f"{key}_file"] = secret_file(snmp[f"{key}_file"], value)
                elif key in snmp:
                    snmp[key] = value
        else:
            snmp["port"] = self.snmp.port
            if "community_file" in snmp:
                # Per device: the community selects the recording, so two devices sharing one
                # community file on a real site get one file each here.
                snmp["community_file"] = secret_file(snmp["community_file"], recording, sub=str(dev["id"]))
            else:
                snmp["community"] = recording
        out.snmp_devices[str(dev["id"])] = recording

    def _rewrite_mqtt(self, broker: dict[str, Any], out: Rewritten, secret_file: Any) -> None:
        if self.mqtt is None:
            raise Unsupported("the configuration reads MQTT: the test bed needs mosquitto")
        broker["url"] = f"mqtt://{self.mqtt.host}:{self.mqtt.port}"
        broker.pop("tls", None)
        if "password_file" in broker:
            broker["password_file"] = secret_file(broker["password_file"], PASSWORD)
        fmt = broker.get("format", "chirpstack-v4")
        topics = list(broker.get("topics") or []) + [s.get("topic", "") for s in broker.get("subscriptions") or []]
        if fmt != "chirpstack-v4" or any((s.get("format") or fmt) != "chirpstack-v4" for s in broker.get("subscriptions") or []):
            raise Unsupported(f"mqtt format {fmt!r}: the test bed only publishes ChirpStack v4 traffic")
        gateways = sorted(set(out.lora_gateways.values())) or ["0016c001f153a14c"]
        devices = sorted(set(out.lora_devices.values())) or ["70b3d57ed0001a01", "70b3d57ed0001a02"]
        out.chirpstack.append(ChirpStackTraffic(self.mqtt.host, self.mqtt.port, region_of(topics), gateways, devices))

    def _rewrite_sink(self, sink: dict[str, Any], i: int, base: Path, out: Rewritten, secret_file: Any) -> None:
        kind = sink.get("type")
        out.sink_types.append(str(kind))
        if kind == "influxdb2":
            if self.victoria is None:
                raise Unsupported("an influxdb2 sink: the test bed needs VictoriaMetrics (/api/v2/write)")
            sink["url"] = self.victoria.url
            if "token_file" in sink:
                sink["token_file"] = secret_file(sink["token_file"], TOKEN)
            else:
                sink["token"] = TOKEN
        elif kind == "influxdb1":
            if self.influxdb1 is None:
                raise Unsupported("an influxdb1 sink: the test bed needs influxd")
            sink["url"] = self.influxdb1.url
            self.influxdb1.create_database(str(sink.get("database", "sentinelle")))
            if "password_file" in sink:
                sink["password_file"] = secret_file(sink["password_file"], PASSWORD)
        elif kind in ("local", "file"):
            if sink.get("path") is not None:
                sink["path"] = str(base / "data" / f"sink-{i}{Path(str(sink['path'])).suffix}")
        else:
            raise Unsupported(f"sink type {kind!r}")


def load_user_yaml(text: str) -> Any:
    """Parse a user's YAML as the agent does: `${VAR}` stands for a value, even in a flow mapping."""
    return yaml.safe_load(_ENV.sub(lambda m: f"ACCEPTANCE_ENV_{m.group(1)}", text))


def dump_user_yaml(data: Any) -> str:
    return _restore_env(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _restore_env(text: str) -> str:
    return re.sub(r"ACCEPTANCE_ENV_([A-Za-z_][A-Za-z0-9_]*)", lambda m: "${" + m.group(1) + "}", text)
