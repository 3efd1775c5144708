"""A simulated LoRaWAN site for the demo: one ChirpStack gateway and a few sensors on a broker.

`publish_demo_traffic` publishes what a ChirpStack v4 server and gateway bridge would: the
retained `state/conn`, gateway `event/stats` (protobuf, like a production bridge), and device
`event/up` / `event/status` JSON with decoded `object`s — a shelter climate sensor, a door
contact, and an electricity meter whose kWh index feeds the energy maths like a PDU's.
`demo_broker()` gives a broker on 127.0.0.1: Debian mosquitto when installed, else amqtt
in-process. `demo_mqtt_config` / `DEMO_LORA_DEVICES` are the config pieces the demo adds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

DEMO_REGION = "eu868"
DEMO_GATEWAY = "0016c001f153a14c"
DEMO_APPLICATION_ID = "5e1c5b1e-0b8c-4f55-9f6e-6a7f5d1c2b3a"
DEMO_APPLICATION = "supervision-rip"


@dataclass(frozen=True)
class DemoSensor:
    dev_eui: str
    name: str
    kind: str  # climate | door | meter
    site: str


DEMO_SENSORS: tuple[DemoSensor, ...] = (
    DemoSensor("70b3d57ed0001a01", "shelter-climate", "climate", "nro-lannion"),
    DemoSensor("70b3d57ed0001a02", "shelter-door", "door", "nro-lannion"),
    DemoSensor("70b3d57ed0001a03", "tgbt-meter", "meter", "nro-lannion"),
)

# Inventory entries for the demo config (under the site whose id is `site`).
DEMO_LORA_DEVICES: list[dict[str, Any]] = [
    {"site": "nro-lannion", "id": "lora-gw-nro-lannion", "kind": "lora_gateway", "lora": {"gateway_id": DEMO_GATEWAY}},
    {"site": "nro-lannion", "id": "meter-tgbt-nro-lannion", "kind": "energy_meter", "meter": "facility",
     "lora": {"dev_eui": "70b3d57ed0001a03", "energy_kwh_total": {"path": "indexWh", "scale": 0.001},
              "power_w": "activePowerW"}},
    {"site": "nro-lannion", "id": "climate-nro-lannion", "kind": "sensor", "lora": {"dev_eui": "70b3d57ed0001a01"}},
    {"site": "nro-lannion", "id": "door-nro-lannion", "kind": "sensor", "lora": {"dev_eui": "70b3d57ed0001a02"}},
]


def demo_mqtt_config(host: str, port: int, *, staleness: str = "2m") -> dict[str, Any]:
    """The `mqtt:` entry that reads the simulated traffic."""
    return {
        "url": f"mqtt://{host}:{port}",
        "name": "demo-lns",
        "topics": ["application/+/device/+/event/+", "+/gateway/+/event/stats", "+/gateway/+/state/conn"],
        "qos": 1,
        "gateway_staleness": staleness,
        "reconnect_min": "0.2s",
        "reconnect_max": "2s",
    }


def _rfc3339(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // 10**9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}+00:00"


def _device_info(sensor: DemoSensor) -> dict[str, Any]:
    return {
        "tenantName": "ChirpStack",
        "applicationId": DEMO_APPLICATION_ID,
        "applicationName": DEMO_APPLICATION,
        "deviceProfileName": f"{sensor.kind}-profile",
        "deviceName": sensor.name,
        "devEui": sensor.dev_eui,
    }


class SiteModel:
    """Plausible, slowly varying readings (seeded, so a demo run is reproducible)."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.f_cnt: dict[str, int] = {}
        self.index_wh = 4_215_000.0
        self.door_open = False
        self.last_ns: int | None = None

    def uplink(self, sensor: DemoSensor, now_ns: int) -> dict[str, Any]:
        f_cnt = self.f_cnt.get(sensor.dev_eui, 0)
        self.f_cnt[sensor.dev_eui] = f_cnt + 1
        if sensor.kind == "climate":
            obj: dict[str, Any] = {"temperature": round(24 + self.rng.gauss(0, 0.6), 2),
                                   "humidity": round(45 + self.rng.gauss(0, 2), 1), "batteryVoltage": 3.6}
        elif sensor.kind == "door":
            if self.rng.random() < 0.1:
                self.door_open = not self.door_open
            obj = {"doorOpen": self.door_open}
        else:
            power_w = 2400 + self.rng.gauss(0, 80)
            if self.last_ns is not None:
                self.index_wh += power_w * (now_ns - self.last_ns) / 3.6e12
            self.last_ns = now_ns
            obj = {"indexWh": round(self.index_wh, 1), "activePowerW": round(power_w, 1)}
        return {
            "deduplicationId": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "time": _rfc3339(now_ns),
            "deviceInfo": _device_info(sensor),
            "devAddr": sensor.dev_eui[-8:],
            "dr": 5,
            "fCnt": f_cnt,
            "fPort": 2,
            "object": obj,
            "rxInfo": [{"gatewayId": DEMO_GATEWAY, "rssi": int(-70 - self.rng.random() * 40),
                        "snr": round(self.rng.uniform(-5, 10), 2)}],
            "txInfo": {"frequency": self.rng.choice([868100000, 868300000, 868500000]),
                       "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}},
        }


def _stats_protobuf(now_ns: int, rx: int, rx_ok: int) -> bytes:
    from chirpstack_api.gw import gw_pb2

    msg = gw_pb2.GatewayStats(gateway_id=DEMO_GATEWAY, rx_packets_received=rx, rx_packets_received_ok=rx_ok,
                              tx_packets_received=0, tx_packets_emitted=0)
    msg.time.FromNanoseconds(now_ns)
    return msg.SerializeToString()


async def publish_demo_traffic(
    host: str,
    port: int,
    *,
    duration_s: float,
    interval_s: float = 1.0,
    sensors: tuple[DemoSensor, ...] = DEMO_SENSORS,
    seed: int = 0,
    gateway_silent_after_s: float | None = None,
) -> int:
    """Publish the simulated site's traffic for `duration_s`; returns the number of messages.

    Each round (every `interval_s`) every sensor sends one uplink and the gateway its stats.
    `gateway_silent_after_s` stops the gateway's stats then (to show an offline event).
    """
    model = SiteModel(seed)
    sent = 0
    start = time.monotonic()
    async with aiomqtt.Client(host, port, identifier=f"sentinelle-demo-lns-{seed}") as client:
        conn = json.dumps({"gatewayId": DEMO_GATEWAY, "state": "ONLINE"}).encode()
        await client.publish(f"{DEMO_REGION}/gateway/{DEMO_GATEWAY}/state/conn", conn, qos=1, retain=True)
        sent += 1
        for sensor in sensors:
            status = {"time": _rfc3339(time.time_ns()), "deviceInfo": _device_info(sensor), "margin": 8,
                      "batteryLevel": round(model.rng.uniform(60, 95), 2)}
            if sensor.kind == "meter":
                status = {**status, "externalPowerSource": True}
                del status["batteryLevel"]
            await client.publish(f"application/{DEMO_APPLICATION_ID}/device/{sensor.dev_eui}/event/status",
                                 json.dumps(status).encode(), qos=1)
            sent += 1
        rounds = 0
        while time.monotonic() - start < duration_s:
            now_ns = time.time_ns()
            for sensor in sensors:
                payload = json.dumps(model.uplink(sensor, now_ns)).encode()
                await client.publish(f"application/{DEMO_APPLICATION_ID}/device/{sensor.dev_eui}/event/up", payload, qos=1)
                sent += 1
            if gateway_silent_after_s is None or time.monotonic() - start < gateway_silent_after_s:
                stats = _stats_protobuf(now_ns, rx=len(sensors), rx_ok=len(sensors))
                await client.publish(f"{DEMO_REGION}/gateway/{DEMO_GATEWAY}/event/stats", stats, qos=1)
                sent += 1
            rounds += 1
            await asyncio.sleep(max(0.0, start + rounds * interval_s - time.monotonic()))
    return sent


# --- a broker for the demo ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)


@contextlib.asynccontextmanager
async def demo_broker(prefer_mosquitto: bool = True) -> AsyncIterator[tuple[str, int]]:
    """A throwaway broker on 127.0.0.1: yields (host, port); stopped on exit."""
    port = _free_port()
    exe = _mosquitto_binary() if prefer_mosquitto else None
    if exe is not None:
        with tempfile.TemporaryDirectory(prefix="sentinelle-demo-mqtt-") as tmp:
            conf = Path(tmp) / "mosquitto.conf"
            conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n")
            proc = await asyncio.create_subprocess_exec(exe, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
            try:
                await _wait_port(port, proc)
                yield "127.0.0.1", port
            finally:
                if proc.returncode is None:
                    proc.terminate()
                    try:
                        await asyncio.wait_for(proc.wait(), 5)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()
        return
    try:
        from amqtt.broker import Broker
    except ImportError as exc:
        raise RuntimeError("the LoRa demo needs a broker: install mosquitto, or amqtt (pip install amqtt)") from exc
    broker = Broker({"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                     "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}})
    await broker.start()
    try:
        yield "127.0.0.1", port
    finally:
        await broker.shutdown()


async def _wait_port(port: int, proc: asyncio.subprocess.Process, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("mosquitto did not start listening in time")
