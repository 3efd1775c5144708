"""ADEME's Base Carbone export (CSV or XLSX, as users download it) into the BEGES factor table.

What is read: the export's own columns, by name (accents, case and apostrophes normalised, so a
re-saved file still matches), from a ';' CSV in UTF-8 (with or without BOM) or Windows-1252 with
decimal commas, or from the .xlsx of the same columns. What is kept: the electricity
"mix moyen", frontier "consommation", kgCO2e/kWh elements of every zone and year present, with
their decomposition lines ("Poste" lines of the same element id), by the rule of `_selected`.
Only "Valide générique" / "Valide spécifique" elements unless archived ones are asked for.

Every problem names the file and the line (CSV line number, or sheet and row of an XLSX) and what
is missing or wrong; nothing is guessed: an element without a total is an error, a year that
cannot be read from the element's name leaves the row undated (ADEME's ZNI elements have none).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from sentinelle.carbon.beges_posts import post_of
from sentinelle.carbon.factors import DEFAULT_ZONE

VALID_STATUSES = ("valide generique", "valide specifique")
TABLE_NAME = "ademe-base-empreinte-electricite"

# Export column names (as ADEME writes them) for each field this module reads.
COLUMNS = {
    "line_type": "Type Ligne",
    "id": "Identifiant de l'élément",
    "status": "Statut de l'élément",
    "name": "Nom base français",
    "attribute": "Nom attribut français",
    "frontier": "Nom frontière français",
    "unit": "Unité français",
    "location": "Localisation géographique",
    "sublocation": "Sous-localisation géographique français",
    "uncertainty": "Incertitude",
    "post_type": "Type poste",
    "post_name": "Nom poste français",
    "total": "Total poste non décomposé",
}
OPTIONAL_COLUMNS = {"validity": "Période de validité", "modified": "Date de modification"}

_ATTRIBUTE = re.compile(r"^(?:(\d{4})\s*-\s*)?mix moyen$")
_FRONTIER = re.compile(r"^consommation(?:\s*-\s*(\d{4}))?$")
_VERSION = re.compile(r"(?:^|[^A-Za-z])[Vv](\d+(?:\.\d+)+)")


class ExportError(ValueError):
    """The file is not a usable Base Carbone export; the message names file, line and problem."""


def plain(text: str) -> str:
    """Lower case, no accents, straight apostrophes, single spaces: how names are compared."""
    decomposed = unicodedata.normalize("NFKD", str(text).replace("’", "'").replace("\ufeff", ""))
    no_marks = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(no_marks.casefold().split())


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", plain(text)).strip("-")


@dataclass(frozen=True, slots=True)
class ExportLine:
    where: str  # "FILE:LINE" or "FILE: sheet S, row N"
    cells: dict[str, Any]

    def text(self, key: str) -> str:
        v = self.cells.get(key)
        return "" if v is None else str(v).strip()

    def number(self, key: str) -> float | None:
        v = self.cells.get(key)
        if v is None or isinstance(v, bool):
            return None
        if isinstance(v, int | float):
            return float(v)
        text = str(v).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            name = COLUMNS.get(key, key)
            raise ExportError(f"{self.where}: column {name!r}: {str(v)!r} is not a number") from None


@dataclass
class Element:
    line: ExportLine
    ident: str
    status: str
    zone: str
    zone_label: str
    year: int | None
    total: float
    uncertainty: float | None
    unit: str
    parts: list[tuple[str, float]] = field(default_factory=list)


# --- reading ------------------------------------------------------------------------------------


def _header_index(header: list[Any], where: str) -> dict[str, int]:
    names = {plain(h): i for i, h in enumerate(header) if h is not None and str(h).strip()}
    index: dict[str, int] = {}
    missing = []
    for key, column in COLUMNS.items():
        if plain(column) in names:
            index[key] = names[plain(column)]
        else:
            missing.append(column)
    if missing:
        raise ExportError(
            f"{where}: not a Base Carbone export: missing column(s) {', '.join(repr(m) for m in missing)} "
            "(expected ADEME's export with its header line)"
        )
    for key, column in OPTIONAL_COLUMNS.items():
        if plain(column) in names:
            index[key] = names[plain(column)]
    return index


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _csv_lines(path: Path) -> Iterator[ExportLine]:
    text = _decode(path.read_bytes())
    first = text.split("\n", 1)[0]
    delimiter = max((";", "\t", ","), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ExportError(f"{path}:1: empty file (expected ADEME's Base Carbone export)") from None
    index = _header_index(header, f"{path}:1")
    width = max(index.values()) + 1
    try:
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            where = f"{path}:{reader.line_num}"
            if len(row) < width:
                raise ExportError(f"{where}: {len(row)} fields, the header has at least {width}: a truncated line?")
            yield ExportLine(where, {k: row[i] for k, i in index.items()})
    except csv.Error as exc:
        raise ExportError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None


def _xlsx_lines(path: Path) -> tuple[Iterator[ExportLine], str]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a foreign file
        raise ExportError(f"{path}: not a readable .xlsx workbook ({exc.__class__.__name__})") from None
    first_problem: ExportError | None = None
    for ws in wb.worksheets:
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            continue
        try:
            index = _header_index(list(header), f"{path}: sheet {ws.title!r}, row 1")
        except ExportError as exc:
            first_problem = first_problem or exc
            continue

        def lines(rows: Iterator[tuple[Any, ...]] = rows, index: dict[str, int] = index, title: str = ws.title) -> Iterator[ExportLine]:
            for n, row in enumerate(rows, start=2):
                if not any(c is not None and str(c).strip() for c in row):
                    continue
                yield ExportLine(f"{path}: sheet {title!r}, row {n}",
                                 {k: row[i] if i < len(row) else None for k, i in index.items()})
            wb.close()

        return lines(), ws.title
    wb.close()
    raise first_problem or ExportError(f"{path}: the workbook has no sheet")


def export_lines(path: str | Path) -> tuple[Iterator[ExportLine], str]:
    """(lines after the header, text where the base version may be read: file and sheet name)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"PK\x03\x04":
        lines, sheet = _xlsx_lines(p)
        return lines, f"{p.name} {sheet}"
    if p.suffix.lower() in (".xlsx", ".xls"):
        raise ExportError(f"{p}: not an .xlsx workbook (an old .xls? save it as .xlsx or export the CSV)")
    return _csv_lines(p), p.name


