"""Readers of meter exports: each yields `Row`s (one reading) or `Problem`s (file, line, reason).

All readers stream (they hold one line, or one worksheet row, at a time) except the Data
Connect JSON reader, which parses the whole response (a year of half-hours is ~17,500 entries).
Values are converted to the import's canonical units: kWh for a counter, W for power samples,
kWh per interval for interval energy.

Formats (see carbon/history/README.md for the sources):
- `csv`: generic CSV (`,` `;` or tab, decimal point or comma, header or not, time and value
  columns by name or 1-based number, times ISO 8601 / epoch / naive local);
- `enedis`: Enedis load curves (`Horodate;Valeur` with `Pas`, `Grandeur métier`,
  `Etape métier`, `Nature`...; mean power in W over the step ending at `Horodate`) and Enedis
  daily index exports (`Grandeur physique` EA, `Unité` Wh, one row per cadran), as CSV or as
  .xlsx workbooks with the same columns; Data Connect / "Mes données" JSON (metering data
  v4/v5: load curves and daily energy);
- `lp`: InfluxDB line protocol of raw readings (`energy_kwh_total` or `power_w` fields).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TextIO
from zoneinfo import ZoneInfo

from sentinelle.agent.lineprotocol import LineProtocolError, parse_line
from sentinelle.carbon.history.timeparse import (
    NS,
    LocalClock,
    TimeFormatError,
    looks_like_time,
    parse_duration_s,
    parse_number,
    parse_time,
)
from sentinelle.carbon.meters import SKIP_MEASUREMENTS

Kind = Literal["counter", "power", "interval"]
KINDS: tuple[Kind, ...] = ("counter", "power", "interval")
FORMATS = ("auto", "csv", "enedis", "lp")

# Unit -> factor to the canonical unit of each kind.
UNITS: dict[Kind, dict[str, float]] = {
    "counter": {"kwh": 1.0, "wh": 0.001, "mwh": 1000.0},
    "power": {"w": 1.0, "kw": 1000.0, "mw": 1e6},
    # interval energy; `w`/`kw` mean an average power over the step (Enedis load curves)
    "interval": {"kwh": 1.0, "wh": 0.001, "mwh": 1000.0, "w": -1.0, "kw": -1000.0},
}
DEFAULT_UNIT: dict[Kind, str] = {"counter": "kwh", "power": "w", "interval": "kwh"}


class ImportFormatError(ValueError):
    """The file as a whole cannot be read in the asked format (no header, unknown columns...)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One reading: `value` in the canonical unit of the kind; `sub` separates the cadrans of
    an index export; `step_s` is the interval of interval energy (0: infer from the previous
    row); `prio` ranks corrected over raw values of the same time; `reset` marks a counter
    restart the source flagged."""

    line: int
    time_ns: int
    value: float
    sub: str = ""
    step_s: int = 0
    reset: bool = False
    prio: int = 0


# A row as the staging table stores it: (time_ns, sub, value, step_s, reset, prio, line).
StagedRow = tuple[int, str, float, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    reason: str


@dataclass
class ReadStats:
    """What a reader skipped on purpose (not errors): other directions, other meters, ..."""

    skipped: dict[str, int] = field(default_factory=dict)
    quality: dict[str, int] = field(default_factory=dict)
    steps: dict[int, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def unit_factor(kind: Kind, unit: str | None) -> float:
    u = (unit or DEFAULT_UNIT[kind]).strip().lower()
    try:
        return UNITS[kind][u]
    except KeyError:
        raise ValueError(f"unit {unit!r} does not fit a {kind} meter (use one of: {', '.join(UNITS[kind])})") from None


def to_canonical(kind: Kind, factor: float, value: float, step_s: int) -> float:
    """Canonical value; a negative factor means average power over the step (interval kind)."""
    if factor >= 0:
        return value * factor
    return value * -factor * step_s / 3_600_000.0


def norm(name: str) -> str:
    """Header names compared without accents, case, BOM or extra spaces."""
    s = unicodedata.normalize("NFKD", name.replace("\ufeff", ""))
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return " ".join(s.strip().strip('"').lower().replace("_", " ").split())


def open_text(path: Path) -> TextIO:
    """UTF-8 (with or without BOM), falling back to cp1252 for files saved by Excel. A binary
    workbook (.xlsx, .xls) opens as latin-1, which decodes any byte: its readers take the bytes
    underneath (`f.buffer`), and a text scan of it finds no header instead of failing."""
    with path.open("rb") as probe:
        head = probe.read(65536)
    if _sniff_bytes(head[:512]) in ("xlsx", "xls"):
        return path.open("r", encoding="latin-1", newline="")
    try:
        head.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        encoding = "utf-8-sig" if exc.start > len(head) - 4 else "cp1252"
    return path.open("r", encoding=encoding, newline="", errors="strict")


def _sniff_delimiter(lines: list[str]) -> str:
    best, best_score = ",", -1
    for d in (";", "\t", ","):
        counts = [len(next(csv.reader([ln], delimiter=d))) for ln in lines if ln.strip()]
        if not counts:
            continue
        score = min(counts) if min(counts) > 1 else 0
        if score > best_score:
            best, best_score = d, score
    return best


def detect_format(path: Path) -> str:
    """`lp`, `enedis` or `csv` from the first bytes and lines of the file: an .xlsx workbook
    and a JSON object (Data Connect response) are `enedis`."""
    with path.open("rb") as probe:
        source = _sniff_bytes(probe.read(512))
    if source in ("xlsx", "json"):
        return "enedis"
    if source == "xls":
        raise ImportFormatError(f"{path.name} is an old binary .xls workbook: save it as .xlsx or CSV")
    with open_text(path) as f:
        head = [f.readline() for _ in range(40)]
    lines = [ln.strip() for ln in head if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ImportFormatError("the file is empty")
    try:
        p = parse_line(lines[0])
        if p.fields and " " in lines[0]:
            return "lp"
    except LineProtocolError:
        pass
    for ln in lines:
        cols = {norm(c) for c in ln.replace("\t", ";").replace(",", ";").split(";")}
        if "horodate" in cols and "valeur" in cols:
            return "enedis"
    return "csv"


# --- generic CSV ----------------------------------------------------------------------------


def _column(spec: str | None, header: list[str] | None, candidates: tuple[str, ...], what: str) -> int | None:
    if spec is not None:
        if spec.isdigit():
            return int(spec) - 1
        if header is None:
            raise ImportFormatError(f"--{what}-column {spec!r} names a column but the file has no header line")
        names = [norm(h) for h in header]
        if norm(spec) not in names:
            raise ImportFormatError(f"no column {spec!r} in the header ({', '.join(header)})")
        return names.index(norm(spec))
    if header is not None:
        names = [norm(h) for h in header]
        for c in candidates:
            if c in names:
                return names.index(c)
    return None


TIME_NAMES = ("time", "timestamp", "horodate", "datetime", "date", "date - heure", "date heure", "_time", "ts")
RESET_NAMES = ("reset", "counter reset", "remise a zero", "raz")
# A reset column's cells: a counter restart is flagged by any of the first, absent by the second.
RESET_TRUE = frozenset({"1", "true", "yes", "y", "oui", "o", "x", "reset", "raz"})
RESET_FALSE = frozenset({"", "0", "false", "no", "n", "non"})
VALUE_NAMES = ("value", "valeur", "kwh", "energy kwh total", "index", "power w", "w", "watts", "power",
               "energy", "wh", "puissance", "energie", "_value")


def read_csv_tuples(
    f: TextIO,
    kind: Kind,
    factor: float,
    clock: LocalClock,
    stats: ReadStats,
    *,
    time_column: str | None = None,
    value_column: str | None = None,
    step_s: int = 0,
    reset_column: str | None = None,
) -> Iterator[StagedRow | Problem]:
    """`read_csv` as the staging table takes rows: (time_ns, sub, value, step_s, reset, prio, line).

    A counter's export may flag its restarts (meter replaced, index set back to zero) in a
    column (`--reset-column`, or a header named reset / counter_reset / remise à zéro): a
    flagged row starts a new count whatever the values, where an unflagged drop is read as a
    wrap when the modulus makes it plausible, else as a restart."""
    head: list[str] = []
    while len(head) < 5:
        ln = f.readline()
        if not ln:
            break
        head.append(ln)
    if not any(h.strip() for h in head):
        raise ImportFormatError("the file is empty")
    delim = _sniff_delimiter(head)
    rest = io.StringIO("".join(head))
    reader = csv.reader(itertools.chain(rest, f), delimiter=delim)
    first: list[str] | None = None
    line_no = 0
    for row in reader:
        line_no = reader.line_num
        if any(c.strip() for c in row):
            first = row
            break
    if first is None:
        raise ImportFormatError("the file is empty")
    has_header = not any(looks_like_time(c) for c in first if c.strip())
    header = first if has_header else None
    t_col = _column(time_column, header, TIME_NAMES, "time")
    v_col = _column(value_column, header, VALUE_NAMES, "value")
    if t_col is None:
        t_col = 0
    if v_col is None:
        v_col = 1 if t_col == 0 else 0
        if header is not None and len(header) > 2:
            raise ImportFormatError(
                f"cannot tell which column holds the value among {', '.join(header)}: give --value-column"
            )
    r_col = _column(reset_column, header, RESET_NAMES, "reset")
    if r_col is not None and kind != "counter":
        if reset_column is not None:
            raise ImportFormatError(f"--reset-column applies to counters, not to {kind} readings")
        r_col = None
    if r_col is not None and header is None and r_col in (t_col, v_col):
        raise ImportFormatError("--reset-column names the time or the value column")
    pending = [] if has_header else [first]
    min_cols = max(t_col, v_col, -1 if r_col is None else r_col) + 1
    to_power = factor < 0
    for r in itertools.chain(pending, reader):
        n = line_no if pending and r is first else reader.line_num
        if len(r) < min_cols:
            if not any(c.strip() for c in r):
                continue
            yield Problem(n, f"{len(r)} columns, expected at least {min_cols}")
            continue
        cell = r[t_col]
        # Fast path: whole epoch seconds (what parse_time gives for them, without the general checks).
        if cell.isdigit() and cell.isascii() and (t := int(cell)) < 100_000_000_000:
            t *= NS
        else:
            try:
                t = parse_time(cell, clock)
            except (TimeFormatError, ValueError) as exc:
                if not any(c.strip() for c in r):
                    continue
                yield Problem(n, f"time: {exc}")
                continue
        cell = r[v_col]
        try:
            v = float(cell)  # parse_number's result whenever float() takes the text and it is finite
            if v - v != 0:
                raise ValueError
        except ValueError:
            try:
                v = parse_number(cell)
            except ValueError as exc:
                yield Problem(n, f"value: {exc}")
                continue
        if v < 0:
            yield Problem(n, f"value {v} is negative")
            continue
        reset = 0
        if r_col is not None:
            flag = r[r_col].strip().lower()
            if flag in RESET_TRUE:
                reset = 1
            elif flag not in RESET_FALSE:
                yield Problem(n, f"reset: {r[r_col]!r} is neither a flag (1, true, yes, x) nor empty/0/false")
                continue
        yield (t, "", v * -factor * step_s / 3_600_000.0 if to_power else v * factor, step_s, reset, 0, n)


def read_csv(
    f: TextIO,
    kind: Kind,
    factor: float,
    clock: LocalClock,
    stats: ReadStats,
    *,
    time_column: str | None = None,
    value_column: str | None = None,
    step_s: int = 0,
    reset_column: str | None = None,
) -> Iterator[Row | Problem]:
    for item in read_csv_tuples(f, kind, factor, clock, stats, time_column=time_column, value_column=value_column,
                                step_s=step_s, reset_column=reset_column):
        if type(item) is tuple:
            t, sub, v, step, reset, prio, line = item
            yield Row(line, t, v, sub, step, bool(reset), prio)
        else:
            yield item  # type: ignore[misc]


def _chain(first: io.StringIO, rest: TextIO) -> Iterator[str]:
    yield from first
    yield from rest


# --- Enedis -------------------------------------------------------------------------------

# Corrected data supersede completed, which supersede raw, for the same timestamp.
ETAPE_PRIORITY = {"corrige": 3, "complete": 2, "brut": 1}
DIRECTIONS = {"consumption": ("cons", "soutirage", "consommation"), "injection": ("prod", "injection", "production")}

_BOM = b"\xef\xbb\xbf"
_ZIP = b"PK\x03\x04"  # .xlsx (Office Open XML is a zip archive)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls


def _sniff_bytes(head: bytes) -> str:
    """`xlsx`, `xls`, `json` (a JSON object) or `text` from a file's first bytes."""
    if head.startswith(_ZIP):
        return "xlsx"
    if head.startswith(_OLE):
        return "xls"
    if (head[3:] if head.startswith(_BOM) else head).lstrip()[:1] == b"{":
        return "json"
    return "text"


