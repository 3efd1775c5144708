"""The HTML report: a document a délégataire reads, prints on A4 and signs.

Page 1 carries the figures that go into the BEGES and the annual report (totals, then per site
and per member: energy, tCO2e, completeness, factor id and version) with every warning above
them and a signature block; then charts with axes, units and values; detail tables; the method
(the factor provenance, stated once); annexes (meters, months, resilience).

Self-contained: inline SVG, no script, no server, no CDN, so the file opens from a USB key on an
offline laptop. Every number goes through `carbon.quantities` (French format by default, readable
units); the figures themselves come unchanged from `aggregate` (the CSV/JSON hold the same).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from sentinelle.agent.core import NS
from sentinelle.carbon.factors import EmissionFactor
from sentinelle.carbon.localtime import PARIS
from sentinelle.carbon.quantities import (
    NBSP,
    Lang,
    energy_column,
    energy_kwh,
    energy_unit,
    mass_column,
    mass_t,
    mass_unit,
    month_label,
    nice_ticks,
    number,
    percent,
    ratio,
)
from sentinelle.carbon.report.aggregate import AnnualReport, Figures
from sentinelle.carbon.report.labels import flags_text, label, statement
from sentinelle.carbon.report.posts import posts_html
from sentinelle.carbon.report.sheet import Table, Value
from sentinelle.carbon.report.tables import factor_provenance

if TYPE_CHECKING:
    from sentinelle.carbon.inventory.manufacturing import ManufacturingSection, Totals

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#999999")  # Okabe-Ito

STYLE = """
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; font-size: 10pt; line-height: 1.4;
       color: #1a1a1a; max-width: 190mm; margin: 0 auto; padding: 6mm; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 13pt; margin: 7mm 0 2mm; border-bottom: 1px solid #999; padding-bottom: 1mm; }
