"""The durable queue between the pipeline and the sinks: SQLite in WAL mode, capped, prioritised.

Why SQLite: it is in the standard library, survives SIGKILL and power cuts (a commit in WAL mode
with `synchronous=FULL` is on disk when it returns), and lets one file hold a million pending
points with indexed access.

Layout (one row per point, one row per point *and* sink still waiting for it):
- `points(id, priority, measurement, time_ns, queued_ms, size, refs, line)`: the encoded line
  protocol; `refs` counts the sinks that still have to accept it. A point row is deleted when its
  last sink acks or dead-letters it.
- `pending(sink_id, point_id)` WITHOUT ROWID: the per-sink queue. Reading a sink's oldest batch
  is a range scan on the primary key, whatever the other sinks' backlog: a dead sink with 1M
  points waiting costs a healthy sink nothing.
- `dead_letters`: lines a sink rejected as malformed, with the server's reason, until replayed.
- `dropped`: how many points were evicted or refused for lack of room, per measurement and
  priority, kept across restarts.
- `sink_dropped`: per sink, how many points will never reach it because of the cap (evicted
  while still pending for it, or refused on arrival), kept across restarts.

Exact accounting: a point in a batch that a forwarder is writing (between `read_batch` and its
`ack` / `dead_letter` / `release_batch`) is *leased* and never evicted; when only leased points
could make room, the incoming point is refused instead. So a point counted as dropped for a sink
is never delivered to it, and a point never delivered to a sink (other than a dead letter) is
counted as dropped for it: `sink_dropped[s]` equals what is missing at `s`, exactly. A point
that one sink already accepted and the cap then evicts counts only for the sinks still
waiting for it.

Size cap: `max_bytes` bounds what the spool occupies on disk, database + `-wal` together, beyond
a fixed overhead (`disk_overhead()`: the empty schema's pages, the 32 KiB `-shm` index and the
WAL's minimum room of 24 pages: 72 KiB for caps under 8 MiB, 192 KiB above). How:
- the WAL gets an eighth of the cap (at most 16 MiB): it is checkpointed and truncated as soon
  as it passes half of that, `journal_size_limit` caps what SQLite leaves behind, and writes go
  in transactions of at most an eighth of the WAL budget, so one transaction cannot blow it;
- the rest holds the pages in use; what a stored line costs in pages (row headers, the three
  B-trees, page slack, dead letters) is measured after every write, and eviction keeps the line
  bytes under what fits at that measured cost (plus a 10 % margin);
- freed pages are reused by later inserts, and given back to the file system (incremental
  vacuum, a bounded step at a time) once the queue is empty, or when they are three quarters of
  a file larger than half the WAL budget.
Caps under 8 MiB use 1 KiB pages (granularity matters on a small box), larger ones 4 KiB. When
full, the lowest priority goes first, oldest first within a priority; an incoming point never
evicts a point of higher priority than its own: it is dropped instead, and counted.

All SQLite work runs on one dedicated thread (a single-thread executor): the event loop never
blocks on disk, and one connection serialises every operation without locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import LineProtocolError, encode_point
from sentinelle.agent.selfmetrics import AgentMetrics

log = logging.getLogger("sentinelle.agent.spool")

T = TypeVar("T")

SCHEMA_VERSION = 1

SHM_BYTES = 32 * 1024  # SQLite's WAL index file while the spool is open
SMALL_SPOOL_BYTES = 8 * 1024**2  # under this cap, 1 KiB pages
WAL_MAX_BYTES = 16 * 1024**2
MIN_WAL_PAGES = 24  # room for a checkpoint's own writes and one small transaction
COST_MARGIN = 1.1  # eviction keeps this much headroom over the measured page cost of a line

# Higher is kept longer. Patterns are fnmatch-style; the first match wins; user rules come first.
DEFAULT_PRIORITIES: tuple[tuple[str, int], ...] = (
    ("interface", 10),
    ("pon", 10),
    ("ont", 10),
    ("agent_internal", 20),
    ("device_status", 50),
    ("sensor", 50),
    ("ups", 50),
    ("pdu*", 50),
    ("lora_*", 50),
    ("energy", 90),
    ("carbon", 90),
    ("event", 90),
    ("inventory", 90),  # identity, read once a day: losing it loses a day of inventory
)
DEFAULT_PRIORITY = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS sinks(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS points(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    measurement TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    queued_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL,
    line BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS points_eviction ON points(priority, id);
CREATE TABLE IF NOT EXISTS pending(
    sink_id INTEGER NOT NULL,
    point_id INTEGER NOT NULL,
    PRIMARY KEY (sink_id, point_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    measurement TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    line BLOB NOT NULL,
    reason TEXT NOT NULL,
    time_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_sink ON dead_letters(sink, id);
CREATE TABLE IF NOT EXISTS dropped(
    measurement TEXT NOT NULL,
    priority INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (measurement, priority)
);
CREATE TABLE IF NOT EXISTS sink_dropped(sink TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""


class SpoolError(Exception):
    """The spool file cannot be used (corrupt, wrong schema, unwritable)."""


class PriorityRules:
    """Measurement → priority, from user overrides then `DEFAULT_PRIORITIES` (fnmatch patterns)."""

    def __init__(self, overrides: dict[str, int] | None = None):
        self.rules: list[tuple[str, int]] = list((overrides or {}).items()) + list(DEFAULT_PRIORITIES)
        self._cache: dict[str, int] = {}

    def __call__(self, measurement: str) -> int:
        got = self._cache.get(measurement)
        if got is None:
            got = DEFAULT_PRIORITY
            for pattern, priority in self.rules:
                if pattern == measurement or fnmatch.fnmatchcase(measurement, pattern):
                    got = int(priority)
                    break
            if len(self._cache) < 10_000:
                self._cache[measurement] = got
        return got


@dataclass(slots=True)
class AppendResult:
    stored: int = 0
    # Points the encoder refused, with the reason (NaN, empty field set, reserved key...).
    invalid: list[tuple[Point, str]] = field(default_factory=list)
    # Older stored points evicted to make room.
    evicted: int = 0
    # Incoming points refused because only higher-priority points could have made room.
    dropped: int = 0
    # Evicted + refused, by measurement (what the `spool_evicted` counter adds).
    lost_by_measurement: dict[str, int] = field(default_factory=dict)
    # Points that will never reach each sink because of this append (evicted or refused).
    lost_by_sink: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class DeadLetter:
    id: int
    sink: str
    measurement: str
    time_ns: int
    line: bytes
    reason: str
    time_s: float


@dataclass(slots=True)
class SpoolStats:
    bytes: int
    max_bytes: int
    points: int
    file_bytes: int
    pending: dict[str, int]
    oldest_pending_age_s: dict[str, float | None]
    # Evicted or refused for lack of room, by measurement and by priority (since the file exists).
    dropped_by_measurement: dict[str, int]
    dropped_by_priority: dict[int, int]
    dead_letters: dict[str, int]
    # Per sink: points that will never reach it because of the cap (see the module docstring).
    dropped_by_sink: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_measurement.values())

    @property
    def oldest_age_s(self) -> dict[str, float | None]:
        """Alias of `oldest_pending_age_s` (the runtime's name for it)."""
        return self.oldest_pending_age_s


@dataclass(slots=True)
class _Item:
    priority: int
    measurement: str
    time_ns: int
    line: bytes

    @property
    def size(self) -> int:
        return len(self.line)


def measurement_of(line: bytes) -> str:
    """The (unescaped) measurement of a line-protocol line, without a full parse."""
    out = bytearray()
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == 0x5C and i + 1 < n:  # backslash escape
            out.append(line[i + 1])
            i += 2
            continue
        if ch in (0x2C, 0x20):  # ',' or ' '
            break
        out.append(ch)
        i += 1
    return out.decode("utf-8", "replace")


def time_of(line: bytes) -> int:
    """The timestamp (last space-separated token) of an encoded line; 0 if it has none."""
    tail = line.rstrip().rsplit(b" ", 1)[-1]
    try:
        return int(tail)
    except ValueError:
        return 0


class Spool:
    """Durable, capped, multi-sink queue of line-protocol points. Create with `await Spool.open()`."""

    def __init__(self, path: Path, sinks: list[str], max_bytes: int, sync: str,
                 priorities: PriorityRules, metrics: AgentMetrics | None, max_dead_letters: int):
        self.path = path
        self.sinks = list(sinks)
        self.max_bytes = int(max_bytes)
        self.sync = sync
        self.priority = priorities
        self.max_dead_letters = max_dead_letters
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._db: sqlite3.Connection | None = None
        self._sink_ids: dict[str, int] = {}
        # Exact in-memory mirrors of the file, updated by the spool thread after each commit.
        self._bytes = 0
        self._points = 0
        self._pending: dict[str, int] = {}
        self._dead: dict[str, int] = {}
        self._next_id = 1
        self._page_size = 4096
        self._schema_pages = 0
        self._wal_budget = 0
        self._cost = 2.0  # disk bytes in use per stored line byte, measured after each write
        self._dead_bytes = 0
        self._wal_path = self.path.with_name(self.path.name + "-wal")
        # sink id -> ids of the batch its forwarder is writing: never evicted (spool thread only).
        self._leases: dict[int, set[int]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._closed = False
        if metrics is not None:
            self._m_evicted = metrics.counter("spool_evicted", "Points evicted or refused because the spool was full", ["measurement"])
            self._m_invalid = metrics.counter("spool_invalid", "Points refused by the line-protocol encoder", ["measurement"])
            self._m_dropped = metrics.counter(
                "spool_dropped", "Points that will never reach a sink because the spool was full", ["sink"])
            self._m_dead = metrics.counter("spool_dead_letters", "Lines set aside because a sink rejected them", ["sink"])
            self._m_bytes = metrics.gauge("spool_bytes", "Line-protocol bytes stored in the spool")
            self._m_pending = metrics.gauge("spool_pending", "Points waiting for a sink", ["sink"])

    # --- lifecycle ------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path, *, sinks: list[str], max_bytes: int, sync: str = "full",
                   priorities: dict[str, int] | None = None, metrics: AgentMetrics | None = None,
                   max_dead_letters: int = 100_000) -> Spool:
        """Open (or create) the spool file for these sinks.

        A sink that is new to the file only receives points appended from now on; a sink that
        is no longer configured has its pending rows discarded (logged with the count).
        """
        if not sinks:
            raise ValueError("a spool needs at least one sink")
        if len(set(sinks)) != len(sinks):
            raise ValueError(f"duplicate sink names: {sinks}")
        if sync not in ("full", "normal"):
            raise ValueError(f"sync must be 'full' or 'normal', not {sync!r}")
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        spool = cls(Path(path), sinks, max_bytes, sync, PriorityRules(priorities), metrics, max_dead_letters)
        try:
            await spool._run(spool._open_db)
        except BaseException:
            spool._executor.shutdown(wait=False)
            raise
        spool._publish_gauges()
        return spool

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, path: Path, **kwargs: Any) -> AsyncIterator[Spool]:
        spool = await cls.open(path, **kwargs)
        try:
            yield spool
        finally:
            await spool.close()

    async def __aenter__(self) -> Spool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._run(self._close_db, allow_closed=True)
        finally:
            self._executor.shutdown(wait=True)

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (on the event loop) after every append that stored points."""
        self._listeners.append(callback)

    # --- public API -----------------------------------------------------------------------

    async def append(self, points: list[Point]) -> AppendResult:
        """Encode and store points for every sink; on disk when this returns."""
        result = await self._run(self._append, points)
        self._count_losses(result)
        self._publish_gauges()
        if result.stored:
            for callback in self._listeners:
                callback()
        return result

    def _count_losses(self, result: AppendResult) -> None:
        if self._metrics is None:
            return
        for point, _reason in result.invalid:
            self._m_invalid.labels(measurement=str(point.measurement)[:64]).inc()
        for measurement, n in result.lost_by_measurement.items():
            self._m_evicted.labels(measurement=measurement[:64]).inc(n)
        for sink, n in result.lost_by_sink.items():
            self._m_dropped.labels(sink=sink).inc(n)

    async def read_batch(self, sink: str, max_points: int) -> list[tuple[int, bytes]]:
        """Up to `max_points` (id, line) not yet accepted by `sink`, oldest first. They are
        leased to the caller (never evicted) until acked, dead-lettered or `release_batch`,
        or until the next `read_batch` for the same sink replaces the lease."""
        return await self._run(self._read_batch, self._sink_id(sink), max_points)

    async def release_batch(self, sink: str) -> None:
        """The write of the last batch read for `sink` is over (failed or done): end its lease."""
        await self._run(self._leases.pop, self._sink_id(sink), None)

    async def ack(self, sink: str, ids: list[int]) -> None:
        """`sink` accepted these points: they are no longer pending for it."""
        if ids:
            await self._run(self._ack, sink, ids)
            self._publish_gauges()

    async def dead_letter(self, sink: str, items: list[tuple[int, bytes]], reason: str) -> None:
        """`sink` rejected these lines as malformed: set them aside with the reason."""
        if items:
            added = await self._run(self._dead_letter, sink, items, reason)
            if self._metrics is not None and added:
                self._m_dead.labels(sink=sink).inc(added)
            self._publish_gauges()

    async def dead_letters(self, sink: str | None = None, limit: int = 100) -> list[DeadLetter]:
        return await self._run(self._list_dead_letters, sink, limit)

    async def replay_dead_letters(self, sink: str) -> int:
        """Queue a sink's dead letters again (after the user fixed the cause). Returns the count."""
        result = await self._run(self._replay, sink)
        self._count_losses(result)
        self._publish_gauges()
        count = result.stored
        if count:
            for callback in self._listeners:
                callback()
        return count

    async def stats(self) -> SpoolStats:
        return await self._run(self._stats)

    async def oldest_pending_age(self, sink: str) -> float | None:
        """Seconds since the oldest point still pending for `sink` was queued (None: none)."""
        return await self._run(self._oldest_age, self._sink_id(sink), time.time() * 1000)

    def pending(self, sink: str) -> int:
        """Points pending for `sink` (in-memory counter, no disk access)."""
        return self._pending.get(sink, 0)

    @property
    def bytes(self) -> int:
        return self._bytes

    # --- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any, allow_closed: bool = False) -> T:
        if self._closed and not allow_closed:
            raise SpoolError("the spool is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _sink_id(self, sink: str) -> int:
        try:
            return self._sink_ids[sink]
        except KeyError:
            raise ValueError(f"unknown sink {sink!r}; this spool serves {self.sinks}") from None

    def _publish_gauges(self) -> None:
        if self._metrics is None:
            return
        self._m_bytes.set(self._bytes)
        for name in self.sinks:
            self._m_pending.labels(sink=name).set(self._pending.get(name, 0))

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolError("the spool is not open")
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            self._recount()
            raise
        else:
            db.execute("COMMIT")

    # --- spool thread: open/close ---------------------------------------------------------

    def _open_db(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {self.path}: {exc}") from exc
        self._db = db
        try:
            # Both must precede the first table: the page size is fixed at creation, and
            # auto_vacuum lets `incremental_vacuum` give pages back later.
            db.execute(f"PRAGMA page_size={1024 if self.max_bytes < SMALL_SPOOL_BYTES else 4096}")
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SpoolError(f"cannot put spool {self.path} in WAL mode (got {mode})")
            db.execute(f"PRAGMA synchronous={'FULL' if self.sync == 'full' else 'NORMAL'}")
            db.execute("PRAGMA temp_store=MEMORY")
            db.executescript(_SCHEMA)
            self._page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
            self._wal_budget = min(WAL_MAX_BYTES, max(self.max_bytes // 8, MIN_WAL_PAGES * self._page_size))
            db.execute(f"PRAGMA journal_size_limit={self._wal_budget}")
            db.execute(f"PRAGMA wal_autocheckpoint={max(1, self._wal_budget // 2 // self._page_size)}")
            # Page 1, the pointer-map page of auto_vacuum, one root page per table and index.
            self._schema_pages = 2 + db.execute("SELECT COUNT(*) FROM sqlite_master WHERE rootpage > 0").fetchone()[0]
            db.execute("CREATE TEMP TABLE IF NOT EXISTS batch_ids(id INTEGER PRIMARY KEY)")
            with self._transaction():
                row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None:
                    db.execute("INSERT INTO meta(key, value) VALUES('schema', ?)", (SCHEMA_VERSION,))
                elif int(row[0]) != SCHEMA_VERSION:
                    raise SpoolError(f"spool {self.path} has schema {row[0]}, this agent expects {SCHEMA_VERSION}")
                known = dict(db.execute("SELECT name, id FROM sinks").fetchall())
                for name, sink_id in known.items():
                    if name not in self.sinks:
                        dropped = self._forget_sink(sink_id)
                        log.warning("sink %r is no longer configured: %d points pending for it discarded",
                                    name, dropped, extra={"sink": name})
                for name in self.sinks:
                    if name not in known:
                        db.execute("INSERT INTO sinks(name) VALUES(?)", (name,))
                self._sink_ids = {n: i for n, i in db.execute("SELECT name, id FROM sinks") if n in self.sinks}
        except sqlite3.DatabaseError as exc:
            db.close()
            self._db = None
            raise SpoolError(f"spool {self.path} is not usable: {exc}") from exc
        except BaseException:
            db.close()
            self._db = None
            raise
        self._recount()
        self._after_write()

    def _forget_sink(self, sink_id: int) -> int:
        db = self.db
        db.execute("UPDATE points SET refs = refs - 1 WHERE id IN (SELECT point_id FROM pending WHERE sink_id=?)", (sink_id,))
        dropped = db.execute("DELETE FROM pending WHERE sink_id=?", (sink_id,)).rowcount
        db.execute("DELETE FROM points WHERE refs <= 0")
        db.execute("DELETE FROM sinks WHERE id=?", (sink_id,))
        return dropped

    def _recount(self) -> None:
        db = self.db
        self._bytes, self._points = db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM points").fetchone()
        self._pending = {
            name: db.execute("SELECT COUNT(*) FROM pending WHERE sink_id=?", (sid,)).fetchone()[0]
            for name, sid in self._sink_ids.items()
        }
        self._dead = dict(db.execute("SELECT sink, COUNT(*) FROM dead_letters GROUP BY sink").fetchall())
        seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name='points'").fetchone()
        top = db.execute("SELECT MAX(id) FROM points").fetchone()[0]
        self._next_id = max(seq[0] if seq else 0, top or 0) + 1
        self._dead_bytes = db.execute("SELECT COALESCE(SUM(length(line)), 0) FROM dead_letters").fetchone()[0]

    def _close_db(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    # --- spool thread: writing ------------------------------------------------------------

    def _append(self, points: list[Point]) -> AppendResult:
        result = AppendResult()
        items: list[_Item] = []
        priority = self.priority
        for point in points:
            try:
                line = encode_point(point).encode("utf-8")
            except (LineProtocolError, TypeError, ValueError, AttributeError) as exc:
                result.invalid.append((point, str(exc)))
                continue
            items.append(_Item(priority(point.measurement), point.measurement, point.time_ns, line))
        sink_ids = list(self._sink_ids.values())
        for chunk in self._chunks(items):
            with self._transaction():
                self._store(chunk, sink_ids, result)
            self._after_write()
        return result

    def _chunks(self, items: list[_Item]) -> Iterator[list[_Item]]:
        """Items in runs of at most an eighth of the WAL budget: one transaction's pages must fit
        the WAL with room to spare. (An append still returns only once all are committed.)"""
        limit = max(1, self._wal_budget // 8)
        chunk: list[_Item] = []
        size = 0
        for item in items:
            if chunk and size + item.size > limit:
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += item.size
        if chunk:
            yield chunk

    def line_budget(self) -> int:
        """Line-protocol bytes that fit on disk under the cap at the measured cost per byte."""
        room = self.max_bytes - (self._wal_budget - MIN_WAL_PAGES * self._page_size)
        return max(0, int(room / (self._cost * COST_MARGIN)) - self._dead_bytes)

    def disk_overhead(self) -> int:
        """Bytes on disk outside the cap: the empty schema's pages, the `-shm` index and the
        WAL's minimum room (what any SQLite spool needs, however small its cap)."""
        return (self._schema_pages + MIN_WAL_PAGES) * self._page_size + SHM_BYTES

    def _store(self, items: list[_Item], sink_ids: list[int], result: AppendResult) -> None:
        """Insert items pending for `sink_ids`, evicting or dropping per the cap (in a transaction)."""
        db = self.db
        incoming = sum(item.size for item in items)
        if self._bytes + incoming > self.line_budget():
            items = self._make_room(items, sink_ids, result)
        if not items:
            return
        now_ms = int(time.time() * 1000)
        first = self._next_id
        rows = [
            (first + i, item.priority, item.measurement, item.time_ns, now_ms, item.size, len(sink_ids), item.line)
            for i, item in enumerate(items)
        ]
        db.executemany(
            "INSERT INTO points(id, priority, measurement, time_ns, queued_ms, size, refs, line) VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
        for sink_id in sink_ids:
            db.executemany("INSERT INTO pending(sink_id, point_id) VALUES (?, ?)", ((sink_id, r[0]) for r in rows))
        self._next_id = first + len(rows)
        self._bytes += sum(r[5] for r in rows)
        self._points += len(rows)
        names = {v: k for k, v in self._sink_ids.items()}
        for sink_id in sink_ids:
            name = names[sink_id]
            self._pending[name] = self._pending.get(name, 0) + len(rows)
        result.stored += len(rows)

    def _make_room(self, items: list[_Item], sink_ids: list[int], result: AppendResult) -> list[_Item]:
        """Decide which incoming items are kept and which stored points are evicted.

        Incoming items are considered highest priority first (newest first within a priority);
        each may evict stored points of its own priority or lower (lowest first, oldest first),
        except leased ones (being written); when that is not enough it is dropped. Returns the
        kept items in their original order.
        """
        db = self.db
        budget = self.line_budget()
        free = budget - self._bytes
        # Highest priority first; newest first within a priority (the oldest are the first to go).
        order = sorted(range(len(items)), key=lambda i: (-items[i].priority, -i))
        keep = [False] * len(items)
        victims: list[tuple[int, int, int, str]] = []
        leased: set[int] = set().union(*self._leases.values()) if self._leases else set()
        candidates = (c for c in self._eviction_candidates() if c[0] not in leased)
        cand = next(candidates, None)
        dropped: dict[tuple[str, int], int] = {}
        for i in order:
            item = items[i]
            if item.size <= budget:
                while free < item.size and cand is not None and cand[2] <= item.priority:
                    victims.append(cand)
                    free += cand[1]
                    cand = next(candidates, None)
            if free >= item.size:
                keep[i] = True
                free -= item.size
            else:
                key = (item.measurement, item.priority)
                dropped[key] = dropped.get(key, 0) + 1
                result.dropped += 1
        candidates.close()
        refused = sum(dropped.values())  # before `_evict` adds its victims to `dropped`
        if victims:
            self._evict(victims, dropped, result)
            result.evicted += len(victims)
        if refused:
            names = {v: k for k, v in self._sink_ids.items()}
            for sink_id in sink_ids:
                name = names[sink_id]
                result.lost_by_sink[name] = result.lost_by_sink.get(name, 0) + refused
        if dropped:
            db.executemany(
                "INSERT INTO dropped(measurement, priority, count) VALUES (?, ?, ?) "
                "ON CONFLICT(measurement, priority) DO UPDATE SET count = count + excluded.count",
                [(m, p, n) for (m, p), n in dropped.items()],
            )
            for (m, _p), n in dropped.items():
                result.lost_by_measurement[m] = result.lost_by_measurement.get(m, 0) + n
        if result.lost_by_sink:
            db.executemany(
                "INSERT INTO sink_dropped(sink, count) VALUES (?, ?) "
                "ON CONFLICT(sink) DO UPDATE SET count = count + excluded.count",
                list(result.lost_by_sink.items()),
            )
        return [item for i, item in enumerate(items) if keep[i]]

    def _eviction_candidates(self) -> Iterator[tuple[int, int, int, str]]:
        """Stored points in eviction order (priority, then age), read lazily in chunks."""
        db = self.db
        last = (-(2**62), 0)
        while True:
            rows = db.execute(
                "SELECT id, size, priority, measurement FROM points WHERE (priority, id) > (?, ?) "
                "ORDER BY priority, id LIMIT 2000",
                last,
            ).fetchall()
            if not rows:
                return
            yield from rows
            last = (rows[-1][2], rows[-1][0])

    def _evict(self, victims: list[tuple[int, int, int, str]], dropped: dict[tuple[str, int], int],
               result: AppendResult) -> None:
        db = self.db
        self._fill_batch_ids(v[0] for v in victims)
        for name, sink_id in self._sink_ids.items():
            removed = db.execute(
                "DELETE FROM pending WHERE sink_id=? AND point_id IN (SELECT id FROM batch_ids)", (sink_id,)
            ).rowcount
            self._pending[name] = self._pending.get(name, 0) - removed
            if removed:  # these will never reach this sink
                result.lost_by_sink[name] = result.lost_by_sink.get(name, 0) + removed
        db.execute("DELETE FROM points WHERE id IN (SELECT id FROM batch_ids)")
        for _id, size, priority, measurement in victims:
            self._bytes -= size
            self._points -= 1
            key = (measurement, priority)
            dropped[key] = dropped.get(key, 0) + 1

    def _fill_batch_ids(self, ids: Iterable[int]) -> None:
        db = self.db
        db.execute("DELETE FROM batch_ids")
        db.executemany("INSERT OR IGNORE INTO batch_ids(id) VALUES (?)", ((int(i),) for i in ids))

    def _release(self, sink: str, ids: Iterable[int]) -> list[int]:
        """Remove `ids` from `sink`'s queue (in a transaction); delete points no sink still needs.
        Returns the ids that were pending for it."""
        db = self.db
        sink_id = self._sink_id(sink)
        self._fill_batch_ids(ids)
        released = [
            r[0]
            for r in db.execute(
                "SELECT point_id FROM pending WHERE sink_id=? AND point_id IN (SELECT id FROM batch_ids)", (sink_id,)
            )
        ]
        if not released:
            return released
        db.execute("DELETE FROM batch_ids")
        db.executemany("INSERT INTO batch_ids(id) VALUES (?)", ((i,) for i in released))
        db.execute("DELETE FROM pending WHERE sink_id=? AND point_id IN (SELECT id FROM batch_ids)", (sink_id,))
        db.execute("UPDATE points SET refs = refs - 1 WHERE id IN (SELECT id FROM batch_ids)")
        freed, count = db.execute(
            "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM points WHERE id IN (SELECT id FROM batch_ids) AND refs <= 0"
        ).fetchone()
        if count:
            db.execute("DELETE FROM points WHERE id IN (SELECT id FROM batch_ids) AND refs <= 0")
        self._pending[sink] = self._pending.get(sink, 0) - len(released)
        self._bytes -= freed
        self._points -= count
        return released

    def _ack(self, sink: str, ids: list[int]) -> None:
        # Deletes dirty pages too: in runs sized like `_chunks` (acks need no atomicity: a
        # point whose ack did not commit is sent again, and writes are idempotent).
        average = self._bytes / self._points if self._points else 100.0
        step = max(1, int(self._wal_budget // 8 / max(1.0, average)))
        for start in range(0, len(ids), step):
            part = ids[start:start + step]
            with self._transaction():
                self._release(sink, part)
            self._unlease(sink, part)
            self._after_write()

    def _unlease(self, sink: str, ids: Iterable[int]) -> None:
        lease = self._leases.get(self._sink_id(sink))
        if lease is not None:
            lease.difference_update(int(i) for i in ids)

    def _dead_letter(self, sink: str, items: list[tuple[int, bytes]], reason: str) -> int:
        db = self.db
        lines = {int(i): bytes(line) for i, line in items}
        now = time.time()
        with self._transaction():
            released = self._release(sink, lines)
            db.executemany(
                "INSERT INTO dead_letters(sink, measurement, time_ns, line, reason, time_s) VALUES (?,?,?,?,?,?)",
                [(sink, measurement_of(lines[i]), time_of(lines[i]), lines[i], reason[:2000], now) for i in released],
            )
            self._dead[sink] = self._dead.get(sink, 0) + len(released)
            excess = self._dead[sink] - self.max_dead_letters
            if excess > 0:
                # The oldest go first; the count of rejections stays in the metric.
                db.execute(
                    "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE sink=? ORDER BY id LIMIT ?)",
                    (sink, excess),
                )
                self._dead[sink] -= excess
        self._unlease(sink, lines)
        self._dead_bytes = db.execute("SELECT COALESCE(SUM(length(line)), 0) FROM dead_letters").fetchone()[0]
        self._after_write()
        return len(released)

    def _replay(self, sink: str) -> AppendResult:
        db = self.db
        sink_id = self._sink_id(sink)
        total = AppendResult()
        while True:
            rows = db.execute(
                "SELECT id, measurement, time_ns, line FROM dead_letters WHERE sink=? ORDER BY id LIMIT 5000", (sink,)
            ).fetchall()
            if not rows:
                return total
            with self._transaction():
                items = [_Item(self.priority(m), m, t, bytes(line)) for _id, m, t, line in rows]
                self._store(items, [sink_id], total)
                db.executemany("DELETE FROM dead_letters WHERE id=?", ((r[0],) for r in rows))
                self._dead[sink] = self._dead.get(sink, 0) - len(rows)
                self._dead_bytes = max(0, self._dead_bytes - sum(len(r[3]) for r in rows))
            self._after_write()

    def _after_write(self) -> None:
        """Keep the disk under the cap after each commit: measure what a line costs in pages,
        give free pages back in bounded steps, checkpoint and truncate the WAL past half its
        budget. Cheap when nothing is due: two pragmas read from the cached header, one stat."""
        db = self.db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        in_use = (pages - free - self._schema_pages) * self._page_size
        stored = self._bytes + self._dead_bytes
        if stored >= 8 * self._page_size:  # below this, root pages dominate: keep the last figure
            self._cost = max(1.0, in_use / stored)
        step = max(1, self._wal_budget // 4 // self._page_size)
        # Only once drained, or when free pages are most of a large file: vacuuming in the middle
        # of a drain would move live pages (about to be deleted anyway) into the freed ones,
        # which cost the catch-up 40 % of its speed; free pages are reused by inserts meanwhile.
        while free and (self._points == 0
                        or (free * self._page_size > self._wal_budget // 2 and free * 4 > pages * 3)):
            # Through sqlite3_exec (executescript): `execute` steps this pragma once, which frees
            # a single page whatever the argument.
            db.executescript(f"PRAGMA incremental_vacuum({min(free, step)});")
            self._bound_wal()
            left = db.execute("PRAGMA freelist_count").fetchone()[0]
            if left >= free:
                break
            free = left
        self._bound_wal()

    def _bound_wal(self) -> None:
        """Checkpoint and truncate the WAL past half its budget, or once the queue is empty
        (drained: what stays on disk is the fixed overhead)."""
        try:
            wal = self._wal_path.stat().st_size
        except OSError:
            return
        if wal > self._wal_budget // 2:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        elif self._points == 0 and (wal > MIN_WAL_PAGES * self._page_size or self._file_excess() > 8 * self._page_size):
            # The database file shrinks (after a vacuum) only when a checkpoint writes it.
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _file_excess(self) -> int:
        """Bytes of the database file beyond its logical size (pages a checkpoint will cut)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return 0
        return size - self.db.execute("PRAGMA page_count").fetchone()[0] * self._page_size

    # --- spool thread: reading ------------------------------------------------------------

    def _read_batch(self, sink_id: int, max_points: int) -> list[tuple[int, bytes]]:
        rows = self.db.execute(
            "SELECT p.id, p.line FROM pending q JOIN points p ON p.id = q.point_id "
            "WHERE q.sink_id=? ORDER BY q.point_id LIMIT ?",
            (sink_id, max(1, int(max_points))),
        ).fetchall()
        self._leases[sink_id] = {r[0] for r in rows}
        return [(r[0], bytes(r[1])) for r in rows]

    def _list_dead_letters(self, sink: str | None, limit: int) -> list[DeadLetter]:
        sql = "SELECT id, sink, measurement, time_ns, line, reason, time_s FROM dead_letters"
        args: tuple[Any, ...] = ()
        if sink is not None:
            sql += " WHERE sink=?"
            args = (sink,)
        sql += " ORDER BY id LIMIT ?"
        rows = self.db.execute(sql, (*args, int(limit))).fetchall()
        return [DeadLetter(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]) for r in rows]

    def _oldest_age(self, sink_id: int, now_ms: float) -> float | None:
        row = self.db.execute(
            "SELECT p.queued_ms FROM pending q JOIN points p ON p.id = q.point_id "
            "WHERE q.sink_id=? ORDER BY q.point_id LIMIT 1",
            (sink_id,),
        ).fetchone()
        return None if row is None else max(0.0, (now_ms - row[0]) / 1000.0)

    def _stats(self) -> SpoolStats:
        db = self.db
        now_ms = time.time() * 1000
        ages = {name: self._oldest_age(sink_id, now_ms) for name, sink_id in self._sink_ids.items()}
        by_measurement: dict[str, int] = {}
        by_priority: dict[int, int] = {}
        for measurement, priority, count in db.execute("SELECT measurement, priority, count FROM dropped"):
            by_measurement[measurement] = by_measurement.get(measurement, 0) + count
            by_priority[priority] = by_priority.get(priority, 0) + count
        by_sink = {name: 0 for name in self.sinks}
        for name, count in db.execute("SELECT sink, count FROM sink_dropped"):
            if name in by_sink:
                by_sink[name] = count
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        wal = self.path.with_name(self.path.name + "-wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        return SpoolStats(
            bytes=self._bytes,
            max_bytes=self.max_bytes,
            points=self._points,
            file_bytes=page_size * pages + wal_bytes,
            pending={name: self._pending.get(name, 0) for name in self.sinks},
            oldest_pending_age_s=ages,
            dropped_by_measurement=by_measurement,
            dropped_by_priority=by_priority,
            dead_letters={k: v for k, v in self._dead.items() if v},
            dropped_by_sink=by_sink,
        )

