"""The annual figures: kWh by method, completeness, tCO2e on both tracks, PUE, resilience.

Inputs are the stored `energy` points (one per meter interval, `kwh` and `duration_s`), the
`carbon` points of the `grid` track, and `device_status` / `ups` points for resilience.

- BEGES track: recomputed here from kWh with the factor of each month's year (ADEME publishes
  a year's factor later; the stored `beges` points may carry an older one).
- Grid track: the stored `grid` carbon points give, per meter and month, the interval-weighted
  intensity (Σ gCO2e / Σ kWh); applied to the month's kWh.
- Intervals crossing the period's edges are prorated by time.
- A meter's overlapping intervals (live data and an import of the same period) are counted
  once: `carbon.history.overlap.resolve` keeps measured/integrated over imported over
  estimated/missing for each stretch of time.
- Site kWh = Σ primary meters; completeness of a meter = seconds covered by measured,
  integrated or imported intervals no longer than `max_gap_s` / period seconds (a week between two counter
  readings is exact energy but not data); of a site = mean of its primary meters.
- Uncertainty (BEGES, relative): u = √(u_activity² + u_factor²) with u_activity the
  kWh-weighted mean of per-method uncertainties. A group (member, contract, operator) adds its
  sites' absolute uncertainties linearly (same factor: fully correlated, conservative).
- Groups receive each site's figures times the site's declared shares, so they add up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sentinelle.agent.core import Point
from sentinelle.carbon.emissions import emitted_g
from sentinelle.carbon.energy import METHODS, NS, EnergyInterval, coverage
from sentinelle.carbon.factors import EmissionFactor, FactorError, FactorTable, MissingYear
from sentinelle.carbon.history.overlap import resolve
from sentinelle.carbon.localtime import PARIS
from sentinelle.carbon.meters import (
    GROUPINGS,
    MeterInconsistency,
    MeterSpec,
    SiteSpec,
    hierarchy_inconsistencies,
    pue,
)
from sentinelle.carbon.report.source import ReportSource

DEFAULT_UNCERTAINTY = {"measured": 2.0, "integrated": 5.0, "imported": 2.0, "estimated": 30.0, "missing": 100.0}
LOOKAHEAD_NS = 31 * 86400 * NS  # an interval ending this long after the period may still overlap it


@dataclass
class MeterFigures:
    meter: str
    site: str
    device_kind: str
    role: str
    load: str
    zone: str
    kwh: dict[str, float]
    seconds: dict[str, float]
    completeness: float

    @property
    def kwh_total(self) -> float:
        return sum(self.kwh.values())

    @property
    def seconds_total(self) -> float:
        return sum(self.seconds.values())


@dataclass
class Figures:
    """One row of a grouping (a site, a member, a contract, an operator)."""

    grouping: str
    key: str
    kwh: dict[str, float] = field(default_factory=lambda: {m: 0.0 for m in METHODS})
    completeness: float = 0.0
    beges_t: float = 0.0
    beges_u_t: float = 0.0  # absolute uncertainty (tCO2e)
    grid_t: float = 0.0
    grid_kwh: float = 0.0  # kWh for which a grid intensity was known
    facility_kwh: float = 0.0
    it_kwh: float = 0.0
    factors: list[EmissionFactor] = field(default_factory=list)
    grid_sources: set[str] = field(default_factory=set)
    flags: set[str] = field(default_factory=set)
    factor_uncertainty_known: bool = True
    sites: list[str] = field(default_factory=list)
    # BEGES tCO2e per post ("2.1", "4.1", see carbon.beges_posts); sums to beges_t.
    posts_t: dict[str, float] = field(default_factory=dict)

    @property
    def kwh_total(self) -> float:
        return sum(self.kwh.values())

    @property
    def beges_u_rel(self) -> float:
        return self.beges_u_t / self.beges_t if self.beges_t > 0 else 0.0

    @property
    def factor_g_per_kwh(self) -> float:
        return self.beges_t * 1e6 / self.kwh_total if self.kwh_total > 0 else 0.0

    @property
    def grid_g_per_kwh(self) -> float | None:
        return self.grid_t * 1e6 / self.grid_kwh if self.grid_kwh > 0 else None

    @property
    def pue(self) -> float | None:
        return pue(self.facility_kwh, self.it_kwh)

    @property
    def factor_source(self) -> str:
        return " + ".join(sorted({f"{f.source} ({f.source_id or 's.n.'})" for f in self.factors}))

    @property
    def factor_version(self) -> str:
        return " + ".join(sorted({f.version_tag for f in self.factors}))

    @property
    def factor_years(self) -> str:
        return " + ".join(sorted({str(f.year) for f in self.factors}))


@dataclass
class MonthFigures:
    site: str
    month: str  # YYYY-MM
    kwh: float
    beges_t: float
    grid_t: float
    grid_g_per_kwh: float | None
    completeness: float


@dataclass
class ResilienceFigures:
    site: str
    device_kind: str
    devices: int
    polls: int
    availability: float | None
    outages: int
    outage_s: float
    battery_episodes: int
    battery_s: float
    min_battery_minutes: float | None


@dataclass
class AnnualReport:
    start_ns: int
    end_ns: int
    label: str
    meters: list[MeterFigures]
    groups: dict[str, list[Figures]]
    months: list[MonthFigures]
    resilience: list[ResilienceFigures]
    factors_used: list[EmissionFactor]
    grid_sources: list[str]
    uncertainty_pct: dict[str, float]
    notes: list[str]
    generated_at: str
    inconsistencies: list[MeterInconsistency] = field(default_factory=list)

    @property
    def sites(self) -> list[Figures]:
        return self.groups["site"]

    @property
    def is_empty(self) -> bool:
        """No meter has any interval inside the period: every figure would be a silent zero."""
        return not any(m.seconds_total > 0 for m in self.meters)

    @property
    def sites_without_data(self) -> list[str]:
        return [s.key for s in self.sites if "no-data" in s.flags]

    def totals(self) -> Figures:
        """All sites together (their sum, with the same conventions as a group)."""
        return _combine("total", "total", [(s, 1.0) for s in self.sites])


# --- months ------------------------------------------------------------------------------------


def month_windows(start_ns: int, end_ns: int) -> list[tuple[str, int, int]]:
    """(YYYY-MM, start, end) local French months covering [start, end)."""
    out = []
    cur = datetime.fromtimestamp(start_ns / NS, tz=UTC).astimezone(PARIS)
    cur = cur.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while True:
        nxt = cur.replace(year=cur.year + 1, month=1) if cur.month == 12 else cur.replace(month=cur.month + 1)
        s = max(int(cur.timestamp()) * NS, start_ns)
        e = min(int(nxt.timestamp()) * NS, end_ns)
        if e > s:
            out.append((f"{cur.year:04d}-{cur.month:02d}", s, e))
        if int(nxt.timestamp()) * NS >= end_ns:
            return out
        cur = nxt


# --- building -----------------------------------------------------------------------------------


def _interval(p: Point) -> EnergyInterval | None:
    kwh, dur = p.fields.get("kwh"), p.fields.get("duration_s")
    if not isinstance(kwh, int | float) or not isinstance(dur, int | float) or isinstance(kwh, bool):
        return None
    if not math.isfinite(kwh) or not math.isfinite(dur) or dur <= 0 or kwh < 0:
        return None
    method = p.tags.get("method", "measured")
    if method not in METHODS:
        return None
    return EnergyInterval(p.time_ns - int(dur * NS), p.time_ns, float(kwh), method)  # type: ignore[arg-type]


def build_report(
    source: ReportSource,
    start_ns: int,
    end_ns: int,
    factors: FactorTable,
    *,
    label: str = "",
    sites: Mapping[str, SiteSpec] | None = None,
    meters: Mapping[str, MeterSpec] | None = None,
    missing_year: MissingYear = "error",
    uncertainty_pct: Mapping[str, float] | None = None,
    max_gap_s: float = 900.0,
) -> AnnualReport:
    """Read the period's points from `source` and compute every figure of the report."""
    if end_ns <= start_ns:
        raise ValueError("the report period is empty (--to must be after --from)")
    sites = dict(sites or {})
    meters = dict(meters or {})
    unc = {**DEFAULT_UNCERTAINTY, **(uncertainty_pct or {})}
    months = month_windows(start_ns, end_ns)
    notes: list[str] = []

    intervals: dict[str, list[EnergyInterval]] = defaultdict(list)
    meta: dict[str, dict[str, str]] = {}
    for p in source.points("energy", start_ns, end_ns + LOOKAHEAD_NS):
        meter = p.tags.get("meter") or p.tags.get("device")
        iv = _interval(p)
        if meter is None or iv is None or iv.start_ns >= end_ns:
            continue
        intervals[meter].append(iv)
        meta[meter] = p.tags

    # grid intensity per meter and month: Σ gCO2e / Σ kWh of the stored grid points
    grid_sum: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    grid_sources: set[str] = set()
    meter_grid_sources: dict[str, set[str]] = defaultdict(set)  # a site lists its own meters' sources only
    grid_flags: dict[str, set[str]] = defaultdict(set)
    for p in source.points("carbon", start_ns, end_ns + LOOKAHEAD_NS):
        if p.tags.get("track") != "grid":
            continue
        meter = p.tags.get("meter") or p.tags.get("device")
        g, k = p.fields.get("gco2e"), p.fields.get("kwh")
        if meter is None or not isinstance(g, int | float) or not isinstance(k, int | float):
            continue
        month = _month_of(p.time_ns - 1, months)
        if month is None:
            continue
        acc = grid_sum[(meter, month)]
        acc[0] += float(g)
        acc[1] += float(k)
        src = f"{p.tags.get('factor_source', '?')} [{p.tags.get('factor_version', '?')}]"
        grid_sources.add(src)
        meter_grid_sources[meter].add(src)
        if p.tags.get("factor_flag"):
            grid_flags[meter].add(f"grid:{p.tags['factor_flag']}")

    # Live and imported intervals of a meter may overlap: count each stretch of time once.
    for meter in intervals:
        intervals[meter] = resolve(intervals[meter])
    # Inventory meters that wrote nothing still count: a silent primary meter is 0 % of its
    # site's completeness, not a meter that does not exist.
    for meter, spec in meters.items():
        if meter not in intervals:
            intervals[meter] = []
            meta[meter] = {"site": spec.site, "meter_role": spec.role, "meter_load": spec.load, "zone": spec.zone}

    meter_figs: list[MeterFigures] = []
    site_rows: dict[str, Figures] = {}
    month_rows: dict[tuple[str, str], MonthFigures] = {}
    site_primary_completeness: dict[str, list[float]] = defaultdict(list)
    site_month_completeness: dict[tuple[str, str], list[float]] = defaultdict(list)
    factors_used: dict[tuple[str, int], EmissionFactor] = {}
    factor_u_t: dict[str, float] = defaultdict(float)  # Σ tCO2e × factor relative uncertainty

    for meter in sorted(intervals):
        tags = meta[meter]
        spec = meters.get(meter)
        site = spec.site if spec else tags.get("site", "—")
        role = spec.role if spec else tags.get("meter_role", "primary")
        load = spec.load if spec else tags.get("meter_load", "other")
        zone = sites[site].zone if site in sites else (spec.zone if spec else tags.get("zone", "fr-continental"))
        cov = coverage(intervals[meter], start_ns, end_ns, max_gap_s)
        meter_figs.append(
            MeterFigures(meter, site, tags.get("device_kind", ""), role, load, zone, cov.kwh, cov.seconds, cov.completeness)
        )
        row = site_rows.setdefault(site, Figures("site", site, sites=[site]))
        if load == "facility":
            row.facility_kwh += cov.total_kwh
        elif load == "it":
            row.it_kwh += cov.total_kwh
        if role != "primary":
            continue
        site_primary_completeness[site].append(cov.completeness)
        row.flags.update(grid_flags.get(meter, set()))
        for month, ms, me in months:
            mcov = coverage(intervals[meter], ms, me, max_gap_s)
            kwh = mcov.total_kwh
            year = int(month[:4])
            if not intervals[meter]:  # a silent meter: 0 kWh, its 0 % counted; it needs no factor
                site_month_completeness[(site, month)].append(0.0)
                continue
            try:
                factor = factors_used.get((zone, year)) or factors.factor(zone, year, missing_year)
            except FactorError as exc:
                raise FactorError(f"site {site}: {exc}") from None
            factors_used[(zone, year)] = factor
            beges_t = emitted_g(kwh, factor.g_per_kwh) / 1e6
            g = grid_sum.get((meter, month))
            grid_t = emitted_g(kwh, g[0] / g[1]) / 1e6 if g and g[1] > 0 else 0.0  # mean g/kWh of the month
            grid_kwh = kwh if g and g[1] > 0 else 0.0
            for m in METHODS:
                row.kwh[m] += mcov.kwh[m]
            row.beges_t += beges_t
            for post, share in factor.post_shares().items():
                row.posts_t[post] = row.posts_t.get(post, 0.0) + beges_t * share
            factor_u_t[site] += beges_t * (factor.uncertainty_pct or 0.0) / 100.0
            if factor.uncertainty_pct is None and kwh > 0:
                row.factor_uncertainty_known = False
                row.flags.add("factor-uncertainty-unknown")
            row.grid_t += grid_t
            row.grid_kwh += grid_kwh
            if kwh > 0 and factor not in row.factors:
                row.factors.append(factor)
            if kwh > 0 and factor.fallback:
                row.flags.add(f"factor-year-{factor.year}-for-{factor.requested_year}")
            if kwh > 0 and not factor.verified:
                row.flags.add("factor-unverified")
            if kwh > 0 and factor.undated:
                row.flags.add("factor-undated")
            mr = month_rows.setdefault((site, month), MonthFigures(site, month, 0.0, 0.0, 0.0, None, 0.0))
            mr.kwh += kwh
            mr.beges_t += beges_t
            mr.grid_t += grid_t
            site_month_completeness[(site, month)].append(mcov.completeness)

    # Inventory sites with no energy point at all still get a row (0 %, flagged): a site must
    # not vanish from a signed report because its meters never reported.
    seconds_by_site: dict[str, float] = defaultdict(float)
    for mf in meter_figs:
        seconds_by_site[mf.site] += mf.seconds_total
    for site in sites:
        site_rows.setdefault(site, Figures("site", site, sites=[site]))
    for site, row in site_rows.items():
        if seconds_by_site.get(site, 0.0) == 0.0:
            row.flags.add("no-data")
    # Readings the declared hierarchy makes impossible (PUE below 1, sub-meters above parent).
    specs = {
        m.meter: meters.get(m.meter) or MeterSpec(m.meter, m.site, m.role, m.load)  # type: ignore[arg-type]
        for m in meter_figs
        if m.seconds_total > 0
    }
    inconsistencies = _inconsistencies([m for m in meter_figs if m.meter in specs], specs)
    for inc in inconsistencies:
        if inc.site in site_rows:
            site_rows[inc.site].flags.add("meter-hierarchy-inconsistent")

    for site, row in site_rows.items():
        if row.kwh_total > 0 and row.beges_t > 0:
            u_act = sum(unc[m] / 100.0 * row.kwh[m] for m in METHODS) / row.kwh_total
            u_fac = factor_u_t[site] / row.beges_t
            row.beges_u_t = row.beges_t * math.sqrt(u_act**2 + u_fac**2)
        values = site_primary_completeness.get(site, [])
        row.completeness = sum(values) / len(values) if values else 0.0
        if row.completeness < 0.999 and "no-data" not in row.flags:
            row.flags.add("incomplete")
        row.grid_sources = set().union(*(meter_grid_sources[m.meter] for m in meter_figs if m.site == site))
        if not values and "no-data" not in row.flags:
            row.flags.add("no-primary-meter")
    for key, mr in month_rows.items():
        vals = site_month_completeness[key]
        mr.completeness = sum(vals) / len(vals) if vals else 0.0
        mr.grid_g_per_kwh = mr.grid_t * 1e6 / mr.kwh if mr.kwh > 0 and mr.grid_t > 0 else None

    site_list = [site_rows[k] for k in sorted(site_rows)]
    groups: dict[str, list[Figures]] = {"site": site_list}
    for grouping in GROUPINGS[1:]:
        shares_by_owner: dict[str, list[tuple[Figures, float]]] = defaultdict(list)
        for row in site_list:
            spec = sites.get(row.key) or _site_from_tags(row.key, meta, meter_figs)
            for owner, share in spec.shares(grouping).items():
                shares_by_owner[owner].append((row, share))
        groups[grouping] = [_combine(grouping, owner, rows) for owner, rows in sorted(shares_by_owner.items())]

    if any(not f.verified for f in factors_used.values()):
        notes.append("unverified-factor")
    if any(f.fallback for f in factors_used.values()):
        notes.append("fallback-factor")
    if inconsistencies:
        notes.append("meter-hierarchy")
    return AnnualReport(
        start_ns=start_ns,
        end_ns=end_ns,
        label=label,
        meters=meter_figs,
        groups=groups,
        months=[month_rows[k] for k in sorted(month_rows)],
        resilience=resilience(source, start_ns, end_ns),
        factors_used=sorted(factors_used.values(), key=lambda f: (f.zone, f.requested_year)),
        grid_sources=sorted(grid_sources),
        uncertainty_pct=unc,
        notes=notes,
        generated_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
        inconsistencies=inconsistencies,
    )


