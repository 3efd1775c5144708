"""A self-contained HTML report: tables and inline SVG charts, no script, no server, no CDN.

Charts: monthly kWh and tCO2e per site (grouped bars), completeness per site, monthly grid
intensity. Everything is escaped; the file opens from a USB key on an offline laptop.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from carbon.report.aggregate import AnnualReport
from carbon.report.labels import Lang, label, statement
from carbon.report.posts import posts_html
from carbon.report.tables import Table, Value

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _fmt(v: Value, lang: Lang) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        text = f"{v:,.6g}" if abs(v) < 1 else f"{v:,.3f}".rstrip("0").rstrip(".")
        if lang == "fr":
            text = text.replace(",", "\u202f").replace(".", ",")
        return text
    return str(v)


def bar_chart(title: str, categories: list[str], series: dict[str, list[float]], unit: str) -> str:
    """Grouped vertical bars as SVG; `series` name -> one value per category."""
    w, h, left, bottom, top = 760, 260, 60, 40, 30
    top_value = max([v for vals in series.values() for v in vals] + [0.0]) or 1.0
    n_cat, n_ser = max(1, len(categories)), max(1, len(series))
    slot = (w - left - 10) / n_cat
    bar = max(1.0, slot * 0.8 / n_ser)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{escape(title)}">',
        f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="#333"/>',
        f'<text x="4" y="{top + 4}" font-size="10">{top_value:.4g} {escape(unit)}</text>',
    ]
    for i, cat in enumerate(categories):
        x0 = left + i * slot + slot * 0.1
        for j, (name, vals) in enumerate(series.items()):
            v = vals[i] if i < len(vals) else 0.0
            bh = (h - bottom - top) * v / top_value
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{h - bottom - bh:.1f}" width="{bar:.1f}" height="{bh:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(name)} {escape(cat)}: {v:.6g} {escape(unit)}</title></rect>'
            )
        parts.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{h - bottom + 14}" text-anchor="middle" font-size="10">{escape(cat)}</text>')
    for j, name in enumerate(series):
        parts.append(
            f'<rect x="{left + j * 140}" y="{h - 14}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{left + j * 140 + 14}" y="{h - 5}" font-size="10">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table_html(t: Table, lang: Lang) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"n" if isinstance(v, int | float) else "t"}">{escape(_fmt(v, lang))}</td>' for v in row) + "</tr>"
        for row in t.rows
    )
    # Grouping tables are named by their key (`site`, `member`): show its label in the report's language.
    return f'<h2>{escape(label(t.name, lang))}</h2><div class="scroll"><table data-table="{escape(t.name)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def render_html(report: AnnualReport, tables: list[Table], lang: Lang) -> str:
    months = sorted({m.month for m in report.months})
    sites = sorted({m.site for m in report.months})
    by = {(m.site, m.month): m for m in report.months}
    kwh = {s: [by[(s, mo)].kwh if (s, mo) in by else 0.0 for mo in months] for s in sites}
    tco2 = {s: [by[(s, mo)].beges_t if (s, mo) in by else 0.0 for mo in months] for s in sites}
    grid_by_month: list[float] = []
    for mo in months:
        rows = [m for m in report.months if m.month == mo and m.grid_g_per_kwh is not None]
        k = sum(m.kwh for m in rows)
        grid_by_month.append(sum(m.grid_t for m in rows) * 1e6 / k if k > 0 else 0.0)
    completeness = {label("completeness_pct", lang): [s.completeness * 100 for s in report.sites]}
    charts = [
        bar_chart(label("chart_kwh", lang), months, kwh, "kWh"),
        bar_chart(label("chart_t", lang), months, tco2, "tCO2e"),
        bar_chart(label("chart_completeness", lang), [s.key for s in report.sites], completeness, "%"),
        bar_chart(label("chart_grid", lang), months, {"grid": grid_by_month}, "gCO2e/kWh"),
    ]
    total = report.totals()
    summary = (
        f"<p class='summary'><b>{escape(label('kwh_total', lang))}</b> : <span data-figure='kwh_total'>{escape(_fmt(round(total.kwh_total, 3), lang))}</span> — "
        f"<b>{escape(label('beges_t', lang))}</b> : <span data-figure='beges_t'>{escape(_fmt(round(total.beges_t, 6), lang))}</span> "
        f"± {escape(_fmt(round(total.beges_u_rel * 100, 2), lang))} % — "
        f"<b>{escape(label('grid_t', lang))}</b> : <span data-figure='grid_t'>{escape(_fmt(round(total.grid_t, 6), lang))}</span> — "
        f"<b>{escape(label('completeness_pct', lang))}</b> : <span data-figure='completeness_pct'>{escape(_fmt(round(total.completeness * 100, 2), lang))}</span></p>"
    )
    statements = "".join(f"<p class='statement'>{escape(statement(k, lang))}</p>" for k in ("scope", "beges", "grid"))
    warnings = "".join(f"<p class='warning'>{escape(statement(n, lang))}</p>" for n in report.notes)
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}td.n{text-align:right}th{background:#eee}"
        ".scroll{overflow-x:auto}.warning{color:#a00;font-weight:bold}.statement{background:#f5f5f5;padding:6px}"
    )
    return (
        f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
        f"<title>{escape(label('title', lang))} {escape(report.label)}</title><style>{style}</style></head><body>"
        f"<h1>{escape(label('title', lang))} — {escape(report.label)}</h1>{statements}{warnings}{summary}"
        + posts_html(report, lang)
        + "".join(f"<figure>{c}</figure>" for c in charts)
        + "".join(_table_html(t, lang) for t in tables)
        + f"<p><small>{escape(label('generated', lang))} {escape(report.generated_at)} — Sentinelle</small></p></body></html>"
    )


def write_html(report: AnnualReport, tables: list[Table], path: Path, lang: Lang) -> Path:
    path.write_text(render_html(report, tables, lang), encoding="utf-8")
    return path
