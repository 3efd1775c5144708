"""`import_file`: one meter's export through the live energy and carbon steps into the sinks.

Steps: read and stage the whole file (validating every line), refuse it if a line is bad
(unless `skip_bad`), then stream the sorted readings through the energy maths, leave out the
time already covered by live data for this meter, and write `energy` + `carbon` points.

Idempotency. An imported interval is keyed like a live one (measurement + tags + end time),
and the same file always gives the same intervals, tags and timestamps, so a rerun (or a
resumed import after a kill) overwrites what the first run wrote instead of adding to it.

Which source wins: live data. Where the meter already has live (non-imported) `energy`
intervals in the store, imported intervals are cut to the time those do not cover. The
agent's own intervals are what the dashboards have shown, carry the measurement method the
uncertainty depends on, and are finer than a utility's half-hours; an import fills history
and holes. (A utility meter such as an Enedis PRM is normally its own inventory meter, so it
never competes with a PDU's live series.) `carbon.history.overlap.resolve` applies the same
rule when reading, for live data that arrives after an import.

Method tags: intervals from the file are `imported`; the holes between them are `estimated`
or `missing` under the same gap policy as live data.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from agent.point import Point
from carbon.emissions import PARIS, carbon_points, energy_point, local_year
from carbon.energy import NS, EnergyInterval, GapPolicy, clip
from carbon.factors import EmissionFactor, FactorError, FactorTable, MissingYear
from carbon.history.readers import (
    ImportFormatError,
    Kind,
    Problem,
    ReadStats,
    Row,
    detect_format,
    open_text,
    read_csv,
    read_enedis,
    read_lp,
    unit_factor,
)
from carbon.history.stream import Staging, fill_gaps, overlapping_rows, raw_intervals, readings
from carbon.history.timeparse import LocalClock, zone
from carbon.intensity import GridIntensity

IMPORTED = "imported"
STAGE_BATCH = 10_000
WRITE_BATCH = 20_000
MAX_LISTED = 50  # problems listed in full; the rest are counted


class PointWriter(Protocol):
    async def write(self, points: list[Point]) -> None: ...


@dataclass(frozen=True)
class MeterTarget:
    """The meter as the inventory declares it (flags may override kind, unit and modulus).

    `tags`: the identity and meter tags the live processor puts on this meter's energy points
    (site, site_kind, member, contract, operator, device, device_kind, meter, meter_role,
    meter_load, zone). `modulus`: counter modulus in the meter's unit."""

    meter: str
    kind: Kind
    tags: dict[str, str]
    zone: str = "fr-continental"
    unit: str | None = None
    modulus: float | None = None


@dataclass(frozen=True)
class ImportOptions:
    format: str = "auto"
    time_column: str | None = None
    value_column: str | None = None
    tz: str = "Europe/Paris"
    step_s: int = 0
    direction: str = "consumption"
    skip_bad: bool = False


@dataclass
class ImportResult:
    path: str
    format: str
    rows: int = 0
    readings: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    stats: ReadStats = field(default_factory=ReadStats)
    intervals: int = 0
    kwh: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    live_s: float = 0.0  # seconds of the file's span left to live data
    points: int = 0
    span: tuple[int, int] | None = None
    factors: set[str] = field(default_factory=set)

    @property
    def total_kwh(self) -> float:
        return sum(self.kwh.values())

    def problem_lines(self) -> list[str]:
        out = [f"{self.path}:{p.line}: {p.reason}" for p in self.problems]
        if self.problem_count > len(self.problems):
            out.append(f"{self.path}: ... and {self.problem_count - len(self.problems)} more bad lines")
        return out


class ImportRejected(Exception):
    """The file has bad lines and `skip_bad` is off: nothing was written."""

    def __init__(self, result: ImportResult):
        self.result = result
        super().__init__(
            f"{result.path}: {result.problem_count} bad line(s), nothing imported (use --skip-bad to import the good lines)"
        )


