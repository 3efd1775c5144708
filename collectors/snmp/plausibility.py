"""Physical ranges for well-known quantities, checked on scaled values.

Why: some cards answer RFC 1628 objects in other units than the MIB says (input frequency
5000 for 50.00 Hz, voltage 2369 for 236.9 V). Such a value is not a reading: it is held back,
counted, and `probe` shows the scale that would make it plausible, so the user can set an
override (`overrides: {ups_input.frequency_hz: {scale: 0.01}}`) instead of a dashboard
showing 500 Hz. Ranges are deliberately wide (what no real site shows), so they catch scale
errors, not unusual sites. A profile field can set its own range with `plausible:`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sentinelle.collectors.snmp.profiles import FieldSpec, Plausible


@dataclass(frozen=True, slots=True)
class Range:
    lo: float | None
    hi: float | None

    def contains(self, value: float) -> bool:
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)

    def __str__(self) -> str:
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "+inf" if self.hi is None else f"{self.hi:g}"
        return f"{lo}..{hi}"


# (field-name ending, range): the first ending that matches wins, so specific names come first.
QUANTITIES: tuple[tuple[str, Range], ...] = (
    ("frequency_hz", Range(45.0, 65.0)),       # mains, 50 Hz (60 Hz abroad) +- what UPSs accept
    ("power_factor", Range(-1.0, 1.0)),
    ("battery_voltage_v", Range(0.0, 1000.0)),  # 12 V blocks up to ~600 V strings; see `ratio`
    ("_v", Range(0.0, 500.0)),                  # AC phase/line voltages and DC rails
    ("_c", Range(-40.0, 100.0)),                # temperatures of rooms, batteries, boards
    ("load_pct", Range(0.0, 200.0)),            # UPS-MIB upsOutputPercentLoad (0..200): overload is real
    ("_pct", Range(0.0, 100.0)),
    ("_a", Range(0.0, 5000.0)),
    ("_w", Range(0.0, 5_000_000.0)),
    ("_va", Range(0.0, 5_000_000.0)),
    ("_dbm", Range(-60.0, 30.0)),               # optical power: receiver floor .. amplifier
)

TRY_EXPONENTS = (-1, 1, -2, 2, -3, 3)


@functools.lru_cache(maxsize=4096)  # per field, every poll: the answer depends on the name only
def default_range(name: str) -> Range | None:
    for ending, rng in QUANTITIES:
        if name.endswith(ending):
            return rng
    return None


def range_for(spec_name: str, plausible: Plausible | None, reference: float | None) -> Range | None:
    """The range a scaled value must fall in: the field's own `plausible`, narrowed by its
    reference (rating, nominal) when the device gave one, else the default for its quantity."""
    if plausible is None:
        return default_range(spec_name)
    lo, hi = plausible.min, plausible.max
    if plausible.ratio is not None and reference is not None and reference > 0:
        r_lo, r_hi = plausible.ratio[0] * reference, plausible.ratio[1] * reference
        lo = r_lo if lo is None else max(lo, r_lo)
        hi = r_hi if hi is None else min(hi, r_hi)
    if lo is None and hi is None:
        return default_range(spec_name)
    return Range(lo, hi)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a value is implausible and which scale would make it plausible (None: none does)."""

    expected: Range
    likely_scale: float | None
    likely_value: float | None


def check(name: str, value: float, rng: Range | None, raw: int | float | None = None,
          scale: float = 1.0, offset: float = 0.0) -> Verdict | None:
    """None when `value` is plausible; otherwise the verdict, with the likely scale found by
    trying powers of ten around the profile's scale on the raw value."""
    if rng is None or rng.contains(value):
        return None
    if raw is not None:
        for k in TRY_EXPONENTS:
            candidate_scale = scale * 10.0**k
            candidate = raw * candidate_scale + offset
            if rng.contains(candidate) and candidate != 0:
                return Verdict(rng, _round_scale(candidate_scale), candidate)
    return Verdict(rng, None, None)


def _round_scale(scale: float) -> float:
    return float(f"{scale:.6g}")


def check_field(spec: FieldSpec, value: float, raw: int | float | None, reference: float | None,
                extra_scale: float = 1.0) -> Verdict | None:
    return check(spec.name, value, range_for(spec.name, spec.plausible, reference), raw,
                 spec.scale * extra_scale, spec.offset)


# Active power against voltage x current on the same row (a UPS line, a PDU phase): above
# what the apparent power allows, or a power factor no loaded line has, is a scale error
# (a card reporting 0.1 kW as W, or 0 W for "not measured"), not a reading.
POWER_FACTOR_RANGE = (0.2, 1.2)
# Below this apparent power (VA) a line is idle enough for any power factor.
LOADED_VA = 500.0


def power_range(voltage_v: float, current_a: float) -> Range | None:
    """The plausible active power (W) of a row with this voltage and current, or None when
    the line is too lightly loaded to judge."""
    apparent = voltage_v * current_a
    if apparent < LOADED_VA:
        return Range(0.0, POWER_FACTOR_RANGE[1] * apparent) if apparent > 0 else None
    return Range(POWER_FACTOR_RANGE[0] * apparent, POWER_FACTOR_RANGE[1] * apparent)