h3 { font-size: 11pt; margin: 5mm 0 1.5mm; }
p { margin: 1.5mm 0; }
.sub { color: #444; }
.keyfigures { display: flex; flex-wrap: wrap; gap: 3mm; margin: 3mm 0; }
.kf { flex: 1 1 40mm; border: 1px solid #0072B2; border-radius: 2mm; padding: 2mm 3mm; }
.kf .k { font-size: 8.5pt; color: #333; }
.kf .v { font-size: 14pt; font-weight: bold; white-space: nowrap; }
.kf .d { font-size: 8.5pt; color: #333; }
.warnings { border: 2px solid #D55E00; border-radius: 2mm; padding: 1mm 3mm; margin: 3mm 0; }
.warning { color: #8a2f00; font-weight: bold; }
.statement { background: #f3f3f3; padding: 1.5mm 2.5mm; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; margin: 1mm 0 3mm; }
section.first table { font-size: 8pt; }
section.first th, section.first td { padding: 0.6mm 1.2mm; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; vertical-align: top; }
th { background: #e9eef3; text-align: left; font-weight: bold; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.t { overflow-wrap: break-word; min-width: 14mm; }
tr.total td { font-weight: bold; border-top: 2px solid #555; }
td.flag { color: #8a2f00; }
table.annex { font-size: 7.5pt; }
figure { margin: 2mm 0 4mm; break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 8.5pt; color: #444; }
.signature { display: flex; gap: 4mm; margin-top: 6mm; }
.signature div { flex: 1; border: 1px solid #999; min-height: 22mm; padding: 1.5mm 2mm; font-size: 8.5pt; color: #333; }
footer { margin-top: 6mm; font-size: 8pt; color: #555; }
@media print {
  body { max-width: none; padding: 0 1.5mm; }  /* borders at the very edge of the page box get clipped */
  h2, h3 { break-after: avoid-page; }
  section.newpage { break-before: page; }
  table, figure, .keyfigures, .signature { break-inside: avoid; }
  thead { display: table-header-group; }
}
"""

# Words that only the HTML document uses.
_WORDS: dict[str, tuple[str, str]] = {
    "headline": ("Chiffres à reporter (BEGES et rapport annuel)", "Figures to report (BEGES and annual report)"),
    "kf_energy": ("Électricité consommée", "Electricity consumed"),
    "kf_beges": ("Émissions BEGES de l'électricité (postes 2.1 et 4.1)", "BEGES emissions of electricity (items 2.1 and 4.1)"),
    "kf_completeness": ("Complétude des données", "Data completeness"),
    "kf_factor": ("Facteur d'émission utilisé", "Emission factor used"),
    "kf_grid": ("Réseau temps réel (comparaison)", "Grid real time (comparison)"),
    "uncertainty": ("incertitude", "uncertainty"),
    "by_site": ("Par site", "By site"),
    "by_member": ("Par membre", "By member"),
    "energy": ("Énergie", "Energy"),
    "emissions": ("Émissions BEGES", "BEGES emissions"),
    "factor": ("Facteur (identifiant, version, année)", "Factor (id, version, year)"),
    "charts": ("Graphiques", "Charts"),
    "details": ("Détail des chiffres", "Detailed figures"),
    "detail_energy": ("Énergie par méthode de mesure", "Energy by measurement method"),
    "detail_emissions": ("Émissions, PUE et alertes", "Emissions, PUE and flags"),
    "method": ("Méthode et provenance des facteurs", "Method and factor provenance"),
    "factor_table": ("Facteurs d'émission (piste BEGES)", "Emission factors (BEGES track)"),
    "zone": ("Zone", "Zone"),
    "year_asked": ("Année déclarée", "Reported year"),
    "value": ("Valeur", "Value"),
    "source": ("Source", "Source"),
    "annexes": ("Annexes", "Annexes"),
    "sign_prepared": ("Établi par (nom, fonction)", "Prepared by (name, role)"),
    "sign_checked": ("Vérifié par (nom, fonction)", "Checked by (name, role)"),
    "sign_date": ("Date et signature", "Date and signature"),
    "none": ("aucune", "none"),
    "no_grid": ("aucune intensité réseau enregistrée", "no grid intensity recorded"),
    "per_period": ("sur la période", "over the period"),
    "sites_n": ("sites", "sites"),
    "scope3": ("Fabrication des équipements (scope 3, immobilisations) — à part de l'électricité",
               "Equipment manufacturing (scope 3, capital goods) — separate from electricity"),
    "scope3_total": ("Total", "Total"),
    "scope3_how": ("Chaque équipement inventorié est amorti linéairement sur sa durée de vie, depuis sa date de "
                   "fabrication, sinon depuis la première fois que l'agent l'a vu ; les incertitudes des lignes sont "
                   "combinées en quadrature (indépendantes). Table des facteurs de fabrication",
                   "Each inventoried item is amortised linearly over its lifetime, from its manufacturing date, else "
                   "from the first time the agent saw it; line uncertainties are combined in quadrature "
                   "(independent). Manufacturing factor table"),
    "scope3_none": ("Aucun équipement inventorié sur la période.", "No inventoried equipment over the period."),
    "unverified_mark": ("(!) facteur non vérifié contre la source primaire : voir la section Méthode.",
                        "(!) factor not checked against its primary source: see the Method section."),
}


def word(key: str, lang: Lang) -> str:
    fr, en = _WORDS[key]
    return fr if lang == "fr" else en


def _colon(lang: Lang) -> str:
    """French puts a (no-break) space before a colon, English does not."""
    return f"{NBSP}: " if lang == "fr" else ": "


def _e(text: str) -> str:
    return escape(text, quote=True)


# --- charts --------------------------------------------------------------------------------------


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: dict[str, list[float | None]],
    axis_unit: str,
    fmt: Callable[[float], str],
    *,
    top: float | None = None,
    marker: tuple[float, str] | None = None,
    lang: Lang = "fr",
) -> str:
    """Grouped vertical bars as SVG with a y axis (ticks, grid, unit), x labels, a legend and,
    when there is room, each bar's value written above it. `series`: name -> one value per
    category (None: no value, no bar). `marker`: a dashed reference line (value, text). Tick
    labels carry the decimals of the tick step (0 - 2,5 - 5,0), bar values `fmt`."""

    colon = _colon(lang)

    def tick_fmt(v: float, d: int) -> str:
        return number(v, lang, d)

    w, h, left, right, top_pad, bottom = 720, 300, 72, 12, 34, 58
    values = [v for vals in series.values() for v in vals if v is not None]
    ticks = nice_ticks(top if top is not None else max(values + [0.0]))
    y_max = ticks[-1]
    plot_h = h - top_pad - bottom
    n_cat, n_ser = max(1, len(categories)), max(1, len(series))
    slot = (w - left - right) / n_cat
    bar = max(2.0, min(48.0, slot * 0.78 / n_ser))
    label_values = n_cat * n_ser <= 16

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - v / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{_e(title)}" font-family="DejaVu Sans, Arial, sans-serif">',
        f'<text x="{w / 2}" y="16" text-anchor="middle" font-size="14" font-weight="bold">{_e(title)}</text>',
        f'<text x="14" y="{top_pad + plot_h / 2}" text-anchor="middle" font-size="11" '
        f'transform="rotate(-90 14 {top_pad + plot_h / 2})">{_e(axis_unit)}</text>',
    ]
    step = ticks[1] - ticks[0]
    tick_decimals = next((d for d in range(7) if abs(round(step, d) - step) < step * 1e-6), 6)  # the step's own
    for t in ticks:
        parts.append(f'<line x1="{left}" y1="{y(t):.1f}" x2="{w - right}" y2="{y(t):.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{left - 5}" y="{y(t) + 4:.1f}" text-anchor="end" font-size="11">{_e(tick_fmt(t, tick_decimals))}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{y(0):.1f}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{w - right}" y2="{y(0):.1f}" stroke="#333"/>')
    for i, cat in enumerate(categories):
        group_w = bar * n_ser
        x0 = left + i * slot + (slot - group_w) / 2
        for j, (name, vals) in enumerate(series.items()):
            v = vals[i] if i < len(vals) else None
            if v is None:
                continue
            x, yv = x0 + j * bar, y(max(v, 0.0))
            parts.append(
                f'<rect x="{x:.1f}" y="{yv:.1f}" width="{bar - 1:.1f}" height="{y(0) - yv:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{_e(name)} — {_e(cat)}{colon}{_e(fmt(v))} {_e(axis_unit)}</title></rect>'
            )
            if label_values:
                parts.append(f'<text x="{x + bar / 2:.1f}" y="{yv - 3:.1f}" text-anchor="middle" font-size="10">{_e(fmt(v))}</text>')
        parts.append(
            f'<text x="{left + i * slot + slot / 2:.1f}" y="{y(0) + 15:.1f}" text-anchor="middle" font-size="11">{_e(cat)}</text>'
        )
    if marker is not None and 0 < marker[0] <= y_max:
        ym = y(marker[0])
        parts.append(f'<line x1="{left}" y1="{ym:.1f}" x2="{w - right}" y2="{ym:.1f}" stroke="#D55E00" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{w - right - 2}" y="{ym - 3:.1f}" text-anchor="end" font-size="10" fill="#8a2f00">{_e(marker[1])}</text>')
    x = left
    for j, name in enumerate(series):  # at most MAX_SERIES names: one line
        parts.append(f'<rect x="{x:.0f}" y="{h - 18}" width="11" height="11" fill="{PALETTE[j % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 15:.0f}" y="{h - 8}" font-size="11">{_e(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(
    title: str,
    names: Sequence[str],
    values: Sequence[float],
    axis_unit: str,
    fmt: Callable[[float], str],
    *,
    top: float | None = None,
    marker: tuple[float, str] | None = None,
    lang: Lang = "fr",
) -> str:
    """One horizontal bar per name (sites: any number, any name length), an x axis with ticks
    and unit, each bar's value at its end, an optional dashed reference line."""
    row, w, right, top_pad, bottom = 20, 720, 60, 30, 40
    longest = max((len(n) for n in names), default=4)
    left = min(260, 12 + 6.6 * longest)
    h = top_pad + row * max(1, len(names)) + bottom
    ticks = nice_ticks(top if top is not None else max([*values, 0.0]))
    x_max = ticks[-1]
    step = ticks[1] - ticks[0]
    tick_decimals = next((d for d in range(7) if abs(round(step, d) - step) < step * 1e-6), 6)
    plot_w = w - left - right

    def x(v: float) -> float:
        return left + plot_w * min(max(v, 0.0), x_max) / x_max

    y_axis = top_pad + row * max(1, len(names))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{_e(title)}" font-family="DejaVu Sans, Arial, sans-serif">',
        f'<text x="{w / 2}" y="16" text-anchor="middle" font-size="14" font-weight="bold">{_e(title)}</text>',
    ]
    for t in ticks:
        parts.append(f'<line x1="{x(t):.1f}" y1="{top_pad}" x2="{x(t):.1f}" y2="{y_axis}" stroke="#ddd"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{y_axis + 14}" text-anchor="middle" font-size="11">{_e(number(t, lang, tick_decimals))}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{h - 6}" text-anchor="middle" font-size="11">{_e(axis_unit)}</text>')
    parts.append(f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{y_axis}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" y1="{y_axis}" x2="{w - right}" y2="{y_axis}" stroke="#333"/>')
    fits = int((left - 12) / 6.6)
    for i, (name, v) in enumerate(zip(names, values, strict=True)):
        y0 = top_pad + i * row + 3
        shown = name if len(name) <= fits else name[: fits // 2 - 1] + "…" + name[-(fits - fits // 2) :]
        parts.append(f'<text x="{left - 5}" y="{y0 + 11}" text-anchor="end" font-size="11">{_e(shown)}<title>{_e(name)}</title></text>')
        parts.append(
            f'<rect x="{left}" y="{y0}" width="{x(v) - left:.1f}" height="{row - 6}" fill="{PALETTE[0]}">'
            f"<title>{_e(name)}{_colon(lang)}{_e(fmt(v))} {_e(axis_unit)}</title></rect>"
        )
        parts.append(f'<text x="{x(v) + 4:.1f}" y="{y0 + 11}" font-size="10">{_e(fmt(v))}</text>')
    if marker is not None and 0 < marker[0] <= x_max:
        xm = x(marker[0])
        parts.append(f'<line x1="{xm:.1f}" y1="{top_pad - 4}" x2="{xm:.1f}" y2="{y_axis}" stroke="#D55E00" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{xm + 3:.1f}" y="{top_pad - 6}" font-size="10" fill="#8a2f00">{_e(marker[1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


MAX_SERIES = 6  # beyond this, per-site monthly bars are unreadable: chart the total, tables give the sites


def _charts(report: AnnualReport, lang: Lang) -> list[str]:
    months = sorted({m.month for m in report.months})
    sites = sorted({m.site for m in report.months})
    by = {(m.site, m.month): m for m in report.months}
    years = {mo[:4] for mo in months}
    cats = [month_label(mo, lang, with_year=len(years) > 1) for mo in months]
    year_note = f" — {next(iter(years))}" if len(years) == 1 else ""
    kwh_max = max([m.kwh for m in report.months] + [0.0])
    e_div, e_unit = energy_unit(kwh_max)
    kwh = {s: [by[(s, mo)].kwh / e_div if (s, mo) in by else None for mo in months] for s in sites}
    t_max = max([m.beges_t for m in report.months] + [0.0])
    t_div, t_unit = mass_unit(t_max)
    tco2 = {s: [by[(s, mo)].beges_t / t_div if (s, mo) in by else None for mo in months] for s in sites}
    kwh_title, t_title = "chart_kwh", "chart_t"
    if len(sites) > MAX_SERIES:
        everyone = "Tous les sites" if lang == "fr" else "All sites"
        kwh_title, t_title = "chart_kwh_all", "chart_t_all"
        kwh = {everyone: [sum(v or 0.0 for v in col) for col in zip(*kwh.values(), strict=True)]}
        tco2 = {everyone: [sum(v or 0.0 for v in col) for col in zip(*tco2.values(), strict=True)]}
    grid: list[float | None] = []
    for mo in months:
        rows = [m for m in report.months if m.month == mo and m.grid_g_per_kwh is not None]
        k = sum(m.kwh for m in rows)
        grid.append(sum(m.grid_t for m in rows) * 1e6 / k if k > 0 else None)

    def num(v: float) -> str:
        return number(v, lang)

    charts = [
        (bar_chart(label(kwh_title, lang).replace("kWh", e_unit) + year_note, cats, kwh, e_unit, num, lang=lang), ""),
        (bar_chart(label(t_title, lang).replace("tCO2e", t_unit) + year_note, cats, tco2, t_unit, num, lang=lang), ""),
        (hbar_chart(
            label("chart_completeness", lang), [s.key for s in report.sites], [s.completeness * 100 for s in report.sites],
            "%", lambda v: number(v, lang, 0) if v in (0, 100) else number(v, lang, 1), top=100.0, lang=lang,
        ), statement("completeness", lang)),  # fmt: skip
    ]
    with_pue = [f for f in report.sites if f.pue is not None]
    if with_pue:
        floor = "PUE = 1 : minimum physique" if lang == "fr" else "PUE = 1: physical minimum"
        charts.append((hbar_chart(
            "PUE (énergie du site / énergie IT)" if lang == "fr" else "PUE (facility energy / IT energy)",
            [f.key for f in with_pue], [f.pue or 0.0 for f in with_pue], "PUE", lambda v: ratio(v, lang),
            top=max(2.0, *(f.pue or 0 for f in with_pue)), marker=(1.0, floor), lang=lang,
        ), statement("pue", lang)))  # fmt: skip
    if any(g is not None for g in grid):
        charts.append((bar_chart(label("chart_grid", lang) + year_note, cats, {label("grid_g", lang): grid}, "g CO2e/kWh", num, lang=lang), ""))
    return [f"<figure>{svg}" + (f"<figcaption>{_e(cap)}</figcaption>" if cap else "") + "</figure>" for svg, cap in charts]


# --- tables --------------------------------------------------------------------------------------


def _cell(text: str, numeric: bool = False, cls: str = "") -> str:
    klass = ("n" if numeric else "t") + (f" {cls}" if cls else "")
    return f'<td class="{klass}">{_e(text)}</td>'


def _table(headers: Sequence[str], rows: Sequence[str], name: str, cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    klass = f' class="{cls}"' if cls else ""
    return f'<table data-table="{_e(name)}"{klass}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def factor_ref(f: EmissionFactor, lang: Lang) -> str:
    """A factor in a row: value, id, version, year (its full provenance is in the method section)."""
    g = number(f.kg_per_kwh * 1000, lang, 1)
    ident = f"id{NBSP}{f.source_id}" if f.source_id else ("sans identifiant" if lang == "fr" else "no id")
    mark = "" if f.verified else " (!)"
    return f"{g}{NBSP}g/kWh, {ident}, {f.source_version or f.version_tag}, {f.year}{mark}"


def _factors_text(f: Figures, lang: Lang) -> str:
    return " + ".join(factor_ref(x, lang) for x in sorted(f.factors, key=lambda x: x.year)) or "—"


def _u(f: Figures, lang: Lang) -> str:
    return f"± {percent(f.beges_u_rel * 100, lang)}" if f.beges_t > 0 else "—"


def _headline_rows(rows: list[Figures], total: Figures, lang: Lang, owner: Callable[[Figures], str] | None,
                   e_fmt: Callable[[float], str], t_fmt: Callable[[float], str], factor_column: bool) -> list[str]:
    out = []
    for f in [*rows, total]:
        cls = ' class="total"' if f is total else ""
        cells = [_cell(f.key)]
        if owner is not None:
            cells.append(_cell(owner(f) if f is not total else ""))
        cells += [
            _cell(e_fmt(f.kwh_total), True),
            _cell(t_fmt(f.beges_t), True),
            _cell(_u(f, lang), True),
            _cell(percent(f.completeness * 100, lang), True),
            *([_cell(_factors_text(f, lang))] if factor_column else []),
            # the total's flags would only repeat its rows' (and the warnings above)
            _cell(flags_text(", ".join(sorted(f.flags)), lang) if f is not total else "", cls="flag"),
        ]
        out.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return out


def _site_list(f: Figures) -> str:
    """A member's sites on page 1: named when few, counted when many (the tables list them)."""
    return ", ".join(f.sites) if len(f.sites) <= 3 else f"{len(f.sites)} sites"


def _first_page(report: AnnualReport, lang: Lang) -> str:
    total = report.totals()
    total.key = label("total", lang)
    factors = " + ".join(factor_ref(f, lang) for f in report.factors_used) or word("none", lang)
    grid = mass_t(total.grid_t, lang) if total.grid_kwh > 0 else word("no_grid", lang)
    key_figures = (
        "<div class='keyfigures'>"
        f"<div class='kf'><div class='k'>{_e(word('kf_energy', lang))}</div>"
        f"<div class='v'><span data-figure='kwh_total'>{_e(energy_kwh(total.kwh_total, lang))}</span></div>"
        f"<div class='d'>{_e(number(total.kwh_total, lang, 3))}{NBSP}kWh</div></div>"
        f"<div class='kf'><div class='k'>{_e(word('kf_beges', lang))}</div>"
        f"<div class='v'><span data-figure='beges_t'>{_e(mass_t(total.beges_t, lang))}</span></div>"
        f"<div class='d'>{_e(word('uncertainty', lang))} {_e(_u(total, lang))} — "
        f"{_e(number(total.beges_t, lang, 6))}{NBSP}t CO2e</div></div>"
        f"<div class='kf'><div class='k'>{_e(word('kf_completeness', lang))}</div>"
        f"<div class='v'><span data-figure='completeness_pct'>{_e(percent(total.completeness * 100, lang))}</span></div>"
        f"<div class='d'>{_e(word('kf_grid', lang))}{_colon(lang)}<span data-figure='grid_t'>{_e(grid)}</span></div></div>"
        "</div>"
        f"<p><b>{_e(word('kf_factor', lang))}</b>{_colon(lang)}{_e(factors)}</p>"
    )
    members = {f.key: f for f in report.groups.get("member", [])}

    def member_of(f: Figures) -> str:
        names = [m.key for m in members.values() if any(s == f.key or s.startswith(f"{f.key} (") for s in m.sites)]
        return ", ".join(names) or "—"

    e_unit, e_fmt = energy_column([total.kwh_total], lang)
    t_unit, t_fmt = mass_column([total.beges_t], lang)
    member_rows = report.groups.get("member", [])
    # One factor for every row (one zone, one year): said once above the tables, not per row.
    factor_column = len({_factors_text(f, lang) for f in [*report.sites, *member_rows] if f.factors}) > 1
    headers = [label("site", lang), label("member", lang), f"{word('energy', lang)} ({e_unit})", f"{word('emissions', lang)} ({t_unit})",
               word("uncertainty", lang).capitalize(), label("completeness_pct", lang)]  # fmt: skip
    headers += [word("factor", lang)] if factor_column else []
    headers.append(label("flags", lang))
    site_table = _table(headers, _headline_rows(report.sites, total, lang, member_of, e_fmt, t_fmt, factor_column), "headline-site")
    m_headers = [label("member", lang), label("sites", lang), *headers[2:]]
    member_table = _table(
        m_headers,
        _headline_rows(member_rows, total, lang, _site_list, e_fmt, t_fmt, factor_column),
        "headline-member",
    )
    footnote = f"<p class='sub'><small>{_e(word('unverified_mark', lang))}</small></p>" if any(not f.verified for f in report.factors_used) else ""
    return (
        f"<h2>{_e(word('headline', lang))}</h2>{key_figures}"
        f"<h3>{_e(word('by_site', lang))}</h3>{site_table}"
        f"<h3>{_e(word('by_member', lang))}</h3>{member_table}{footnote}"
        "<div class='signature'>"
        + "".join(f"<div>{_e(word(k, lang))}</div>" for k in ("sign_prepared", "sign_checked", "sign_date"))
        + "</div>"
    )


def _pue_cell(value: float | None, lang: Lang) -> str:
    """A PUE below 1 cannot be true: it is shown, marked, never as a good score."""
    if value is None:
        return _cell("—", True)
    if value < 1:
        return _cell(f"{ratio(value, lang)} ({'incohérent' if lang == 'fr' else 'inconsistent'})", True, "flag")
    return _cell(ratio(value, lang), True)


def _detail_tables(report: AnnualReport, groupings: Sequence[str], lang: Lang) -> str:
    out = [f"<h2>{_e(word('details', lang))}</h2>"]
    total = report.totals()
    total.key = label("total", lang)
    methods = ("measured", "integrated", "imported", "estimated", "missing")
    e_unit, e_fmt = energy_column([total.kwh_total], lang)
    t_unit, t_fmt = mass_column([total.beges_t, total.grid_t], lang)
    for g in groupings:
        rows = report.groups.get(g, [])
        e_rows, c_rows = [], []
        for f in [*rows, total]:
            cls = ' class="total"' if f is total else ""
            e_rows.append(
                f"<tr{cls}>" + _cell(f.key) + _cell(e_fmt(f.kwh_total), True)
                + "".join(_cell(e_fmt(f.kwh[m]), True) for m in methods)
                + _cell(percent(f.completeness * 100, lang), True) + "</tr>"
            )  # fmt: skip
            grid_g = f.grid_g_per_kwh
            c_rows.append(
                f"<tr{cls}>" + _cell(f.key) + _cell(t_fmt(f.beges_t), True) + _cell(_u(f, lang), True)
                + _cell(t_fmt(f.grid_t) if f.grid_kwh > 0 else "—", True)
                + _cell(number(grid_g, lang, 1) if grid_g is not None else "—", True)
                + _pue_cell(f.pue, lang)
                + _cell(flags_text(", ".join(sorted(f.flags)), lang) if f is not total else "", cls="flag") + "</tr>"
            )  # fmt: skip
        e_head = [label(g, lang), label("kwh_total", lang).replace("kWh", e_unit)]
        e_head += [label(f"kwh_{m}", lang).replace("kWh ", "") + f" ({e_unit})" for m in methods]
        e_head.append(label("completeness_pct", lang))
        c_head = [label(g, lang), f"{word('emissions', lang)} ({t_unit})", word("uncertainty", lang).capitalize(),
                  label("grid_t", lang).replace("tCO2e", t_unit), label("grid_g", lang), label("pue", lang), label("flags", lang)]  # fmt: skip
        out.append(f"<h3>{_e(label(g, lang))} — {_e(word('detail_energy', lang))}</h3>")
        out.append(_table(e_head, e_rows, f"{g}-energy"))
        out.append(f"<h3>{_e(label(g, lang))} — {_e(word('detail_emissions', lang))}</h3>")
        out.append(_table(c_head, c_rows, g))
    return "".join(out)


def _method(report: AnnualReport, lang: Lang) -> str:
    u = ", ".join(f"{label('method_' + k, lang)} {number(v, lang, 0 if float(v).is_integer() else 1)} %" for k, v in report.uncertainty_pct.items())
    keys = ("scope", "beges", "grid", "methods", "completeness", "uncertainty", "allocation")
    statements = "".join(
        f"<p class='statement'>{_e(statement(k, lang, methods=u) if k == 'uncertainty' else statement(k, lang))}</p>" for k in keys
    )
    rows = [
        "<tr>" + _cell(f.zone) + _cell(str(f.requested_year), True) + _cell(factor_ref(f, lang))
        + _cell(factor_provenance(f, lang)) + "</tr>"
        for f in report.factors_used
    ]  # fmt: skip
    factor_table = _table([word("zone", lang), word("year_asked", lang), word("value", lang), word("source", lang)], rows, "factors")
    grid = "".join(f"<li>{_e(s)}</li>" for s in report.grid_sources)
    return (
        f"<h2>{_e(word('method', lang))}</h2>{statements}<h3>{_e(word('factor_table', lang))}</h3>{factor_table}"
        + (f"<h3>{_e(label('grid_source', lang))}</h3><ul>{grid}</ul>" if grid else "")
    )


def _scope3(section: ManufacturingSection, lang: Lang) -> str:
    """Scope 3 manufacturing as its own section: its figures sit in their own tables and are never
    added to the electricity totals above, which a signed BEGES statement reports separately."""
    from sentinelle.carbon.inventory.tables import LABELS, SCOPE_NOTE

    cols = ("key", "equipment", "with_factor", "without_factor_pct", "amortised_t", "uncertainty_t", "sources")
    i = 1 if lang == "en" else 0
    headers = [LABELS[c][i].replace(" (± tCO2e)", "").replace(" (tCO2e)", "").replace(" (%)", "") for c in cols]

    def row(key: str, t: Totals, total: bool = False) -> str:
        return ("<tr class='total'>" if total else "<tr>") + (
            _cell(key) + _cell(number(t.equipment, lang), True) + _cell(number(t.with_factor, lang), True)
            + _cell(percent(t.without_factor_pct, lang), True) + _cell(mass_t(t.amortised_t, lang), True)
            + _cell(f"± {mass_t(t.uncertainty_t, lang)}", True) + _cell("; ".join(sorted(t.sources)) or "—")
        ) + "</tr>"  # fmt: skip

    parts = [f"<h2>{_e(word('scope3', lang))}</h2>", f"<p class='statement'>{_e(SCOPE_NOTE[i])}</p>",
             f"<p class='statement'>{_e(word('scope3_how', lang))}{_colon(lang)}{_e(section.table_version)}.</p>"]
    if not section.total.equipment:
        return "".join([*parts, f"<p>{_e(word('scope3_none', lang))}</p>"])
    for grouping in ("site", "member"):
        rows = [row(k, t) for k, t in sorted(section.by[grouping].items())]
        rows.append(row(word("scope3_total", lang), section.total, total=True))
        heads = [word(f"by_{grouping}", lang), *headers[1:]]
        parts.append(f"<h3>{_e(word(f'by_{grouping}', lang))}</h3>")
        parts.append(_table(heads, rows, f"manufacturing-{grouping}"))
    return "".join(parts)


def _annex_value(column: str, v: Value, lang: Lang) -> tuple[str, bool]:
    if v is None:
        return "—", False
    if column == "month" and isinstance(v, str) and len(v) == 7:
        return month_label(v, lang), False
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v), False
    if column in ("beges_t", "grid_t", "beges_u_t"):
        return mass_t(float(v), lang), True
    if column.endswith("_pct"):
        return percent(float(v), lang, 2 if column == "availability_pct" else 1), True
    if column == "grid_g":
        return number(float(v), lang, 1), True
    if column in ("kwh", "kwh_total") or column.startswith("kwh_"):
        return number(float(v), lang, 3 if abs(float(v)) < 100 else 1), True
    if isinstance(v, int):
        return number(v, lang), True
    return number(float(v), lang), True


ANNEX_COLUMNS = 8  # beyond this an A4 page width cannot hold a table's numbers: split it


def _annex(t: Table, lang: Lang) -> str:
    """A generic table, split into column blocks (each repeating the first column) so that no
    table is wider than the page, whatever columns a table gains later."""
    formatted = [
        [_annex_value(c, v, lang) for c, v in zip(t.columns, r, strict=True)] for r in t.human_rows()
    ]
    headers = [h.replace(" (tCO2e)", "").replace("(tCO2e, ", "(") for h in t.headers]
    rest = list(range(1, len(t.columns)))
    blocks = [rest[i : i + ANNEX_COLUMNS - 1] for i in range(0, len(rest), ANNEX_COLUMNS - 1)] or [[]]
    out = [f"<h3>{_e(t.name.capitalize())}</h3>"]
    for block in blocks:
        cols = [0, *block]
        rows = ["<tr>" + "".join(_cell(row[i][0], row[i][1]) for i in cols) + "</tr>" for row in formatted]
        out.append(_table([headers[i] for i in cols], rows, t.name, "annex"))
    return "".join(out)


def _period(report: AnnualReport, lang: Lang) -> str:
    def day(ns: int) -> str:
        return datetime.fromtimestamp(ns / NS, tz=UTC).astimezone(PARIS).strftime("%d/%m/%Y %H:%M")

    return f"{label('period', lang)}{_colon(lang)}{day(report.start_ns)} → {day(report.end_ns)} ({'heure de Paris' if lang == 'fr' else 'Paris time'})"


def _css_string(text: str) -> str:
    """A CSS string literal that cannot close the string, the rule or the <style> element:
    anything but letters, digits and plain punctuation is written as a CSS escape."""
    safe = " -—→:/.,()"
    return '"' + "".join(c if c.isalnum() or c in safe else f"\\{ord(c):x} " for c in text) + '"'


def _page_boxes(title: str) -> str:
    """Printed pages carry the report's title and "page N / M": a signed document whose
    pages can be told apart and counted."""
    return (
        "@page { @bottom-left { content: " + _css_string(title) + "; font-size: 8pt; color: #555; } "
        '@bottom-right { content: "Page " counter(page) " / " counter(pages); '
        "font-size: 8pt; color: #555; } }"
    )


def render_html(report: AnnualReport, tables: list[Table], lang: Lang, scope3: ManufacturingSection | None = None) -> str:
    groupings = [t.name for t in tables if t.columns and t.columns[0] == "key"]
    annexes = [t for t in tables if t.columns and t.columns[0] != "key" and t.columns != ["item", "value"]]
    warnings = [statement(n, lang) for n in report.notes]
    warnings += [i.message(lang) for i in report.inconsistencies]
    if report.sites_without_data and not report.is_empty:
        warnings.append(statement("no-data-sites", lang, sites=", ".join(report.sites_without_data)))
    warn_html = (
        "<div class='warnings'>" + "".join(f"<p class='warning'>{_e(w)}</p>" for w in warnings) + "</div>" if warnings else ""
    )
    title = f"{label('title', lang)} — {report.label}"
    return (
        f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{STYLE}{_page_boxes(title)}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p class='sub'>{_e(_period(report, lang))}</p>"
        f"<p class='statement'>{_e(statement('scope', lang))}</p></header>"
        f"<section class='first'>{warn_html}{_first_page(report, lang)}{posts_html(report, lang)}</section>"
        f"<section class='newpage'><h2>{_e(word('charts', lang))}</h2>{''.join(_charts(report, lang))}</section>"
        f"<section class='newpage'>{_detail_tables(report, groupings, lang)}</section>"
        f"<section class='newpage'>{_method(report, lang)}</section>"
        + (f"<section class='newpage scope3'>{_scope3(scope3, lang)}</section>" if scope3 is not None else "")
        + f"<section class='newpage'><h2>{_e(word('annexes', lang))}</h2>{''.join(_annex(t, lang) for t in annexes)}</section>"
        f"<footer>{_e(label('generated', lang))} {_e(report.generated_at)} — Sentinelle</footer></body></html>"
    )


def write_html(report: AnnualReport, tables: list[Table], path: Path, lang: Lang,
               scope3: ManufacturingSection | None = None) -> Path:
    path.write_text(render_html(report, tables, lang, scope3), encoding="utf-8")
    return path
