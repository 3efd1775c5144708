"""Turn raw SNMP answers into readings, following the profiles. Pure functions, no I/O.

Split from the poller so `probe`, the device and the tests share one decoder, and so counter
and event logic (counters.py, events.py) receive already-decoded readings with the raw
counter values and their SMI types still attached (wrap size depends on Counter32/64).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sentinelle.collectors.snmp.client import UNTYPED_INT, Varbind
from sentinelle.collectors.snmp.plausibility import Verdict, check, check_field, default_range, power_range
from sentinelle.collectors.snmp.profiles import FieldSpec, Group, Profile, TagSpec

FieldValue = float | int | bool | str

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"

Tables = Mapping[str, Mapping[str, Varbind]]


@dataclass(slots=True)
class CounterSample:
    """A counter's raw cumulative value, for the reset markers and meter description of counters.py."""

    spec: FieldSpec
    raw: int
    syntax: str
    marker: str | None = None  # value of the reset marker (e.g. EnergyStartTime), if any
    extra_scale: float = 1.0  # per-row decimal digits (Raritan), applied with spec.scale


@dataclass(slots=True)
class Reading:
    """One decoded row or scalar group: becomes one Point after counters and events."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue] = field(default_factory=dict)
    counters: dict[str, CounterSample] = field(default_factory=dict)
    # Fields with events: name -> (spec, decoded value)
    watched: dict[str, tuple[FieldSpec, FieldValue]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.measurement, tuple(sorted(self.tags.items()))


@dataclass(slots=True)
class Missing:
    """An OID a profile asked for that the device did not answer (flagged by `probe`)."""

    profile: str
    measurement: str
    name: str
    oid: str


@dataclass(slots=True)
class Discarded:
    """An answer that is not a reading: a documented sentinel (`unsupported`: -1, out of the
    MIB's range...) or a physically impossible value (`implausible`, with the likely scale).
    Never written; counted, logged once, shown by `probe`."""

    profile: str
    measurement: str
    tags: dict[str, str]
    name: str
    oid: str
    raw: int | float | str | None
    reason: str  # "unsupported" | "implausible"
    value: float | None = None
    verdict: Verdict | None = None

    def describe(self, unit: str = "") -> str:
        if self.reason == "unsupported":
            return f"not supported by the device (raw {self.raw})"
        assert self.verdict is not None
        text = f"implausible: {self.value:g} {unit} outside {self.verdict.expected}".replace("  ", " ")
        if self.verdict.likely_scale is not None and self.verdict.likely_value is not None:
            text += f" (likely {self.verdict.likely_value:.2f} {unit} with scale {self.verdict.likely_scale:g})".replace("  ", " ")
        return text


@dataclass(slots=True)
class _Context:
    """What field decoding needs beyond the answer: where discarded values go and the
    scalars holding references (ratings, nominal voltages)."""

    profile: str
    measurement: str
    scalars: Mapping[str, Varbind]
    discarded: list[Discarded] | None


@dataclass(slots=True)
class PollPlan:
    scalars: list[str]
    columns: list[str]


def plan(profiles: Iterable[Profile]) -> PollPlan:
    """Every scalar OID to GET and every column to walk, without duplicates."""
    scalars: dict[str, None] = {SYS_OBJECT_ID: None, SYS_UPTIME: None}
    columns: dict[str, None] = {}
    for profile in profiles:
        for group in profile.groups:
            target = columns if group.table else scalars
            for f in group.fields:
                for oid in (f.oid, f.fallback):
                    if oid:
                        target[oid] = None
                if f.reset_marker:
                    target[f.reset_marker] = None
                if f.decimal_digits_oid:
                    columns[f.decimal_digits_oid] = None
                if f.plausible is not None and f.plausible.relative_to:
                    scalars[f.plausible.relative_to] = None
            for t in group.tags:
                for oid in (t.oid, t.fallback):
                    if oid:
                        columns[oid] = None
            if group.row_count:
                scalars[group.row_count] = None
    return PollPlan(list(scalars), list(columns))


def scaled(raw: int, scale: float) -> float:
    """raw x scale without binary noise for decimal scales (67423732 x 0.01 = 674237.32)."""
    if 0 < abs(scale) < 1:
        inverse = 1.0 / scale
        if abs(inverse - round(inverse)) < 1e-6:
            return raw / round(inverse)
    return float(raw * scale)


def convert(spec: FieldSpec, vb: Varbind, digits: int = 0) -> FieldValue | None:
    """A field's decoded value, or None when the answer is not a reading."""
    if vb.absent or vb.value is None:
        return None
    if spec.type == "string":
        return vb.text()
    if not isinstance(vb.value, int):
        # Some agents send numbers as strings (e.g. "230.1").
        try:
            number = float(vb.text())
        except ValueError:
            return None
        if spec.type in ("gauge", "counter"):
            return number * spec.scale + spec.offset
        return None
    raw = vb.value
    if spec.is_sentinel(raw):
        return None
    if spec.type == "enum":
        return spec.enum.get(raw, f"unknown({raw})")
    if spec.type == "bool":
        return raw in spec.true_values
    value = scaled(raw, spec.scale)
    if digits:
        value = value / 10**digits
    return value + spec.offset if spec.offset else value


def _lookup(tables: Tables, oid: str) -> Mapping[str, Varbind]:
    return tables.get(oid) or {}


def _tag_value(spec: TagSpec, index: str, tables: Tables) -> str | None:
    parts = index.split(".")
    key = index if spec.index_parts is None else ".".join(parts[i] for i in spec.index_parts if i < len(parts))
    for oid in (spec.oid, spec.fallback):
        if not oid:
            continue
        vb = _lookup(tables, oid).get(key)
        if vb is None or vb.absent:
            continue
        if spec.enum and isinstance(vb.value, int):
            return spec.enum.get(vb.value, str(vb.value))
        text = vb.text()
        if text:
            return text
    return None


def _field_varbind(spec: FieldSpec, get: Mapping[str, Varbind] | None, row: str | None, tables: Tables) -> Varbind | None:
    key = f"{row}.{spec.index_suffix}" if spec.index_suffix else (row or "")
    for oid in (spec.oid, spec.fallback):
        if not oid:
            continue
        vb = get.get(oid) if get is not None else _lookup(tables, oid).get(key)
        if vb is not None and not vb.absent:
            return vb
    return None


def _reference(spec: FieldSpec, scalars: Mapping[str, Varbind]) -> float | None:
    p = spec.plausible
    if p is None or p.relative_to is None:
        return None
    vb = scalars.get(p.relative_to)
    if vb is None or vb.absent or not isinstance(vb.value, int) or vb.value <= 0 or vb.value in (2147483647, 4294967295):
        return None
    return vb.value * p.relative_scale


def _apply_field(reading: Reading, spec: FieldSpec, vb: Varbind, marker: Varbind | None, digits: int = 0,
                 ctx: _Context | None = None) -> None:
    def discard(reason: str, value: float | None = None, verdict: Verdict | None = None) -> None:
        if ctx is not None and ctx.discarded is not None:
            ctx.discarded.append(Discarded(ctx.profile, ctx.measurement, dict(reading.tags), spec.name, vb.oid,
                                           vb.value if not isinstance(vb.value, bytes) else vb.text(),
                                           reason, value, verdict))

    if isinstance(vb.value, int) and spec.type != "string" and spec.is_sentinel(vb.value):
        discard("unsupported")
        return
    value = convert(spec, vb, digits)
    if value is None:
        return
    if spec.type == "gauge" and isinstance(value, int | float) and not isinstance(value, bool):
        raw = vb.value if isinstance(vb.value, int) else None
        verdict = check_field(spec, float(value), raw, _reference(spec, ctx.scalars) if ctx else None,
                              1.0 / 10**digits if digits else 1.0)
        if verdict is not None:
            discard("implausible", float(value), verdict)
            return
    if spec.type == "counter" and isinstance(vb.value, int):
        if vb.value < 0:
            discard("unsupported")
            return  # a negative cumulative counter is never a reading
        syntax = vb.syntax
        if syntax == UNTYPED_INT:  # gufo-snmp: the width comes from the profile
            syntax = spec.counter_syntax(vb.oid) or syntax
        reading.counters[spec.name] = CounterSample(
            spec, vb.value, syntax, None if marker is None or marker.absent else marker.text(),
            1.0 / 10**digits if digits else 1.0,
        )
        # Counter64 above int64: InfluxDB integers cannot hold it (agent/point.py).
        reading.fields[spec.name] = float(value)  # always float: one InfluxDB type per field
    else:
        reading.fields[spec.name] = value
    if spec.event is not None:
        reading.watched[spec.name] = (spec, value)


def _check_power(reading: Reading, group: Group, ctx: _Context) -> None:
    """Drop a row's `power_w` that voltage x current on the same row makes implausible."""
    fields = reading.fields
    power, volts, amps = fields.get("power_w"), fields.get("voltage_v"), fields.get("current_a")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (power, volts, amps)):
        return
    rng = power_range(float(volts), float(amps))  # type: ignore[arg-type]
    if rng is None or rng.contains(float(power)):  # type: ignore[arg-type]
        return
    spec = next((f for f in group.fields if f.name == "power_w"), None)
    scale = spec.scale if spec is not None and spec.scale else 1.0
    verdict = check("power_w", float(power), rng, float(power) / scale, scale)  # type: ignore[arg-type]
    del fields["power_w"]
    reading.watched.pop("power_w", None)
    if ctx.discarded is not None:
        oid = spec.oid if spec is not None else ""
        ctx.discarded.append(Discarded(ctx.profile, ctx.measurement, dict(reading.tags), "power_w", oid,
                                       power, "implausible", float(power), verdict))  # type: ignore[arg-type]


