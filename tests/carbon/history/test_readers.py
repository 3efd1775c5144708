"""Readers of carbon/history: each documented layout, times across DST, streaming energy maths.

The Enedis files in carbon/history/testdata follow the documented export layout with values
crafted so the kWh can be checked by hand (see the README there).
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sentinelle.agent.core import Point
from sentinelle.carbon.energy import (
    NS,
    CounterReading,
    EnergyInterval,
    GapPolicy,
    PowerSample,
    counter_intervals,
    power_intervals,
)
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.history.importer import (
    CarbonStep,
    ImportOptions,
    ImportRejected,
    LiveCoverage,
    MeterTarget,
    import_file,
)
from sentinelle.carbon.history.overlap import resolve
from sentinelle.carbon.history.readers import ImportFormatError, detect_format
from sentinelle.carbon.history.stream import ImportedReading, fill_gaps, raw_intervals
from sentinelle.carbon.history.timeparse import (
    LocalClock,
    TimeFormatError,
    parse_duration_s,
    parse_number,
    parse_time,
)

PARIS = ZoneInfo("Europe/Paris")
DATA = Path(__file__).resolve().parents[3] / "carbon" / "history" / "testdata"
TAGS = {"site": "s", "meter": "m", "meter_role": "primary", "meter_load": "other", "zone": "fr-continental"}


class ListWriter:
    def __init__(self) -> None:
        self.points: list[Point] = []

    async def write(self, points: list[Point]) -> None:
        self.points.extend(points)

    def energy(self) -> list[Point]:
        return [p for p in self.points if p.measurement == "energy"]


def run(path: Path, kind: str, **opts: object) -> tuple[ListWriter, object]:
    writer = ListWriter()
    target = MeterTarget("m", kind, dict(TAGS), unit=opts.pop("unit", None), modulus=opts.pop("modulus", None))  # type: ignore[arg-type]
    carbon = CarbonStep(FactorTable.embedded(), "fr-continental", "latest", None)
    result = asyncio.run(import_file(path, target, writer, carbon, options=ImportOptions(**opts)))  # type: ignore[arg-type]
    return writer, result


def utc_ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * NS


# --- times and numbers ---------------------------------------------------------------------


def test_timestamps_in_every_supported_form():
    clock = LocalClock(PARIS)
    t = utc_ns(2026, 1, 15, 11, 0)
    assert parse_time("2026-01-15T12:00:00+01:00", clock) == t
    assert parse_time("2026-01-15T11:00:00Z", clock) == t
    assert parse_time("2026-01-15 12:00:00", clock) == t  # naive: Europe/Paris
    assert parse_time("15/01/2026 12:00", clock) == t
    assert parse_time(str(t // NS), clock) == t  # epoch seconds
    assert parse_time(str(t // 1_000_000), clock) == t  # epoch milliseconds
    assert parse_time(str(t), clock) == t  # epoch nanoseconds
    with pytest.raises(TimeFormatError):
        parse_time("yesterday", clock)


def test_autumn_repeated_hour_is_resolved_by_order_and_spring_gap_is_refused():
    clock = LocalClock(PARIS)
    first = parse_time("2025-10-26 02:30:00", clock)
    second = parse_time("2025-10-26 02:30:00", clock)
    assert first == utc_ns(2025, 10, 26, 0, 30)  # CEST
    assert second == utc_ns(2025, 10, 26, 1, 30)  # CET, an hour later
    with pytest.raises(TimeFormatError, match="more than twice"):
        parse_time("2025-10-26 02:30:00", clock)
    with pytest.raises(TimeFormatError, match="does not exist"):
        parse_time("2026-03-29 02:30:00", clock)


def test_numbers_and_steps():
    assert parse_number("1 234,5") == 1234.5
    assert parse_number("12.5") == 12.5
    for bad in ("", "1,2,3", "1.2,3", "nan", "abc"):
        with pytest.raises(ValueError):
            parse_number(bad)
    assert [parse_duration_s(s) for s in ("PT10M", "PT30M", "PT60M", "PT1H", "900")] == [600, 1800, 3600, 3600, 900]
    with pytest.raises(ValueError):
        parse_duration_s("P1D")


# --- Enedis -------------------------------------------------------------------------------


def test_enedis_autumn_load_curve_unsorted_with_step_change_and_injection():
    path = DATA / "enedis_load_curve_2025-10-26_autumn.csv"
    assert detect_format(path) == "enedis"
    writer, result = run(path, "interval")
    energy = writer.energy()
    # 48 + 50 half-hours (the 25-hour day) + 144 ten-minute steps; injection rows left out
    assert len(energy) == 48 + 50 + 144
    assert result.stats.skipped == {"grandeur métier PROD": 4}
    assert sum(p.fields["kwh"] for p in energy) == pytest.approx(15.24 + 25.0 + 14.4, abs=1e-9)
    day = [p for p in energy if utc_ns(2025, 10, 25, 22) < p.time_ns <= utc_ns(2025, 10, 26, 23)]
    assert len(day) == 50 and sum(p.fields["duration_s"] for p in day) == 25 * 3600
    assert {p.tags["method"] for p in energy} == {"imported"}
    assert result.stats.steps == {1800: 98, 600: 144}
    # intervals are contiguous: no hole, no overlap across the DST change and the step change
    times = sorted(p.time_ns for p in energy)
    for prev, cur, p in zip(times, times[1:], sorted(energy, key=lambda p: p.time_ns)[1:], strict=False):
        assert cur - int(p.fields["duration_s"] * NS) == prev


def test_enedis_spring_load_curve_46_half_hours_and_corrected_value_wins():
    writer, result = run(DATA / "enedis_load_curve_2026-03-29_spring.csv", "interval")
    energy = writer.energy()
    assert len(energy) == 46
    assert sum(p.fields["kwh"] for p in energy) == pytest.approx(46 * 0.4)  # 800 W x 30 min each
    assert max(p.fields["kwh"] for p in energy) == pytest.approx(0.4)  # the raw 9999 W was corrected
    assert result.stats.quality == {"Nature=B IV=0": 46, "Nature=C IV=0": 1}


def test_enedis_daily_index_sums_the_cadrans():
    writer, _ = run(DATA / "enedis_daily_index_2026-01.csv", "counter")
    energy = writer.energy()
    assert len(energy) == 6
    assert [round(p.fields["kwh"], 6) for p in energy] == [12 + d + 6 for d in range(1, 7)]
    assert {p.fields["duration_s"] for p in energy} == {86400.0}
    assert {p.tags["method"] for p in energy} == {"imported"}


def test_enedis_file_imported_with_the_wrong_kind_is_refused_with_line_numbers():
    with pytest.raises(ImportRejected) as err:
        run(DATA / "enedis_daily_index_2026-01.csv", "interval")
    lines = err.value.result.problem_lines()
    assert lines[0].endswith("enedis_daily_index_2026-01.csv:2: unit wh / grandeur ea is a counter row but the meter "
                             "is imported as interval (use --kind counter)")


# --- generic CSV and line protocol ----------------------------------------------------------


def test_csv_semicolon_decimal_comma_wh_with_header(tmp_path: Path):
    f = tmp_path / "meter.csv"
    f.write_text("Horodate;Index (Wh)\n2026-01-01 00:00:00;1000,5\n2026-01-01 00:05:00;1100,5\n"
                 "2026-01-01 00:10:00;1300,5\n", encoding="utf-8")
    writer, result = run(f, "counter", unit="Wh", value_column="Index (Wh)")
    assert [p.fields["kwh"] for p in writer.energy()] == pytest.approx([0.1, 0.2])
    assert writer.energy()[0].time_ns == utc_ns(2025, 12, 31, 23, 5)


def test_csv_comma_without_header_epoch_ms_power_in_kw(tmp_path: Path):
    t0 = utc_ns(2026, 2, 1) // 1_000_000
    f = tmp_path / "p.csv"
    f.write_text("".join(f"{t0 + i * 60_000},{1.2 if i % 2 else 0.6}\n" for i in range(11)))
    writer, _ = run(f, "power", unit="kW")
    energy = writer.energy()
    assert len(energy) == 10
    assert sum(p.fields["kwh"] for p in energy) == pytest.approx(0.9 * 10 / 60)
    assert {p.tags["method"] for p in energy} == {"imported"}


def test_csv_columns_by_number_and_an_unknown_column_name(tmp_path: Path):
    f = tmp_path / "m.csv"
    f.write_text("id,kwh,when\nx,1,2026-01-01T00:00:00Z\nx,2,2026-01-01T00:05:00Z\n")
    writer, _ = run(f, "counter", time_column="3", value_column="2")
    assert [p.fields["kwh"] for p in writer.energy()] == [1.0]
    with pytest.raises(ImportFormatError, match="no column 'nope'"):
        run(f, "counter", time_column="nope", value_column="2")


def test_csv_reset_column_marks_restarts_that_would_otherwise_read_as_wraps(tmp_path: Path):
    # Modulus 1000 kWh: 905 -> 3 is a plausible wrap (98 kWh) unless the export flags a restart (3 kWh).
    rows = [("2026-01-15T00:00:00+01:00", "900", ""), ("2026-01-15T00:05:00+01:00", "905", "0"),
            ("2026-01-15T00:10:00+01:00", "3", "1"), ("2026-01-15T00:15:00+01:00", "5", "")]
    flagged = tmp_path / "flagged.csv"
    flagged.write_text("time;kwh;remise à zéro\n" + "".join(f"{t};{v};{r}\n" for t, v, r in rows), encoding="utf-8")
    unflagged = tmp_path / "plain.csv"
    unflagged.write_text("time;kwh\n" + "".join(f"{t};{v}\n" for t, v, _r in rows))
    writer, _ = run(unflagged, "counter", modulus=1000.0)
    assert [p.fields["kwh"] for p in writer.energy()] == pytest.approx([5.0, 98.0, 2.0])
    writer, _ = run(flagged, "counter", modulus=1000.0)  # found by its header name
    assert [p.fields["kwh"] for p in writer.energy()] == pytest.approx([5.0, 3.0, 2.0])
    writer, _ = run(flagged, "counter", modulus=1000.0, reset_column="3")  # or by number
    assert [p.fields["kwh"] for p in writer.energy()] == pytest.approx([5.0, 3.0, 2.0])

    bad = tmp_path / "bad.csv"
    bad.write_text(flagged.read_text(encoding="utf-8").replace(";1\n", ";maybe\n"), encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        run(bad, "counter", modulus=1000.0)
    assert [(p.line, p.reason) for p in info.value.result.problems] == [
        (4, "reset: 'maybe' is neither a flag (1, true, yes, x) nor empty/0/false")]
    with pytest.raises(ImportFormatError, match="applies to counters"):
        run(flagged, "power", reset_column="3")


def test_line_protocol_of_raw_readings_keeps_only_the_meter(tmp_path: Path):
    t = utc_ns(2026, 1, 1)
    f = tmp_path / "raw.lp"
    f.write_text(
        "# export\n"
        f"pdu,device=m,site=s energy_kwh_total=10.0 {t}\n"
        f"pdu,device=other,site=s energy_kwh_total=99.0 {t + 60 * NS}\n"
        f"pdu,device=m,site=s energy_kwh_total=10.5 {t + 300 * NS}\n"
        f"pdu,device=m,site=s energy_kwh_total=0.25,counter_reset=true {t + 600 * NS}\n"
    )
    assert detect_format(f) == "lp"
    writer, result = run(f, "counter")
    assert [p.fields["kwh"] for p in writer.energy()] == pytest.approx([0.5, 0.25])
    assert result.stats.skipped == {"other device": 1}


def test_line_protocol_counter_wrap_and_max_rate_come_from_the_points(tmp_path: Path):
    """The agent's own points say how their counter wraps and how fast it can rise
    (docs/meter-readings.md); an import of them counts as the live processor did."""
    t = utc_ns(2026, 1, 1)
    wrap = 2**32 * 0.001  # a Counter32 of Wh, scaled to kWh
    f = tmp_path / "raw.lp"
    f.write_text(
        f"pdu,device=m energy_kwh_total={wrap - 0.296},energy_kwh_total_wrap={wrap} {t}\n"
        f"pdu,device=m energy_kwh_total=0.704,energy_kwh_total_wrap={wrap} {t + 300 * NS}\n"
    )
    writer, result = run(f, "counter")
    assert result.stats.wrap_kwh == pytest.approx(wrap)
    assert [p.fields["kwh"] for p in writer.energy()] == pytest.approx([1.0])
    # Without the field the drop is a restart: what the field changes is really read.
    f.write_text(f.read_text().replace(f",energy_kwh_total_wrap={wrap}", ""))
    writer, _ = run(f, "counter")
    assert [p.fields["kwh"] for p in writer.energy()] != pytest.approx([1.0])

    # A jump far above the stated max rate (here 1 W) is a gap, not thousands of kWh.
    f.write_text(
        f"pdu,device=m energy_kwh_total=10.0,energy_kwh_total_max_rate={1 / 3.6e6} {t}\n"
        f"pdu,device=m energy_kwh_total=5000.0,energy_kwh_total_max_rate={1 / 3.6e6} {t + 300 * NS}\n"
    )
    writer, result = run(f, "counter")
    assert result.stats.max_rate_kwh_s == pytest.approx(1 / 3.6e6)
    assert sum(p.fields["kwh"] for p in writer.energy()) < 1.0


# --- streaming maths equal the whole-list maths ---------------------------------------------


def test_streamed_intervals_equal_carbon_energy_on_the_whole_series():
    policy = GapPolicy(max_gap_s=900, fill="estimate")
    t0 = utc_ns(2026, 1, 1)
    times = [t0 + i * 300 * NS for i in range(20_000) if not (3000 < i < 3010 or 9000 < i < 9500)]
    watts = [500 + 300 * math.sin(i / 50) for i in range(len(times))]
    samples = [PowerSample(t, w) for t, w in zip(times, watts, strict=True)]
    whole = power_intervals(samples, policy)
    streamed = list(fill_gaps(raw_intervals((ImportedReading(t, w) for t, w in zip(times, watts, strict=True)), "power",
                                            policy, None), policy))
    assert streamed == whole
    kwh = [i * 0.01 for i in range(len(times))]
    kwh = [v if i < 7000 else v - 60.0 for i, v in enumerate(kwh)]  # an unflagged reset
    whole_c = counter_intervals([CounterReading(t, v) for t, v in zip(times, kwh, strict=True)], policy)
    streamed_c = list(fill_gaps(raw_intervals((ImportedReading(t, v) for t, v in zip(times, kwh, strict=True)), "counter",
                                              policy, None), policy))
    assert streamed_c == whole_c


# --- overlap resolution ---------------------------------------------------------------------


def test_overlaps_keep_live_over_imported_over_estimated():
    h = 3600 * NS
    live = EnergyInterval(2 * h, 4 * h, 2.0, "measured")
    imported = [EnergyInterval(i * h, (i + 1) * h, 10.0, "imported") for i in range(6)]
    estimated = EnergyInterval(5 * h, 8 * h, 3.0, "estimated")
    out = resolve([*imported, live, estimated])
    assert sum(iv.end_ns - iv.start_ns for iv in out) == 8 * h  # every hour once
    assert sum(iv.kwh for iv in out) == pytest.approx(4 * 10.0 + 2.0 + 2.0)  # hours 0,1,4,5 + live + 2 h estimated
    assert [iv.method for iv in out] == ["imported", "imported", "measured", "imported", "imported", "estimated"]
    disjoint = [EnergyInterval(i * h, (i + 1) * h, 1.0, "measured") for i in range(3)]
    assert resolve(disjoint) == disjoint


def test_live_coverage_cuts_imported_intervals():
    cov = LiveCoverage([(10, 20), (15, 30), (40, 50)])
    parts = cov.outside(EnergyInterval(0, 60, 6.0, "measured"))
    assert [(p.start_ns, p.end_ns) for p in parts] == [(0, 10), (30, 40), (50, 60)]
    assert [p.kwh for p in parts] == pytest.approx([1.0, 1.0, 1.0])
    assert cov.outside(EnergyInterval(12, 28, 1.0, "measured")) == []