def _sniff_stream(f: TextIO) -> str:
    """What `read_enedis` was handed, without consuming it: the bytes under a file opened by
    `open_text` (an .xlsx is binary), else the first characters of a text stream."""
    buf = getattr(f, "buffer", None)
    if buf is not None and hasattr(buf, "peek"):
        return _sniff_bytes(buf.peek(512)[:512])
    if f.seekable():
        pos = f.tell()
        head = f.read(64)
        f.seek(pos)
        return "json" if head.lstrip("\ufeff \t\r\n")[:1] == "{" else "text"
    return "text"


def _file_name(f: object) -> str:
    name = getattr(f, "name", None)
    return Path(name).name if isinstance(name, str) else "the file"


def read_enedis(
    f: TextIO,
    kind: Kind,
    clock: LocalClock,
    stats: ReadStats,
    *,
    direction: str = "consumption",
    step_s: int = 0,
) -> Iterator[Row | Problem]:
    """Enedis exports: the CSV load curve and daily index, the same tables saved as .xlsx
    workbooks, and Data Connect ("Mes données") JSON responses. The kind comes from the file: a
    load curve (unit W) or Data Connect daily energy is interval energy, an index export (unit
    Wh, `Grandeur physique` EA) is a counter; `kind` must agree."""
    source = _sniff_stream(f)
    if source == "json":
        yield from read_enedis_json(f, kind, clock, stats, step_s=step_s)
    elif source == "xlsx":
        yield from read_enedis_xlsx(f, kind, clock, stats, direction=direction, step_s=step_s)
    elif source == "xls":
        raise ImportFormatError(f"{_file_name(f)} is an old binary .xls workbook: save it as .xlsx or CSV")
    else:
        yield from read_enedis_table(csv.reader(f, delimiter=";"), kind, clock, stats, direction=direction, step_s=step_s)


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


