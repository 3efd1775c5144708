"""The import's fast paths give what the general paths give (no timing here).

- `Staging`: rows in order go to a spill file; the first row out of order or repeated moves
  them into the SQLite table: the result is the table's (sorted, one row per key, prio rule).
- `read_csv`: epoch seconds and plain numbers skip `parse_time` / `parse_number`.
- `PointBatch` + `LocalStore.write_columns`: the points and stored rows `energy_point` /
  `carbon_points` + `LocalStore.write_points` give.
"""

from __future__ import annotations

import asyncio
import io
import random
import sqlite3
from pathlib import Path

from sentinelle.agent.core import Point
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.emissions import carbon_points, energy_point
from sentinelle.carbon.energy import NS, EnergyInterval, GapPolicy
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.history.importer import (
    CarbonStep,
    ImportOptions,
    MeterTarget,
    PointBatch,
    import_file,
    stage,
)
from sentinelle.carbon.history.readers import Problem, ReadStats, Row, read_csv
from sentinelle.carbon.history.stream import Staging, fill_gaps, raw_intervals, readings, staged_intervals
from sentinelle.carbon.history.timeparse import LocalClock, TimeFormatError, parse_number, parse_time, zone
from sentinelle.carbon.intensity import IntensitySeries, StaticIntensity

TAGS = {"site": "s", "meter": "m", "meter_role": "primary", "meter_load": "other", "zone": "fr-continental"}
T0 = 1_735_686_000 * NS


def _reference(rows: list[tuple[int, str, float, int, int, int, int]]) -> list[tuple[int, str, float, int, int, int]]:
    best: dict[tuple[int, str], tuple[int, str, float, int, int, int, int]] = {}
    for r in rows:
        old = best.get((r[0], r[1]))
        if old is None or r[5] >= old[5]:
            best[(r[0], r[1])] = r
    return [(t, sub, v, step, reset, line) for (t, sub, v, step, reset, _prio, line) in (best[k] for k in sorted(best))]


def _staged(batches: list[list[tuple[int, str, float, int, int, int, int]]]) -> tuple[list, int, tuple | None, bool]:
    s = Staging()
    try:
        for b in batches:
            s.add_tuples(b)
        return list(s.rows()), s.distinct(), s.span(), s.db is None
    finally:
        s.close()


def test_staging_in_order_stays_on_the_fast_path_and_equals_the_table():
    rows = [(T0 + i * NS, sub, float(i), 0, 0, 0, i + 1) for i in range(25_000) for sub in ("", "b")]
    got, distinct, span, fast = _staged([rows[i:i + 10_000] for i in range(0, len(rows), 10_000)])
    assert fast
    assert got == _reference(rows)
    assert distinct == len(rows)
    assert span == (rows[0][0], rows[-1][0])


def test_staging_leaves_the_fast_path_on_disorder_or_repeat_with_the_same_result():
    rng = random.Random(7)
    for case in range(40):
        n = rng.randint(1, 3000)
        rows = []
        for i in range(n):
            t = T0 + i * NS
            if rng.random() < 0.02:  # a repeat or an earlier time, with any priority
                t = T0 + rng.randint(0, max(0, i)) * NS
            rows.append((t, rng.choice(("", "", "x")), float(i), rng.randint(0, 3), rng.randint(0, 1),
                         rng.randint(0, 3), i + 1))
        size = rng.choice((1, 7, 500, 10_000))
        got, distinct, span, _fast = _staged([rows[i:i + size] for i in range(0, len(rows), size)])
        ref = _reference(rows)
        assert got == ref, case
        assert distinct == len(ref)
        assert span == (ref[0][0], ref[-1][0])


def test_staging_drop_after_the_fast_path():
    rows = [(T0 + i * NS, "", float(i), 0, 0, 0, i + 1) for i in range(10)]
    s = Staging()
    try:
        s.add_tuples(rows)
        s.drop([(T0 + 3 * NS, "")])
        assert [r[0] for r in s.rows()] == [T0 + i * NS for i in range(10) if i != 3]
        assert s.distinct() == 9
    finally:
        s.close()


