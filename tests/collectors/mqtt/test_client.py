"""`MqttSource` against real mosquitto brokers (fixtures from tests/conftest.py).

What is proved here: documented samples published to a broker come out as points; bad
messages are counted by reason and the subscription goes on; a broker stopped and restarted
in the middle of a QoS 1 stream loses nothing (persistent session) and the agent resubscribes,
in MQTT 3.1.1 and 5; QoS 1 messages are acknowledged only once their points are in the spool:
an agent SIGKILLed mid-stream loses nothing, a backlog larger than the queues arrives whole,
a batch the pipeline refuses is redelivered; two agents on one MQTT 5 shared subscription
split the stream and together get all of it; TLS with a CA and a client certificate; queue overflow is counted;
a silent gateway raises an offline event; secrets never reach the logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from chirpstack_api.gw import gw_pb2
from google.protobuf import json_format

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.collectors.mqtt.client import MqttSource
from sentinelle.collectors.mqtt.collector import build_sources
from sentinelle.collectors.mqtt.gateways import GatewayHealth
from sentinelle.collectors.mqtt.settings import MqttBrokerSettings

ROOT = Path(__file__).resolve().parents[3]
TESTDATA = ROOT / "collectors" / "mqtt" / "testdata"
EUI = "0101010101010101"
GW = "0016c001f153a14c"
UP_TOPIC = f"application/app/device/{EUI}/event/up"


def uplink(f_cnt: int) -> bytes:
    data = json.loads((TESTDATA / "chirpstack-up.json").read_text())
    data["fCnt"] = f_cnt
    return json.dumps(data).encode()


def timed_uplink(i: int) -> bytes:
    """An uplink with its own network-server time (i seconds after 2024-05-01T10:00:00Z)."""
    data = json.loads(uplink(i))
    data["time"] = f"2024-05-01T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
    return json.dumps(data).encode()


async def wait_until(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Collected:
    """The pipeline stand-in: keeps what the source emits."""

    def __init__(self) -> None:
        self.points: list[Point] = []

    async def __call__(self, points: list[Point]) -> None:
        self.points.extend(points)

    def f_cnts(self) -> list[int]:
        return [int(p.fields["f_cnt"]) for p in self.points if p.measurement == "lora_device" and "f_cnt" in p.fields]

    def of(self, measurement: str) -> list[Point]:
        return [p for p in self.points if p.measurement == measurement]


class Agent:
    """One running MqttSource (async context manager: started, then cancelled)."""

    def __init__(self, broker: dict[str, Any], client_id: str = "sentinelle-test", *, health: GatewayHealth | None = None,
                 emit: Any = None) -> None:
        self.metrics = AgentMetrics("test")
        self.broker = MqttBrokerSettings.model_validate({"reconnect_min": 0.2, "reconnect_max": 1.0, **broker})
        self.source = MqttSource(self.broker, client_id=client_id, metrics=self.metrics,
                                 problems=Problems(logging.getLogger("sentinelle.collectors.mqtt"), window_s=60), health=health)
        self.collected = Collected()
        self.emit = emit or self.collected
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Agent:
        self.task = asyncio.create_task(self.source.run(self.emit))
        await asyncio.wait_for(self.source.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def publish(port: int, messages: list[tuple[str, bytes]], *, retain: bool = False, **kw: Any) -> None:
    async with aiomqtt.Client("127.0.0.1", port, **kw) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1, retain=retain)


# --- decoding end to end --------------------------------------------------------------------


async def test_documented_samples_through_a_broker(mosquitto):
    stats_pb = json_format.Parse((TESTDATA / "chirpstack-gateway-stats.json").read_text(), gw_pb2.GatewayStats())
    broker = {"url": f"mqtt://127.0.0.1:{mosquitto.port}",
              "topics": ["application/+/device/+/event/+", "+/gateway/+/event/stats", "+/gateway/+/state/conn"]}
    async with Agent(broker) as agent:
        await publish(mosquitto.port, [
            (UP_TOPIC, (TESTDATA / "chirpstack-up.json").read_bytes()),
            (f"application/app/device/{EUI}/event/status", (TESTDATA / "chirpstack-status.json").read_bytes()),
            (f"eu868/gateway/{GW}/event/stats", stats_pb.SerializeToString()),
            (f"eu868/gateway/{GW}/state/conn", (TESTDATA / "chirpstack-gateway-conn-online.json").read_bytes()),
        ])
        await wait_until(lambda: len(agent.collected.points) >= 4)
        up, status = agent.collected.of("lora_device")
        assert up.fields["rssi_dbm"] == -36.0 and up.fields["decoded_temperature_c"] == 21.5
        assert up.time_ns == 1658136855_775023242
        assert status.fields["battery_level_pct"] == 55.12
        gw_stats, gw_conn = agent.collected.of("lora_gateway")
        assert gw_stats.fields == {"rx_received": 1, "rx_ok": 1, "tx_received": 1, "tx_emitted": 1,
                                   "rx_ok_ratio": 1.0, "online": True, "last_seen_age_s": 0.0}
        assert gw_conn.fields == {"online": True}
        assert agent.metrics.value("mqtt_messages_received", {"broker": agent.source.name}) == 4


async def test_malformed_messages_are_counted_by_reason_and_the_stream_goes_on(mosquitto, caplog):
    broker = {"url": f"mqtt://127.0.0.1:{mosquitto.port}", "topics": ["application/+/device/+/event/+"], "qos": 0}
    caplog.set_level(logging.WARNING, logger="sentinelle.collectors.mqtt")
    async with Agent(broker) as agent:
        bad = [(UP_TOPIC, b"\xff\xfe\x00"), (UP_TOPIC, b'{"fCnt": 1'), (UP_TOPIC, b'{"fCnt": 1'),
               (UP_TOPIC, b'"just a string"'), (UP_TOPIC, b'{"rxInfo": 5}')]
        await publish(mosquitto.port, [*bad, (UP_TOPIC, uplink(7))])
        await wait_until(lambda: agent.collected.f_cnts() == [7])
        rejected = {
            reason: agent.metrics.value("mqtt_messages_rejected",
                                        {"broker": agent.source.name, "topic": "application/+/device/+/event/+", "reason": reason})
            for reason in ("not_utf8", "not_json", "not_object", "bad_value")
        }
        assert rejected == {"not_utf8": 1, "not_json": 2, "not_object": 1, "bad_value": 1}
    # Logged once per (topic, reason) with the topic, not once per message.
    lines = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) == 4
    assert all(getattr(r, "topic", None) == UP_TOPIC for r in lines)


# --- QoS 1 across a broker restart ----------------------------------------------------------


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_broker_restart_mid_stream_loses_no_qos1_message(mosquitto_factory, protocol):
    broker_server = mosquitto_factory(persistence=True)
    port = broker_server.port
    broker = {"url": f"mqtt://127.0.0.1:{port}", "topics": ["application/+/device/+/event/up"], "qos": 1,
              "protocol": protocol, "reconnect_min": 0.5, "reconnect_max": 1.0}
    async with Agent(broker, client_id=f"sentinelle-restart-{protocol}") as agent:
        # First half of the stream; the broker goes down while some are still in flight.
        await publish(port, [(UP_TOPIC, uplink(i)) for i in range(150)])
        await asyncio.to_thread(broker_server.stop)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(broker_server.start)
        # Second half, published before the agent is back (its reconnect delay is >= 0.25 s):
        # the broker must queue them in the agent's persistent session.
        await publish(port, [(UP_TOPIC, uplink(i)) for i in range(150, 300)])
        await wait_until(lambda: len(set(agent.collected.f_cnts())) >= 300, within_s=20)
        assert set(agent.collected.f_cnts()) == set(range(300))
        assert agent.source.subscribe_rounds >= 2  # resubscribed after the reconnect
        assert agent.metrics.value("mqtt_connection_failures", {"broker": agent.source.name}) >= 1
        assert agent.metrics.value("mqtt_queue_dropped", {"broker": agent.source.name}) == 0


# --- QoS 1 acknowledged after the spool commit ------------------------------------------------

# The agent's MQTT source in its own process, points appended to a real spool: it prints
# "connected" once subscribed and "stored <n>" after each commit. Each batch is held a little
# before the commit so that, when the test kills it, messages are received but not yet stored.
AGENT_SCRIPT = textwrap.dedent("""
    import asyncio, logging, sys
    sys.path.insert(0, sys.argv[1])
    from sentinelle.collectors.mqtt.settings import MqttBrokerSettings
    from sentinelle.agent.logs import Problems
    from sentinelle.agent.selfmetrics import AgentMetrics
    from sentinelle.agent.spool import Spool
    from sentinelle.collectors.mqtt.client import MqttSource

    async def main(port, spool_path):
        broker = MqttBrokerSettings.model_validate({
            "url": f"mqtt://127.0.0.1:{port}", "topics": ["application/+/device/+/event/up"], "qos": 1,
            "protocol": "5", "queue_size": 100, "reconnect_min": 0.2, "reconnect_max": 0.5})
        source = MqttSource(broker, client_id="sentinelle-sigkill", metrics=AgentMetrics("t"),
                            problems=Problems(logging.getLogger("t")))
        async with await Spool.open(spool_path, sinks=["s"], max_bytes=1 << 30, sync="full") as spool:
            async def emit(points):
                await asyncio.sleep(0.02)
                result = await spool.append(points)
                print("stored", result.stored, flush=True)

            async def announce():
                await source.connected.wait()
                print("connected", flush=True)

            asyncio.create_task(announce())
            await source.run(emit)

    asyncio.run(main(int(sys.argv[2]), sys.argv[3]))
