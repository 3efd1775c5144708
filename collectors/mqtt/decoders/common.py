"""What every decoder needs: a strict JSON reader, timestamps, safe names and flattening.

Decoders are pure functions of (topic, payload bytes, receive time). Everything that can go
wrong with a payload raises `DecodeError(reason)` with a short, bounded `reason` (it becomes a
metric label), so a bad message is counted and skipped, never a crash. The helpers below also
guarantee that what they return fits InfluxDB line protocol (finite numbers, clean tag values,
snake_case keys), so a hostile payload cannot produce a point the spool or a sink would reject.
"""

from __future__ import annotations

import calendar
import json
import math
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from sentinelle.agent.core import FieldValue
from sentinelle.agent.lineprotocol import INT64_MAX, INT64_MIN

# Above this, a message is not a LoRaWAN event or a sensor reading: refuse before parsing.
MAX_PAYLOAD_BYTES = 256 * 1024
# Decoded payloads are flattened at most this deep and into at most this many fields.
MAX_DEPTH = 6
MAX_FIELDS = 64
MAX_STRING = 256
MAX_TAG = 128
# Plausible message times: 2000-01-01 .. 2100-01-01 (ns). Outside: the clock or payload is wrong.
# Application payload fields decoded by the network server get this prefix (ChirpStack's
# `object`, TTS's `decoded_payload`), so they never collide with radio metadata fields.
DECODED_PREFIX = "decoded_"
EUI = re.compile(r"^[0-9a-fA-F]{16}$")  # a DevEUI / gateway EUI as both servers write it

MIN_TIME_NS = 946_684_800 * 10**9
MAX_TIME_NS = 4_102_444_800 * 10**9


class DecodeError(ValueError):
    """A payload that cannot be turned into points. `reason` is a short label for metrics."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json_object(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object, or DecodeError naming what is wrong with it."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError("too_large", f"{len(payload)} bytes")
    if not payload.strip():
        raise DecodeError("empty")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("not_utf8", f"invalid byte at offset {exc.start}") from None
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise DecodeError("not_json", "nested too deep") from None
    except ValueError as exc:
        raise DecodeError("not_json", str(exc)[:120]) from None
    if not isinstance(data, dict):
        raise DecodeError("not_object", f"top level is {type(data).__name__}")
    return data


# --- values ---------------------------------------------------------------------------------


def get_path(data: Any, path: str) -> Any:
    """`a.b[0].c` (also `$.a.b`) in nested dicts and lists; None when any step is missing."""
    cur = data
    for key, index in _path_steps(path):
        if key:
            if not isinstance(cur, Mapping) or key not in cur:
                return None
            cur = cur[key]
        if index is not None:
            if not isinstance(cur, list) or not -len(cur) <= index < len(cur):
                return None
            cur = cur[index]
    return cur


_STEP = re.compile(r"([^.\[\]]*)((?:\[-?\d+\])*)")


def _path_steps(path: str) -> Iterator[tuple[str, int | None]]:
    text = path[2:] if path.startswith("$.") else path.lstrip("$")
    for part in text.split("."):
        m = _STEP.fullmatch(part)
        if m is None:
            yield part, None
            continue
        key, indexes = m.group(1), m.group(2)
        if not indexes:
            yield key, None
            continue
        found = [int(i) for i in re.findall(r"\[(-?\d+)\]", indexes)]
        yield key, found[0]
        for i in found[1:]:
            yield "", i


def as_float(value: Any) -> float | None:
    """A JSON number (not a bool) as a finite float; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        out = float(value)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def as_int(value: Any) -> int | None:
    """A JSON integer (or an integral float, or a decimal string as proto3 JSON writes int64)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value):
        value = int(value)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return value
    return None


def require_int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    """An integer field that proto3 JSON / TTS omit when zero: missing means `default`."""
    if key not in data or data[key] is None:
        return default
    out = as_int(data[key])
    if out is None:
        raise DecodeError("bad_value", f"{key} is not an integer")
    return out


def require_float(data: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    if key not in data or data[key] is None:
        return default
    out = as_float(data[key])
    if out is None:
        raise DecodeError("bad_value", f"{key} is not a number")
    return out


def optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError("bad_value", f"{key} is not a string")
    return value


def require_mapping(data: Mapping[str, Any], key: str, *, required: bool = False) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise DecodeError("missing_field", key)
        return {}
    if not isinstance(value, Mapping):
        raise DecodeError("bad_value", f"{key} is not an object")
    return value


def require_list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError("bad_value", f"{key} is not a list")
    return value


def clean_string(value: str, limit: int = MAX_STRING) -> str:
    """A string field value line protocol can carry (no CR, bounded length)."""
    return value.replace("\r", " ")[:limit]


_TAG_BAD = re.compile(r"[\x00-\x1f\x7f\\]")


def clean_tag(value: Any) -> str:
    """A tag value that line protocol can carry: no control characters, no backslashes,
    bounded length; "" (the tag is then dropped) when nothing printable is left."""
    return _clean_tag(value if isinstance(value, str) else str(value))


@lru_cache(maxsize=8192)  # the same device names and EUIs come back on every message
def _clean_tag(value: str) -> str:
    return _TAG_BAD.sub("_", value).strip()[:MAX_TAG].strip()


def tags_of(**values: Any) -> dict[str, str]:
    """Tags from keyword arguments, cleaned, empty ones left out."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        text = clean_tag(value)
        if text:
            out[key] = text
    return out


