"""The annual report's manufacturing section (scope 3, immobilisations): separate files in a
`scope3/` folder of the report's output directory, never added to its electricity figures.

Called once from `sentinelle report` with the report's own source and period, so both sections
describe the same year from the same store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelle.carbon.inventory.factors import load_lifetimes, load_manufacturing
from sentinelle.carbon.inventory.manufacturing import ManufacturingSection, manufacturing_section
from sentinelle.carbon.inventory.records import MEASUREMENT, NS, DeviceSite, build_records
from sentinelle.carbon.inventory.tables import SCOPE_NOTE, manufacturing_tables
from sentinelle.carbon.localtime import PARIS

if TYPE_CHECKING:
    from sentinelle.carbon.settings import CarbonConfig


HISTORY_NS = 10 * 366 * 86400 * NS  # first sightings up to ten years before the period


def devices_of(config: CarbonConfig) -> dict[str, DeviceSite]:
    return {dev.id: DeviceSite(site.id, site.member, site.contract, dev.kind)
            for site in config.inventory.sites for dev in site.devices}


def build_section(config: CarbonConfig, source: Any, start_ns: int, end_ns: int, factors_path: str | None = None,
                  lifetimes_path: str | None = None) -> ManufacturingSection:
    """Read the inventory history from `source` and amortise over [start_ns, end_ns)."""
    points = source.points(MEASUREMENT, max(0, start_ns - HISTORY_NS), end_ns)
    today = datetime.fromtimestamp(end_ns / NS, UTC).date()
    records = build_records(points, devices_of(config), today)
    start = datetime.fromtimestamp(start_ns / NS, PARIS).date()
    end = datetime.fromtimestamp(end_ns / NS, PARIS).date()
    return manufacturing_section(records, load_manufacturing(Path(factors_path) if factors_path else None),
                                 load_lifetimes(Path(lifetimes_path) if lifetimes_path else None), start, end)


def write_section(section: ManufacturingSection, out: str | Path, formats: Sequence[str], label: str, lang: str) -> list[Path]:
    import json

    from sentinelle.carbon.report.outputs import ascii_slug, write_csv, write_xlsx

    out = Path(out) / "scope3"
    out.mkdir(parents=True, exist_ok=True)
    tables = manufacturing_tables(section, lang)
    stem = "manufacturing-" + ascii_slug(label)  # plain ASCII, as every other report file
    paths: list[Path] = []
    if "csv" in formats:
        paths += write_csv(tables, out, stem)
    if "xlsx" in formats:
        paths.append(write_xlsx(tables, out / f"{stem}.xlsx"))
    if "json" in formats or "html" in formats:
        doc = {"report": "sentinelle-manufacturing", "period": label, "scope": SCOPE_NOTE[1 if lang == "en" else 0],
               "factors_version": section.table_version, "uncertainty": "lines combined in quadrature (independent)",
               "tables": {t.name: {"headers": dict(zip(t.columns, t.headers, strict=True)), "rows": t.records()}
                          for t in tables}}
        path = out / f"{stem}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        paths.append(path)
    return paths


def summary(section: ManufacturingSection, lang: str = "fr") -> str:
    """The line `sentinelle report` prints, in the run's language and number format."""
    from sentinelle.carbon.quantities import mass_t, number, percent

    t, lg = section.total, ("en" if lang == "en" else "fr")
    a, u, n, w = mass_t(t.amortised_t, lg), mass_t(t.uncertainty_t, lg), number(t.equipment, lg), percent(t.without_factor_pct, lg, 0)
    if lg == "en":
        return f"manufacturing (scope 3, separate): {a} amortised (± {u}), {n} equipment, {w} without a factor"
    return f"fabrication (scope 3, à part) : {a} amortis (± {u}), {n} équipements, {w} sans facteur"
