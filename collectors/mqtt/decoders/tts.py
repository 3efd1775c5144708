"""The Things Stack v3 MQTT server: `v3/{application_id}@{tenant_id}/devices/{device_id}/{event}`.

(The open-source edition drops `@{tenant_id}`.) The payload is an `ApplicationUp` JSON message.
TTS omits every field whose value is "", 0 or false, so a missing `f_cnt`, `f_port`, `snr` or
`rssi` means zero and is given its default here, never treated as an error. Integer fields
that are 64-bit in protobuf (`frequency`, `timestamp`) arrive as decimal strings.

Uplinks give `lora_device` points like ChirpStack's (same field names, so dashboards work for
both); joins give `event` points; solved locations give coordinates. Simulated uplinks (sent from
the console, `simulated: true`) are not measurements and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sentinelle.agent.core import FieldValue, Point
from sentinelle.agent.events import event_point
from sentinelle.collectors.mqtt.decoders.common import (
    DECODED_PREFIX,
    EUI,
    DecodeError,
    as_float,
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

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def decode_tts(topic: str, payload: bytes, received_ns: int) -> list[Point]:
    levels = topic.split("/")
    if len(levels) < 5 or levels[0] != "v3" or levels[2] != "devices":
        raise DecodeError("unexpected_topic", "not a The Things Stack v3 device topic")
    app_part, device_id, event = levels[1], levels[3], "/".join(levels[4:])
    application, _, tenant = app_part.partition("@")
    if event not in ("up", "join", "location/solved"):
        return []  # downlink events, service data...: not monitoring data
    data = load_json_object(payload)
    ids = require_mapping(data, "end_device_ids")
    dev_eui = optional_str(ids, "dev_eui")
    if dev_eui is not None and not EUI.match(dev_eui):
        raise DecodeError("bad_value", "dev_eui is not 16 hex digits")
    app_ids = require_mapping(ids, "application_ids")
    tags = tags_of(
        dev_eui=dev_eui.lower() if dev_eui else None,
        device_name=optional_str(ids, "device_id") or device_id,
        application=optional_str(app_ids, "application_id") or application,
        tenant=tenant or None,
    )
    if event == "up":
        up = require_mapping(data, "uplink_message", required=True)
        if data.get("simulated") is True:
            return []
        time_ns = message_time_ns(up.get("received_at") or data.get("received_at"), received_ns)
        return [Point("lora_device", tags, uplink_fields(up), time_ns)]
    time_ns = message_time_ns(data.get("received_at"), received_ns)
    if event == "join":
        require_mapping(data, "join_accept", required=True)
        dev_addr = optional_str(ids, "dev_addr") or ""
        return [event_point("lora_join", "instant", clean_string(f"LoRaWAN join: device joined, DevAddr {dev_addr}"), time_ns, tags)]
    solved = require_mapping(data, "location_solved", required=True)
    return [Point("lora_device", tags, location_fields(require_mapping(solved, "location", required=True)), time_ns)]


def uplink_fields(up: Mapping[str, Any]) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {
        "f_cnt": require_int(up, "f_cnt"),
        "f_port": require_int(up, "f_port"),
    }
    rx = require_list(up, "rx_metadata")
    fields["gateway_count"] = len(rx)
    best: tuple[float, float, str] | None = None
    for item in rx:
        if not isinstance(item, Mapping):
            raise DecodeError("bad_value", "rx_metadata item is not an object")
        # `rssi` is the signal strength; older gateways only report `channel_rssi`.
        rssi = require_float(item, "rssi", require_float(item, "channel_rssi"))
        snr = require_float(item, "snr")
        gw = require_mapping(item, "gateway_ids")
        gateway = optional_str(gw, "gateway_id") or optional_str(gw, "eui") or ""
        if best is None or (rssi, snr) > (best[0], best[1]):
            best = (rssi, snr, gateway)
    if best is not None:
        fields["rssi_dbm"] = best[0]
        fields["snr_db"] = best[1]
        if best[2]:
            fields["best_gateway_id"] = clean_string(best[2].lower(), 64)
    settings = require_mapping(up, "settings")
    if settings:
        fields["frequency_hz"] = require_int(settings, "frequency")
        lora = require_mapping(require_mapping(settings, "data_rate"), "lora")
        if lora:
            fields["spreading_factor"] = require_int(lora, "spreading_factor")
            fields["bandwidth_hz"] = require_int(lora, "bandwidth")
    airtime = up.get("consumed_airtime")
    if airtime is not None:
        fields["consumed_airtime_s"] = _duration_s(airtime)
    fields.update(flatten_object(require_mapping(up, "decoded_payload"), DECODED_PREFIX))
    return fields


def _duration_s(value: Any) -> float:
    """A protobuf JSON duration (`"0.061696s"`)."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            out = as_float(float(m.group(1)))
            if out is not None:
                return out
    raise DecodeError("bad_value", "consumed_airtime is not a duration")