class LiveCoverage:
    """Time already covered by live intervals of the meter: merged [start, end) ranges."""

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()):
        merged: list[list[int]] = []
        for s, e in sorted(intervals):
            if e <= s:
                continue
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def __bool__(self) -> bool:
        return bool(self.starts)

    def outside(self, iv: EnergyInterval) -> list[EnergyInterval]:
        """The parts of `iv` no live range covers, energy prorated by time."""
        if not self.starts:
            return [iv]
        i = bisect.bisect_right(self.ends, iv.start_ns)
        parts: list[EnergyInterval] = []
        cursor = iv.start_ns
        while i < len(self.starts) and self.starts[i] < iv.end_ns:
            if self.starts[i] > cursor:
                part = clip(iv, cursor, self.starts[i])
                if part is not None:
                    parts.append(part)
            cursor = max(cursor, self.ends[i])
            i += 1
        if cursor < iv.end_ns:
            part = clip(iv, cursor, iv.end_ns)
            if part is not None:
                parts.append(part)
        return parts


def _rows(path: Path, fmt: str, target: MeterTarget, opts: ImportOptions, stats: ReadStats) -> Iterator[Row | Problem]:
    clock = LocalClock(zone(opts.tz))
    with open_text(path) as f:
        if fmt == "lp":
            yield from read_lp(f, target.kind, target.meter, stats)
        elif fmt == "enedis":
            yield from read_enedis(f, target.kind, clock, stats, direction=opts.direction, step_s=opts.step_s)
        else:
            factor = unit_factor(target.kind, target.unit)
            yield from read_csv(f, target.kind, factor, clock, stats, time_column=opts.time_column,
                                value_column=opts.value_column, step_s=opts.step_s)


def stage(path: Path, target: MeterTarget, opts: ImportOptions) -> tuple[Staging, ImportResult]:
    """Read the whole file into a staging table; the result lists the bad lines."""
    fmt = detect_format(path) if opts.format == "auto" else opts.format
    if fmt not in ("csv", "enedis", "lp"):
        raise ImportFormatError(f"unknown format {fmt!r}")
    result = ImportResult(str(path), fmt)
    staging = Staging()
    try:
        batch: list[Row] = []
        for item in _rows(path, fmt, target, opts, result.stats):
            if isinstance(item, Problem):
                result.problem_count += 1
                if len(result.problems) < MAX_LISTED:
                    result.problems.append(item)
                continue
            batch.append(item)
            if len(batch) >= STAGE_BATCH:
                staging.add(batch)
                batch = []
        staging.add(batch)
        if target.kind == "interval":
            bad = overlapping_rows(staging)
            for _t, _sub, line, reason in bad:
                result.problem_count += 1
                if len(result.problems) < MAX_LISTED:
                    result.problems.append(Problem(line, reason))
            staging.drop([(t, sub) for t, sub, _line, _reason in bad])
        result.problems.sort(key=lambda p: p.line)
        result.rows = staging.count
        result.readings = staging.distinct()
        result.span = staging.span()
    except BaseException:
        staging.close()
        raise
    return staging, result


def _year_start_ns(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=PARIS).timestamp()) * NS


class CarbonStep:
    """The carbon points of an energy point: BEGES factor of the interval's year, grid
    intensity if a provider covers it (same functions as `carbon.processor`)."""

    def __init__(self, factors: FactorTable, zone_name: str, missing_year: MissingYear, grid: GridIntensity | None):
        self.factors = factors
        self.zone = zone_name
        self.missing_year = missing_year
        self.grid = grid
        self._cache: dict[int, EmissionFactor | None] = {}
        self._span = (0, 0)  # (start, end] of the local year of `_current`, as `local_year` counts
        self._current: EmissionFactor | None = None
        self.errors: set[str] = set()

    def factor(self, end_ns: int) -> EmissionFactor | None:
        if self._span[0] < end_ns <= self._span[1]:  # same local year as the previous interval
            return self._current
        year = local_year(end_ns)
        if year not in self._cache:
            try:
                self._cache[year] = self.factors.factor(self.zone, year, self.missing_year)
            except FactorError as exc:
                self._cache[year] = None
                self.errors.add(str(exc))
        self._span = (_year_start_ns(year), _year_start_ns(year + 1))
        self._current = self._cache[year]
        return self._current

    def points(self, energy: Point, start_ns: int) -> list[Point]:
        grid = self.grid.intensity(start_ns, energy.time_ns) if self.grid is not None else None
        return carbon_points(energy, self.factor(energy.time_ns), grid)


