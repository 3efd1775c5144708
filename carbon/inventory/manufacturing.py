"""Manufacturing emissions of the equipment in use during a period (scope 3, BEGES category
"immobilisations"), kept apart from the electricity figures and never added to them.

Rule: linear amortisation. Making one unit emitted `kgco2e`; it is spread evenly over its
lifetime from its start of service, and a period is charged with the share of that lifetime
it overlaps. This is the BEGES practice for capital goods; ADEME advises taking the
accounting depreciation period as the lifetime (bilans-ges.ademe.fr forum, 2022-06-01,
https://bilans-ges.ademe.fr/forum/viewtopic.php?f=21&t=4848&p=6679). Start of service is
unknown to the network: the manufacturing date is used, else the first time the agent saw
the equipment (a later start, so more of the amortisation falls in later years), and each
line says which.

Uncertainty: each line carries the factor's relative uncertainty; lines are treated as
independent and combined in quadrature, which is said next to the figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sentinelle.carbon.inventory.factors import LifetimeTable, ManufacturingFactor, ManufacturingTable
from sentinelle.carbon.inventory.records import NS, YEAR_DAYS, Equipment


@dataclass(slots=True)
class Line:
    record: Equipment
    factor: ManufacturingFactor | None
    lifetime_years: float | None
    start: date
    start_from: str  # mfg_date | first_seen
    amortised_kg: float = 0.0
    uncertainty_kg: float = 0.0
    reason: str | None = None  # why no figure: no_factor, no_lifetime, no_weight, fully_amortised
    kg_per_unit: float | None = None  # the factor applied to this unit (per kg x weight, or per unit)


@dataclass(slots=True)
class Totals:
    equipment: int = 0
    with_factor: int = 0
    amortised_t: float = 0.0
    _var: float = 0.0
    sources: set[str] = field(default_factory=set)

    @property
    def uncertainty_t(self) -> float:
        return math.sqrt(self._var)

    @property
    def without_factor_pct(self) -> float:
        return 100.0 * (self.equipment - self.with_factor) / self.equipment if self.equipment else 0.0

    def add(self, line: Line) -> None:
        self.equipment += 1
        if line.factor is not None and line.kg_per_unit is not None:
            self.with_factor += 1
            self.amortised_t += line.amortised_kg / 1000.0
            self._var += (line.uncertainty_kg / 1000.0) ** 2
            self.sources.add(line.factor.source)


@dataclass(slots=True)
class ManufacturingSection:
    start: date
    end: date
    table_version: str
    lines: list[Line]
    by: dict[str, dict[str, Totals]]  # grouping (site, member) -> key -> totals
    total: Totals


def _start_of_service(r: Equipment) -> tuple[date, str]:
    if r.mfg_date:
        try:
            return date.fromisoformat(r.mfg_date), "mfg_date"
        except ValueError:
            pass
    return datetime.fromtimestamp(r.first_seen_ns / NS, UTC).date(), "first_seen"


def amortised_share(start: date, lifetime_years: float, period_start: date, period_end: date) -> float:
    """Fraction of the lifetime [start, start + lifetime) inside [period_start, period_end)."""
    end = start + timedelta(days=lifetime_years * YEAR_DAYS)
    overlap = (min(end, period_end) - max(start, period_start)).days
    return max(0, overlap) / (lifetime_years * YEAR_DAYS)


def in_service(r: Equipment, period_start: date, period_end: date) -> bool:
    first = datetime.fromtimestamp(r.first_seen_ns / NS, UTC).date()
    last = datetime.fromtimestamp(r.last_seen_ns / NS, UTC).date()
    return first < period_end and last >= period_start


def manufacturing_section(
    records: Iterable[Equipment],
    factors: ManufacturingTable,
    lifetimes: LifetimeTable,
    period_start: date,
    period_end: date,
) -> ManufacturingSection:
    lines: list[Line] = []
    for r in records:
        if r.role != "equipment" or not in_service(r, period_start, period_end):
            continue
        factor = factors.find(r.model, r.vendor, r.equipment_class)
        life = (factor.lifetime_years if factor and factor.lifetime_years else None) or lifetimes.years(r.equipment_class)
        start, start_from = _start_of_service(r)
        line = Line(r, factor, life, start, start_from)
        if factor is None:
            line.reason = "no_factor"
        elif life is None:
            line.reason = "no_lifetime"
        elif factor.per == "kg" and factors.weight(r.model) is None:
            line.reason = "no_weight"
        else:
            per_unit = factor.kgco2e * (factors.weight(r.model) or 0.0) if factor.per == "kg" else factor.kgco2e
            line.kg_per_unit = per_unit
            line.amortised_kg = per_unit * amortised_share(start, life, period_start, period_end)
            line.uncertainty_kg = line.amortised_kg * factor.uncertainty_pct / 100.0
            if line.amortised_kg == 0.0:
                line.reason = "fully_amortised"
        lines.append(line)
    by: dict[str, dict[str, Totals]] = {"site": {}, "member": {}}
    total = Totals()
    for line in lines:
        total.add(line)
        by["site"].setdefault(line.record.site or "", Totals()).add(line)
        by["member"].setdefault(line.record.member or "", Totals()).add(line)
    return ManufacturingSection(period_start, period_end, factors.version, lines, by, total)