def base_version_of(text: str) -> str | None:
    m = _VERSION.search(text)
    return f"V{m.group(1)}" if m else None


# --- selection ----------------------------------------------------------------------------------


def _selected(line: ExportLine) -> tuple[int | None] | None:
    """(year,) when the line belongs to an electricity "mix moyen — consommation" element."""
    if plain(line.text("name")) != "electricite":
        return None
    if plain(line.text("unit")).replace(" ", "") != "kgco2e/kwh":
        return None
    attribute = _ATTRIBUTE.match(plain(line.text("attribute")))
    frontier = _FRONTIER.match(plain(line.text("frontier")))
    if attribute is None or frontier is None:
        return None
    year = attribute.group(1) or frontier.group(1)
    return (int(year) if year else None,)


def _zone(line: ExportLine) -> tuple[str, str]:
    sub, loc = line.text("sublocation"), line.text("location")
    if not sub and plain(loc) == "france continentale":
        return DEFAULT_ZONE, "France continentale"
    label = sub or loc
    if not label:
        raise ExportError(f"{line.where}: element {line.text('id')}: no 'Localisation géographique'")
    return slug(label), label


def _part_name(line: ExportLine) -> str:
    kind, name = line.text("post_type"), line.text("post_name")
    if not kind and not name:
        raise ExportError(f"{line.where}: post line of element {line.text('id')} has no 'Type poste'")
    return f"{kind} — {name}" if kind and name else (kind or name)


def read_elements(path: str | Path, include_archived: bool = False) -> tuple[list[Element], str]:
    """The selected elements of an export (with their parts) and the text naming its version."""
    lines, version_text = export_lines(path)
    elements: dict[str, Element] = {}
    parts: dict[str, list[tuple[ExportLine, str, float]]] = {}
    for line in lines:
        sel = _selected(line)
        if sel is None:
            continue
        ident = line.text("id")
        if ident.endswith(".0"):  # an id the spreadsheet stored as a number
            ident = ident[:-2]
        if not ident:
            raise ExportError(f"{line.where}: electricity line without 'Identifiant de l'élément'")
        kind = plain(line.text("line_type"))
        if kind == "poste":
            value = line.number("total")
            if value is None:
                raise ExportError(f"{line.where}: post line of element {ident}: 'Total poste non décomposé' is empty")
            parts.setdefault(ident, []).append((line, _part_name(line), value))
            continue
        if kind != "element":
            raise ExportError(f"{line.where}: column 'Type Ligne': {line.text('line_type')!r} is neither 'Elément' nor 'Poste'")
        status = line.text("status")
        if plain(status) not in VALID_STATUSES and not include_archived:
            continue
        total = line.number("total")
        if total is None:
            raise ExportError(f"{line.where}: element {ident}: 'Total poste non décomposé' is empty")
        zone, label = _zone(line)
        elements[ident] = Element(line, ident, status, zone, label, sel[0], total, line.number("uncertainty"),
                                  line.text("unit"))
    for ident, lst in parts.items():
        if ident in elements:
            elements[ident].parts = [(name, value) for _, name, value in lst]
    return list(elements.values()), version_text