async def import_file(
    path: str | Path,
    target: MeterTarget,
    writer: PointWriter,
    carbon: CarbonStep,
    *,
    options: ImportOptions | None = None,
    policy: GapPolicy | None = None,
    live: Callable[[int, int], Awaitable[LiveCoverage]] | None = None,
) -> ImportResult:
    """Import one file; raises `ImportRejected` (nothing written) if it has bad lines and
    `options.skip_bad` is off, `ImportFormatError` if it cannot be read at all."""
    p = Path(path)
    options = options or ImportOptions()
    policy = policy or GapPolicy()
    try:
        staging, result = stage(p, target, options)
    except OSError as exc:
        raise ImportFormatError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        if result.problem_count and not options.skip_bad:
            raise ImportRejected(result)
        if result.span is None:
            return result
        coverage = await live(result.span[0] - 366 * 86400 * NS, result.span[1]) if live else LiveCoverage()
        modulus_kwh = target.modulus * unit_factor("counter", target.unit) if target.modulus and target.kind == "counter" else None
        ivs = fill_gaps(raw_intervals(readings(staging.rows(), target.kind), target.kind, policy, modulus_kwh), policy)
        batch: list[Point] = []
        for iv in ivs:
            parts = coverage.outside(iv)
            kept_s = 0.0
            for part in parts:
                if part.end_ns <= part.start_ns:
                    continue
                method = IMPORTED if part.method in ("measured", "integrated") else part.method
                kept_s += part.duration_s
                result.intervals += 1
                result.kwh[method] = result.kwh.get(method, 0.0) + part.kwh
                result.seconds[method] = result.seconds.get(method, 0.0) + part.duration_s
                energy = energy_point(part, dict(target.tags))
                energy.tags["method"] = method
                batch.append(energy)
                batch.extend(carbon.points(energy, part.start_ns))
            result.live_s += iv.duration_s - kept_s
            if len(batch) >= WRITE_BATCH:
                await writer.write(batch)
                result.points += len(batch)
                batch = []
        if batch:
            await writer.write(batch)
            result.points += len(batch)
        result.factors = {f"{f.source_tag} [{f.version_tag}]" for f in carbon._cache.values() if f is not None}
        return result
    finally:
        staging.close()


def meter_target(config: Any, meter: str, *, kind: str | None = None, unit: str | None = None,
                 modulus: float | None = None) -> MeterTarget:
    """The meter's tags and settings from the inventory (duck-typed on agent.config), with the
    same identity tags `carbon.processor` puts on live energy points."""
    site, dev = find_meter(config, meter)
    m = dev.meter
    site_zone = getattr(site, "zone", "fr-continental")
    tags = {"site": site.id, "site_kind": site.kind}
    for key in ("member", "contract", "operator"):
        if getattr(site, key, None):
            tags[key] = getattr(site, key)
    tags.update({"device": dev.id, "device_kind": dev.kind, "meter": dev.id, "meter_role": m.role,
                 "meter_load": m.load, "zone": site_zone})
    chosen: Any = kind or getattr(m, "kind", None)
    if chosen is None:
        raise ValueError(f"meter {meter!r}: say what its readings are with --kind counter|power|interval "
                         "(or 'kind' under its 'meter:' entry)")
    if chosen not in ("counter", "power", "interval"):
        raise ValueError(f"--kind {chosen!r}: choose counter, power or interval")
    unit = unit or getattr(m, "unit", None)
    unit_factor(chosen, unit)  # a unit that does not fit the kind fails here, before reading
    return MeterTarget(meter, chosen, tags, site_zone, unit,
                       modulus if modulus is not None else getattr(m, "modulus", None))


def find_meter(config: Any, meter: str) -> tuple[Any, Any]:
    """(site, device) of a metered inventory device; ValueError saying what is wrong."""
    for site in config.inventory.sites:
        for dev in site.devices:
            if dev.id == meter:
                if getattr(dev, "meter", None) is None:
                    raise ValueError(f"device {meter!r} has no 'meter:' entry in the inventory, so it is not metered")
                return site, dev
    raise ValueError(f"no device {meter!r} in the inventory")
