"""ChirpStack v4: application integration events (JSON) and gateway bridge events (JSON or protobuf).

Topics (ChirpStack v4 defaults):
- `application/{application_id}/device/{dev_eui}/event/{up|status|join|ack|txack|log|location}`:
  the MQTT integration, JSON marshaler (the protobuf JSON mapping: camelCase keys, and fields
  at their proto3 default — 0, false, "" — are *omitted*, so a missing `fCnt` means 0).
- `{region}/gateway/{gateway_id}/event/stats` and the retained `{region}/gateway/{gateway_id}/state/conn`:
  the gateway bridge, JSON or protobuf (`chirpstack_api.gw.GatewayStats` / `ConnState`). The
  encoding is recognised per message: JSON starts with `{`.

Uplinks and status give `lora_device` points; joins and device logs give `event` points;
gateway messages give `lora_gateway` points that `GatewayHealth` also watches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentinelle.agent.core import FieldValue, Point
from sentinelle.agent.events import event_point
from sentinelle.collectors.mqtt.decoders.common import (
    DECODED_PREFIX,
    EUI,
    DecodeError,
    check_time_ns,
    clean_string,
    flatten_object,
    load_json_object,
    location_fields,
    message_time_ns,
    optional_str,
    require_float,
    require_int,
    require_list,
    require_mapping,
    tags_of,
)
from sentinelle.collectors.mqtt.gateway_identity import identity_point

# Device events we read; other integration events (e.g. `integration`) are ignored, not errors.
DEVICE_EVENTS = frozenset({"up", "status", "join", "ack", "txack", "log", "location"})


def decode_chirpstack(topic: str, payload: bytes, received_ns: int) -> list[Point]:
    """Any ChirpStack v4 message, routed by the shape of its topic."""
    levels = topic.split("/")
    if len(levels) == 6 and levels[0] == "application" and levels[2] == "device" and levels[4] == "event":
        return decode_device_event(levels[5], levels[1], levels[3], payload, received_ns)
    if "gateway" in levels:
        i = levels.index("gateway")
        tail = levels[i + 2 :]
        if len(levels) >= i + 2 and tail in (["event", "stats"], ["state", "conn"]):
            region = levels[i - 1] if i >= 1 else None
            gateway_id = levels[i + 1].lower()
            if tail == ["event", "stats"]:
                return decode_gateway_stats(gateway_id, region, payload, received_ns)
            return decode_gateway_conn(gateway_id, region, payload, received_ns)
        if len(tail) == 2 and tail[0] in ("event", "state"):
            return []  # other gateway events (up, ack, exec...): not monitoring data
    raise DecodeError("unexpected_topic", "not a ChirpStack v4 application or gateway topic")


# --- device events --------------------------------------------------------------------------


def _device_tags(data: Mapping[str, Any], application_id: str, topic_eui: str) -> dict[str, str]:
    info = require_mapping(data, "deviceInfo")
    dev_eui = optional_str(info, "devEui") or topic_eui
    if not EUI.match(dev_eui):
        raise DecodeError("bad_value", "devEui is not 16 hex digits")
    return tags_of(
        dev_eui=dev_eui.lower(),
        device_name=optional_str(info, "deviceName"),
        application=optional_str(info, "applicationName") or application_id,
        tenant=optional_str(info, "tenantName"),
    )


def decode_device_event(event: str, application_id: str, topic_eui: str, payload: bytes, received_ns: int) -> list[Point]:
    if event not in DEVICE_EVENTS:
        return []
    data = load_json_object(payload)
    tags = _device_tags(data, application_id, topic_eui)
    time_ns = message_time_ns(data.get("time"), received_ns)
    if event == "up":
        return [Point("lora_device", tags, uplink_fields(data), time_ns)]
    if event == "status":
        return [Point("lora_device", tags, _status_fields(data), time_ns)]
    if event == "join":
        dev_addr = optional_str(data, "devAddr") or ""
        return [_device_event(tags, "lora_join", "LoRaWAN join", f"device joined, DevAddr {dev_addr}", time_ns)]
    if event == "log":
        level = _enum_text(data.get("level"), ("INFO", "WARNING", "ERROR"))
        code = _enum_text(data.get("code"), ())
        text = optional_str(data, "description") or code
        point = _device_event({**tags, **tags_of(level=level.lower(), code=code.lower())}, "lora_log",
                              f"ChirpStack {level.lower()}", text, time_ns)
        return [point]
    if event == "ack":
        fields: dict[str, FieldValue] = {
            "downlink_acknowledged": _bool(data, "acknowledged"),
            "f_cnt_down": require_int(data, "fCntDown"),
        }
        return [Point("lora_device", tags, fields, time_ns)]
    if event == "txack":
        return [Point("lora_device", tags, {"downlink_tx_ack": True, "f_cnt_down": require_int(data, "fCntDown")}, time_ns)]
    # location
    return [Point("lora_device", tags, location_fields(require_mapping(data, "location", required=True)), time_ns)]


def uplink_fields(data: Mapping[str, Any]) -> dict[str, FieldValue]:
    """Radio metadata of an uplink plus its decoded `object`, flattened under `decoded_`."""
    fields: dict[str, FieldValue] = {
        "f_cnt": require_int(data, "fCnt"),
        "f_port": require_int(data, "fPort"),
        "dr": require_int(data, "dr"),
    }
    rx = require_list(data, "rxInfo")
    fields["gateway_count"] = len(rx)
    best: tuple[float, float, str] | None = None
    for item in rx:
        if not isinstance(item, Mapping):
            raise DecodeError("bad_value", "rxInfo item is not an object")
        rssi = require_float(item, "rssi")
        snr = require_float(item, "snr")
        gateway = optional_str(item, "gatewayId") or ""
        if best is None or (rssi, snr) > (best[0], best[1]):
            best = (rssi, snr, gateway)
    if best is not None:
        fields["rssi_dbm"] = best[0]
        fields["snr_db"] = best[1]
        if best[2]:
            fields["best_gateway_id"] = clean_string(best[2].lower(), 64)
    tx = require_mapping(data, "txInfo")
    if tx:
        fields["frequency_hz"] = require_int(tx, "frequency")
        lora = require_mapping(require_mapping(tx, "modulation"), "lora")
        if lora:
            fields["spreading_factor"] = require_int(lora, "spreadingFactor")
            fields["bandwidth_hz"] = require_int(lora, "bandwidth")
    obj = require_mapping(data, "object")
    fields.update(flatten_object(obj, DECODED_PREFIX))
    return fields


def _status_fields(data: Mapping[str, Any]) -> dict[str, FieldValue]:
    external = _bool(data, "externalPowerSource")
    unavailable = _bool(data, "batteryLevelUnavailable")
    fields: dict[str, FieldValue] = {
        "margin_db": require_float(data, "margin"),
        "external_power_source": external,
        "battery_level_unavailable": unavailable,
    }
    if not external and not unavailable:
        fields["battery_level_pct"] = require_float(data, "batteryLevel")
    return fields


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise DecodeError("bad_value", f"{key} is not a boolean")
    return value


def _enum_text(value: Any, names: tuple[str, ...]) -> str:
    """A proto3 enum in JSON: its name, or its number; omitted means the first value."""
    if value is None:
        return names[0] if names else "UNKNOWN"
    if isinstance(value, str) and value:
        return value[:64]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DecodeError("bad_value", "enum is neither a name nor a number")


def _device_event(tags: dict[str, str], kind: str, title: str, text: str, time_ns: int) -> Point:
    return event_point(kind, "instant", clean_string(f"{title}: {text}"), time_ns, tags)


# --- gateway bridge -------------------------------------------------------------------------


def _is_json(payload: bytes) -> bool:
    return payload.lstrip()[:1] == b"{"


def _check_gateway(payload_id: str, topic_id: str) -> str:
    if payload_id and payload_id.lower() != topic_id:
        raise DecodeError("topic_mismatch", "gateway ID in payload differs from topic")
    return topic_id


def decode_gateway_stats(gateway_id: str, region: str | None, payload: bytes, received_ns: int) -> list[Point]:
    if _is_json(payload):
        data = load_json_object(payload)
        _check_gateway(optional_str(data, "gatewayId") or "", gateway_id)
        counts = {
            "rx_received": require_int(data, "rxPacketsReceived"),
            "rx_ok": require_int(data, "rxPacketsReceivedOk"),
            "tx_received": require_int(data, "txPacketsReceived"),
            "tx_emitted": require_int(data, "txPacketsEmitted"),
        }
        time_ns = message_time_ns(data.get("time"), received_ns)
        raw_meta = data.get("metadata")
        metadata = {str(k): str(v) for k, v in raw_meta.items()} if isinstance(raw_meta, dict) else {}
    else:
        stats = _parse_protobuf("GatewayStats", payload)
        payload_id = stats.gateway_id or stats.gateway_id_legacy.hex()
        if not payload_id:
            raise DecodeError("protobuf", "GatewayStats without gateway ID")
        _check_gateway(payload_id, gateway_id)
        counts = {
            "rx_received": int(stats.rx_packets_received),
            "rx_ok": int(stats.rx_packets_received_ok),
            "tx_received": int(stats.tx_packets_received),
            "tx_emitted": int(stats.tx_packets_emitted),
        }
        time_ns = received_ns
        if stats.HasField("time"):
            time_ns = check_time_ns(stats.time.seconds * 10**9 + stats.time.nanos)
        metadata = dict(stats.metadata)
    if any(v < 0 for v in counts.values()):
        raise DecodeError("bad_value", "negative packet count")
    fields: dict[str, FieldValue] = dict(counts)
    if counts["rx_received"] > 0:
        fields["rx_ok_ratio"] = counts["rx_ok"] / counts["rx_received"]
    points = [Point("lora_gateway", tags_of(gateway_id=gateway_id, region=region), fields, time_ns)]
    identity = identity_point(gateway_id, region, metadata, time_ns)  # model/serial/firmware, if published
    return points if identity is None else [*points, identity]


def decode_gateway_conn(gateway_id: str, region: str | None, payload: bytes, received_ns: int) -> list[Point]:
    if not payload:
        return []  # an empty retained message only clears the retained state
    if _is_json(payload):
        data = load_json_object(payload)
        _check_gateway(optional_str(data, "gatewayId") or "", gateway_id)
        state = _enum_text(data.get("state"), ("OFFLINE", "ONLINE"))
        if state not in ("OFFLINE", "ONLINE"):
            raise DecodeError("bad_value", "state is neither ONLINE nor OFFLINE")
        online = state == "ONLINE"
    else:
        conn = _parse_protobuf("ConnState", payload)
        payload_id = conn.gateway_id or conn.gateway_id_legacy.hex()
        if not payload_id:
            raise DecodeError("protobuf", "ConnState without gateway ID")
        _check_gateway(payload_id, gateway_id)
        if conn.state not in (0, 1):
            raise DecodeError("bad_value", "unknown connection state")
        online = conn.state == 1
    return [Point("lora_gateway", tags_of(gateway_id=gateway_id, region=region), {"online": online}, received_ns)]


def _parse_protobuf(type_name: str, payload: bytes) -> Any:
    from chirpstack_api.gw import gw_pb2  # imported on first use: protobuf loads slowly

    try:
        return getattr(gw_pb2, type_name).FromString(payload)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for bad input
        raise DecodeError("protobuf", f"not a {type_name}: {type(exc).__name__}") from None
