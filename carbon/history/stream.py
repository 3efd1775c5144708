"""From staged readings to energy intervals, in bounded memory.

`Staging` is a private temporary SQLite table (on disk, not in RAM) keyed by (time, cadran):
the file is read once into it, which sorts unsorted exports, keeps one reading per timestamp
(a corrected Enedis value beats a raw one; otherwise the last row of the file wins, as the
live maths keep the last of a replayed poll) and lets the importer refuse the whole file
before writing anything when a line is bad. Rows that arrive already in order (most exports)
skip the table: they go to a spill file, read back as they came (see `Staging`).

`intervals()` then streams the sorted readings through `carbon.energy`'s own functions in
chunks (`counter_intervals` / `power_intervals` on overlapping windows give exactly the result
of one call over the whole series) and `fill_gaps()` applies the gap policy with the same
neighbour rule as `carbon.energy._fill_gaps`, holding only the intervals around a gap.
"""

from __future__ import annotations

import marshal
import sqlite3
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from sentinelle.carbon.energy import (
    NS,
    CounterReading,
    EnergyInterval,
    GapPolicy,
    PowerSample,
    counter_intervals,
    estimate_gap,
    neighbour_power_w,
    power_intervals,
)
from sentinelle.carbon.history.readers import Kind, Row, StagedRow

CHUNK = 4096
MAX_PENDING = 50_000  # intervals held while waiting for a gap's right-hand neighbours


_INSERT = ("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(t, sub) DO UPDATE SET "
           "v=excluded.v, step=excluded.step, reset=excluded.reset, prio=excluded.prio, line=excluded.line "
           "WHERE excluded.prio >= r.prio")


class Staging:
    """Rows (time, cadran, value, step, reset, prio, line), read back sorted by (time, cadran)
    with one row per key (the highest `prio`; among equal ones the last added).

    Fast path: while the rows arrive in strictly increasing (time, cadran) order (the usual
    export) there is nothing to sort or merge, so they go in file order to a temporary file
    (marshal, batch by batch) instead of the SQLite table. The first row out of order or
    repeated moves what was spilled into the table, and the table takes over: same result."""

    def __init__(self) -> None:
        self.db: sqlite3.Connection | None = None
        self.count = 0
        self._spill: IO[bytes] | None = tempfile.TemporaryFile()
        self._spilled = 0  # distinct rows in the spill file
        self._first: tuple[int, str] | None = None
        self._last: tuple[int, str] | None = None

    def _table(self) -> sqlite3.Connection:
        if self.db is None:
            # "" = a private temporary database that SQLite keeps on disk, deleted on close.
            self.db = sqlite3.connect("", isolation_level=None)
            self.db.execute("PRAGMA cache_size=-16000")  # 16 MB page cache at most
            self.db.execute(
                "CREATE TABLE r(t INTEGER NOT NULL, sub TEXT NOT NULL, v REAL NOT NULL, step INTEGER NOT NULL, "
                "reset INTEGER NOT NULL, prio INTEGER NOT NULL, line INTEGER NOT NULL, PRIMARY KEY (t, sub)) WITHOUT ROWID"
            )
            self.db.execute("BEGIN")
        return self.db

    def _to_table(self) -> None:
        """Leave the fast path: the spilled rows go into the SQLite table."""
        db = self._table()
        for batch in self._spilled_batches():
            db.executemany(_INSERT, batch)
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def _spilled_batches(self) -> Iterator[list[StagedRow]]:
        if self._spill is None:
            return
        self._spill.seek(0)
        read = self._spill.read
        while True:
            head = read(8)
            if not head:
                return
            yield marshal.loads(read(int.from_bytes(head, "little")))

    def add(self, rows: list[Row]) -> None:
        self.add_tuples([(r.time_ns, r.sub, r.value, r.step_s, int(r.reset), r.prio, r.line) for r in rows])

    def add_tuples(self, rows: list[StagedRow]) -> None:
        """Rows as (time_ns, sub, value, step_s, reset, prio, line)."""
        if not rows:
            return
        self.count += len(rows)
        if self._spill is not None:
            last = self._last
            ordered = True
            for r in rows:
                key = (r[0], r[1])
                if last is not None and key <= last:
                    ordered = False
                    break
                last = key
            if ordered:
                if self._first is None:
                    self._first = (rows[0][0], rows[0][1])
                self._last = last
                data = marshal.dumps(rows)
                self._spill.seek(0, 2)
                self._spill.write(len(data).to_bytes(8, "little"))
                self._spill.write(data)
                self._spilled += len(rows)
                return
            self._to_table()
        self._table().executemany(_INSERT, rows)

    def span(self) -> tuple[int, int] | None:
        if self._spill is not None:
            return None if self._first is None or self._last is None else (self._first[0], self._last[0])
        lo, hi = self._table().execute("SELECT min(t), max(t) FROM r").fetchone()
        return None if lo is None else (lo, hi)

    def distinct(self) -> int:
        if self._spill is not None:
            return self._spilled
        return self._table().execute("SELECT count(*) FROM r").fetchone()[0]

    def rows(self) -> Iterator[tuple[int, str, float, int, int, int]]:
        """(time, cadran, value, step, reset, line) in time order."""
        if self._spill is not None:
            for batch in self._spilled_batches():
                yield from [(t, sub, v, step, reset, line) for t, sub, v, step, reset, _prio, line in batch]
            return
        cur = self._table().execute("SELECT t, sub, v, step, reset, line FROM r ORDER BY t, sub")
        while True:
            fetched = cur.fetchmany(CHUNK)
            if not fetched:
                return
            yield from fetched

    def drop(self, keys: list[tuple[int, str]]) -> None:
        if not keys:
            return
        self._to_table()
        self._table().executemany("DELETE FROM r WHERE t=? AND sub=?", keys)

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        if self.db is not None:
            self.db.close()


