"""The report as tables (header + rows of plain values), shared by CSV, XLSX, JSON and HTML.

Every figure row carries its factor, source, version and completeness next to the number.
Numbers stay numbers here; each writer formats them for its medium.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sentinelle.agent.core import NS
from sentinelle.carbon.factors import EmissionFactor
from sentinelle.carbon.localtime import PARIS
from sentinelle.carbon.quantities import number
from sentinelle.carbon.report.aggregate import AnnualReport, Figures
from sentinelle.carbon.report.labels import Lang, label, statement
from sentinelle.carbon.report.posts import method_rows, posts_table
from sentinelle.carbon.report.table import Table, Value

FIGURE_COLUMNS = (
    "key", "sites", "kwh_total", "kwh_measured", "kwh_integrated", "kwh_imported", "kwh_estimated",
    "kwh_missing", "completeness_pct", "factor_kg", "factor_year", "factor_source", "factor_version", "beges_t",
    "beges_u_pct", "beges_u_t", "grid_t", "grid_g", "grid_source", "pue", "flags",
)  # fmt: skip


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)


def figure_row(f: Figures) -> list[Value]:
    return [
        f.key,
        ", ".join(f.sites),
        _r(f.kwh_total, 3),
        _r(f.kwh["measured"], 3),
        _r(f.kwh["integrated"], 3),
        _r(f.kwh["imported"], 3),
        _r(f.kwh["estimated"], 3),
        _r(f.kwh["missing"], 3),
        _r(f.completeness * 100, 2),
        _r(f.factor_g_per_kwh / 1000, 5),
        f.factor_years,
        f.factor_source,
        f.factor_version,
        _r(f.beges_t, 9),
        _r(f.beges_u_rel * 100, 2),
        _r(f.beges_u_t, 9),
        _r(f.grid_t, 9) if f.grid_kwh > 0 else None,
        _r(f.grid_g_per_kwh, 2),
        " + ".join(sorted(f.grid_sources)),
        _r(f.pue, 3),
        ", ".join(sorted(f.flags)),
    ]


def group_table(report: AnnualReport, grouping: str, lang: Lang) -> Table:
    rows = [figure_row(f) for f in report.groups[grouping]]
    total = report.totals()
    total.key = label("total", lang)
    total.sites = [str(len(report.sites))]
    rows.append(figure_row(total))
    headers = [label(c, lang) if c != "key" else label(grouping, lang) for c in FIGURE_COLUMNS]
    return Table(grouping, list(FIGURE_COLUMNS), headers, rows, lang)


def meters_table(report: AnnualReport, lang: Lang) -> Table:
    cols = ["meter", "site", "device_kind", "role", "load", "zone", "kwh_total", "kwh_measured",
            "kwh_integrated", "kwh_imported", "kwh_estimated", "kwh_missing", "completeness_pct", "missing_h"]  # fmt: skip
    period_s = (report.end_ns - report.start_ns) / NS
    rows: list[list[Value]] = []
    for m in report.meters:
        covered = m.seconds.get("measured", 0.0) + m.seconds.get("integrated", 0.0) + m.seconds.get("imported", 0.0)
        rows.append([
            m.meter, m.site, m.device_kind, m.role, m.load, m.zone, _r(m.kwh_total, 3), _r(m.kwh["measured"], 3),
            _r(m.kwh["integrated"], 3), _r(m.kwh["imported"], 3), _r(m.kwh["estimated"], 3), _r(m.kwh["missing"], 3),
            _r(m.completeness * 100, 2), _r(max(0.0, period_s - covered) / 3600, 2),
        ])  # fmt: skip
    return Table(label("sheet_meters", lang), cols, [label(c, lang) for c in cols], rows, lang)


def months_table(report: AnnualReport, lang: Lang) -> Table:
    cols = ["site", "month", "kwh", "beges_t", "grid_t", "grid_g", "completeness_pct"]
    rows: list[list[Value]] = [
        [m.site, m.month, _r(m.kwh, 3), _r(m.beges_t, 9), _r(m.grid_t, 9), _r(m.grid_g_per_kwh, 2), _r(m.completeness * 100, 2)]
        for m in report.months
    ]
    return Table(label("sheet_months", lang), cols, [label(c, lang) for c in cols], rows, lang)


def resilience_table(report: AnnualReport, lang: Lang) -> Table:
    cols = ["site", "device_kind", "devices", "availability_pct", "outages", "outage_h", "battery_episodes",
            "battery_h", "min_battery_min"]  # fmt: skip
    rows: list[list[Value]] = [
        [r.site, r.device_kind, r.devices, _r(r.availability * 100 if r.availability is not None else None, 3),
         r.outages, _r(r.outage_s / 3600, 3), r.battery_episodes, _r(r.battery_s / 3600, 3), r.min_battery_minutes]
        for r in report.resilience
    ]  # fmt: skip
    return Table(label("sheet_resilience", lang), cols, [label(c, lang) for c in cols], rows, lang)


def _fmt_time(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=UTC).astimezone(PARIS).isoformat()


def factor_provenance(f: EmissionFactor, lang: Lang) -> str:
    """One factor's provenance in the report's language. The table's free-text `note` is the
    table author's words (English in the embedded table): quoted only in an English report; a
    French one states the same facts (verified or not, fallback year) in French."""
    unc = f"± {number(f.uncertainty_pct, lang, 0 if float(f.uncertainty_pct).is_integer() else 1)} %" if f.uncertainty_pct is not None else label("unc_unknown", lang)
    ident = f.source_id or "—"
    verified = label("verified_yes" if f.verified else "verified_no", lang)
    text = (
        f"{number(f.kg_per_kwh, lang, 4)} kgCO2e/kWh ({label('factor_year', lang).lower()} {f.year}) ; {unc} ; {f.source} ; "
        f"{label('factor_id', lang)} {ident} ; {f.table} {f.version_tag} ; {verified}"
    )
    if lang == "en":
        text = text.replace(" ; ", "; ")
        if f.note:
            text += f"; note: {f.note}"
    return text


def method_table(report: AnnualReport, lang: Lang) -> Table:
    """The 'méthode' sheet: period, scope, BEGES mapping, factors with provenance, conventions."""
    u = ", ".join(f"{label('method_' + k, lang)} {number(v, lang, 0 if float(v).is_integer() else 1)} %" for k, v in report.uncertainty_pct.items())
    rows: list[list[Value]] = [
        [label("title", lang), report.label],
        [label("period", lang), f"{_fmt_time(report.start_ns)} → {_fmt_time(report.end_ns)}"],
        [label("generated", lang), report.generated_at],
    ]
    for key in ("scope", "beges", "grid", "methods", "completeness", "uncertainty", "allocation"):
        rows.append([label("item_" + key, lang), statement(key, lang, methods=u) if key == "uncertainty" else statement(key, lang)])
    for note in report.notes:
        rows.append([label("item_warning", lang), statement(note, lang)])
    for inc in report.inconsistencies:
        rows.append([label("item_warning", lang), inc.message(lang)])
    rows += method_rows(lang)
    for f in report.factors_used:
        rows.append([f"{label('factors_used', lang)} : {f.zone} {f.requested_year}".replace(" :", ":" if lang == "en" else " :"),
                     factor_provenance(f, lang)])  # fmt: skip
    for src in report.grid_sources:
        rows.append([label("grid_source", lang), src])
    return Table(label("sheet_method", lang), ["item", "value"], [label("item", lang), label("value", lang)], rows, lang)


def all_tables(report: AnnualReport, groupings: list[str], lang: Lang) -> list[Table]:
    tables = [group_table(report, g, lang) for g in groupings]
    tables += [meters_table(report, lang), months_table(report, lang), resilience_table(report, lang), method_table(report, lang)]
    tables.append(posts_table(report, lang))
    return tables
