"""What the device knows about its counters, written next to their raw values; no delta.

The energy maths (differences, wraps, resets, implausible jumps) live once, in carbon/energy.py;
docs/meter-readings.md is the contract. For a `counter` field `x` the collector emits:
- `x`: the raw cumulative value, scaled (decode.py; always, when the device gives a reading);
- `counter_reset=true` on the point when the device itself says the count restarted since the
  previous sample: sysUpTime went back (a reboot) for a counter that does not survive one
  (`persistent: false`), or the profile's `reset_marker` (APC EnergyStartTime, Eaton WhTimer)
  changed. The first sample of a series never carries it;
- for a meter counter (unit kWh): `x_wrap`, its modulus in scaled units when the counter wraps
  (Counter32), and `x_max_rate`, the profile's `max_rate` (scaled units per second), if declared.
A value that drops without a marker is for the consumer to judge (a wrap or a reset).
A `-1` "unsupported" sentinel or a negative value never reaches this module (decode.py).
"""

from __future__ import annotations

from typing import Any

from sentinelle.collectors.snmp.decode import Reading, scaled

WRAP = {"Counter32": 2**32}  # a Counter64 never wraps in practice: a drop is a reset
TIMETICKS_WRAP = 2**32


def uptime_went_back(prev_cs: int | None, prev_time_s: float | None, uptime_cs: int, time_s: float) -> bool:
    """True when sysUpTime says the device restarted since the previous sample.

    sysUpTime (TimeTicks, 1/100 s) wraps after 497 days: a drop that matches the wrap within
    the elapsed time (plus a tolerance for poll jitter) is not a reboot.
    """
    if prev_cs is None or prev_time_s is None:
        return False
    if uptime_cs >= prev_cs:
        return False
    elapsed_cs = max(0.0, (time_s - prev_time_s) * 100.0)
    expected = prev_cs + elapsed_cs
    tolerance = 100.0 * 60 + elapsed_cs * 0.1
    return not (expected >= TIMETICKS_WRAP and abs(uptime_cs + TIMETICKS_WRAP - expected) <= tolerance)


class ResetMarkers:
    """Per-device memory of each counter series' last reset-marker value: all it takes to flag
    `counter_reset` (a series seen before, a marker that changed). Serialisable, so a user reset
    of a meter during an agent restart is still flagged."""

    def __init__(self) -> None:
        self._markers: dict[str, str | None] = {}

    @staticmethod
    def _key(reading: Reading, name: str) -> str:
        tags = ",".join(f"{k}={v}" for k, v in sorted(reading.tags.items()))
        return f"{reading.measurement}|{tags}|{name}"

    def apply(self, reading: Reading, rebooted: bool) -> set[str]:
        """Add `counter_reset` and the meter descriptions to `reading`; returns why it was
        reset: `meter_reset` (the marker changed) and/or `reboot` (a volatile counter)."""
        reasons: set[str] = set()
        for name, sample in reading.counters.items():
            key = self._key(reading, name)
            spec = sample.spec
            if key in self._markers:
                old = self._markers[key]
                if sample.marker is not None and old is not None and sample.marker != old:
                    reasons.add("meter_reset")
                elif rebooted and not spec.persistent:
                    reasons.add("reboot")
            self._markers[key] = sample.marker
            if spec.display_unit == "kWh":
                wrap = WRAP.get(sample.syntax)
                if wrap is not None:
                    reading.fields[f"{name}_wrap"] = scaled(wrap, abs(spec.scale)) * sample.extra_scale
                if spec.max_rate is not None:
                    reading.fields[f"{name}_max_rate"] = float(spec.max_rate)
        if reasons:
            reading.fields["counter_reset"] = True
        return reasons

    def to_json(self) -> dict[str, str | None]:
        return dict(self._markers)

    @classmethod
    def from_json(cls, data: Any) -> ResetMarkers:
        """The `markers` state: `{series key: marker value or null}`."""
        book = cls()
        if isinstance(data, dict):
            for key, marker in data.items():
                if marker is None or isinstance(marker, str):
                    book._markers[str(key)] = marker
        return book

    @classmethod
    def from_counters_state(cls, data: Any) -> ResetMarkers:
        """The `counters` state of releases that computed deltas here (`{series key: {"raw",
        "marker", "time_s"}}`): only the marker is still needed."""
        book = cls()
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, dict) and "raw" in value:
                    marker = value.get("marker")
                    book._markers[str(key)] = marker if isinstance(marker, str) else None
        return book