def decode_group(
    profile: Profile,
    group: Group,
    scalars: Mapping[str, Varbind],
    tables: Tables,
    missing: list[Missing] | None = None,
    discarded: list[Discarded] | None = None,
) -> list[Reading]:
    ctx = _Context(profile.name, group.measurement, scalars, discarded)
    if group.transform == "entity-sensor":
        return entity_sensor(group, tables, ctx)
    if not group.table:
        reading = Reading(group.measurement, dict(group.static_tags))
        for spec in group.fields:
            vb = _field_varbind(spec, scalars, None, tables)
            if vb is None:
                if missing is not None:
                    missing.append(Missing(profile.name, group.measurement, spec.name, spec.oid))
                continue
            marker = scalars.get(spec.reset_marker) if spec.reset_marker else None
            _apply_field(reading, spec, vb, marker, 0, ctx)
        _check_power(reading, group, ctx)
        return [reading] if reading.fields else []
    # Table: the union of row indexes over the field columns.
    indexes: dict[str, None] = {}
    for spec in group.fields:
        for oid in (spec.oid, spec.fallback):
            if not oid:
                continue
            if spec.index_suffix:
                tail = "." + spec.index_suffix
                indexes.update(dict.fromkeys(i[: -len(tail)] for i in _lookup(tables, oid) if i.endswith(tail)))
            else:
                indexes.update(dict.fromkeys(_lookup(tables, oid)))
    limit = scalars.get(group.row_count) if group.row_count else None
    if limit is not None and isinstance(limit.value, int) and limit.value >= 0:
        indexes = {i: None for i in indexes if not i.split(".")[0].isdigit() or int(i.split(".")[0]) <= limit.value}
    if missing is not None:
        for spec in group.fields:
            if not _lookup(tables, spec.oid) and not (spec.fallback and _lookup(tables, spec.fallback)):
                missing.append(Missing(profile.name, group.measurement, spec.name, spec.oid))
    out: list[Reading] = []
    for index in indexes:
        tags = dict(group.static_tags)
        parts = index.split(".")
        for it in group.index_tags:
            tags[it.tag] = index if it.parts is None else ".".join(parts[i] for i in it.parts if i < len(parts))
        if not group.index_tags:
            tags["index"] = index
        for ts in group.tags:
            value = _tag_value(ts, index, tables)
            if value is not None:
                tags[ts.tag] = value
        reading = Reading(group.measurement, tags)
        for spec in group.fields:
            vb = _field_varbind(spec, None, index, tables)
            if vb is None:
                continue
            marker = None
            if spec.reset_marker:
                marker_row = spec.reset_marker_index or index
                marker = _lookup(tables, spec.reset_marker).get(marker_row)
            digits = 0
            if spec.decimal_digits_oid:
                key = f"{index}.{spec.index_suffix}" if spec.index_suffix else index
                dvb = _lookup(tables, spec.decimal_digits_oid).get(key)
                if dvb is not None and isinstance(dvb.value, int) and 0 < dvb.value < 10:
                    digits = dvb.value
            _apply_field(reading, spec, vb, marker, digits, ctx)
        _check_power(reading, group, ctx)
        if reading.fields:
            out.append(reading)
    return out


