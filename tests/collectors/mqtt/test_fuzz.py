"""Fuzzing every decoder with random and mutated payloads (hypothesis).

Properties: no exception other than `DecodeError` escapes a decoder; whatever a decoder does
return encodes as valid line protocol; and through `MqttSource.decode_message` every message is
accounted for exactly once (decoded, ignored, or rejected and counted by reason).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiomqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelle.agent.lineprotocol import encode_point
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.collectors.mqtt.client import MqttSource
from sentinelle.collectors.mqtt.decoders import DecodeError
from sentinelle.collectors.mqtt.settings import MqttBrokerSettings

TESTDATA = Path(__file__).resolve().parents[3] / "collectors" / "mqtt" / "testdata"
EUI = "0101010101010101"
GW = "0016c001f153a14c"
NOW = 1_700_000_000_000_000_000

TOPICS = {
    "chirpstack-up.json": f"application/app/device/{EUI}/event/up",
    "chirpstack-status.json": f"application/app/device/{EUI}/event/status",
    "chirpstack-join.json": f"application/app/device/{EUI}/event/join",
    "chirpstack-log.json": f"application/app/device/{EUI}/event/log",
    "chirpstack-ack.json": f"application/app/device/{EUI}/event/ack",
    "chirpstack-txack.json": f"application/app/device/{EUI}/event/txack",
    "chirpstack-location.json": f"application/app/device/{EUI}/event/location",
    "chirpstack-gateway-stats.json": f"eu868/gateway/{GW}/event/stats",
    "chirpstack-gateway-conn-online.json": f"eu868/gateway/{GW}/state/conn",
    "tts-up.json": "v3/app1@tenant1/devices/dev1/up",
    "tts-up-omitted-zeros.json": "v3/app1/devices/dev2/up",
    "generic": "sensors/site-a/probe-1/state",
}
SAMPLES = {name: json.loads((TESTDATA / name).read_text()) for name in TOPICS if name != "generic"}
SAMPLES["generic"] = {"values": {"temp": 19.5}, "relay": [{"on": True}], "ts": 1700000000}

BROKER = MqttBrokerSettings.model_validate({
    "url": "mqtt://127.0.0.1:1",
    "subscriptions": [
        {"topic": "application/+/device/+/event/+"},
        {"topic": "+/gateway/+/event/stats"},
        {"topic": "+/gateway/+/state/conn"},
        {"topic": "v3/+/devices/+/#", "format": "tts-v3"},
        {"topic": "sensors/{site}/{sensor}/state", "format": "generic-json",
         "mapping": {"fields": {"temperature_c": "values.temp", "relay": {"path": "relay[0].on", "type": "bool"}},
                     "time_path": "ts", "time_format": "unix_s"}},
    ],
})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, (*prefix, i))
    return out


def mutate(obj: Any, path: tuple, action: str, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(obj) if isinstance(obj, dict) else list(obj)
    if not rest and action == "delete":
        del copy[head]
    else:
        copy[head] = mutate(obj[head], rest, action, value)
    return copy


@st.composite
def mutated_messages(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(TOPICS)))
    data = SAMPLES[name]
    kind = draw(st.sampled_from(["value", "delete", "truncate", "flip", "raw"]))
    if kind in ("value", "delete"):
        path = draw(st.sampled_from(paths(data)))
        data = mutate(data, path, kind if path else "value", draw(json_values))
        payload = json.dumps(data, allow_nan=True).encode()
    else:
        payload = json.dumps(data).encode()
        if kind == "truncate":
            payload = payload[: draw(st.integers(0, len(payload)))]
        elif kind == "flip":
            i = draw(st.integers(0, len(payload) - 1))
            payload = payload[:i] + bytes([draw(st.integers(0, 255))]) + payload[i + 1 :]
        else:
            payload = draw(st.binary(max_size=300))
    return TOPICS[name], payload


def make_source() -> tuple[MqttSource, AgentMetrics]:
    metrics = AgentMetrics("fuzz")
    problems = Problems(logging.getLogger("sentinelle.collectors.mqtt.fuzz"), window_s=3600)
    return MqttSource(BROKER, client_id="fuzz", metrics=metrics, problems=problems), metrics


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated_messages())
def test_decoders_never_raise_anything_but_decode_error(message):
    topic, payload = message
    source, _ = make_source()
    route = source.route(topic)
    assert route is not None
    try:
        points = route[0].decoder(topic, payload, NOW)
    except DecodeError as exc:
        assert exc.reason and len(exc.reason) <= 32
        return
    for point in points:
        encode_point(point)  # raises if a payload smuggled something line protocol cannot carry


@FUZZ
@given(st.sampled_from(sorted(set(TOPICS.values()))), st.binary(max_size=600))
def test_random_bytes_on_every_topic(topic, payload):
    source, _ = make_source()
    try:
        points = source.route(topic)[0].decoder(topic, payload, NOW)
    except DecodeError:
        return
    for point in points:
        encode_point(point)


@settings(max_examples=60, deadline=None)
@given(st.lists(mutated_messages(), min_size=1, max_size=30))
def test_every_message_is_accounted_for_and_rejections_counted(messages):
    source, metrics = make_source()
    decoded = 0
    for topic, payload in messages:
        msg = aiomqtt.Message(topic, payload, qos=1, retain=False, mid=1, properties=None)
        points = source.decode_message(msg)
        for point in points:
            encode_point(point)
        decoded += bool(points)
    rejected = metrics.total("mqtt_messages_rejected")
    ignored = metrics.total("mqtt_messages_ignored")
    assert decoded + rejected + ignored == len(messages)
    # Rejections carry a reason label; nothing is counted under an empty one.
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "sentinelle_mqtt_messages_rejected_total":
                assert sample.labels["reason"] and sample.labels["topic"]