# --- Enedis .xlsx ---------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    """A worksheet cell as the CSV export writes it: dates as ISO 8601 (naive: local wall
    time, as in the CSV), numbers in full."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        # Excel keeps times as fractions of a day: round away the float noise (Enedis times are whole minutes).
        return (value + timedelta(microseconds=500_000)).replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SheetRows:
    """A worksheet's rows (openpyxl `values_only` tuples) as lists of text, like `csv.reader`:
    `line_num` is the sheet's row number, so problems point at the row Excel shows."""

    def __init__(self, rows: Iterable[tuple[object, ...]]):
        self._rows = iter(rows)
        self.line_num = 0

    def __iter__(self) -> SheetRows:
        return self

    def __next__(self) -> list[str]:
        values = next(self._rows)
        self.line_num += 1
        return [_cell_text(v) for v in values]


def _whole_sheet(ws: Any) -> None:
    """Read every row and column whatever the sheet's recorded dimensions say: some writers
    record a wrong `<dimension>`, and openpyxl's read-only mode would cut the sheet to it."""
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()


def _is_header(values: tuple[object, ...]) -> bool:
    names = {norm(v) for v in values if isinstance(v, str)}
    return "horodate" in names and "valeur" in names


def read_enedis_xlsx(
    f: TextIO | IO[bytes],
    kind: Kind,
    clock: LocalClock,
    stats: ReadStats,
    *,
    direction: str = "consumption",
    step_s: int = 0,
) -> Iterator[Row | Problem]:
    """An Enedis load curve or daily index saved as .xlsx: the CSV's columns in a worksheet
    (the first one with a `Horodate` / `Valeur` header row in its first 50 rows), read in
    openpyxl's read-only mode one row at a time, through `read_enedis_table`."""
    from openpyxl import load_workbook  # imported on use: a second of start-up for CSV imports otherwise

    binary = getattr(f, "buffer", f)
    try:
        wb = load_workbook(binary, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike: the workbook cannot be opened
        raise ImportFormatError(f"{_file_name(f)} is not a readable .xlsx workbook: {exc}") from None
    try:
        sheet = None
        for ws in wb.worksheets:
            _whole_sheet(ws)
            head = itertools.islice(ws.iter_rows(values_only=True), 50)
            if any(_is_header(values) for values in head):
                sheet = ws
                break
        if sheet is None:
            names = ", ".join(ws.title for ws in wb.worksheets)
            raise ImportFormatError(f"no sheet with a 'Horodate' / 'Valeur' header row in its first 50 rows "
                                    f"(sheets: {names}): not an Enedis export")
        yield from read_enedis_table(SheetRows(sheet.iter_rows(values_only=True)), kind, clock, stats,
                                     direction=direction, step_s=step_s)
    finally:
        wb.close()


# --- Enedis Data Connect JSON ---------------------------------------------------------------

_JSON = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_HOLES = ("", "null", "none", "nan")


def _entry_lines(text: str, count: int) -> list[int] | None:
    """The 1-based line of each `interval_reading` entry (where its `{` is), or None when the
    array cannot be found unambiguously in the text."""
    key = '"interval_reading"'
    at = text.find(key)
    if at < 0 or text.find(key, at + 1) >= 0:
        return None
    i = _WS.match(text, at + len(key)).end()  # type: ignore[union-attr]
    if text[i:i + 1] != ":":
        return None
    i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
    if text[i:i + 1] != "[":
        return None
    i += 1
    lines: list[int] = []
    line, last = text.count("\n", 0, i) + 1, i
    while True:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] in ("]", ""):
            break
        line += text.count("\n", last, i)
        last = i
        lines.append(line)
        try:
            _obj, i = _JSON.raw_decode(text, i)
        except ValueError:
            return None
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] == ",":
            i += 1
    return lines if len(lines) == count else None