def _inconsistencies(figs: list[MeterFigures], specs: Mapping[str, MeterSpec]) -> list[MeterInconsistency]:
    """Period kWh when every meter covered the same time; otherwise mean power over each
    meter's covered time, so a parent with a gap is not "below" a sub-meter that had none."""
    covered = {m.meter: sum(s for k, s in m.seconds.items() if k != "missing") for m in figs}
    spans = [s for s in covered.values() if s > 0]
    if spans and max(spans) <= min(spans) * 1.01:
        return hierarchy_inconsistencies({m.meter: m.kwh_total for m in figs}, specs)
    mean_kw = {
        m.meter: sum(v for k, v in m.kwh.items() if k != "missing") * 3600 / covered[m.meter]
        for m in figs
        if covered[m.meter] > 0
    }
    return hierarchy_inconsistencies(mean_kw, specs, unit="kW")


def _month_of(t: int, months: list[tuple[str, int, int]]) -> str | None:
    for name, s, e in months:
        if s <= t < e:
            return name
    return None


def _site_from_tags(site: str, meta: Mapping[str, Mapping[str, str]], meters: list[MeterFigures]) -> SiteSpec:
    """A site's owners from the tags of its energy points, when no config says otherwise."""
    for m in meters:
        if m.site == site:
            tags = meta[m.meter]
            return SiteSpec(site, m.zone, {k: tags[k] for k in ("member", "contract", "operator") if tags.get(k)})
    return SiteSpec(site)