_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_NOT_KEY = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=8192)  # decoded payload keys repeat on every message of a device type
def snake_case(name: str) -> str:
    """`batteryVoltage` -> `battery_voltage`, `Temp (°C)` -> `temp_c`: field-key safe."""
    text = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()
    return _NOT_KEY.sub("_", text).strip("_")


def flatten_object(obj: Mapping[str, Any], prefix: str) -> dict[str, FieldValue]:
    """A decoded payload (`object` / `decoded_payload`) as flat, typed fields.

    Numbers always become floats: a sensor that sends 21 then 21.5 must not create an integer
    then a float field (InfluxDB refuses a type change). Lists are indexed (`_0`, `_1`), nulls
    and what cannot be represented are left out; depth and count are bounded.
    """
    out: dict[str, FieldValue] = {}

    def walk(value: Any, key: str, depth: int) -> None:
        if len(out) >= MAX_FIELDS or depth > MAX_DEPTH:
            return
        if isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int | float):
            number = as_float(value)
            if number is not None:
                out[key] = number
        elif isinstance(value, str):
            out[key] = clean_string(value)
        elif isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                name = snake_case(str(sub_key))
                walk(sub_value, f"{key}_{name}" if name else key, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value[:MAX_FIELDS]):
                walk(item, f"{key}_{i}", depth + 1)

    for k, v in obj.items():
        name = snake_case(str(k))
        walk(v, f"{prefix}{name}" if name else prefix.rstrip("_"), 1)
    return out


def flat_name(path: str, prefix: str) -> str:
    """The flattened field name of a decoded-payload path (`energy.indexWh` -> `decoded_energy_index_wh`)."""
    parts: list[str] = []
    for key, index in _path_steps(path):
        if key:
            parts.append(snake_case(key))
        if index is not None:
            parts.append(str(index))
    return prefix + "_".join(p for p in parts if p)


# --- time -----------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9})\d*)?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))?"
)


def parse_rfc3339_ns(text: Any) -> int:
    """RFC 3339 / ISO 8601 with up to nanoseconds (network servers write 9 digits, which
    `datetime` cannot hold) -> ns since the epoch. No offset means UTC."""
    if not isinstance(text, str):
        raise DecodeError("bad_time", "time is not a string")
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        raise DecodeError("bad_time", f"unreadable time {text[:40]!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        raise DecodeError("bad_time", f"impossible time {text[:40]!r}")
    frac = (m.group(7) or "").ljust(9, "0")
    offset = 0
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        if m.group(9) == "-":
            offset = -offset
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return check_time_ns(seconds * 10**9 + int(frac))


def check_time_ns(ns: int) -> int:
    if not MIN_TIME_NS <= ns < MAX_TIME_NS:
        raise DecodeError("bad_time", "time outside 2000..2100")
    return ns


def message_time_ns(value: Any, received_ns: int) -> int:
    """The network server's time when the message has one, else the receive time."""
    if value is None or value == "":
        return received_ns
    return parse_rfc3339_ns(value)


def location_fields(loc: Mapping[str, Any]) -> dict[str, FieldValue]:
    """A solved device location (ChirpStack `location`, TTS `location_solved.location`: the same
    keys in both network servers)."""
    fields: dict[str, FieldValue] = {
        "latitude": require_float(loc, "latitude"),
        "longitude": require_float(loc, "longitude"),
        "altitude_m": require_float(loc, "altitude"),
    }
    if "accuracy" in loc:
        fields["location_accuracy_m"] = require_float(loc, "accuracy")
    return fields
