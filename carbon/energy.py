"""Energy per interval from a meter's readings: counter deltas or power integration.

These are plain functions over a sequence of readings, so the live pipeline, `sentinelle
import` of historical exports and `recompute` all run the same maths.

Methods (the `method` tag of `energy` points):
- `measured`: the difference of a cumulative counter (kWh index). A counter that kept counting
  across an agent or device outage still gives the exact energy of the gap, so a long gap
  between two counter readings is `measured` too, as long as the counter did not restart.
- `integrated`: trapezoid integration of power samples no further apart than `max_gap_s`.
- `estimated`: a gap (power samples too far apart, or a counter restart across a long gap)
  filled with the mean power of the neighbouring intervals, if the policy says so.
- `imported`: an interval read from a past export (`sentinelle import`, carbon/history): a
  meter's own readings or a utility's load curve, not polled by the agent.
- `missing`: a gap left unfilled. Its `kwh` is what is known for sure (0, or the energy a
  restarted counter counted since its restart), so totals are lower bounds and completeness
  shows the hole.

This is the one place a meter counter is differenced (docs/meter-readings.md): collectors
emit the raw cumulative value and what the device knows about it, never a delta.

Counter decreases: a reading flagged `reset` by the collector (reboot, user reset of an energy
meter) restarts from zero, so the energy of that interval is the new value (a lower bound: the
energy between the previous reading and the restart is lost, at most one poll interval). A
decrease without the flag is a wrap when the counter modulus is known and the wrapped delta is
below half of it, otherwise it is handled as an unflagged reset. No negative energy is ever
produced.

Implausible jumps: an increase above the counter's own ceiling (`max_rate_kwh_s`, declared by
the collector's profile) or the policy's `max_power_w` over the elapsed time is a glitch or a
swapped meter, not energy: the interval is a gap (`missing`, or estimated per the policy) and
the next reading is differenced from the new value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sentinelle.agent.core import NS

Method = Literal["measured", "integrated", "imported", "estimated", "missing"]
# How the increase between two counter readings was judged (`counter_increment`).
CounterOutcome = Literal["counted", "wrapped", "restarted", "implausible"]
METHODS: tuple[Method, ...] = ("measured", "integrated", "imported", "estimated", "missing")
# Methods whose intervals are data (not gap filling): they count towards completeness.
DATA_METHODS: frozenset[str] = frozenset({"measured", "integrated", "imported"})
J_PER_KWH = 3_600_000.0


class EnergyInputError(ValueError):
    """A reading that cannot be used (not finite, negative, or out of order)."""


@dataclass(frozen=True, slots=True)
class CounterReading:
    """One reading of a cumulative kWh counter.

    `reset`: the collector saw the counter restart before this reading (device reboot,
    user reset). `wrap_kwh`: the counter's modulus in kWh when it can wrap (Counter32 scaled).
    `max_rate_kwh_s`: the most the meter can plausibly count per second; above it an increase
    is a glitch, not energy.
    """

    time_ns: int
    kwh: float
    reset: bool = False
    wrap_kwh: float | None = None
    max_rate_kwh_s: float | None = None


@dataclass(frozen=True, slots=True)
class PowerSample:
    time_ns: int
    watts: float


@dataclass(frozen=True, slots=True)
class EnergyInterval:
    start_ns: int
    end_ns: int
    kwh: float
    method: Method

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / NS

    @property
    def mean_power_w(self) -> float:
        d = self.duration_s
        return self.kwh * J_PER_KWH / d if d > 0 else 0.0


@dataclass(frozen=True, slots=True)
class GapPolicy:
    """What a hole in the data becomes.

    `max_gap_s`: power samples further apart than this are not integrated, and a counter
    restart across an interval longer than this is a gap. `fill`: `estimate` fills gaps from
    the mean power of up to `neighbours` valid intervals on each side; `missing` leaves them.
    `max_power_w`: a counter increase implying more than this mean power is a glitch (for
    example a counter replaced by one with a higher index): the interval is a gap.
    """

    max_gap_s: float = 900.0
    fill: Literal["estimate", "missing"] = "estimate"
    neighbours: int = 4
    max_power_w: float | None = None

    def __post_init__(self) -> None:
        if not self.max_gap_s > 0:
            raise ValueError("max_gap_s must be positive")
        if self.fill not in ("estimate", "missing"):
            raise ValueError("fill must be 'estimate' or 'missing'")
        if self.neighbours < 1:
            raise ValueError("neighbours must be at least 1")


def _check_value(value: float, what: str, time_ns: int) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise EnergyInputError(f"{what} at {time_ns} is not a finite number: {value!r}")
    if value < 0:
        raise EnergyInputError(f"{what} at {time_ns} is negative: {value!r}")


def _ordered(items: Iterable[CounterReading | PowerSample]) -> list:
    """Sorted by time; a repeated timestamp keeps its last reading (a replayed poll)."""
    by_time: dict[int, CounterReading | PowerSample] = {}
    for item in items:
        by_time[int(item.time_ns)] = item
    return [by_time[t] for t in sorted(by_time)]


# A pending gap: (index in the output list, start, end, kWh known for sure).
_Gap = tuple[int, int, int, float]


def counter_delta(prev: CounterReading, cur: CounterReading) -> tuple[float, bool]:
    """(kWh between two readings, whether the counter restarted in between)."""
    if cur.reset:
        return cur.kwh, True
    if cur.kwh >= prev.kwh:
        return cur.kwh - prev.kwh, False
    wrap = cur.wrap_kwh or prev.wrap_kwh
    if wrap and prev.kwh <= wrap:
        wrapped = cur.kwh + wrap - prev.kwh
        if 0 <= wrapped < wrap / 2:
            return wrapped, False
    return cur.kwh, True


def counter_increment(
    prev: CounterReading, cur: CounterReading, max_power_w: float | None = None
) -> tuple[float, CounterOutcome]:
    """kWh counted between two readings and how it was judged (see the module docstring).

    `implausible` gives 0 kWh: the jump is above the reading's `max_rate_kwh_s` (or the
    previous one's) or implies more than `max_power_w`; a restart is never judged so.
    """
    kwh, restarted = counter_delta(prev, cur)
    if restarted:
        return kwh, "restarted"
    dt_s = (cur.time_ns - prev.time_ns) / NS
    if dt_s > 0:
        rate = cur.max_rate_kwh_s if cur.max_rate_kwh_s is not None else prev.max_rate_kwh_s
        if rate is not None and kwh > rate * dt_s:
            return 0.0, "implausible"
        if max_power_w is not None and kwh * J_PER_KWH / dt_s > max_power_w:
            return 0.0, "implausible"
    return kwh, "counted" if cur.kwh >= prev.kwh else "wrapped"


def counter_intervals(readings: Iterable[CounterReading], policy: GapPolicy = GapPolicy()) -> list[EnergyInterval]:
    """Energy intervals between consecutive counter readings (see the module docstring)."""
    ordered: list[CounterReading] = _ordered(readings)
    inf = math.inf
    for r in ordered:
        v = r.kwh
        if type(v) is not float or not 0.0 <= v < inf:  # fast path: a finite non-negative float passes
            _check_value(v, "counter reading", r.time_ns)
    out: list[EnergyInterval] = []
    append = out.append
    gaps: list[_Gap] = []
    max_power_w, max_gap_s = policy.max_power_w, policy.max_gap_s
    for prev, cur in zip(ordered, ordered[1:], strict=False):
        if (not cur.reset and cur.kwh >= prev.kwh and max_power_w is None
                and cur.max_rate_kwh_s is None and prev.max_rate_kwh_s is None):  # the common case
            kwh, outcome = cur.kwh - prev.kwh, "counted"
        else:
            kwh, outcome = counter_increment(prev, cur, max_power_w)
        if outcome == "implausible" or (outcome == "restarted" and (cur.time_ns - prev.time_ns) / NS > max_gap_s):
            gaps.append((len(out), prev.time_ns, cur.time_ns, kwh))
            append(EnergyInterval(prev.time_ns, cur.time_ns, kwh, "missing"))
        else:
            append(EnergyInterval(prev.time_ns, cur.time_ns, kwh, "measured"))
    return _fill_gaps(out, gaps, policy)


def power_intervals(samples: Iterable[PowerSample], policy: GapPolicy = GapPolicy()) -> list[EnergyInterval]:
    """Trapezoid integration of power samples; gaps longer than `max_gap_s` per the policy."""
    ordered: list[PowerSample] = _ordered(samples)
    for s in ordered:
        _check_value(s.watts, "power sample", s.time_ns)
    out: list[EnergyInterval] = []
    gaps: list[_Gap] = []
    for prev, cur in zip(ordered, ordered[1:], strict=False):
        dt_s = (cur.time_ns - prev.time_ns) / NS
        if dt_s > policy.max_gap_s:
            gaps.append((len(out), prev.time_ns, cur.time_ns, 0.0))
            out.append(EnergyInterval(prev.time_ns, cur.time_ns, 0.0, "missing"))
        else:
            kwh = (prev.watts + cur.watts) / 2.0 * dt_s / J_PER_KWH
            out.append(EnergyInterval(prev.time_ns, cur.time_ns, kwh, "integrated"))
    return _fill_gaps(out, gaps, policy)


def neighbour_power_w(intervals: Sequence[EnergyInterval], index: int, count: int) -> float | None:
    """Mean power (W) of up to `count` valid intervals on each side of `index`, or None."""
    picked: list[EnergyInterval] = []
    for step in (-1, 1):
        i, n = index + step, 0
        while 0 <= i < len(intervals) and n < count:
            iv = intervals[i]
            if iv.method in DATA_METHODS and iv.duration_s > 0:
                picked.append(iv)
                n += 1
            i += step
    seconds = sum(iv.duration_s for iv in picked)
    if seconds <= 0:
        return None
    return sum(iv.kwh for iv in picked) * J_PER_KWH / seconds


def estimate_gap(start_ns: int, end_ns: int, known_kwh: float, power_w: float | None) -> EnergyInterval:
    """A gap filled from a mean power; never less than what a counter proved was used."""
    if power_w is None:
        return EnergyInterval(start_ns, end_ns, known_kwh, "missing")
    est = power_w * (end_ns - start_ns) / NS / J_PER_KWH
    return EnergyInterval(start_ns, end_ns, max(est, known_kwh), "estimated")


def _fill_gaps(out: list[EnergyInterval], gaps: list[_Gap], policy: GapPolicy) -> list[EnergyInterval]:
    if policy.fill == "missing" or not gaps:
        return out
    filled = list(out)
    for index, start, end, known in gaps:
        filled[index] = estimate_gap(start, end, known, neighbour_power_w(out, index, policy.neighbours))
    return filled


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a period a meter's intervals cover: seconds and kWh per method, and the
    seconds covered by fine-grained data (measured or integrated intervals no longer than the
    gap threshold). A week between two counter readings gives exact (`measured`) energy but
    not a week of data, so it lowers completeness all the same."""

    period_s: float
    seconds: dict[str, float]
    kwh: dict[str, float]
    covered_s: float

    @property
    def total_kwh(self) -> float:
        return sum(self.kwh.values())

    @property
    def completeness(self) -> float:
        """Share of the period covered by fine-grained measured, integrated or imported data (0..1)."""
        if self.period_s <= 0:
            return 0.0
        return min(1.0, self.covered_s / self.period_s)


def clip(interval: EnergyInterval, start_ns: int, end_ns: int) -> EnergyInterval | None:
    """The part of an interval inside [start_ns, end_ns), energy prorated by time."""
    s, e = max(interval.start_ns, start_ns), min(interval.end_ns, end_ns)
    if e <= s:
        return None
    if s == interval.start_ns and e == interval.end_ns:
        return interval
    share = (e - s) / (interval.end_ns - interval.start_ns)
    return EnergyInterval(s, e, interval.kwh * share, interval.method)


def coverage(
    intervals: Iterable[EnergyInterval], start_ns: int, end_ns: int, max_gap_s: float = math.inf
) -> Coverage:
    """Seconds and kWh per method of `intervals` within [start_ns, end_ns), prorated at the edges."""
    seconds = {m: 0.0 for m in METHODS}
    kwh = {m: 0.0 for m in METHODS}
    covered = 0.0
    for iv in intervals:
        part = clip(iv, start_ns, end_ns)
        if part is None:
            continue
        seconds[part.method] += part.duration_s
        kwh[part.method] += part.kwh
        if part.method in DATA_METHODS and iv.duration_s <= max_gap_s:
            covered += part.duration_s
    return Coverage((end_ns - start_ns) / NS, seconds, kwh, covered)