def _combine(grouping: str, key: str, rows: Iterable[tuple[Figures, float]]) -> Figures:
    out = Figures(grouping, key)
    weighted_completeness = weight = 0.0
    for row, share in rows:
        for m in METHODS:
            out.kwh[m] += row.kwh[m] * share
        out.beges_t += row.beges_t * share
        for post, t in row.posts_t.items():
            out.posts_t[post] = out.posts_t.get(post, 0.0) + t * share
        out.beges_u_t += row.beges_u_t * share
        out.grid_t += row.grid_t * share
        out.grid_kwh += row.grid_kwh * share
        out.facility_kwh += row.facility_kwh * share
        out.it_kwh += row.it_kwh * share
        for f in row.factors:
            if f not in out.factors:
                out.factors.append(f)
        out.grid_sources |= row.grid_sources
        out.flags |= row.flags
        out.factor_uncertainty_known &= row.factor_uncertainty_known
        out.sites.append(row.key if share >= 1 else f"{row.key} ({share:.0%})")
        weighted_completeness += row.completeness * share
        weight += share
    out.completeness = weighted_completeness / weight if weight > 0 else 0.0
    return out


# --- resilience ---------------------------------------------------------------------------------


def _runs(series: list[tuple[int, bool]], end_ns: int) -> tuple[int, float]:
    """(number, total seconds) of runs where the flag is true; a run lasts until the next false."""
    count, total = 0, 0.0
    start: int | None = None
    for t, flag in series:
        if flag and start is None:
            start, count = t, count + 1
        elif not flag and start is not None:
            total += (t - start) / NS
            start = None
    if start is not None and series:
        total += (min(max(series[-1][0], start), end_ns) - start) / NS
    return count, total