# --- the table ----------------------------------------------------------------------------------


def _rank(e: Element) -> tuple[bool, str, int]:
    """Preference among elements for one zone and year: valid first, then the latest modified."""
    modified = e.line.cells.get("modified")
    stamp = modified.isoformat() if isinstance(modified, datetime | date) else str(modified or "")
    if re.fullmatch(r"\d{2}/\d{2}/\d{4}", stamp):
        stamp = f"{stamp[6:]}-{stamp[3:5]}-{stamp[:2]}"
    return (plain(e.status) in VALID_STATUSES, stamp, int(e.ident) if e.ident.isdigit() else 0)


def _validity(e: Element) -> str:
    v = e.line.cells.get("validity")
    if isinstance(v, datetime | date):  # an .xlsx date cell: written as the CSV export writes it
        return v.strftime("%d/%m/%Y")
    return "" if v is None else str(v).strip()


def build_table(path: str | Path, include_archived: bool = False, base_version: str | None = None) -> str:
    """The factor table (YAML text, the `--factors` format) built from an export file."""
    p = Path(path)
    elements, version_text = read_elements(p, include_archived)
    version = base_version or base_version_of(version_text)
    if version is None:
        raise ExportError(
            f"{p}: cannot tell the Base Carbone version from the file or sheet name "
            "(ADEME names it like Base_Carbone_V23.6.csv): give it with --base-version"
        )
    if not elements:
        what = "valid " if not include_archived else ""
        raise ExportError(
            f"{p}: no {what}'Electricité — mix moyen — consommation' element in kgCO2e/kWh found "
            "(is it ADEME's Base Carbone export, with its electricity lines?)"
        )
    chosen: dict[tuple[str, int | None], Element] = {}
    others: dict[tuple[str, int | None], list[Element]] = {}
    for e in elements:
        key = (e.zone, e.year)
        if key in chosen and _rank(chosen[key]) >= _rank(e):
            others.setdefault(key, []).append(e)
            continue
        if key in chosen:
            others.setdefault(key, []).append(chosen[key])
        chosen[key] = e
    zones: dict[str, dict[str, Any]] = {}
    order = sorted(chosen, key=lambda k: (k[0] != DEFAULT_ZONE, k[0], k[1] is None, k[1] or 0))
    for key in order:
        e = chosen[key]
        z = zones.setdefault(e.zone, {"label": e.zone_label, "factors": []})
        attribute = e.line.text("attribute")
        note = f"Built by `sentinelle factors build` from {p.name}."
        if e.year is None:
            validity = _validity(e)
            note += " The export gives this element no reference year: it applies to every year, flagged 'undated'"
            note += f" (Période de validité: {validity})." if validity else "."
        if e.parts and abs(sum(v for _, v in e.parts) - e.total) > 0.01 * e.total:
            note += f" Its parts add up to {sum(v for _, v in e.parts):g}, not {e.total:g}: the split uses their shares."
        for other in others.get(key, []):
            note += f" Also in the export for this zone and year: element {other.ident} ({other.status}), not used."
        z["factors"].append({
            "year": e.year,
            "value": e.total,
            "uncertainty_pct": e.uncertainty,
            "source": f"ADEME Base Carbone {version} — {e.line.text('name')} — {attribute} — "
                      f"{e.line.text('frontier')} — {e.zone_label}",
            "source_id": e.ident,
            "source_version": version,
            "status": e.status,
            "unit": e.unit,
            "verified": True,
            "note": note,
            "parts": [{"name": name, "value": value, "post": post_of(name)} for name, value in e.parts],
        })  # fmt: skip
    doc = {
        "table": TABLE_NAME,
        "version": version,
        "unit": "kgCO2e/kWh",
        "built_from": p.name,
        "base_version": version,
        "zones": zones,
    }
    head = (
        "# Electricity emission factors for the BEGES track (location-based), per zone and year.\n"
        f"# Built by `sentinelle factors build` from {p.name} (ADEME Base Carbone {version}):\n"
        "# the 'Electricité — mix moyen — consommation' elements in kgCO2e/kWh, "
        f"{'all statuses' if include_archived else 'valid statuses only'}, with their decomposition\n"
        "# and the BEGES post of each part (carbon/beges_posts.py). Do not edit by hand: rebuild it.\n"
    )
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)
