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
import dataclasses
import functools
import itertools
import operator
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from sentinelle.agent.core import Point
from sentinelle.carbon.emissions import beges_flag, carbon_points, emitted_g
from sentinelle.carbon.energy import J_PER_KWH, NS, EnergyInterval, GapPolicy, clip
from sentinelle.carbon.factors import EmissionFactor, FactorError, FactorTable, MissingYear
from sentinelle.carbon.history.readers import (
    ImportFormatError,
    Kind,
    Problem,
    ReadStats,
    Row,
    StagedRow,
    detect_format,
    open_text,
    read_csv_tuples,
    read_enedis,
    read_lp,
    unit_factor,
)
from sentinelle.carbon.history.stream import Staging, fill_gaps, overlapping_rows, staged_intervals
from sentinelle.carbon.history.timeparse import LocalClock, zone
from sentinelle.carbon.intensity import GridIntensity, Intensity, grid_for_zone
from sentinelle.carbon.localtime import PARIS, local_year

if TYPE_CHECKING:
    from sentinelle.carbon.settings import CarbonConfig


IMPORTED = "imported"
MEASURED = ("measured", "integrated")  # what an import calls `imported`
CHUNK = 2048  # intervals computed together on the fast path
STAGE_BATCH = 10_000
WRITE_BATCH = 20_000
MAX_LISTED = 50  # problems listed in full; the rest are counted


class PointWriter(Protocol):
    async def write(self, points: list[Point]) -> None: ...


ENERGY_FIELDS = ("kwh", "duration_s")
CARBON_FIELDS = ("gco2e", "factor_gco2e_per_kwh", "kwh")


class PointBatch:
    """Points held by series: each (measurement, tags, field names) once, then one row
    (series index, time_ns, field values) per point. `Delivery.write_batch` hands the rows to
    the local store and to `encode_columns` without building `Point`s; `points()` builds the
    very points `energy_point` / `carbon_points` give, for a writer that takes points."""

    __slots__ = ("series", "rows", "index")

    def __init__(self) -> None:
        self.series: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
        self.rows: list[tuple[int, int, tuple[float, ...]]] = []
        self.index: dict[object, int] = {}  # series key -> index in `series`

    def __len__(self) -> int:
        return len(self.rows)

    def series_index(self, key: object, measurement: str, tags: dict[str, str], names: tuple[str, ...]) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.series)
            self.series.append((measurement, tags, names))
        return i

    def clear(self) -> None:
        """Empty the rows; the series stay known (the next batch reuses their indexes)."""
        self.rows = []

    def points(self, *, copy_tags: bool = True) -> list[Point]:
        """The points; `copy_tags=False` lets the points of a series share one tags dict (for a
        consumer that only reads them)."""
        series = self.series
        if copy_tags:
            return [Point(series[i][0], dict(series[i][1]), dict(zip(series[i][2], values, strict=True)), t)
                    for i, t, values in self.rows]
        return [Point(series[i][0], series[i][1], dict(zip(series[i][2], values, strict=True)), t)
                for i, t, values in self.rows]


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
    reset_column: str | None = None


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
    for item in _staged_rows(path, fmt, target, opts, stats):
        if type(item) is tuple:
            t, sub, v, step, reset, prio, line = item
            yield Row(line, t, v, sub, step, bool(reset), prio)
        else:
            yield item  # type: ignore[misc]


def _staged_rows(path: Path, fmt: str, target: MeterTarget, opts: ImportOptions,
                 stats: ReadStats) -> Iterator[Row | StagedRow | Problem]:
    """The file's readings as `Row`s or, for CSV, straight as staging tuples; and `Problem`s."""
    clock = LocalClock(zone(opts.tz))
    with open_text(path) as f:
        if fmt == "lp":
            yield from read_lp(f, target.kind, target.meter, stats)
        elif fmt == "enedis":
            yield from read_enedis(f, target.kind, clock, stats, direction=opts.direction, step_s=opts.step_s)
        else:
            factor = unit_factor(target.kind, target.unit)
            yield from read_csv_tuples(f, target.kind, factor, clock, stats, time_column=opts.time_column,
                                       value_column=opts.value_column, step_s=opts.step_s,
                                       reset_column=opts.reset_column)


