"""Decoders on the documented samples in collectors/mqtt/testdata/, asserted field by field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chirpstack_api.gw import gw_pb2
from google.protobuf import json_format

from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import encode_point
from sentinelle.collectors.mqtt.decoders import (
    DecodeError,
    GenericJsonDecoder,
    decode_chirpstack,
    decode_tts,
    decoder_for,
)
from sentinelle.collectors.mqtt.decoders.common import flat_name, parse_rfc3339_ns
from sentinelle.collectors.mqtt.settings import GenericJsonMappingSettings, MqttSubscriptionSettings

TESTDATA = Path(__file__).resolve().parents[3] / "collectors" / "mqtt" / "testdata"
RECEIVED = 1_700_000_000_123_456_789
EUI = "0101010101010101"
APP = "17c82e96-be03-4f38-aef3-f83d48582d97"
GW = "0016c001f153a14c"


def sample(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def device_topic(event: str) -> str:
    return f"application/{APP}/device/{EUI}/event/{event}"


def one(points: list[Point]) -> Point:
    assert len(points) == 1, points
    return points[0]


DEVICE_TAGS = {"dev_eui": EUI, "device_name": "Test device", "application": "Test application"}


# --- ChirpStack v4 device events ------------------------------------------------------------


def test_chirpstack_uplink_every_field():
    p = one(decode_chirpstack(device_topic("up"), sample("chirpstack-up.json"), RECEIVED))
    assert p.measurement == "lora_device"
    assert p.tags == {**DEVICE_TAGS, "tenant": "ChirpStack"}
    # 2022-07-18T09:34:15.775023242+00:00, nanoseconds kept (datetime would truncate them)
    assert p.time_ns == 1658136855_775023242
    assert p.fields == {
        "f_cnt": 0,  # omitted by the proto3 JSON mapping when zero
        "f_port": 1,
        "dr": 1,
        "gateway_count": 2,
        "rssi_dbm": -36.0,  # the best of the two gateways
        "snr_db": 10.5,
        "best_gateway_id": GW,
        "frequency_hz": 867100000,
        "spreading_factor": 11,
        "bandwidth_hz": 125000,
        "decoded_temperature_c": 21.5,
        "decoded_humidity": 43.0,
        "decoded_status_door": False,
        "decoded_label": "local",
    }
    # Types are stable whatever the JSON looks like: counters int, radio floats.
    assert isinstance(p.fields["rssi_dbm"], float) and isinstance(p.fields["decoded_humidity"], float)
    assert isinstance(p.fields["f_cnt"], int) and not isinstance(p.fields["f_cnt"], bool)
    encode_point(p)


def test_chirpstack_status_gives_battery_and_margin():
    p = one(decode_chirpstack(device_topic("status"), sample("chirpstack-status.json"), RECEIVED))
    assert (p.measurement, p.time_ns) == ("lora_device", 1658136915_775023242)
    assert p.fields == {
        "margin_db": 6.0,
        "external_power_source": False,
        "battery_level_unavailable": False,
        "battery_level_pct": 55.12,
    }


def test_chirpstack_status_on_mains_has_no_battery_level():
    data = json.loads(sample("chirpstack-status.json"))
    data.pop("batteryLevel")
    data["externalPowerSource"] = True
    p = one(decode_chirpstack(device_topic("status"), json.dumps(data).encode(), RECEIVED))
    assert p.fields["external_power_source"] is True
    assert "battery_level_pct" not in p.fields


def test_chirpstack_join_and_log_are_events():
    join = one(decode_chirpstack(device_topic("join"), sample("chirpstack-join.json"), RECEIVED))
    assert join.measurement == "event"
    assert join.tags["event"] == "lora_join" and join.tags["dev_eui"] == EUI
    assert join.fields == {"kind": "lora_join", "state": "instant", "message": "LoRaWAN join: device joined, DevAddr 00f6a5c1"}
    assert join.time_ns == 1658136808_823500726

    log = one(decode_chirpstack(device_topic("log"), sample("chirpstack-log.json"), RECEIVED))
    assert log.tags["event"] == "lora_log"
    assert (log.tags["level"], log.tags["code"]) == ("error", "uplink_codec")
    assert str(log.fields["message"]).endswith("Error: Unexpected byte at index 3")


def test_chirpstack_ack_txack_location():
    ack = one(decode_chirpstack(device_topic("ack"), sample("chirpstack-ack.json"), RECEIVED))
    assert ack.fields == {"downlink_acknowledged": True, "f_cnt_down": 7}
    txack = one(decode_chirpstack(device_topic("txack"), sample("chirpstack-txack.json"), RECEIVED))
    assert txack.fields == {"downlink_tx_ack": True, "f_cnt_down": 7}
    loc = one(decode_chirpstack(device_topic("location"), sample("chirpstack-location.json"), RECEIVED))
    assert loc.fields == {"latitude": 48.7326, "longitude": -3.4566, "altitude_m": 12.5, "location_accuracy_m": 35.0}


def test_chirpstack_receive_time_when_the_message_has_none():
    data = json.loads(sample("chirpstack-up.json"))
    del data["time"]
    assert one(decode_chirpstack(device_topic("up"), json.dumps(data).encode(), RECEIVED)).time_ns == RECEIVED


def test_chirpstack_other_events_are_ignored_not_errors():
    assert decode_chirpstack(device_topic("integration"), b"{}", RECEIVED) == []
    assert decode_chirpstack(f"eu868/gateway/{GW}/event/up", b"\x01\x02", RECEIVED) == []


# --- ChirpStack gateway bridge: JSON and protobuf ----------------------------------------------


def stats_protobuf() -> bytes:
    msg = json_format.Parse(sample("chirpstack-gateway-stats.json"), gw_pb2.GatewayStats())
    return msg.SerializeToString()


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_gateway_stats_json_and_protobuf_decode_alike(encoding):
    payload = sample("chirpstack-gateway-stats.json") if encoding == "json" else stats_protobuf()
    p = one(decode_chirpstack(f"eu868/gateway/{GW}/event/stats", payload, RECEIVED))
    assert p.measurement == "lora_gateway"
    assert p.tags == {"gateway_id": GW, "region": "eu868"}
    assert p.time_ns == 1659537479_000000000  # 2022-08-03T14:37:59Z
    assert p.fields == {"rx_received": 1, "rx_ok": 1, "tx_received": 1, "tx_emitted": 1, "rx_ok_ratio": 1.0}


def test_gateway_stats_protobuf_with_partial_rx_ok():
    msg = gw_pb2.GatewayStats(gateway_id=GW, rx_packets_received=40, rx_packets_received_ok=30)
    p = one(decode_chirpstack(f"eu868/gateway/{GW}/event/stats", msg.SerializeToString(), RECEIVED))
    assert p.time_ns == RECEIVED  # no time in the message
    assert p.fields == {"rx_received": 40, "rx_ok": 30, "tx_received": 0, "tx_emitted": 0, "rx_ok_ratio": 0.75}


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_gateway_conn_state(encoding):
    topic = f"eu868/gateway/{GW}/state/conn"
    for name, online in (("chirpstack-gateway-conn-online.json", True), ("chirpstack-gateway-conn-offline.json", False)):
        payload = sample(name)
        if encoding == "protobuf":
            payload = json_format.Parse(payload, gw_pb2.ConnState()).SerializeToString()
        p = one(decode_chirpstack(topic, payload, RECEIVED))
        assert (p.measurement, p.tags["gateway_id"], p.fields, p.time_ns) == ("lora_gateway", GW, {"online": online}, RECEIVED)
    assert decode_chirpstack(topic, b"", RECEIVED) == []  # clearing a retained message is not a state


def test_gateway_payload_for_another_gateway_is_rejected():
    msg = gw_pb2.GatewayStats(gateway_id="ffffffffffffffff", rx_packets_received=1)
    with pytest.raises(DecodeError) as err:
        decode_chirpstack(f"eu868/gateway/{GW}/event/stats", msg.SerializeToString(), RECEIVED)
    assert err.value.reason == "topic_mismatch"


# --- The Things Stack v3 --------------------------------------------------------------------


def test_tts_uplink_every_field():
    p = one(decode_tts("v3/app1@tenant1/devices/dev1/up", sample("tts-up.json"), RECEIVED))
    assert p.measurement == "lora_device"
    assert p.tags == {"dev_eui": "0004a30b001c0530", "device_name": "dev1", "application": "app1", "tenant": "tenant1"}
    assert p.time_ns == 1581520545_612215926  # uplink_message.received_at: the network server's time
    assert p.fields == {
        "f_cnt": 45,
        "f_port": 1,
        "gateway_count": 1,
        "rssi_dbm": -35.0,
        "snr_db": 5.2,
        "best_gateway_id": "gtw1",
        "frequency_hz": 868500000,  # a string in TTS JSON (64-bit integer)
        "spreading_factor": 7,
        "bandwidth_hz": 125000,
        "consumed_airtime_s": 0.056576,
        "decoded_temperature": 22.5,
        "decoded_battery_voltage": 3.61,
        "decoded_alarm": True,
    }


def test_tts_omitted_zero_fields_get_defaults():
    p = one(decode_tts("v3/app1/devices/dev2/up", sample("tts-up-omitted-zeros.json"), RECEIVED))
    assert "tenant" not in p.tags  # open-source edition topic
    assert p.fields["f_cnt"] == 0 and p.fields["f_port"] == 0
    assert p.fields["snr_db"] == 0.0
    assert p.fields["rssi_dbm"] == -101.0  # from channel_rssi when rssi is absent
    assert p.fields["spreading_factor"] == 12
    assert not any(k.startswith("decoded_") for k in p.fields)


def test_tts_simulated_uplink_and_downlink_events_are_skipped():
    data = json.loads(sample("tts-up.json"))
    data["simulated"] = True
    assert decode_tts("v3/app1@t/devices/dev1/up", json.dumps(data).encode(), RECEIVED) == []
    assert decode_tts("v3/app1@t/devices/dev1/down/sent", b"{}", RECEIVED) == []


# --- generic JSON ---------------------------------------------------------------------------


def generic(**mapping) -> GenericJsonDecoder:
    return GenericJsonDecoder("sensors/{site}/{sensor}/state", GenericJsonMappingSettings.model_validate(mapping))


def test_generic_json_maps_topic_segments_paths_and_time():
    dec = generic(
        measurement="sensor",
        tags={"source": "shelly"},
        fields={"temperature_c": "values.temp", "relay_on": {"path": "relay[0].on", "type": "bool"},
                "energy_kwh_total": {"path": "meter.wh", "scale": 0.001}, "rssi": {"path": "wifi.rssi", "type": "int"}},
        time_path="ts",
        time_format="unix_ms",
    )
    payload = json.dumps({"values": {"temp": 19.25}, "relay": [{"on": "on"}], "meter": {"wh": 123456},
                          "wifi": {"rssi": -61.0}, "ts": 1700000000500}).encode()
    p = one(dec("sensors/nro-lannion/armoire-2/state", payload, RECEIVED))
    assert p.measurement == "sensor"
    assert p.tags == {"source": "shelly", "site": "nro-lannion", "sensor": "armoire-2"}
    assert p.fields == {"temperature_c": 19.25, "relay_on": True, "energy_kwh_total": 123.456, "rssi": -61}
    assert p.time_ns == 1_700_000_000_500_000_000


def test_generic_json_rfc3339_time_missing_fields_and_errors():
    dec = generic(fields={"temperature_c": "t", "humidity_pct": "h"}, time_path="time")
    p = one(dec("sensors/a/b/state", b'{"t": 20, "time": "2024-03-01T10:00:00.25+01:00"}', RECEIVED))
    assert p.fields == {"temperature_c": 20.0}
    assert p.time_ns == parse_rfc3339_ns("2024-03-01T09:00:00.25Z")
    for payload, reason in ((b'{"x": 1}', "missing_field"), (b'{"t": "warm"}', "bad_value"),
                            (b'{"t": 1, "time": "yesterday"}', "bad_time")):
        with pytest.raises(DecodeError) as err:
            dec("sensors/a/b/state", payload, RECEIVED)
        assert err.value.reason == reason
    with pytest.raises(DecodeError) as err:
        dec("other/a/b/state", b'{"t": 1}', RECEIVED)
    assert err.value.reason == "unexpected_topic"


def test_decoder_for_uses_the_subscription_format():
    assert decoder_for(MqttSubscriptionSettings(topic="v3/+/devices/+/up", format="tts-v3"), "chirpstack-v4") is decode_tts
    assert decoder_for(MqttSubscriptionSettings(topic="application/#"), "chirpstack-v4") is decode_chirpstack


# --- bad input: every reason ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"deviceInfo": ', "not_json"),  # truncated
        (b"[1, 2]", "not_object"),
        (b'{"fCnt": NaN}', "not_json"),
        (b'{"fCnt": "many"}', "bad_value"),
        (b'{"rxInfo": {"rssi": -3}}', "bad_value"),
        (b'{"time": "2022-13-45T99:00:00Z"}', "bad_time"),
        (b'{"time": "1969-01-01T00:00:00Z"}', "bad_time"),
        (b'{"deviceInfo": {"devEui": "xyz"}}', "bad_value"),
        (b"[" * 100_000, "not_json"),
        (b'{"a": "' + b"x" * 300_000 + b'"}', "too_large"),
    ],
)
def test_malformed_payloads_raise_decode_error_with_reason(payload, reason):
    with pytest.raises(DecodeError) as err:
        decode_chirpstack(device_topic("up"), payload, RECEIVED)
    assert err.value.reason == reason


def test_flattened_names_match_meter_paths():
    assert flat_name("energy.indexWh", "decoded_") == "decoded_energy_index_wh"
    assert flat_name("phases[1].power", "decoded_") == "decoded_phases_1_power"
