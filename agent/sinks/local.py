"""The embedded store: points in an SQLite file, so a new user sees results without a server.

It behaves like InfluxDB where the rest of the agent relies on it: one row per measurement +
tag set + timestamp, and writing the same series and time again *merges* the fields (the new
value wins per field). That makes the forwarder's at-least-once delivery idempotent here too.

`LocalStore` is synchronous (the annual report, the demo summary and tests read it directly);
`LocalSink` wraps it for the forwarder, running every call on one dedicated thread.

Tables: `measurements(id, name)`, `series(id, measurement_id, tags)` with `tags` as canonical
JSON (sorted keys), `points(series_id, time_ns, measurement_id, fields)` keyed by
(series_id, time_ns) and indexed by (measurement_id, time_ns) for time-range queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import operator
import os
import sqlite3
import time
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own busy handler alone
    fcntl = None  # type: ignore[assignment]

from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import LineProtocolError, parse_line
from sentinelle.agent.sinks.base import SinkRejected, SinkUnavailable, TagFilter
from sentinelle.agent.sinks.file import writable_problem

_SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS series(
    id INTEGER PRIMARY KEY,
    measurement_id INTEGER NOT NULL,
    tags TEXT NOT NULL,
    UNIQUE (measurement_id, tags)
);
CREATE TABLE IF NOT EXISTS points(
    series_id INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    measurement_id INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (series_id, time_ns)
) WITHOUT ROWID;
"""
# No index on (measurement, time): every reader goes through the primary key, series by series,
# so a point is written to one B-tree, at the end of its series. With the time index, importing
# a year of meter after meter into one store wrote each meter's points between all the other
# meters' in that index: SQLite rewrote thousands of index pages per batch and the 100th meter
# took 4x the first. Stores made before drop it on first write-open.
_DROP_OLD = "DROP INDEX IF EXISTS points_time"
MERGE_MAX_SERIES = 2_000  # above this, one sorted SQL query instead of a cursor per series

LOCK_TIMEOUT_S = 10.0  # as SQLite's busy_timeout below
MIN_TIME = -(2**63)
MAX_TIME = 2**63 - 1


class LocalStoreError(Exception):
    """The local store file cannot be opened or read."""


# One encoder each, built once (json.dumps with options builds a new encoder at every call);
# the output is json.dumps's with the same options.
_fields_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_tags_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode
# Series ids remembered by (measurement, *tag items): most points of a batch are series the
# store has seen before, and this skips building their canonical JSON again.
_SERIES_CACHE_MAX = 100_000


_values = operator.itemgetter(2)


def _tags_key(tags: dict[str, str]) -> str:
    return _tags_json({k: v for k, v in tags.items() if v != ""})