@dataclass(frozen=True, slots=True)
class ImportedReading:
    time_ns: int
    value: float
    step_s: int = 0
    reset: bool = False
    as_power: bool = False  # interval kind with an unknown step: value is a mean power (W)
    line: int = 0


def readings(rows: Iterable[tuple[int, str, float, int, int, int]], kind: Kind) -> Iterator[ImportedReading]:
    """One reading per timestamp. The cadrans of an index export are summed; when the set of
    cadrans changes (a tariff option change) the sum restarts, flagged as a counter reset."""
    if kind != "counter":
        for t, sub, v, step, reset, line in rows:
            yield ImportedReading(t, v, step, bool(reset), sub == "w", line)
        return
    cur_t: int | None = None
    total, reset_any = 0.0, False
    subs: list[str] = []
    prev_subs: list[str] | None = None
    for t, sub, v, _step, reset, _line in rows:
        if t != cur_t:
            if cur_t is not None:
                yield ImportedReading(cur_t, total, 0, reset_any or (prev_subs is not None and subs != prev_subs))
                prev_subs = subs
            cur_t, total, subs, reset_any = t, 0.0, [], False
        total += v
        subs.append(sub)
        reset_any = reset_any or bool(reset)
    if cur_t is not None:
        yield ImportedReading(cur_t, total, 0, reset_any or (prev_subs is not None and subs != prev_subs))


def _chunks(items: Iterable[ImportedReading]) -> Iterator[list[ImportedReading]]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = [chunk[-1]]  # overlap: the next chunk starts with this one's last reading
    if len(chunk) > 1:
        yield chunk


def raw_intervals(items: Iterable[ImportedReading], kind: Kind, policy: GapPolicy, modulus_kwh: float | None) -> Iterator[EnergyInterval]:
    """Intervals with gaps left `missing` (the caller applies the fill policy)."""
    no_fill = GapPolicy(policy.max_gap_s, "missing", policy.neighbours, policy.max_power_w)
    if kind == "counter":
        for chunk in _chunks(items):
            yield from counter_intervals(
                (CounterReading(r.time_ns, r.value, r.reset, modulus_kwh) for r in chunk), no_fill
            )
    elif kind == "power":
        for chunk in _chunks(items):
            yield from power_intervals((PowerSample(r.time_ns, r.value) for r in chunk), no_fill)
    else:
        yield from _interval_energy(items)


def staged_intervals(rows: Iterable[tuple[int, str, float, int, int, int]], kind: Kind, policy: GapPolicy,
                     modulus_kwh: float | None) -> Iterator[EnergyInterval]:
    """`raw_intervals(readings(rows, kind), ...)`; for counters without the `ImportedReading` step."""
    if kind != "counter":
        return raw_intervals(readings(rows, kind), kind, policy, modulus_kwh)
    return _counter_chunks(_counter_readings(rows, modulus_kwh), policy)


def _counter_readings(rows: Iterable[tuple[int, str, float, int, int, int]],
                      modulus_kwh: float | None) -> Iterator[CounterReading]:
    """What `readings(rows, "counter")` gives, as the `CounterReading`s `raw_intervals` makes of it."""
    cur_t: int | None = None
    total, reset_any = 0.0, False
    subs: list[str] = []
    prev_subs: list[str] | None = None
    for t, sub, v, _step, reset, _line in rows:
        if t != cur_t:
            if cur_t is not None:
                yield CounterReading(cur_t, total, reset_any or (prev_subs is not None and subs != prev_subs), modulus_kwh)
                prev_subs = subs
            cur_t, total, subs, reset_any = t, 0.0, [], False
        total += v
        subs.append(sub)
        reset_any = reset_any or bool(reset)
    if cur_t is not None:
        yield CounterReading(cur_t, total, reset_any or (prev_subs is not None and subs != prev_subs), modulus_kwh)


