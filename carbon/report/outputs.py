"""Writers: CSV (plain or French Excel), XLSX (openpyxl), JSON. HTML lives in `html.py`.

French Excel CSV (`excel_fr`): `;` separator, decimal comma, UTF-8 with a BOM, so a double
click in a French Excel opens the columns and numbers right.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from sentinelle.carbon.report.aggregate import AnnualReport
from sentinelle.carbon.report.labels import STATEMENTS, Lang, flag_text, statement
from sentinelle.carbon.report.sheet import Table, Value


def _cell(v: Value, excel_fr: bool) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        text = repr(v) if abs(v) >= 1e-4 or v == 0 else f"{v:.10f}".rstrip("0")
        return text.replace(".", ",") if excel_fr else text
    return str(v)


def ascii_slug(name: str) -> str:
    """A file-name part in plain ASCII ("méthode" -> "methode"): Windows shares, Excel and zip
    tools mangle accents in names, so file names never carry them (sheet names may)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in plain)
    while "--" in keep:
        keep = keep.replace("--", "-")
    return keep.strip("-") or "table"


def write_csv(tables: list[Table], out_dir: Path, stem: str, excel_fr: bool = False) -> list[Path]:
    """One CSV per table: `<stem>-<table>.csv`."""
    paths = []
    for t in tables:
        p = out_dir / f"{stem}-{ascii_slug(t.name)}.csv"
        with p.open("w", encoding="utf-8-sig" if excel_fr else "utf-8", newline="") as f:
            w = csv.writer(f, delimiter=";" if excel_fr else ",")
            w.writerow(t.headers)
            for row in t.human_rows():
                w.writerow([_cell(v, excel_fr) for v in row])
        paths.append(p)
    return paths


def _xlsx_format(column: str) -> str | None:
    if column in ("beges_t", "grid_t", "beges_u_t"):
        return "#,##0.000000"
    if column.startswith("kwh") or column in ("missing_h", "outage_h", "battery_h"):
        return "#,##0.000"
    if column.endswith("_pct") or column in ("grid_g", "pue"):
        return "#,##0.00"
    if column == "factor_kg":
        return "0.00000"
    return None


def write_xlsx(tables: list[Table], path: Path) -> Path:
    """One sheet per table (groupings, meters, monthly, resilience, method)."""
    wb = Workbook()
    wb.remove(wb.active)
    for t in tables:
        ws = wb.create_sheet(t.name[:31])
        ws.append(t.headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in t.human_rows():
            ws.append(list(row))
        # Display formats only (the cells keep their exact values): Excel shows thousands
        # separators and fixed decimals in the reader's own locale, never 2E-06.
        for i, column in enumerate(t.columns, start=1):
            fmt = _xlsx_format(column)
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                    if isinstance(cell.value, float | int) and not isinstance(cell.value, bool):
                        cell.number_format = fmt
        for i, h in enumerate(t.headers, start=1):
            width = max([len(str(h))] + [len(str(r[i - 1])) for r in t.rows if r[i - 1] is not None])
            ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(60, max(10, width + 2))
        ws.freeze_panes = "B2"
    wb.save(path)
    return path


def write_json(report: AnnualReport, tables: list[Table], path: Path, lang: Lang) -> Path:
    doc = {
        "report": "sentinelle-energy-carbon",
        "period": {"label": report.label, "start_ns": report.start_ns, "end_ns": report.end_ns},
        "generated_at": report.generated_at,
        "lang": lang,
        "notes": report.notes,
        "notes_text": [statement(n, lang) for n in report.notes if n in STATEMENTS],
        "flag_labels": {c: flag_text(c, lang) for t in tables if "flags" in t.columns
                        for r in t.records() for c in str(r["flags"] or "").split(", ") if c},
        "meter_hierarchy": [
            {"kind": i.kind, "site": i.site, "upper_meters": list(i.upper_meters), "lower_meters": list(i.lower_meters),
             "upper": i.upper, "lower": i.lower, "unit": i.unit, "message": i.message(lang)}
            for i in report.inconsistencies
        ],
        "sites_without_data": report.sites_without_data,
        "factors_used": [
            {
                "zone": f.zone,
                "requested_year": f.requested_year,
                "year": f.year,
                "kgco2e_per_kwh": f.kg_per_kwh,
                "uncertainty_pct": f.uncertainty_pct,
                "source": f.source,
                "source_id": f.source_id,
                "version": f.version_tag,
                "verified": f.verified,
                "note": f.note,
                "status": f.status,
                "undated": f.undated,
                "parts": [{"name": p.name, "kgco2e_per_kwh": p.kg_per_kwh, "post": p.post} for p in f.parts],
                "post_shares": f.post_shares(),
            }
            for f in report.factors_used
        ],
        "tables": {t.name: {"headers": dict(zip(t.columns, t.headers, strict=True)), "rows": t.records()} for t in tables},
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