def _csv_reference(text: str) -> list[Row | Problem]:
    """What the reader gave before its fast path, for files without header and step."""
    clock = LocalClock(zone("Europe/Paris"))
    out: list[Row | Problem] = []
    for n, line in enumerate(text.splitlines(), start=1):
        r = line.split(",")
        if not any(c.strip() for c in r):
            continue
        if len(r) < 2:
            out.append(Problem(n, f"{len(r)} columns, expected at least 2"))
            continue
        try:
            t = parse_time(r[0], clock)
        except (TimeFormatError, ValueError) as exc:
            out.append(Problem(n, f"time: {exc}"))
            continue
        try:
            v = parse_number(r[1])
        except ValueError as exc:
            out.append(Problem(n, f"value: {exc}"))
            continue
        if v < 0:
            out.append(Problem(n, f"value {v} is negative"))
            continue
        out.append(Row(n, t, v * 0.001))
    return out


def test_csv_fast_paths_equal_parse_time_and_parse_number():
    text = "\n".join([
        "1735686000,1.5", "1735686300, 2.25 ", " 1735686600,3", "1735686900.5,4", "1735687200000,5",
        "2025-01-01T00:25:00+01:00,6", "1735687800,1e3", "1735688100,nan", "1735688400,inf", "1735688700,-1",
        "1735689000,", ",", "", "1735689300", "1735689600,7\u202f0", "1735689900,0x10", "99999999999,8",
        "100000000000,9", "1735690200,1_0", "abc,1", "1735690500,-0", "\u0661\u0662,1",
    ])
    got = list(read_csv(io.StringIO(text), "counter", 0.001, LocalClock(zone("Europe/Paris")), ReadStats()))
    assert got == _csv_reference(text)


def _interval_points(step: CarbonStep, tags: dict[str, str]) -> list[Point]:
    out = []
    for i, method in enumerate(("imported", "estimated", "imported", "missing")):
        iv = EnergyInterval(T0 + i * 300 * NS, T0 + (i + 1) * 300 * NS, 0.1 * i, method)  # type: ignore[arg-type]
        e = energy_point(iv, dict(tags))
        out.append(e)
        out.extend(carbon_points(e, step.factor(e.time_ns), step.grid.intensity(iv.start_ns, e.time_ns)))
    return out


def test_point_batch_and_write_columns_equal_points_and_write_points(tmp_path: Path):
    step = CarbonStep(FactorTable.embedded(), "fr-continental", "latest", StaticIntensity(52))
    expected = _interval_points(step, TAGS)
    batch = PointBatch()
    for i, method in enumerate(("imported", "estimated", "imported", "missing")):
        tags = {**TAGS, "method": method}
        e = batch.series_index(("energy", method), "energy", tags, ("kwh", "duration_s"))
        kwh = float(0.1 * i)
        batch.rows.append((e, T0 + (i + 1) * 300 * NS, (kwh, 300.0)))
        step.add(batch, tags, method, T0 + i * 300 * NS, T0 + (i + 1) * 300 * NS, kwh)
    assert batch.points() == expected
    assert [list(p.tags) for p in batch.points()] == [list(p.tags) for p in expected]
    with LocalStore(tmp_path / "a.db") as a, LocalStore(tmp_path / "b.db") as b:
        a.write_points(expected)
        b.write_columns(batch.series, batch.rows)
        b.write_columns([("carbon", {"x": "1"}, ("v", "w"))], [(0, 5, (float("nan"), 1.0))])
        a.write_points([Point("carbon", {"x": "1"}, {"v": float("nan"), "w": 1.0}, 5)])
    dump = "SELECT m.name, s.tags, p.time_ns, p.fields FROM points p JOIN series s ON s.id = p.series_id " \
           "JOIN measurements m ON m.id = p.measurement_id ORDER BY 1, 2, 3"
    rows_a = sqlite3.connect(tmp_path / "a.db").execute(dump).fetchall()
    rows_b = sqlite3.connect(tmp_path / "b.db").execute(dump).fetchall()
    assert rows_a == rows_b and len(rows_a) == 13


class _Points:
    def __init__(self) -> None:
        self.points: list[Point] = []

    async def write(self, points: list[Point]) -> None:
        self.points.extend(points)


class _Batches(_Points):
    async def write_batch(self, batch: PointBatch) -> None:
        self.points.extend(batch.points())


