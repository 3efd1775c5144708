"""Generic JSON: any sensor or meter that is not LoRaWAN-native, described in the config.

A mapping names the measurement, the topic levels that become tags (`sensors/{site}/{sensor}`),
the JSON paths that become typed fields, and where the message keeps its time. One message
gives one point. A missing field is skipped; a message with none of the mapped fields, or a
value of the wrong type, is a `DecodeError`, counted and logged once per topic by the source.
"""

from __future__ import annotations

import math
from typing import Any

from sentinelle.agent.core import FieldValue, Point
from sentinelle.collectors.mqtt.decoders.common import (
    DecodeError,
    as_float,
    as_int,
    check_time_ns,
    clean_string,
    get_path,
    load_json_object,
    message_time_ns,
    tags_of,
)
from sentinelle.collectors.mqtt.settings import GenericJsonFieldSettings, GenericJsonMappingSettings
from sentinelle.collectors.mqtt.topics import TopicFilter

_UNIX_SCALE = {"unix_s": 10**9, "unix_ms": 10**6, "unix_us": 10**3, "unix_ns": 1}
_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})


class GenericJsonDecoder:
    """Decoder for one `generic-json` subscription (its topic pattern and mapping)."""

    def __init__(self, pattern: str, mapping: GenericJsonMappingSettings):
        self.filter = TopicFilter.parse(pattern)
        self.mapping = mapping
        self._static_tags = tags_of(**mapping.tags)

    def __call__(self, topic: str, payload: bytes, received_ns: int) -> list[Point]:
        levels = self.filter.match(topic)
        if levels is None:
            raise DecodeError("unexpected_topic", "topic does not match the mapping's pattern")
        data = load_json_object(payload)
        fields: dict[str, FieldValue] = {}
        for name, spec in self.mapping.fields.items():
            value = get_path(data, spec.path)
            if value is None:
                continue
            fields[name] = _typed(name, value, spec)
        if not fields:
            raise DecodeError("missing_field", "none of the mapped fields is in the message")
        tags = {**self._static_tags, **tags_of(**self.filter.captures(levels))}
        for tag, path in self.mapping.tag_paths.items():
            value = get_path(data, path)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                tags.update(tags_of(**{tag: value}))
        return [Point(self.mapping.measurement, tags, fields, self._time_ns(data, received_ns))]

    def _time_ns(self, data: Any, received_ns: int) -> int:
        if self.mapping.time_path is None:
            return received_ns
        value = get_path(data, self.mapping.time_path)
        if value is None:
            return received_ns
        fmt = self.mapping.time_format
        if fmt == "rfc3339":
            return message_time_ns(value, received_ns)
        number = as_float(value) if not isinstance(value, str) else as_float(_num(value))
        if number is None:
            raise DecodeError("bad_time", "time is not a number")
        exact = as_int(value)
        if exact is not None:
            return check_time_ns(exact * _UNIX_SCALE[fmt])
        return check_time_ns(int(number * _UNIX_SCALE[fmt]))


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _typed(name: str, value: Any, spec: GenericJsonFieldSettings) -> FieldValue:
    kind = spec.type
    if kind == "str":
        if isinstance(value, str):
            return clean_string(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return clean_string(str(value))
        raise DecodeError("bad_value", f"{name} is not a string")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise DecodeError("bad_value", f"{name} is not a boolean")
    number = as_float(value) if not isinstance(value, str) else as_float(_num(value.strip()))
    if number is None:
        raise DecodeError("bad_value", f"{name} is not a number")
    scaled = number * spec.scale
    if not math.isfinite(scaled):
        raise DecodeError("bad_value", f"{name} is out of range")
    if kind == "int":
        exact = as_int(round(scaled))
        if exact is None:
            raise DecodeError("bad_value", f"{name} is out of range")
        return exact
    return float(scaled)