def _counter_chunks(items: Iterable[CounterReading], policy: GapPolicy) -> Iterator[EnergyInterval]:
    no_fill = GapPolicy(policy.max_gap_s, "missing", policy.neighbours, policy.max_power_w)
    for chunk in _chunks(items):  # type: ignore[arg-type]
        yield from counter_intervals(chunk, no_fill)  # type: ignore[arg-type]


class IntervalOverlap(ValueError):
    """Two rows of interval energy cover the same time (inconsistent steps)."""


def _interval_energy(items: Iterable[ImportedReading]) -> Iterator[EnergyInterval]:
    """Energy per interval ending at each timestamp; a hole between two intervals is a gap."""
    prev_end: int | None = None
    held: ImportedReading | None = None  # a first reading whose step must be inferred from the next one
    for r in items:
        if held is not None:
            step_ns = (r.time_ns - held.time_ns)
            yield from _one(held, step_ns, None)
            prev_end = held.time_ns
            held = None
        if r.step_s <= 0 and prev_end is None:
            held = r
            continue
        step_ns = r.step_s * NS if r.step_s > 0 else r.time_ns - (prev_end or r.time_ns)
        yield from _one(r, step_ns, prev_end)
        prev_end = r.time_ns
    if held is not None:
        raise IntervalOverlap("a single interval without a step: give --step")


def _one(r: ImportedReading, step_ns: int, prev_end: int | None) -> Iterator[EnergyInterval]:
    if step_ns <= 0:
        raise IntervalOverlap(f"interval ending at {r.time_ns} has no positive step")
    start = r.time_ns - step_ns
    kwh = r.value * step_ns / NS / 3_600_000.0 if r.as_power else r.value
    if prev_end is not None:
        if start < prev_end:
            raise IntervalOverlap(
                f"the interval ending at {r.time_ns} (step {step_ns // NS} s) overlaps the previous one ending at {prev_end}"
            )
        if start > prev_end:
            yield EnergyInterval(prev_end, start, 0.0, "missing")
    yield EnergyInterval(start, r.time_ns, kwh, "measured")


def fill_gaps(intervals: Iterable[EnergyInterval], policy: GapPolicy) -> Iterator[EnergyInterval]:
    """`missing` intervals estimated from up to `neighbours` valid intervals on each side, as
    `carbon.energy` does for a whole list; holds intervals only while a gap awaits its right side."""
    if policy.fill == "missing":
        yield from intervals
        return
    n = policy.neighbours
    left: deque[EnergyInterval] = deque(maxlen=n)
    pending: list[EnergyInterval] = []
    valid_after_gap = 0

    def resolve() -> Iterator[EnergyInterval]:
        ctx = list(left) + pending
        base = len(left)
        for j, iv in enumerate(pending):
            if iv.method == "missing":
                yield estimate_gap(iv.start_ns, iv.end_ns, iv.kwh, neighbour_power_w(ctx, base + j, n))
            else:
                yield iv
        for iv in pending:
            if iv.method in ("measured", "integrated"):
                left.append(iv)

    for iv in intervals:
        if iv.method == "missing":
            pending.append(iv)
            valid_after_gap = 0
            continue
        if not pending:
            if iv.method in ("measured", "integrated"):
                left.append(iv)
            yield iv
            continue
        pending.append(iv)
        if iv.method in ("measured", "integrated"):
            valid_after_gap += 1
        if valid_after_gap >= n or len(pending) >= MAX_PENDING:
            yield from resolve()
            pending = []
            valid_after_gap = 0
    if pending:
        yield from resolve()


def overlapping_rows(staging: Staging) -> list[tuple[int, str, int, str]]:
    """Rows of interval energy whose interval overlaps the previous one, as
    (time, cadran, line, reason), found before anything is written."""
    out: list[tuple[int, str, int, str]] = []
    prev_end: int | None = None
    for t, sub, _v, step, _reset, line in staging.rows():
        if step <= 0:
            prev_end = t  # inferred steps cannot overlap
            continue
        start = t - step * NS
        if prev_end is not None and start < prev_end:
            out.append((t, sub, line, f"its {step} s interval overlaps the previous row's (ending {(prev_end - start) // NS} s later)"))
            continue
        prev_end = t
    return out