""")


class AgentProcess:
    """The script above in a child process, read line by line from a thread."""

    def __init__(self, script: Path, port: int, spool: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(script), str(ROOT), str(port), str(spool)],
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.stored = 0

    async def read_until(self, predicate: Callable[[str], bool]) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.to_thread(self.proc.stdout.readline)
            if not line:
                raise AssertionError(f"agent process ended (exit {self.proc.wait()})")
            if line.startswith("stored "):
                self.stored += int(line.split()[1])
            if predicate(line):
                return

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def spooled_times(spool: Path) -> set[int]:
    with sqlite3.connect(f"file:{spool}?mode=ro", uri=True) as db:
        return {t for (t,) in db.execute("SELECT time_ns FROM points WHERE measurement='lora_device'")}


async def test_sigkill_mid_stream_loses_no_qos1_message(mosquitto_factory, tmp_path):
    server = mosquitto_factory(persistence=True)
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    spool = tmp_path / "spool.db"
    n = 300
    first = AgentProcess(script, server.port, spool)
    try:
        await asyncio.wait_for(first.read_until(lambda line: line.startswith("connected")), 20)
        await publish(server.port, [(UP_TOPIC, timed_uplink(i)) for i in range(n)])
        # Killed mid-stream: part of the stream on disk, up to 100 messages received and not
        # yet stored (the Receive Maximum), the rest still at the broker.
        await asyncio.wait_for(first.read_until(lambda _: first.stored >= 60), 20)
    finally:
        first.kill()
    before = len(spooled_times(spool))
    assert 0 < before < n
    second = AgentProcess(script, server.port, spool)
    try:
        await asyncio.wait_for(second.read_until(lambda _: len(spooled_times(spool)) >= n), 20)
    finally:
        second.kill()
    # Every message's point, each with its own timestamp; redelivered ones are duplicates
    # of the same point (same time), which the sinks write once.
    assert len(spooled_times(spool)) == n


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_a_backlog_larger_than_the_queues_arrives_whole(mosquitto_factory, protocol):
    server = mosquitto_factory(persistence=True)
    broker = {"url": f"mqtt://127.0.0.1:{server.port}", "topics": ["application/+/device/+/event/up"], "qos": 1,
              "protocol": protocol, "queue_size": 50}
    client_id = f"sentinelle-burst-{protocol}"
    async with Agent(broker, client_id=client_id):
        pass  # registers the persistent session
    # 500 messages queued by the broker while the agent is away: 10 x queue_size, 5 x both
    # receive queues together.
    await publish(server.port, [(UP_TOPIC, uplink(i)) for i in range(500)])
    async with Agent(broker, client_id=client_id) as agent:
        await wait_until(lambda: len(set(agent.collected.f_cnts())) >= 500, within_s=20)
        labels = {"broker": agent.source.name}
        assert set(agent.collected.f_cnts()) == set(range(500))
        assert agent.metrics.value("mqtt_queue_dropped", labels) == 0
        assert agent.metrics.value("mqtt_messages_acked", labels) >= 500


async def test_a_batch_the_pipeline_refuses_is_redelivered(mosquitto_factory):
    server = mosquitto_factory(persistence=True)
    collected = Collected()
    failures = 0

    async def flaky_pipeline(points: list[Point]) -> None:
        nonlocal failures
        if failures < 2 and any(p.fields.get("f_cnt") == 42 for p in points):
            failures += 1
            raise OSError("disk I/O error")
        await collected(points)

    broker = {"url": f"mqtt://127.0.0.1:{server.port}", "topics": ["application/+/device/+/event/up"], "qos": 1,
              "protocol": "5", "reconnect_min": 0.05, "reconnect_max": 0.1}
    async with Agent(broker, client_id="sentinelle-refused", emit=flaky_pipeline) as agent:
        await publish(server.port, [(UP_TOPIC, uplink(i)) for i in range(100)])
        await wait_until(lambda: set(collected.f_cnts()) == set(range(100)), within_s=20)
        labels = {"broker": agent.source.name}
        assert agent.metrics.value("mqtt_emit_failures", labels) == 2
        # Not acknowledged: the connection was retired and the broker redelivered them.
        assert agent.metrics.value("mqtt_connects", labels) >= 3
        assert agent.metrics.value("mqtt_messages_left_unacked", labels) >= 2


# --- MQTT 5 shared subscription -------------------------------------------------------------


async def test_two_agents_share_one_subscription(mosquitto):
    broker = {"url": f"mqtt://127.0.0.1:{mosquitto.port}", "topics": ["application/+/device/+/event/up"],
              "protocol": "5", "shared_group": "sentinelle"}
    async with Agent(broker, "agent-a") as a, Agent(broker, "agent-b") as b:
        await publish(mosquitto.port, [(UP_TOPIC, uplink(i)) for i in range(200)])
        await wait_until(lambda: len(a.collected.f_cnts()) + len(b.collected.f_cnts()) >= 200)
        await asyncio.sleep(0.2)  # nothing more (no duplicate) arrives
        got_a, got_b = a.collected.f_cnts(), b.collected.f_cnts()
        assert got_a and got_b  # each member got part of the stream
        assert sorted(got_a + got_b) == list(range(200))  # together all of it, once


# --- TLS ------------------------------------------------------------------------------------


async def test_tls_with_ca_and_client_certificate(mosquitto_factory):
    server = mosquitto_factory(tls=True)
    tls = {"ca": str(server.ca_path), "cert": str(server.client_cert_path), "key": str(server.client_key_path)}
    broker = {"url": f"mqtts://127.0.0.1:{server.tls_port}", "topics": ["application/+/device/+/event/up"], "tls": tls,
              "protocol": "5"}
    async with Agent(broker) as agent:
        await publish(server.port, [(UP_TOPIC, uplink(1))])
        await wait_until(lambda: agent.collected.f_cnts() == [1])


async def test_tls_refuses_a_server_the_ca_does_not_vouch_for(mosquitto_factory):
    server = mosquitto_factory(tls=True)
    # No `ca`: the system trust store, which does not know the test CA.
    broker = MqttBrokerSettings.model_validate({"url": f"mqtts://127.0.0.1:{server.tls_port}", "topics": ["a/#"],
                                        "reconnect_min": 0.05, "reconnect_max": 0.1})
    metrics = AgentMetrics("test")
    source = MqttSource(broker, client_id="untrusting", metrics=metrics,
                        problems=Problems(logging.getLogger("sentinelle.collectors.mqtt"), window_s=60))
    task = asyncio.create_task(source.run(Collected()))
    await wait_until(lambda: metrics.value("mqtt_connection_failures", {"broker": source.name}) >= 2)
    assert not source.connected.is_set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- bounded queue, gateway staleness, secrets ------------------------------------------------


async def test_queue_overflow_is_counted(mosquitto):
    release = asyncio.Event()
    collected = Collected()

    async def slow_pipeline(points: list[Point]) -> None:
        await release.wait()
        await collected(points)

    broker = {"url": f"mqtt://127.0.0.1:{mosquitto.port}", "topics": [UP_TOPIC], "queue_size": 5, "qos": 0}
    async with Agent(broker, emit=slow_pipeline) as agent:
        await publish(mosquitto.port, [(UP_TOPIC, uplink(i)) for i in range(60)])
        labels = {"broker": agent.source.name}
        received = lambda: agent.metrics.value("mqtt_messages_received", labels)  # noqa: E731
        dropped = lambda: agent.metrics.value("mqtt_queue_dropped", labels)  # noqa: E731
        # Bounded: the batch being emitted (1), our queue (5), the message in hand (1) and
        # aiomqtt's queue (5) are kept; the rest is dropped and counted.
        await wait_until(lambda: received() + dropped() == 55)  # 5 wait in aiomqtt's queue
        await asyncio.sleep(0.1)
        assert received() + dropped() == 55 and received() <= 12 and dropped() >= 43
        release.set()
        await wait_until(lambda: received() + dropped() == 60)
        await wait_until(lambda: len(collected.f_cnts()) == received())
        assert len(collected.f_cnts()) + dropped() == 60  # every message decoded or counted
        assert len(set(collected.f_cnts())) == len(collected.f_cnts())


async def test_a_silent_gateway_goes_offline_then_comes_back(mosquitto, tmp_path):
    health = GatewayHealth(staleness_s=1.0, state_path=tmp_path / "gw.json")
    broker = {"url": f"mqtt://127.0.0.1:{mosquitto.port}", "topics": ["+/gateway/+/event/stats"],
              "gateway_staleness": "1s"}
    stats = (TESTDATA / "chirpstack-gateway-stats.json").read_bytes()
    async with Agent(broker, health=health) as agent:
        await publish(mosquitto.port, [(f"eu868/gateway/{GW}/event/stats", stats)])
        events = lambda: [(p.tags["event"], p.fields["state"]) for p in agent.collected.of("event")]  # noqa: E731
        await wait_until(lambda: events() == [("gateway_offline", "start")], within_s=5)
        await publish(mosquitto.port, [(f"eu868/gateway/{GW}/event/stats", stats)])
        await wait_until(lambda: events() == [("gateway_offline", "start"), ("gateway_offline", "end")], within_s=5)
        status = [p for p in agent.collected.of("lora_gateway") if "rx_ok" not in p.fields]
        assert any(p.fields["online"] is False for p in status)
    saved = json.loads((tmp_path / "gw.json").read_text())
    assert saved["gateways"][GW]["online"] is True


async def test_password_never_reaches_the_logs(caplog, tmp_path):
    secret = "s3cr3t-broker-password"
    caplog.set_level(logging.DEBUG)
    # Nothing listens on port 1: every attempt fails and is reported.
    broker = {"url": "mqtt://127.0.0.1:1", "topics": ["a/#"], "username": "noc", "password": secret,
              "reconnect_min": 0.05, "reconnect_max": 0.1}
    agent = Agent(broker)
    task = asyncio.create_task(agent.source.run(agent.collected))
    await wait_until(lambda: agent.metrics.value("mqtt_connection_failures", {"broker": agent.source.name}) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert any("MQTT connection failed" in r.getMessage() for r in caplog.records)
    assert secret not in caplog.text
    assert secret not in repr(agent.broker)


def test_build_sources_one_per_broker_with_stable_client_ids(tmp_path):
    config = parse_config("""
agent: {name: nro-lannion-01}
mqtt:
  - {url: "mqtt://127.0.0.1:1883", topics: ["application/+/device/+/event/up"]}
  - {url: "mqtts://lns.example:8883", name: tts, topics: ["v3/+/devices/+/up"], format: tts-v3, qos: 0}
""")
    sources = build_sources(config, AgentMetrics("t"), Problems(logging.getLogger("t")), tmp_path)
    assert [s.name for s in sources] == ["127.0.0.1:1883", "tts"]
    assert [s.client_id for s in sources] == ["sentinelle-nro-lannion-01-0", "sentinelle-nro-lannion-01-1"]
    assert sources[0].broker.session_persistent and not sources[1].broker.session_persistent
    assert sources[0].health.state_path == tmp_path / "mqtt-gateways-127.0.0.1_1883.json"