def rollup(group: Group, rows: list[Reading]) -> list[Reading]:
    """The group's rollups over its decoded rows (see `Rollup`)."""
    out: list[Reading] = []
    for spec in group.rollups:
        buckets: dict[tuple[str, ...], list[Reading]] = {}
        for row in rows:
            buckets.setdefault(tuple(row.tags.get(t, "") for t in spec.by), []).append(row)
        for key, members in buckets.items():
            tags = {t: v for t, v in zip(spec.by, key, strict=True) if v}
            reading = Reading(spec.measurement, tags)
            for target, expr in spec.fields.items():
                op, _, src = expr.partition(":")
                values = [m.fields[src] for m in members if src in m.fields]
                if op == "count":
                    reading.fields[target] = len(values)
                elif op == "count_true":
                    reading.fields[target] = sum(1 for v in values if v is True)
                else:
                    nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
                    if not nums:
                        continue
                    reading.fields[target] = {"sum": sum(nums), "max": max(nums), "min": min(nums),
                                              "avg": sum(nums) / len(nums)}[op]
            if reading.fields:
                out.append(reading)
    return out


def decode(
    profiles: Iterable[Profile],
    scalars: Mapping[str, Varbind],
    tables: Tables,
    missing: list[Missing] | None = None,
    discarded: list[Discarded] | None = None,
) -> list[Reading]:
    """Readings of every profile; OIDs not answered go to `missing`, answers that are not
    readings (sentinels, implausible values) to `discarded`."""
    out: list[Reading] = []
    for profile in profiles:
        for group in profile.groups:
            rows = decode_group(profile, group, scalars, tables, missing, discarded)
            if group.emit_rows:
                out.extend(rows)
            for extra in rollup(group, rows):
                _merge(out, extra)
    return out