def json_step_s(value: object) -> int:
    """A Data Connect `interval_length` in seconds. The v4/v5 API writes ISO 8601 durations
    (`PT10M`, `PT30M`, `PT60M`...); a bare number is minutes up to 60 (the MyElectricalData
    cache stores `"30"`) and seconds above (Data Connect v3's `"1800"`); `P30M` (no `T`) is read
    as minutes, as a load curve's step is never months."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"not a step: {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not a step: {value!r}")
        value = int(value)
    t = str(value).strip().upper()
    if t.isdigit():
        n = int(t)
        if n <= 0:
            raise ValueError(f"not a step: {value!r}")
        return n * 60 if n <= 60 else n
    if t.startswith("P") and not t.startswith("PT") and t.endswith("M") and t[1:-1].isdigit() and int(t[1:-1]) > 0:
        return int(t[1:-1]) * 60
    return parse_duration_s(t)


def _day_bounds_ns(text: str, tz: ZoneInfo) -> tuple[int, int]:
    """(start, end) of the local day a daily value is dated: 23, 24 or 25 hours in Europe/Paris."""
    t = text.strip()
    try:
        if len(t) == 10:
            day = date.fromisoformat(t)
        else:
            dt = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
            if dt.tzinfo is not None:
                dt = dt.astimezone(tz)
            if dt.time() != time(0):
                raise ValueError
            day = dt.date()
    except ValueError:
        raise ValueError(f"{t[:40]!r} is not a day (expected YYYY-MM-DD)") from None
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return int(start.timestamp()) * NS, int(end.timestamp()) * NS


def _meter_reading(doc: object, name: str) -> dict[str, Any]:
    """The `meter_reading` object of a Data Connect response (or the object itself when a
    gateway returns it unwrapped, as conso.boris.sh does)."""
    if not isinstance(doc, dict):
        raise ImportFormatError(f"{name} holds a JSON {type(doc).__name__}, not an Enedis Data Connect response "
                                "(an object with \"meter_reading\")")
    if "meter_reading" not in doc and "interval_reading" not in doc and "error" in doc:
        err = doc["error"] if isinstance(doc["error"], dict) else doc  # gateways nest Enedis's error object
        why = ": ".join(str(err[k]) for k in ("error", "error_description") if err.get(k))
        raise ImportFormatError(f"{name} is an error response, not metering data: {why or doc.get('message') or '?'}")
    if "usage_point" in doc and "meter_reading" not in doc:
        raise ImportFormatError(f"{name} is a Data Connect v3 response (usage_point, values by rank): "
                                "not supported, use the v4/v5 metering data API")
    reading = doc.get("meter_reading", doc if "interval_reading" in doc else None)
    if not isinstance(reading, dict):
        raise ImportFormatError(f"{name} has no \"meter_reading\" object: not an Enedis Data Connect response")
    if not isinstance(reading.get("interval_reading"), list):
        raise ImportFormatError(f"{name}: \"meter_reading\" has no \"interval_reading\" list")
    if not isinstance(reading.get("reading_type", {}), dict):
        raise ImportFormatError(f"{name}: \"reading_type\" is not an object")
    return reading


def read_enedis_json(
    f: TextIO,
    kind: Kind,
    clock: LocalClock,
    stats: ReadStats,
    *,
    step_s: int = 0,
) -> Iterator[Row | Problem]:
    """A Data Connect / "Mes données" metering data response (API v4/v5): `meter_reading` with
    `reading_type` {`unit`, `measurement_kind`, `aggregate`, `measuring_period`} and
    `interval_reading` [{`value`, `date`, `interval_length`, `measure_type`}], values as strings.

    - Load curve (`consumption_load_curve`, `production_load_curve`; unit W): each value is the
      mean power over the `interval_length` ending at `date`, a naive French wall time (the
      day's first value is dated 00:30 and covers 00:00-00:30); the repeated autumn hour is
      resolved by order (`LocalClock`).
    - Daily energy (`daily_consumption`, `daily_production`; unit Wh, `measuring_period` P1D):
      `date` is the day; the value covers that local day, midnight to midnight in the import's
      time zone (23 or 25 hours on a DST day).

    Both are interval energy. A response holds one direction (the endpoint says which), so
    `--direction` does not apply. The whole document is parsed (a year of half-hours is about
    17,500 entries); a bad entry is a `Problem` on the line where the entry starts, its index
    (`interval_reading[i]`) in the reason: API responses are one line, so that is line 1."""
    name = _file_name(f)
    text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"not valid JSON: {exc.msg} ({name}, line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ImportFormatError(f"not valid JSON: nested too deeply ({name})") from None
    reading = _meter_reading(doc, name)
    entries: list[Any] = reading["interval_reading"]
    rtype: dict[str, Any] = reading.get("reading_type") or {}
    unit = norm(str(rtype.get("unit") or ""))
    period = str(rtype.get("measuring_period") or "").strip().upper()
    if norm(str(rtype.get("aggregate") or "")) == "maximum" or unit == "va":
        raise ImportFormatError(f"{name} holds daily maximum powers (consumption_max_power), not energy: nothing to import")
    first_date: str = next((e["date"] for e in entries if isinstance(e, dict) and isinstance(e.get("date"), str)), "")
    daily = period == "P1D" or (not period and unit in ("wh", "kwh") and len(first_date.strip()) == 10)
    what = "Data Connect daily energy" if daily else "a Data Connect load curve"
    if unit not in UNITS["interval"] or (daily and unit in ("w", "kw")):
        raise ImportFormatError(f"{name}: reading_type unit {rtype.get('unit')!r} is not the W of a load curve "
                                "or the Wh of daily energy")
    if kind != "interval":
        raise ImportFormatError(f"{name} holds {what}, energy per interval: import it with --kind interval "
                                f"(the meter is imported as {kind})")
    factor = unit_factor("interval", unit)
    quality = str(reading.get("quality") or "").strip()
    prio = ETAPE_PRIORITY.get(norm(quality), 0)
    default_step = rtype.get("interval_length")  # Data Connect v3 put it in reading_type
    lines = _entry_lines(text, len(entries))
    del text
    known_steps: dict[str, int] = {}  # interval_length text -> seconds (the same few strings throughout)
    for i, e in enumerate(entries):
        n = lines[i] if lines is not None else i + 1
        where = f"interval_reading[{i}]" if lines is not None else f"interval_reading[{i}] (entry {i + 1}; no line numbers)"
        if not isinstance(e, dict):
            yield Problem(n, f"{where}: not an object")
            continue
        when = e.get("date")
        if not isinstance(when, str) or not when.strip():
            yield Problem(n, f"{where}: no date")
            continue
        if daily:
            try:
                start, t = _day_bounds_ns(when, clock.tz)
            except ValueError as exc:
                yield Problem(n, f"{where}: date: {exc}")
                continue
            step = (t - start) // NS
        else:
            # Every date goes through the clock, holes included: it counts the repeated autumn hour.
            try:
                t = parse_time(when, clock)
            except (TimeFormatError, ValueError) as exc:
                yield Problem(n, f"{where}: date: {exc}")
                continue
            length = e.get("interval_length", default_step)
            step = known_steps.get(length, -1) if isinstance(length, str) else -1
            if step < 0:
                try:
                    step = step_s if length is None or length == "" else json_step_s(length)
                except ValueError as exc:
                    yield Problem(n, f"{where}: interval_length: {exc}")
                    continue
                if isinstance(length, str):
                    known_steps[length] = step
        raw = e.get("value")
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in _HOLES):
            stats.skip("no value (hole in the curve)")
            continue
        try:
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise ValueError(f"not a number: {raw!r}")
            v = parse_number(raw) if isinstance(raw, str) else parse_number(repr(raw))
        except ValueError as exc:
            yield Problem(n, f"{where}: value: {exc}")
            continue
        if v < 0:
            yield Problem(n, f"{where}: value {v} is negative")
            continue
        key = f"quality={quality or '-'}"
        if not daily:
            key += f" measure_type={str(e.get('measure_type') or '-').strip()}"
            stats.steps[step] = stats.steps.get(step, 0) + 1
        stats.quality[key] = stats.quality.get(key, 0) + 1
        if step <= 0:
            yield Row(n, t, v * -factor if factor < 0 else v * factor, step_s=0, prio=prio, sub="w" if factor < 0 else "")
            continue
        yield Row(n, t, to_canonical("interval", factor, v, step), step_s=step, prio=prio)


def enedis_kind(path: Path) -> Kind:
    """What an Enedis file holds, for a meter whose kind is not configured: Data Connect JSON is
    interval energy; a CSV or .xlsx export is a counter when its unit is Wh/kWh or its
    `Grandeur physique` EA (daily index), else interval energy (load curve)."""
    with path.open("rb") as probe:
        source = _sniff_bytes(probe.read(512))
    if source == "json":
        return "interval"
    if source == "xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # as in read_enedis_xlsx
            raise ImportFormatError(f"{path.name} is not a readable .xlsx workbook: {exc}") from None
        try:
            for ws in wb.worksheets:
                _whole_sheet(ws)
                found = _table_kind(SheetRows(itertools.islice(ws.iter_rows(values_only=True), 200)))
                if found is not None:
                    return found
            return "interval"
        finally:
            wb.close()
    with open_text(path) as f:
        return _table_kind(csv.reader(itertools.islice(f, 200), delimiter=";")) or "interval"


def _table_kind(rows: Iterable[list[str]]) -> Kind | None:
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


# --- line protocol ------------------------------------------------------------------------

def read_lp(f: TextIO, kind: Kind, meter: str, stats: ReadStats) -> Iterator[Row | Problem]:
    """Raw readings as the collectors write them; lines of other devices are skipped."""
    if kind == "interval":
        raise ImportFormatError("line protocol imports counters (energy_kwh_total) or power (power_w), not --kind interval")
    for n, raw in enumerate(f, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            p = parse_line(line)
        except LineProtocolError as exc:
            yield Problem(n, f"line protocol: {exc}")
            continue
        if "device" in p.tags and p.tags["device"] != meter:
            stats.skip("other device")
            continue
        if p.measurement in SKIP_MEASUREMENTS:
            stats.skip(f"measurement {p.measurement}")
            continue
        if kind == "counter":
            value = p.fields.get("energy_kwh_total")
            if value is None:
                stats.skip("no energy_kwh_total field")
                continue
        else:
            value = next((p.fields[k] for k in ("power_w", "output_power_w") if k in p.fields), None)
            if value is None:
                stats.skip("no power_w field")
                continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
            yield Problem(n, f"value {value!r} is not a non-negative number")
            continue
        yield Row(n, int(p.time_ns), float(value), reset=bool(p.fields.get("counter_reset", False)))