def test_import_gives_the_points_of_energy_point_and_carbon_points(tmp_path: Path):
    path = tmp_path / "m.csv"
    # 5-minute readings, a counter restart across a 4,300 s gap (estimated), 30,000 readings (several batches)
    path.write_text("time,kwh\n" + "".join(
        f"{1_735_686_000 + i * 300 + (4000 if i > 50 else 0)},{(i if i <= 50 else i - 51) * 0.07:.3f}\n"
        for i in range(30_000)))
    target = MeterTarget("m", "counter", dict(TAGS))
    step = CarbonStep(FactorTable.embedded(), "fr-continental", "latest", StaticIntensity(52))
    staging, _result = stage(path, target, ImportOptions())
    expected = []
    try:
        for iv in fill_gaps(raw_intervals(readings(staging.rows(), "counter"), "counter", GapPolicy(), None), GapPolicy()):
            e = energy_point(iv, dict(TAGS))
            e.tags["method"] = "imported" if iv.method == "measured" else iv.method
            expected.append(e)
            expected.extend(step.points(e, iv.start_ns))
    finally:
        staging.close()
    assert {p.tags["method"] for p in expected} == {"imported", "estimated"}
    for writer in (_Points(), _Batches()):
        step = CarbonStep(FactorTable.embedded(), "fr-continental", "latest", StaticIntensity(52))
        asyncio.run(import_file(path, target, writer, step))  # type: ignore[arg-type]
        # The same points; the order differs (runs of intervals are written by columns).
        assert sorted(writer.points, key=_order) == sorted(expected, key=_order)
        assert sorted(list(p.tags) for p in writer.points) == sorted(list(p.tags) for p in expected)


def _order(p: Point) -> tuple[int, str, str]:
    return p.time_ns, p.measurement, p.tags.get("track", "")


def test_chunks_across_new_year_with_a_time_varying_grid_give_the_general_points(tmp_path: Path):
    """The fast path's per-chunk factor lookup across New Year (2024's factor, then the latest
    for 2025, flagged) and a grid series that covers part of the file (values change every
    half-hour; before it: out-of-range, after it: stale)."""
    path = tmp_path / "m.csv"
    t0 = 1_735_686_000 - 3 * 86400  # 2024-12-29 00:00 Paris
    # 20 days: the first chunk of intervals crosses New Year, the second is all inside the grid
    # series' span and both sides of it
    path.write_text("time,kwh\n" + "".join(f"{t0 + i * 300},{i * 0.05:.2f}\n" for i in range(20 * 288)))
    target = MeterTarget("m", "counter", dict(TAGS))
    grid_points = [((t0 + 8 * 86400 + k * 1800) * NS, 40.0 + k % 7) for k in range(96)]

    def step() -> CarbonStep:
        return CarbonStep(FactorTable.embedded(), "fr-continental", "latest",
                          IntensitySeries(grid_points, "test-grid", "v1"))

    staging, _result = stage(path, target, ImportOptions())
    reference = step()
    expected = []
    try:
        for iv in fill_gaps(raw_intervals(readings(staging.rows(), "counter"), "counter", GapPolicy(), None), GapPolicy()):
            e = energy_point(iv, dict(TAGS))
            e.tags["method"] = "imported"
            expected.append(e)
            expected.extend(reference.points(e, iv.start_ns))
    finally:
        staging.close()
    assert {p.tags["factor_flag"] for p in expected if p.tags.get("track") == "grid"} == {"", "stale", "out-of-range"}
    assert len({p.tags["factor_version"] for p in expected if p.tags.get("track") == "beges"}) == 1
    assert len({p.tags["factor_flag"] for p in expected if p.tags.get("track") == "beges"}) == 2  # 2024, 2025 fallback
    writer = _Points()
    asyncio.run(import_file(path, target, writer, step()))  # type: ignore[arg-type]
    assert sorted(writer.points, key=_order) == sorted(expected, key=_order)


def test_staged_counter_intervals_equal_raw_intervals_of_readings():
    rng = random.Random(3)
    rows = []
    t = T0
    for i in range(9000):
        t += rng.choice((300, 300, 300, 2000)) * NS
        subs = ("HP", "HC") if i < 4000 else ("BASE",) if i < 6000 else ("HP", "HC")
        for sub in subs:
            value = (i % 700) * 0.5 + (1000.0 if sub == "HC" else 0.0)
            rows.append((t, sub, value, 0, int(rng.random() < 0.001), i + 1))
    for policy in (GapPolicy(), GapPolicy(max_power_w=2000.0), GapPolicy(fill="missing")):
        for modulus in (None, 400.0):
            expected = list(raw_intervals(readings(rows, "counter"), "counter", policy, modulus))
            assert list(staged_intervals(rows, "counter", policy, modulus)) == expected
