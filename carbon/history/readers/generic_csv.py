"""Generic CSV: `,` `;` or tab, decimal point or comma, header or not, columns by name or number."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from typing import TextIO

from sentinelle.carbon.history.readers.common import (
    ImportFormatError,
    Kind,
    Problem,
    ReadStats,
    Row,
    StagedRow,
    norm,
)
from sentinelle.carbon.history.timeparse import (
    NS,
    LocalClock,
    TimeFormatError,
    looks_like_time,
    parse_number,
    parse_time,
)


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