def _merge(readings: list[Reading], extra: Reading) -> None:
    """Add a rollup's fields to the reading of the same measurement and tags, or append it."""
    for r in readings:
        if r.key == extra.key:
            for name, value in extra.fields.items():
                r.fields.setdefault(name, value)
            return
    readings.append(extra)


# --- ENTITY-SENSOR-MIB (RFC 3433) --------------------------------------------------------

ENT_SENSOR = "1.3.6.1.2.1.99.1.1.1"
ENT_TYPE, ENT_SCALE, ENT_PRECISION, ENT_VALUE, ENT_STATUS, ENT_UNITS = (f"{ENT_SENSOR}.{i}" for i in range(1, 7))
ENT_SENSOR_TYPES = {
    1: "other", 2: "unknown", 3: "volts_ac", 4: "volts_dc", 5: "amperes", 6: "watts",
    7: "hertz", 8: "celsius", 9: "percent_rh", 10: "rpm", 11: "cmm", 12: "truthvalue",
}
_ENT_FIELD = {
    3: "voltage_v", 4: "voltage_v", 5: "current_a", 6: "power_w", 7: "frequency_hz",
    8: "temperature_c", 9: "humidity_pct", 10: "fan_rpm", 11: "airflow_cmm", 12: "state",
}


def entity_sensor_value(value: int, scale: int, precision: int) -> float:
    """RFC 3433: value x 10^(3*(scale-9)) / 10^precision (scale 9 = units, 8 = milli...)."""
    exponent = 3 * (scale - 9) - precision
    # Divide for negative exponents: 282 / 10 is 28.2, 282 x 0.1 is 28.200000000000003.
    return value / 10**-exponent if exponent < 0 else float(value * 10**exponent)


# RFC 3433 EntitySensorValue ::= Integer32 (-1000000000..1000000000).
ENT_VALUE_RANGE = (-1_000_000_000, 1_000_000_000)
# Vendor units (entPhySensorUnitsDisplay) of sensors typed other(1)/unknown(2) that still say
# what they measure: transceiver optics in dBm (reported directly, not in watts), and the
# plain units some agents use instead of the type.
_ENT_UNITS_FIELD = {
    "dbm": "power_dbm", "celsius": "temperature_c", "degrees c": "temperature_c", "c": "temperature_c",
    "degc": "temperature_c", "°c": "temperature_c", "volts": "voltage_v", "v": "voltage_v", "vdc": "voltage_v",
    "vac": "voltage_v", "amperes": "current_a", "amps": "current_a", "a": "current_a", "watts": "power_w",
    "w": "power_w", "%rh": "humidity_pct", "rpm": "fan_rpm", "hz": "frequency_hz",
}