def stage(path: Path, target: MeterTarget, opts: ImportOptions) -> tuple[Staging, ImportResult]:
    """Read the whole file into a staging table; the result lists the bad lines."""
    fmt = detect_format(path) if opts.format == "auto" else opts.format
    if fmt not in ("csv", "enedis", "lp"):
        raise ImportFormatError(f"unknown format {fmt!r}")
    result = ImportResult(str(path), fmt)
    staging = Staging()
    try:
        batch: list[StagedRow] = []
        append = batch.append
        for item in _staged_rows(path, fmt, target, opts, result.stats):
            if type(item) is tuple:
                append(item)
            elif isinstance(item, Problem):
                result.problem_count += 1
                if len(result.problems) < MAX_LISTED:
                    result.problems.append(item)
                continue
            else:
                r = cast(Row, item)
                append((r.time_ns, r.sub, r.value, r.step_s, int(r.reset), r.prio, r.line))
            if len(batch) >= STAGE_BATCH:
                staging.add_tuples(batch)
                batch = []
                append = batch.append
        staging.add_tuples(batch)
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
        # A site outside the grid providers' zone gets its zone's annual factor on the grid track.
        self.grid = grid_for_zone(zone_name, grid, factors, missing_year)
        self._cache: dict[int, EmissionFactor | None] = {}
        self._span = (0, 0)  # (start, end] of the local year of `_current`, as `local_year` counts
        self._current: EmissionFactor | None = None
        self.errors: set[str] = set()
        self._beges_memo: tuple[Any, ...] | None = None
        self._grid_memo: tuple[Any, ...] | None = None

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

    def _beges_series(self, batch: PointBatch, factor: EmissionFactor, method: str, energy_tags: dict[str, str]) -> int:
        memo = self._beges_memo  # (batch, factor, method, series index) of the previous call
        if memo is not None and memo[1] is factor and memo[2] == method and memo[0] is batch:
            return memo[3]
        key: tuple[object, ...] = ("beges", method, id(factor))
        i = batch.index.get(key)
        if i is None:
            i = batch.series_index(key, "carbon", {
                **energy_tags, "track": "beges", "factor_source": factor.source_tag,
                "factor_version": factor.version_tag, "factor_flag": beges_flag(factor)}, CARBON_FIELDS)
        self._beges_memo = (batch, factor, method, i)
        return i

    def _grid_series(self, batch: PointBatch, grid: Intensity, method: str, energy_tags: dict[str, str]) -> int:
        memo = self._grid_memo  # (batch, intensity, method, series index) of the previous call
        if memo is not None and memo[1] is grid and memo[2] == method and memo[0] is batch:
            return memo[3]
        key = ("grid", method, grid.source, grid.version, grid.flag)
        i = batch.index.get(key)
        if i is None:
            i = batch.series_index(key, "carbon", {
                **energy_tags, "track": "grid", "factor_source": grid.source, "factor_version": grid.version,
                "factor_flag": grid.flag}, CARBON_FIELDS)
        self._grid_memo = (batch, grid, method, i)
        return i

    def add(self, batch: PointBatch, energy_tags: dict[str, str], method: str, start_ns: int, end_ns: int,
            kwh: float) -> None:
        """The rows `carbon_points` would give for the energy point (same tags, fields, order)."""
        span = self._span
        factor = self._current if span[0] < end_ns <= span[1] else self.factor(end_ns)
        rows = batch.rows
        if factor is not None:
            g = factor.g_per_kwh
            rows.append((self._beges_series(batch, factor, method, energy_tags), end_ns, (emitted_g(kwh, g), g, kwh)))
        grid = self.grid.intensity(start_ns, end_ns) if self.grid is not None else None
        if grid is not None:
            g = grid.g_per_kwh
            rows.append((self._grid_series(batch, grid, method, energy_tags), end_ns, (emitted_g(kwh, g), float(g), kwh)))

    def add_many(self, batch: PointBatch, energy_tags: dict[str, str], method: str, starts: list[int],
                 ends: list[int], kwhs: list[float]) -> None:
        """`add` for consecutive intervals (ends increasing) of one method: the same rows, the
        BEGES ones of the chunk first, then the grid ones. One factor lookup per chunk (a chunk
        that crosses New Year goes interval by interval)."""
        if not ends:
            return
        self.factor(ends[0])
        if not ends[-1] <= self._span[1]:
            for s, e, k in zip(starts, ends, kwhs, strict=True):
                self.add(batch, energy_tags, method, s, e, k)
            return
        rows = batch.rows
        factor = self._current
        if factor is not None:
            i, g = self._beges_series(batch, factor, method, energy_tags), factor.g_per_kwh
            rows.extend(zip(itertools.repeat(i), ends, [(emitted_g(k, g), g, k) for k in kwhs]))
        if self.grid is None:
            return
        intensity = self.grid.intensity
        prev: Intensity | None = None
        gi = 0
        append = rows.append
        for s, e, k in zip(starts, ends, kwhs, strict=True):
            grid = intensity(s, e)
            if grid is None:
                continue
            if grid is not prev:
                gi, prev = self._grid_series(batch, grid, method, energy_tags), grid
            g = grid.g_per_kwh
            append((gi, e, (emitted_g(k, g), float(g), k)))


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
        if target.kind == "counter":
            # The points' own description of their counter (line protocol of the agent's points) when
            # neither the inventory nor --modulus says otherwise; a stated max rate bounds a jump.
            modulus_kwh = modulus_kwh or result.stats.wrap_kwh
            if result.stats.max_rate_kwh_s and policy.max_power_w is None:
                policy = dataclasses.replace(policy, max_power_w=result.stats.max_rate_kwh_s * J_PER_KWH)
        ivs = fill_gaps(staged_intervals(staging.rows(), target.kind, policy, modulus_kwh), policy)
        write_batch = getattr(writer, "write_batch", None)

        async def flush(b: PointBatch) -> None:
            if write_batch is not None:
                await write_batch(b)
            else:
                await writer.write(b.points())
            result.points += len(b)
            b.clear()

        # Rows as `energy_point` + `carbon_points` build them (tags in the same order), but
        # per series: one tag dict per (method) instead of one per point.
        batch = PointBatch()
        rows = batch.rows
        kwh_by = result.kwh
        seconds_by = result.seconds
        add_carbon = carbon.add
        intervals = 0

        def energy_series(method: str) -> tuple[int, dict[str, str]]:
            found = series_by_method.get(method)
            if found is None:
                tags = {**target.tags, "method": method}
                found = series_by_method[method] = (batch.series_index(("energy", method), "energy", tags, ENERGY_FIELDS), tags)
            return found

        series_by_method: dict[str, tuple[int, dict[str, str]]] = {}
        for chunk in iter(lambda: list(itertools.islice(ivs, CHUNK)), []):
            # The common case, a run of measured intervals and no live data to leave out: by
            # columns (list comprehensions, one carbon lookup per chunk) instead of interval by
            # interval; the rows are the same, in another order (a chunk's energy, then carbon).
            if not coverage and all(iv.method in MEASURED and iv.end_ns > iv.start_ns for iv in chunk):
                starts = [iv.start_ns for iv in chunk]
                ends = [iv.end_ns for iv in chunk]
                kwhs = [float(iv.kwh) for iv in chunk]
                durations = [(e - s) / NS for s, e in zip(starts, ends, strict=True)]
                # Summed left to right, as the interval-by-interval path does.
                kwh_by[IMPORTED] = functools.reduce(operator.add, (iv.kwh for iv in chunk), kwh_by.get(IMPORTED, 0.0))
                seconds_by[IMPORTED] = functools.reduce(operator.add, durations, seconds_by.get(IMPORTED, 0.0))
                intervals += len(chunk)
                sid, tags = energy_series(IMPORTED)
                rows.extend(zip(itertools.repeat(sid), ends, zip(kwhs, durations, strict=True)))
                carbon.add_many(batch, tags, IMPORTED, starts, ends, kwhs)
            else:
                for iv in chunk:
                    parts = coverage.outside(iv) if coverage else (iv,)
                    kept_s = 0.0
                    for part in parts:
                        start_ns, end_ns = part.start_ns, part.end_ns
                        if end_ns <= start_ns:
                            continue
                        method = IMPORTED if part.method in MEASURED else part.method
                        duration_s = (end_ns - start_ns) / NS
                        kwh = float(part.kwh)
                        kept_s += duration_s
                        intervals += 1
                        kwh_by[method] = kwh_by.get(method, 0.0) + part.kwh
                        seconds_by[method] = seconds_by.get(method, 0.0) + duration_s
                        sid, tags = energy_series(method)
                        rows.append((sid, end_ns, (kwh, duration_s)))
                        add_carbon(batch, tags, method, start_ns, end_ns, kwh)
                    result.live_s += iv.duration_s - kept_s
            if len(rows) >= WRITE_BATCH:
                await flush(batch)
                rows = batch.rows
        result.intervals += intervals
        if rows:
            await flush(batch)
        drain = getattr(writer, "drain", None)
        if drain is not None:
            await drain()
        result.factors = {f"{f.source_tag} [{f.version_tag}]" for f in carbon._cache.values() if f is not None}
        return result
    finally:
        staging.close()


def meter_target(config: CarbonConfig, meter: str, *, kind: str | None = None, unit: str | None = None,
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


def find_meter(config: CarbonConfig, meter: str) -> tuple[Any, Any]:
    """(site, device) of a metered inventory device; ValueError saying what is wrong."""
    for site in config.inventory.sites:
        for dev in site.devices:
            if dev.id == meter:
                if getattr(dev, "meter", None) is None:
                    raise ValueError(f"device {meter!r} has no 'meter:' entry in the inventory, so it is not metered")
                return site, dev
    raise ValueError(f"no device {meter!r} in the inventory")