def resilience(source: ReportSource, start_ns: int, end_ns: int) -> list[ResilienceFigures]:
    """Availability, outages and on-battery episodes per site and device kind."""
    reach: dict[tuple[str, str, str], list[tuple[int, bool]]] = defaultdict(list)
    for p in source.points("device_status", start_ns, end_ns):
        v = p.fields.get("reachable")
        if isinstance(v, bool | int):
            reach[(p.tags.get("site", "—"), p.tags.get("device_kind", "—"), p.tags.get("device", "—"))].append((p.time_ns, bool(v)))
    battery: dict[tuple[str, str, str], list[tuple[int, bool]]] = defaultdict(list)
    min_minutes: dict[tuple[str, str], float] = {}
    for p in source.points("ups", start_ns, end_ns):
        key = (p.tags.get("site", "—"), p.tags.get("device_kind", "—"), p.tags.get("device", "—"))
        v = p.fields.get("on_battery")
        if isinstance(v, bool | int):
            battery[key].append((p.time_ns, bool(v)))
        m = p.fields.get("battery_minutes_remaining")
        if isinstance(m, int | float) and not isinstance(m, bool) and math.isfinite(m):
            k2 = key[:2]
            min_minutes[k2] = min(min_minutes.get(k2, math.inf), float(m))
    kinds = sorted({k[:2] for k in reach} | {k[:2] for k in battery})
    out = []
    for site, kind in kinds:
        polls = ok = outages = episodes = 0
        outage_s = battery_s = 0.0
        devices = set()
        for (s, k, d), series in reach.items():
            if (s, k) != (site, kind):
                continue
            devices.add(d)
            series.sort()
            polls += len(series)
            ok += sum(1 for _, v in series if v)
            n, secs = _runs([(t, not v) for t, v in series], end_ns)
            outages, outage_s = outages + n, outage_s + secs
        for (s, k, d), series in battery.items():
            if (s, k) != (site, kind):
                continue
            devices.add(d)
            series.sort()
            n, secs = _runs(series, end_ns)
            episodes, battery_s = episodes + n, battery_s + secs
        mm = min_minutes.get((site, kind))
        out.append(
            ResilienceFigures(site, kind, len(devices), polls, ok / polls if polls else None, outages, outage_s, episodes, battery_s, mm)
        )
    return out


def report_period(year: int | None = None, start: datetime | None = None, end: datetime | None = None) -> tuple[int, int, str]:
    """(start_ns, end_ns, label) of a civil year in French local time, or a custom period."""
    if year is not None:
        s = datetime(year, 1, 1, tzinfo=PARIS)
        e = datetime(year + 1, 1, 1, tzinfo=PARIS)
        return int(s.timestamp()) * NS, int(e.timestamp()) * NS, str(year)
    if start is None or end is None:
        raise ValueError("give a year, or both --from and --to")
    s = start if start.tzinfo else start.replace(tzinfo=PARIS)
    e = end if end.tzinfo else end.replace(tzinfo=PARIS)
    return int(s.timestamp()) * NS, int(e.timestamp()) * NS, f"{s.date().isoformat()} → {e.date().isoformat()}"
