"""Readers of meter exports: each yields `Row`s (one reading) or `Problem`s (file, line, reason).

All readers stream: they hold one line at a time. Values are converted to the import's
canonical units: kWh for a counter, W for power samples, kWh per interval for interval energy.

Formats (see carbon/history/README.md for the sources):
- `csv`: generic CSV (`,` `;` or tab, decimal point or comma, header or not, time and value
  columns by name or 1-based number, times ISO 8601 / epoch / naive local);
- `enedis`: Enedis load curves (`Horodate;Valeur` with `Pas`, `Grandeur métier`,
  `Etape métier`, `Nature`...; mean power in W over the step ending at `Horodate`) and Enedis
  daily index exports (`Grandeur physique` EA, `Unité` Wh, one row per cadran);
- `lp`: InfluxDB line protocol of raw readings (`energy_kwh_total` or `power_w` fields).
"""

from __future__ import annotations

import csv
import io
import itertools
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from agent.point import LineProtocolError, parse_line
from carbon.history.timeparse import (
    NS,
    LocalClock,
    TimeFormatError,
    looks_like_time,
    parse_duration_s,
    parse_number,
    parse_time,
)

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
    """UTF-8 (with or without BOM), falling back to cp1252 for files saved by Excel."""
    with path.open("rb") as probe:
        head = probe.read(65536)
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
    """`lp`, `enedis` or `csv` from the first lines of the file."""
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
) -> Iterator[StagedRow | Problem]:
    """`read_csv` as the staging table takes rows: (time_ns, sub, value, step_s, reset, prio, line)."""
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
    pending = [] if has_header else [first]
    min_cols = max(t_col, v_col) + 1
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
        yield (t, "", v * -factor * step_s / 3_600_000.0 if to_power else v * factor, step_s, 0, 0, n)


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
) -> Iterator[Row | Problem]:
    for item in read_csv_tuples(f, kind, factor, clock, stats, time_column=time_column, value_column=value_column,
                                step_s=step_s):
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


def read_enedis(
    f: TextIO,
    kind: Kind,
    clock: LocalClock,
    stats: ReadStats,
    *,
    direction: str = "consumption",
    step_s: int = 0,
) -> Iterator[Row | Problem]:
    """Enedis exports. The kind comes from the file: a load curve (unit W) is interval energy,
    an index export (unit Wh, `Grandeur physique` EA) is a counter; `kind` must agree."""
    reader = csv.reader(f, delimiter=";")
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
        if not r[c_v].strip():
            stats.skip("no value (hole in the curve)")
            continue
        try:
            t = parse_time(r[c_t], clock)
        except (TimeFormatError, ValueError) as exc:
            yield Problem(n, f"Horodate: {exc}")
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


# --- line protocol ------------------------------------------------------------------------

SKIP_MEASUREMENTS = frozenset({"energy", "carbon", "grid_intensity", "event", "agent_internal", "pdu_outlet", "pdu_phase"})


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