class LocalStore:
    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                if not self.path.exists():
                    raise LocalStoreError(f"local store {self.path} does not exist (has the agent written anything yet?)")
                self._db = sqlite3.connect(self.path.absolute().as_uri() + "?mode=ro", uri=True, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                self._db.execute(_DROP_OLD)
            self._db.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            raise LocalStoreError(f"cannot open local store {self.path}: {exc}") from exc
        self._lock_fd: int | None = None
        self._measurement_ids: dict[str, int] = {}
        self._series_ids: dict[tuple[int, str], int] = {}
        self._series_by_tags: dict[tuple[object, ...], tuple[int, int]] = {}

    @classmethod
    def open_readonly(cls, path: Path) -> LocalStore:
        return cls(path, readonly=True)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write transaction, writers of all processes taking turns on `<store>.lock` first.

        Why: SQLite's busy handler polls a locked database with sleeps growing to 100 ms, so
        two processes writing batches (the agent and an import, or `import --jobs 2`) lost
        most of their time asleep; a waiter here retries every millisecond instead."""
        if fcntl is not None:
            if self._lock_fd is None:
                self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LocalStoreError(f"local store {self.path}: another process kept it locked for "
                                              f"{LOCK_TIMEOUT_S:.0f} s") from None
                    time.sleep(0.001)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                # Ids cached during the failed transaction may not exist any more.
                self._measurement_ids.clear()
                self._series_ids.clear()
                self._series_by_tags.clear()
                raise
            self._db.execute("COMMIT")
        finally:
            if fcntl is not None and self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------------

    def _measurement_id(self, name: str) -> int:
        mid = self._measurement_ids.get(name)
        if mid is None:
            cur = self._db.execute("INSERT OR IGNORE INTO measurements(name) VALUES (?)", (name,))
            if cur.rowcount == 1:  # new: its id is the row just inserted
                mid = cur.lastrowid
            else:
                mid = self._db.execute("SELECT id FROM measurements WHERE name=?", (name,)).fetchone()[0]
            self._measurement_ids[name] = mid
        return mid

    def _series_id(self, mid: int, tags: str) -> int:
        key = (mid, tags)
        sid = self._series_ids.get(key)
        if sid is None:
            cur = self._db.execute("INSERT OR IGNORE INTO series(measurement_id, tags) VALUES (?, ?)", key)
            if cur.rowcount == 1:
                sid = cur.lastrowid
            else:
                sid = self._db.execute("SELECT id FROM series WHERE measurement_id=? AND tags=?", key).fetchone()[0]
            self._series_ids[key] = sid
        return sid

    def write_points(self, points: list[Point]) -> None:
        """Store points; the same measurement + tags + time merges fields (new values win)."""
        if self.readonly:
            raise LocalStoreError(f"local store {self.path} is open read-only")
        if not points:
            return
        db = self._db
        by_tags = self._series_by_tags
        with self._writing():
            rows = []
            for point in points:
                tags = point.tags
                key = (point.measurement, *tags.items())
                try:
                    ids = by_tags.get(key)
                except TypeError:  # unhashable values: no caching
                    ids = key = None
                if ids is None:
                    mid = self._measurement_id(point.measurement)
                    ids = (mid, self._series_id(mid, _tags_key(tags)))
                    # Plain strings only, so that no other value can compare equal to a key.
                    if key is not None and type(point.measurement) is str and all(
                        type(k) is str and type(v) is str for k, v in tags.items()
                    ):
                        if len(by_tags) >= _SERIES_CACHE_MAX:
                            by_tags.clear()
                        by_tags[key] = ids
                rows.append((ids[1], int(point.time_ns), ids[0], _fields_json(point.fields)))
            db.executemany(
                "INSERT INTO points(series_id, time_ns, measurement_id, fields) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(series_id, time_ns) DO UPDATE SET fields = json_patch(points.fields, excluded.fields)",
                rows,
            )

    def write_columns(self, series: list[tuple[str, dict[str, str], tuple[str, ...]]],
                      rows: list[tuple[int, int, tuple[float, ...]]]) -> None:
        """Store points given by series, as bulk writers (carbon.history imports) produce them:
        `series[i]` is (measurement, tags, field names), `rows` are (series index, time_ns,
        field values, in the order of the names: int or float only, never bool or str). Same result as
        `write_points` with the corresponding points, without building them: the fields JSON
        is formatted from a template per series (`repr` of an int or finite float is what
        `json` writes for it; other values go through the JSON encoder)."""
        if self.readonly:
            raise LocalStoreError(f"local store {self.path} is open read-only")
        if not rows:
            return
        templates = ["{" + ",".join(_fields_json(k).replace("%", "%%") + ":%r" for k in names) + "}"
                     for _measurement, _tags, names in series]
        # Formatted before taking the write lock: other writers wait only for the inserts.
        total = sum(map(sum, map(_values, rows)))
        if total - total == 0:  # all values finite (and no overflow): the templates apply
            fields = [templates[i] % values for i, _time_ns, values in rows]
        else:  # NaN, infinity or an overflowing sum somewhere: row by row
            fields = []
            for i, _time_ns, values in rows:
                t = sum(values)
                fields.append(templates[i] % values if t - t == 0
                              else _fields_json(dict(zip(series[i][2], values, strict=True))))
        with self._writing():
            sids, mids = [], []
            for measurement, tags, _names in series:
                mid = self._measurement_id(measurement)
                mids.append(mid)
                sids.append(self._series_id(mid, _tags_key(tags)))
            self._db.executemany(
                "INSERT INTO points(series_id, time_ns, measurement_id, fields) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(series_id, time_ns) DO UPDATE SET fields = json_patch(points.fields, excluded.fields)",
                [(sids[i], time_ns, mids[i], f) for (i, time_ns, _values), f in zip(rows, fields, strict=True)],
            )

    # --- reading --------------------------------------------------------------------------

    def _mid(self, measurement: str) -> int | None:
        row = self._db.execute("SELECT id FROM measurements WHERE name=?", (measurement,)).fetchone()
        return None if row is None else row[0]

    def _series(self, mid: int) -> dict[int, dict[str, str]]:
        return {sid: json.loads(tags) for sid, tags in
                self._db.execute("SELECT id, tags FROM series WHERE measurement_id=?", (mid,))}

    @staticmethod
    def _matching(series: dict[int, dict[str, str]], tags: Mapping[str, Collection[str]]) -> list[int]:
        """Ids of the series whose tag `k` is one of `tags[k]`, for every `k`."""
        return [sid for sid, t in series.items() if all(t.get(k) in allowed for k, allowed in tags.items())]

    @staticmethod
    def _bounds(start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
        return MIN_TIME if start_ns is None else int(start_ns), MAX_TIME if end_ns is None else int(end_ns)

    def query(self, measurement: str, start_ns: int | None = None, end_ns: int | None = None,
              tags: dict[str, str] | None = None) -> Iterator[Point]:
        """Points of `measurement` in time order (ties by series); `start_ns` inclusive,
        `end_ns` exclusive; `tags` keeps only series carrying all those tag values.

        Each series is read in time order through the primary key and the series are merged
        here (`heapq.merge`, one row per series in memory), which is what the time index used
        to give; a measurement with very many series is sorted by SQLite instead."""
        mid = self._mid(measurement)
        if mid is None:
            return
        series = self._series(mid)
        wanted = sorted(self._matching(series, {k: (v,) for k, v in tags.items()}) if tags else series)
        if not wanted:
            return
        lo, hi = self._bounds(start_ns, end_ns)
        db = self._db
        if len(wanted) > MERGE_MAX_SERIES:
            cursors = [db.execute("SELECT time_ns, series_id, fields FROM points WHERE series_id IN "
                                  "(SELECT value FROM json_each(?)) AND time_ns >= ? AND time_ns < ? "
                                  "ORDER BY time_ns, series_id", (json.dumps(wanted), lo, hi))]
        else:
            cursors = [db.execute("SELECT time_ns, series_id, fields FROM points "
                                  "WHERE series_id=? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns", (sid, lo, hi))
                       for sid in wanted]
        try:
            # (time, series) is unique, so the rows never compare on their fields.
            rows = cursors[0] if len(cursors) == 1 else heapq.merge(*cursors)
            for time_ns, sid, fields in rows:
                yield Point(measurement, dict(series[sid]), json.loads(fields), time_ns)
        finally:
            for cursor in cursors:
                cursor.close()

    def delete(self, measurement: str, start_ns: int, end_ns: int,
               tags: Mapping[str, Collection[str]] | None = None) -> int:
        """Delete points of `measurement` in [start_ns, end_ns) whose tag `k` is one of
        `tags[k]` (all series when `tags` is None); returns how many. Used by `recompute` to
        replace carbon points computed with a superseded factor."""
        mid = self._mid(measurement)
        if mid is None:
            return 0
        series = self._series(mid)
        wanted = self._matching(series, tags) if tags else list(series)
        if not wanted:
            return 0
        lo, hi = self._bounds(start_ns, end_ns)
        with self._writing():
            return self._db.execute("DELETE FROM points WHERE series_id IN (SELECT value FROM json_each(?)) "
                                    "AND time_ns >= ? AND time_ns < ?", (json.dumps(wanted), lo, hi)).rowcount

    def measurements(self) -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT name FROM measurements m WHERE EXISTS (SELECT 1 FROM series s WHERE s.measurement_id = m.id) "
            "ORDER BY name")]

    def tag_values(self, measurement: str, key: str) -> list[str]:
        mid = self._mid(measurement)
        if mid is None:
            return []
        return sorted({t[key] for t in self._series(mid).values() if key in t})

    def count(self, measurement: str | None = None) -> int:
        if measurement is None:
            return self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        mid = self._mid(measurement)
        if mid is None:
            return 0
        return self._db.execute("SELECT COUNT(*) FROM points WHERE series_id IN "
                                "(SELECT id FROM series WHERE measurement_id=?)", (mid,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class LocalSink:
    """`Sink` over a `LocalStore`; parsing and writing run on one dedicated thread."""

    def __init__(self, name: str, path: Path, *, create: bool = True):
        self.name = name
        self.path = Path(path)
        self.create = create
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sink-{name}")
        self._store: LocalStore | None = None

    def _store_now(self) -> LocalStore:
        if self._store is None:
            self._store = LocalStore(self.path)
        return self._store

    def _write(self, lines: list[bytes]) -> None:
        points = []
        for i, raw in enumerate(lines):
            try:
                points.append(parse_line(raw.decode("utf-8")))
            except (LineProtocolError, UnicodeDecodeError) as exc:
                raise SinkRejected(f"line {i + 1}: {exc}") from None
        try:
            self._store_now().write_points(points)
        except (sqlite3.Error, LocalStoreError, OSError) as exc:
            raise SinkUnavailable(f"{self.name}: cannot write {self.path}: {exc}") from None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def write(self, lines: list[bytes]) -> None:
        if lines:
            await self._run(self._write, lines)

    def _read(self, measurement: str, start_ns: int, end_ns: int, tags: TagFilter | None) -> list[Point]:
        if self._store is None and not self.path.exists():
            return []  # nothing stored yet; reading must not create the file
        try:
            points = self._store_now().query(measurement, start_ns, end_ns)
            if not tags:
                return list(points)
            allowed = {k: {v} if isinstance(v, str) else set(v) for k, v in tags.items()}
            return [p for p in points if all(p.tags.get(k) in vs for k, vs in allowed.items())]
        except (sqlite3.Error, LocalStoreError, OSError) as exc:
            raise SinkUnavailable(f"{self.name}: cannot read {self.path}: {exc}") from None

    def _delete(self, measurement: str, start_ns: int, end_ns: int, tags: TagFilter | None) -> None:
        if self._store is None and not self.path.exists():
            return
        try:
            self._store_now().delete(measurement, start_ns, end_ns,
                                     {k: [v] if isinstance(v, str) else v for k, v in tags.items()} if tags else None)
        except (sqlite3.Error, LocalStoreError, OSError) as exc:
            raise SinkUnavailable(f"{self.name}: cannot delete from {self.path}: {exc}") from None

    async def read(self, measurement: str, start_ns: int, end_ns: int,
                   tags: TagFilter | None = None) -> list[Point]:
        return await self._run(self._read, measurement, start_ns, end_ns, tags)

    async def delete(self, measurement: str, start_ns: int, end_ns: int, tags: TagFilter | None = None) -> None:
        await self._run(self._delete, measurement, start_ns, end_ns, tags)

    async def check(self) -> None:
        if not self.create:
            problem = writable_problem(self.path)
            if problem:
                raise SinkUnavailable(f"{self.name}: {problem}")
            return

        def _check() -> None:
            try:
                self._store_now()
            except (sqlite3.Error, LocalStoreError, OSError) as exc:
                raise SinkUnavailable(f"{self.name}: {exc}") from None

        await self._run(_check)

    async def close(self) -> None:
        def _close() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        await self._run(_close)
        self._executor.shutdown(wait=True)
