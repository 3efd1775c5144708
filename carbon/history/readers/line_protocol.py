"""InfluxDB line protocol of raw readings, as the collectors write them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from sentinelle.agent.lineprotocol import LineProtocolError, parse_line
from sentinelle.carbon.history.readers.common import ImportFormatError, Kind, Problem, ReadStats, Row
from sentinelle.carbon.meters import (
    COUNTER_FIELD,
    LEGACY_WRAP_FIELD,
    MAX_RATE_FIELD,
    RESET_FIELD,
    SKIP_MEASUREMENTS,
    WRAP_FIELD,
    counter_description,
)


def read_lp(f: TextIO, kind: Kind, meter: str, stats: ReadStats) -> Iterator[Row | Problem]:
    """Raw readings as the collectors write them; lines of other devices are skipped. The counter's
    `_wrap` and `_max_rate` fields, when the points carry them, are kept in `stats` for the maths."""
    if kind == "interval":
        raise ImportFormatError("line protocol imports counters (energy_kwh_total) or power (power_w), not --kind interval")
    for n, raw in enumerate(f, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            p = parse_line(line)
        except LineProtocolError as exc:
            yield Problem(n, f"line protocol: {exc}")
            continue
        if "device" in p.tags and p.tags["device"] != meter:
            stats.skip("other device")
            continue
        if p.measurement in SKIP_MEASUREMENTS:
            stats.skip(f"measurement {p.measurement}")
            continue
        if kind == "counter":
            value = p.fields.get(COUNTER_FIELD)
            if value is None:
                stats.skip("no energy_kwh_total field")
                continue
            wrap = counter_description(p.fields.get(WRAP_FIELD, p.fields.get(LEGACY_WRAP_FIELD)))
            stats.wrap_kwh = wrap if wrap is not None else stats.wrap_kwh
            rate = counter_description(p.fields.get(MAX_RATE_FIELD))
            stats.max_rate_kwh_s = rate if rate is not None else stats.max_rate_kwh_s
        else:
            value = next((p.fields[k] for k in ("power_w", "output_power_w") if k in p.fields), None)
            if value is None:
                stats.skip("no power_w field")
                continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
            yield Problem(n, f"value {value!r} is not a non-negative number")
            continue
        yield Row(n, int(p.time_ns), float(value), reset=bool(p.fields.get(RESET_FIELD, False)))
