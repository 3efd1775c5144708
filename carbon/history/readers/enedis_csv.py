"""Enedis tables (load curve, daily index) read row by row, from a CSV export or a worksheet."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from sentinelle.carbon.history.readers.common import (
    ETAPE_PRIORITY,
    ImportFormatError,
    Kind,
    Problem,
    ReadStats,
    Row,
    norm,
    to_canonical,
    unit_factor,
)
from sentinelle.carbon.history.timeparse import (
    LocalClock,
    TimeFormatError,
    parse_duration_s,
    parse_number,
    parse_time,
)

DIRECTIONS = {"consumption": ("cons", "soutirage", "consommation"), "injection": ("prod", "injection", "production")}


class TableRows(Protocol):
    """What `read_enedis_table` reads: rows of cells as text, and the current row's 1-based
    line (`csv.reader` is one; `SheetRows` gives a worksheet's rows the same way)."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...


def read_enedis_table(
    reader: TableRows,
    kind: Kind,
    clock: LocalClock,
    stats: ReadStats,
    *,
    direction: str = "consumption",
    step_s: int = 0,
) -> Iterator[Row | Problem]:
    """The Enedis load curve / daily index tables, whether from a CSV file or an .xlsx sheet."""
    header: list[str] | None = None
    meta: dict[str, str] = {}
    meta_header: list[str] | None = None
    for row in reader:
        names = [norm(c) for c in row]
        if "horodate" in names and "valeur" in names:
            header = names
            break
        if meta_header is None and len(names) > 1 and any(names):
            meta_header = names
        elif meta_header is not None and not meta:
            meta = {k: v.strip() for k, v in zip(meta_header, row, strict=False)}
    if header is None:
        raise ImportFormatError("no 'Horodate;Valeur' header line: not an Enedis export")

    def col(*names: str) -> int | None:
        for nm in names:
            if nm in header:
                return header.index(nm)
        return None

    c_t, c_v = col("horodate"), col("valeur")
    c_unit, c_step = col("unite"), col("pas")
    c_dir, c_phys, c_etape = col("grandeur metier"), col("grandeur physique"), col("etape metier")
    c_nature, c_iv = col("nature"), col("indice de vraisemblance")
    c_cadran = col("identifiant classe temporelle", "cadran", "code cadran", "classe temporelle")
    assert c_t is not None and c_v is not None
    wanted = DIRECTIONS.get(direction)
    if wanted is None:
        raise ImportFormatError(f"direction {direction!r}: choose consumption or injection")
    meta_unit = meta.get("unite", "")
    meta_step = meta.get("pas", "")
    for r in reader:
        n = reader.line_num
        if not any(c.strip() for c in r):
            continue
        if len(r) <= max(c_t, c_v):
            yield Problem(n, f"{len(r)} columns, expected at least {max(c_t, c_v) + 1}")
            continue
        if c_dir is not None and r[c_dir].strip() and norm(r[c_dir]) not in wanted:
            stats.skip(f"grandeur métier {r[c_dir].strip()}")
            continue
        unit = norm(r[c_unit]) if c_unit is not None and len(r) > c_unit and r[c_unit].strip() else norm(meta_unit)
        phys = norm(r[c_phys]) if c_phys is not None and len(r) > c_phys else ""
        if phys and phys not in ("pa", "ea"):  # reactive power, voltage...: not active energy
            stats.skip(f"grandeur physique {phys.upper()}")
            continue
        row_kind: Kind = "counter" if unit in ("wh", "kwh") or phys == "ea" else "interval"
        if row_kind != kind:
            yield Problem(n, f"unit {unit or '?'} / grandeur {phys or '?'} is a {row_kind} row but the meter is imported "
                             f"as {kind} (use --kind {row_kind})")
            continue
        # The time first, holes included: the clock counts each pass through the repeated autumn hour.
        try:
            t = parse_time(r[c_t], clock)
        except (TimeFormatError, ValueError) as exc:
            yield Problem(n, f"Horodate: {exc}")
            continue
        if not r[c_v].strip():
            stats.skip("no value (hole in the curve)")
            continue
        try:
            v = parse_number(r[c_v])
        except ValueError as exc:
            yield Problem(n, f"Valeur: {exc}")
            continue
        if v < 0:
            yield Problem(n, f"Valeur {v} is negative")
            continue
        prio = ETAPE_PRIORITY.get(norm(r[c_etape]), 0) if c_etape is not None and len(r) > c_etape else 0
        if c_nature is not None and len(r) > c_nature:
            key = f"Nature={r[c_nature].strip() or '-'}"
            if c_iv is not None and len(r) > c_iv:
                key += f" IV={r[c_iv].strip() or '-'}"
            stats.quality[key] = stats.quality.get(key, 0) + 1
        if kind == "counter":
            factor = unit_factor("counter", unit or "wh")
            cadran = r[c_cadran].strip() if c_cadran is not None and len(r) > c_cadran else ""
            yield Row(n, t, v * factor, sub=cadran, prio=prio)
            continue
        step_text = r[c_step] if c_step is not None and len(r) > c_step and r[c_step].strip() else meta_step
        try:
            step = parse_duration_s(step_text) if step_text.strip() else step_s
        except ValueError as exc:
            yield Problem(n, f"Pas: {exc}")
            continue
        stats.steps[step] = stats.steps.get(step, 0) + 1
        factor = unit_factor("interval", unit or "w")
        if step <= 0:
            # unknown step: stored as mean power, converted once the step is known
            yield Row(n, t, v * -factor, step_s=0, prio=prio, sub="w")
            continue
        yield Row(n, t, to_canonical("interval", factor, v, step), step_s=step, prio=prio)


def table_kind(rows: Iterable[list[str]]) -> Kind | None:
    """What the first rows of an Enedis table say it holds (for `enedis_kind`); None without a header."""
    header: list[str] | None = None
    meta_header: list[str] | None = None
    for row in rows:
        names = [norm(c) for c in row]
        if header is None:
            if "horodate" in names and "valeur" in names:
                header = names
            elif meta_header is None and ("unite" in names or "grandeur physique" in names):
                meta_header = names
            elif meta_header is not None:
                meta = dict(zip(meta_header, names, strict=False))
                if meta.get("unite") in ("wh", "kwh") or meta.get("grandeur physique") == "ea":
                    return "counter"
                meta_header = None
            continue
        cells = dict(zip(header, names, strict=False))
        if cells.get("unite") in ("wh", "kwh") or cells.get("grandeur physique") == "ea":
            return "counter"
        if cells.get("unite") or cells.get("pas"):
            return "interval"
    return None if header is None else "interval"
