"""Cumulative counters done right: wrap, reboot, user reset, sentinels, absurd jumps.

Contract (also in README.md): for a `counter` field `x` the collector emits
- `x`: the raw cumulative value, scaled (always, when the device answers with a real reading);
- `x_delta`: the increase since the previous sample of the same series, scaled, **never
  negative**, only when it is trustworthy (a Counter32 wrap is unwrapped; a Counter64 never
  wraps in practice so a drop is a reset);
- `counter_reset=true` on the point when the cumulative baseline changed since the previous
  sample (device reboot for volatile counters, a meter reset by a user, a value that dropped,
  a jump above `max_rate`): the consumer must not difference `x` across that sample. No
  `x_delta` is emitted for it.
The first sample of a series (no state yet) carries `x` only: neither delta nor reset.
A `-1` "unsupported" sentinel or a negative value never reaches this module (decode.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sentinelle.collectors.snmp.decode import CounterSample, Reading, scaled

WRAP = {"Counter32": 2**32, "Counter64": 2**64}
TIMETICKS_WRAP = 2**32
# A Counter32 wrap is believed only if the unwrapped delta is below half the range.
MAX_WRAP_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class CounterStep:
    """The outcome for one counter sample: `delta` (raw units, >= 0) or a `reason` why not."""

    delta: int | None
    reason: str  # ok, wrap, first, reboot, meter_reset, decrease, implausible

    @property
    def reset(self) -> bool:
        return self.reason in ("reboot", "meter_reset", "decrease", "implausible")


@dataclass(slots=True)
class CounterState:
    raw: int
    marker: str | None
    time_s: float


def counter_step(
    prev: CounterState | None,
    sample: CounterSample,
    time_s: float,
    rebooted: bool,
) -> CounterStep:
    """Decide the delta between the previous and this sample of one counter."""
    if prev is None:
        return CounterStep(None, "first")
    spec = sample.spec
    if sample.marker is not None and prev.marker is not None and sample.marker != prev.marker:
        return CounterStep(None, "meter_reset")
    if rebooted and not spec.persistent:
        return CounterStep(None, "reboot")
    raw, old = sample.raw, prev.raw
    reason = "ok"
    if raw >= old:
        delta = raw - old
    else:
        wrap = WRAP.get(sample.syntax)
        if sample.syntax == "Counter32" and wrap is not None and not rebooted:
            delta = raw + wrap - old
            if delta > wrap * MAX_WRAP_FRACTION:
                return CounterStep(None, "decrease")
            reason = "wrap"
        else:
            return CounterStep(None, "decrease")
    elapsed = time_s - prev.time_s
    if spec.max_rate is not None and elapsed > 0 and delta * abs(spec.scale) * sample.extra_scale > spec.max_rate * elapsed:
        return CounterStep(None, "implausible")
    return CounterStep(delta, reason)


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


class CounterBook:
    """Per-device counter memory: applies `counter_step` to every counter of every reading,
    adds `<name>_delta` and `counter_reset`, and remembers the new values. Serialisable so an
    agent restart does not lose one interval of energy."""

    def __init__(self) -> None:
        self._state: dict[str, CounterState] = {}
        self.last_reasons: dict[str, str] = {}

    @staticmethod
    def _key(reading: Reading, name: str) -> str:
        tags = ",".join(f"{k}={v}" for k, v in sorted(reading.tags.items()))
        return f"{reading.measurement}|{tags}|{name}"

    def apply(self, reading: Reading, time_s: float, rebooted: bool) -> None:
        for name, sample in reading.counters.items():
            key = self._key(reading, name)
            step = counter_step(self._state.get(key), sample, time_s, rebooted)
            self.last_reasons[key] = step.reason
            if step.delta is not None and sample.spec.delta:
                reading.fields[f"{name}_delta"] = scaled(step.delta, sample.spec.scale) * sample.extra_scale
            if step.reset:
                reading.fields["counter_reset"] = True
            self._state[key] = CounterState(sample.raw, sample.marker, time_s)

    def to_json(self) -> dict[str, Any]:
        return {key: asdict(state) for key, state in self._state.items()}

    @classmethod
    def from_json(cls, data: Any) -> CounterBook:
        book = cls()
        if isinstance(data, dict):
            for key, value in data.items():
                try:
                    book._state[str(key)] = CounterState(int(value["raw"]), value.get("marker"), float(value["time_s"]))
                except (KeyError, TypeError, ValueError):
                    continue  # a damaged entry costs one delta, nothing more
        return book
