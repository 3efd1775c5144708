"""The annual energy and carbon report: read, aggregate, write (`sentinelle report`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sentinelle.carbon.quantities import energy_kwh, mass_t, percent
from sentinelle.carbon.report.aggregate import AnnualReport, build_report, report_period
from sentinelle.carbon.report.html import write_html
from sentinelle.carbon.report.labels import Lang
from sentinelle.carbon.report.outputs import ascii_slug, write_csv, write_json, write_xlsx
from sentinelle.carbon.report.source import LocalStoreSource, ReportSource, ReportSourceError
from sentinelle.carbon.report.tables import all_tables

if TYPE_CHECKING:
    from sentinelle.carbon.inventory.manufacturing import ManufacturingSection

FORMATS = ("csv", "xlsx", "json", "html")

__all__ = [
    "AnnualReport", "LocalStoreSource", "ReportSource", "ReportSourceError", "Summary",
    "build_report", "report_period", "write_report",
]  # fmt: skip


def write_report(
    report: AnnualReport,
    out_dir: str | Path,
    formats: tuple[str, ...] | list[str] = FORMATS,
    groupings: tuple[str, ...] | list[str] = ("site", "member", "contract", "operator"),
    lang: Lang = "fr",
    excel_fr: bool = False,
    scope3: ManufacturingSection | None = None,
) -> list[Path]:
    """Write the chosen formats to `out_dir`; return the files written. `scope3`, when given,
    is the manufacturing section: the HTML document shows it in its own section (its files are
    written apart, by carbon.inventory.report_section)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = all_tables(report, list(groupings), lang)
    stem = "sentinelle-" + ascii_slug(report.label)
    paths: list[Path] = []
    for fmt in formats:
        if fmt == "csv":
            paths += write_csv(tables, out, stem, excel_fr)
        elif fmt == "xlsx":
            paths.append(write_xlsx(tables, out / f"{stem}.xlsx"))
        elif fmt == "json":
            paths.append(write_json(report, tables, out / f"{stem}.json", lang))
        elif fmt == "html":
            paths.append(write_html(report, tables, out / f"{stem}.html", lang, scope3))
        else:
            raise ValueError(f"unknown format {fmt!r} (choose among {', '.join(FORMATS)})")
    return paths


@dataclass(frozen=True)
class Summary:
    """What the demo prints: totals on both tracks and where the HTML report is."""

    kwh: float
    beges_tco2e: float
    beges_uncertainty_pct: float
    grid_tco2e: float
    completeness_pct: float
    html: Path

    inconsistencies: tuple[str, ...] = ()  # meter-hierarchy messages, in the summary's language

    def lines(self, lang: Lang = "fr") -> list[str]:
        e, c = energy_kwh(self.kwh, lang), percent(self.completeness_pct, lang)
        b, u, g = mass_t(self.beges_tco2e, lang), percent(self.beges_uncertainty_pct, lang), mass_t(self.grid_tco2e, lang)
        if lang == "fr":
            lines = [f"Énergie : {e} (complétude {c})", f"CO2e BEGES (ADEME) : {b} ± {u}", f"CO2e réseau (temps réel) : {g}"]
            lines += [f"ATTENTION : {m}" for m in self.inconsistencies]
            return [*lines, f"Rapport HTML : {self.html}"]
        lines = [f"Energy: {e} (completeness {c})", f"CO2e BEGES (ADEME): {b} ± {u}", f"CO2e grid (real time): {g}"]
        lines += [f"WARNING: {m}" for m in self.inconsistencies]
        return [*lines, f"HTML report: {self.html}"]
