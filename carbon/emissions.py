"""`energy` and `carbon` points: an energy interval and its emissions on both tracks.

Tracks (both always written, DESIGN section 6):
- `beges`: the annual ADEME factor of the interval's year (French local calendar year) and of
  the site's zone, the figure a BEGES uses (location-based; the report splits it between poste
  2.1 and poste 4.1 with the factor's decomposition, `carbon.beges_posts`);
- `grid`: the time-varying intensity weighted over the interval, for operations.

Every carbon point says its track, factor value, source and version; a factor taken from an
earlier year, an unverified table row or a stale online value is flagged in `factor_flag`.
"""

from __future__ import annotations

from sentinelle.agent.core import Point
from sentinelle.carbon.energy import EnergyInterval
from sentinelle.carbon.factors import EmissionFactor
from sentinelle.carbon.intensity import Intensity

# Tags an energy point carries from its source reading (identity, DESIGN section 2).
IDENTITY_TAGS = ("site", "site_kind", "member", "contract", "operator", "device", "device_kind")


def energy_point(interval: EnergyInterval, tags: dict[str, str]) -> Point:
    """The interval as an `energy` point at its end time; `tags` must include `meter`."""
    return Point(
        "energy",
        {**tags, "method": interval.method},
        {"kwh": float(interval.kwh), "duration_s": float(interval.duration_s)},
        interval.end_ns,
    )


def emitted_g(kwh: float, g_per_kwh: float) -> float:
    """gCO2e of `kwh` at a factor in gCO2e/kWh: the one place kWh become CO2e (live carbon
    points, history import, recompute and the annual report), so their figures agree to the bit."""
    return kwh * g_per_kwh


def beges_flag(factor: EmissionFactor) -> str:
    flags = []
    if factor.fallback:
        flags.append(f"year-{factor.year}-for-{factor.requested_year}")
    if factor.undated:
        flags.append("undated")
    if not factor.verified:
        flags.append("unverified")
    return ",".join(flags)


def carbon_points(energy: Point, factor: EmissionFactor | None, grid: Intensity | None) -> list[Point]:
    """The `carbon` points of one `energy` point: beges (if a factor) and grid (if an intensity)."""
    kwh = float(energy.fields["kwh"])
    out: list[Point] = []
    if factor is not None:
        out.append(
            Point(
                "carbon",
                {
                    **energy.tags,
                    "track": "beges",
                    "factor_source": factor.source_tag,
                    "factor_version": factor.version_tag,
                    "factor_flag": beges_flag(factor),
                },
                {"gco2e": emitted_g(kwh, factor.g_per_kwh), "factor_gco2e_per_kwh": factor.g_per_kwh, "kwh": kwh},
                energy.time_ns,
            )
        )
    if grid is not None:
        out.append(
            Point(
                "carbon",
                {
                    **energy.tags,
                    "track": "grid",
                    "factor_source": grid.source,
                    "factor_version": grid.version,
                    "factor_flag": grid.flag,
                },
                {"gco2e": emitted_g(kwh, grid.g_per_kwh), "factor_gco2e_per_kwh": float(grid.g_per_kwh), "kwh": kwh},
                energy.time_ns,
            )
        )
    return out
