"""Carbon points from stored energy, with the factor table in use; grid intensity history.

`recompute_carbon` reads the stored `energy` points of a period and writes their `carbon`
points again, with the same functions as the live processor (`carbon.emissions`): the BEGES
factor of each interval's year from the table in use (`--factors FILE` for a newer ADEME
table), tagged with that table's `factor_version`. The caller deletes the old points of the
period first, since a new version is a new series and the old one would otherwise stay.

`intensity_points` turns an éCO2mix / ODRÉ / Electricity Maps export (the layouts of
`carbon.intensity.CsvIntensity`) into `grid_intensity` points, keyed by zone and provider, not
by file name, so a consolidated file later overwrites the real-time values of the same times.
`stored_intensity` reads them back as a grid provider for recomputing past periods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sentinelle.agent.core import NS, Point
from sentinelle.carbon.emissions import carbon_points, emitted_g
from sentinelle.carbon.factors import EmissionFactor, FactorError, FactorTable, MissingYear
from sentinelle.carbon.intensity import CsvIntensity, GridIntensity, IntensitySeries, grid_for_zone
from sentinelle.carbon.localtime import local_year
from sentinelle.carbon.report.source import ReportSource

BATCH = 20_000
INTENSITY_ZONE = "FR"


class Writer(Protocol):
    async def write(self, points: list[Point]) -> None: ...


@dataclass
class RecomputeResult:
    energy_points: int = 0
    carbon_points: int = 0
    kwh: float = 0.0
    beges_g: float = 0.0
    factors: dict[tuple[str, int], EmissionFactor] = field(default_factory=dict)
    errors: set[str] = field(default_factory=set)

    def factor_lines(self) -> list[str]:
        out = []
        for (zone, year), f in sorted(self.factors.items()):
            fallback = f" (fallback: {f.year} factor for {year})" if f.fallback else ""
            out.append(f"{zone} {year}: {f.kg_per_kwh} kgCO2e/kWh, {f.source_tag}, version {f.version_tag}{fallback}")
        return out


async def recompute_carbon(
    source: ReportSource,
    writer: Writer,
    factors: FactorTable,
    start_ns: int,
    end_ns: int,
    *,
    missing_year: MissingYear = "latest",
    grid: GridIntensity | None = None,
) -> RecomputeResult:
    """Carbon points of every stored energy point ending in [start_ns, end_ns)."""
    result = RecomputeResult()
    batch: list[Point] = []
    cache: dict[tuple[str, int], EmissionFactor | None] = {}
    zone_grids: dict[str, GridIntensity | None] = {}
    for e in source.points("energy", start_ns, end_ns):
        kwh, dur = e.fields.get("kwh"), e.fields.get("duration_s")
        if not isinstance(kwh, int | float) or not isinstance(dur, int | float) or isinstance(kwh, bool):
            continue
        zone = e.tags.get("zone", "fr-continental")
        key = (zone, local_year(e.time_ns))
        if key not in cache:
            try:
                cache[key] = factors.factor(zone, key[1], missing_year)
            except FactorError as exc:
                cache[key] = None
                result.errors.add(str(exc))
        factor = cache[key]
        if factor is not None:
            result.factors[key] = factor
        energy = Point("energy", dict(e.tags), {"kwh": float(kwh), "duration_s": float(dur)}, e.time_ns)
        start = e.time_ns - int(dur * NS)
        if zone not in zone_grids:
            zone_grids[zone] = grid_for_zone(zone, grid, factors, missing_year)
        provider = zone_grids[zone]
        pts = carbon_points(energy, factor, provider.intensity(start, e.time_ns) if provider is not None else None)
        result.energy_points += 1
        result.kwh += float(kwh)
        if factor is not None:
            result.beges_g += emitted_g(float(kwh), factor.g_per_kwh)
        batch.extend(pts)
        if len(batch) >= BATCH:
            await writer.write(batch)
            result.carbon_points += len(batch)
            batch = []
    if batch:
        await writer.write(batch)
        result.carbon_points += len(batch)
    return result


def stored_beges_g(source: ReportSource, start_ns: int, end_ns: int) -> float:
    """gCO2e of the stored BEGES carbon points of a period (what a recompute replaces)."""
    total = 0.0
    for p in source.points("carbon", start_ns, end_ns):
        v = p.fields.get("gco2e")
        if p.tags.get("track") == "beges" and isinstance(v, int | float) and not isinstance(v, bool):
            total += float(v)
    return total


def change_line(before_g: float, after_g: float) -> str:
    """'BEGES before → after (Δ, %)' for the recompute summary."""
    delta = after_g - before_g
    rel = f", {delta / before_g * 100:+.2f} %" if before_g > 0 else ""
    return (f"BEGES {before_g / 1e6:.6f} -> {after_g / 1e6:.6f} tCO2e "
            f"(change {delta / 1e6:+.6f} tCO2e{rel})")  # fmt: skip


def intensity_points(path: str | Path) -> tuple[str, list[Point]]:
    """(layout, points) of an intensity export; raises `IntensityError` on a bad file."""
    series = CsvIntensity(path)
    points = [
        Point("grid_intensity", {"zone": INTENSITY_ZONE, "provider": series.layout},
              {"gco2e_per_kwh": float(v), "source_version": series.version}, t)
        for t, v in zip(series.times, series.values, strict=True)
    ]
    return series.layout, points


def stored_intensity(points: Iterable[Point]) -> IntensitySeries | None:
    """A grid provider over stored `grid_intensity` points (one provider: the most frequent)."""
    by_provider: dict[str, list[tuple[int, float]]] = {}
    for p in points:
        v = p.fields.get("gco2e_per_kwh")
        if isinstance(v, int | float) and not isinstance(v, bool):
            by_provider.setdefault(p.tags.get("provider", "?"), []).append((p.time_ns, float(v)))
    if not by_provider:
        return None
    provider, values = max(by_provider.items(), key=lambda kv: len(kv[1]))
    return IntensitySeries(values, f"store:grid_intensity:{provider}", "imported")