def _ent_field(sensor_type: int, units: str) -> str | None:
    name = _ENT_FIELD.get(sensor_type)
    if name is not None:
        return name
    key = units.strip().lower()
    if key in _ENT_UNITS_FIELD:
        return _ENT_UNITS_FIELD[key]
    return "power_dbm" if "dbm" in key else None


def _direction(label: str) -> str | None:
    # Transceiver sensors say Rx/Tx (or receive/transmit); a PSU's "Output power" is not optics.
    words = set(label.replace("-", " ").replace("_", " ").split())
    if "receive" in words:
        return "rx"
    if "transmit" in words:
        return "tx"
    return "rx" if "rx" in label else "tx" if "tx" in label else None


def entity_sensor(group: Group, tables: Tables, ctx: _Context | None = None) -> list[Reading]:
    """One `sensor` reading per operational sensor, its field named by its type and unit.
    Optical power in watts (transceiver 'Rx/Tx Power' sensors) becomes `rx_power_dbm` /
    `tx_power_dbm`, the unit OLT and optics people read; sensors typed other/unknown whose
    vendor units say dBm (optics reported directly in dBm) are kept the same way.
    Unavailable sensors and values outside the MIB's range are discarded as unsupported,
    physically impossible ones as implausible."""
    out: list[Reading] = []
    types = _lookup(tables, ENT_TYPE)

    def discard(tags: dict[str, str], name: str, vb: Varbind, reason: str, value: float | None = None,
                verdict: Verdict | None = None) -> None:
        if ctx is not None and ctx.discarded is not None:
            raw = vb.value if not isinstance(vb.value, bytes) else vb.text()
            ctx.discarded.append(Discarded(ctx.profile, ctx.measurement, tags, name, vb.oid, raw, reason, value, verdict))

    for index, tvb in types.items():
        if not isinstance(tvb.value, int):
            continue
        vvb = _lookup(tables, ENT_VALUE).get(index)
        status = _lookup(tables, ENT_STATUS).get(index)
        if vvb is None or not isinstance(vvb.value, int):
            continue
        tags = dict(group.static_tags)
        tags["index"] = index
        tags["sensor_type"] = ENT_SENSOR_TYPES.get(tvb.value, str(tvb.value))
        for ts in group.tags:
            text = _tag_value(ts, index, tables)
            if text is not None:
                tags[ts.tag] = text
        units = (_lookup(tables, ENT_UNITS).get(index) or Varbind("", "", b"")).text()
        label = (tags.get("sensor") or "").lower()
        name = _ent_field(tvb.value, units)
        if name is None:
            continue  # a sensor whose quantity nothing says (other/unknown without units)
        if status is not None and status.value != 1 or not ENT_VALUE_RANGE[0] <= vvb.value <= ENT_VALUE_RANGE[1]:
            discard(tags, name, vvb, "unsupported")  # unavailable / nonoperational / out of range
            continue
        scale_vb = _lookup(tables, ENT_SCALE).get(index)
        prec_vb = _lookup(tables, ENT_PRECISION).get(index)
        scale = scale_vb.value if scale_vb is not None and isinstance(scale_vb.value, int) else 9
        precision = prec_vb.value if prec_vb is not None and isinstance(prec_vb.value, int) else 0
        value = entity_sensor_value(vvb.value, scale, precision)
        direction = _direction(label)
        if tvb.value == 6 and ("power sensor" in label or "dbm" in units.lower()) and direction:
            if value <= 0:
                discard(tags, f"{direction}_power_dbm", vvb, "unsupported")
                continue
            name, value = f"{direction}_power_dbm", round(10 * math.log10(value * 1000.0), 3)
        elif name == "power_dbm" and direction:
            name = f"{direction}_power_dbm"
        if name == "state":
            out.append(Reading(group.measurement, tags, {name: vvb.value == 1}))
            continue
        exponent = 3 * (scale - 9) - precision
        verdict = check(name, value, default_range(name), None if name.endswith("_dbm") else vvb.value, 10.0**exponent)
        if verdict is not None:
            discard(tags, name, vvb, "implausible", value, verdict)
            continue
        out.append(Reading(group.measurement, tags, {name: value}))
    return out
