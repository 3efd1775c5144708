"""Enedis Data Connect ("Mes données") JSON and .xlsx exports, end to end into the local store.

The sample files in carbon/history/testdata follow the documented layouts with synthetic
values (see the README there); each expected kWh below is worked out by hand from those values:
a load curve value is a mean power in W over the half-hour ending at its `date`, so it is worth
W x 0.5 h / 1000 kWh; a daily value is the Wh of one French day (23 h on the spring change).
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from sentinelle.agent.cli import main
from sentinelle.agent.core import Point
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.energy import NS
from sentinelle.carbon.history.readers import ImportFormatError, detect_format, enedis_kind, json_step_s
from tests.carbon.history.test_readers import DATA, run, utc_ns

AUTUMN = DATA / "enedis_dataconnect_load_curve_2025-10-26_autumn.json"
SPRING = DATA / "enedis_dataconnect_load_curve_2026-03-29_spring.json"
DAILY = DATA / "enedis_dataconnect_daily_consumption_2026-03-27_spring.json"
BAD = DATA / "enedis_dataconnect_load_curve_bad_entry.json"
XLSX = DATA / "enedis_load_curve_2026-01-15.xlsx"
CSV_AUTUMN = DATA / "enedis_load_curve_2025-10-26_autumn.csv"

CONFIG = """
agent: {{name: t, data_dir: {data}}}
inventory:
  sites:
    - id: nro-e
      devices:
        - {{id: prm-1, kind: linky, meter: facility}}
"""


@pytest.fixture()
def cfg(tmp_path: Path) -> Path:
    """A utility meter whose kind is not configured: the file tells it."""
    path = tmp_path / "sentinelle.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "data"))
    return path


def stored(cfg: Path) -> list[Point]:
    store_path = cfg.parent / "data" / "local.db"
    if not store_path.exists():
        return []
    with LocalStore.open_readonly(store_path) as store:
        return sorted(store.query("energy", tags={"meter": "prm-1"}), key=lambda p: p.time_ns)


def by_time(points: list[Point]) -> dict[int, Point]:
    return {p.time_ns: p for p in points}


def contiguous(points: list[Point]) -> bool:
    return all(b.time_ns - int(b.fields["duration_s"] * NS) == a.time_ns for a, b in zip(points, points[1:], strict=False))


# --- Data Connect load curves ---------------------------------------------------------------


def test_autumn_load_curve_is_50_half_hours_each_ending_at_its_date(cfg: Path, capsys):
    assert detect_format(AUTUMN) == "enedis"
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", str(AUTUMN)]) == 0
    assert "(enedis, interval): 50 readings" in capsys.readouterr().out
    energy = stored(cfg)
    watts = [200 + 20 * i for i in range(50)]  # the file's values, in order
    assert len(energy) == 50
    assert sum(p.fields["kwh"] for p in energy) == pytest.approx(sum(w * 0.5 for w in watts) / 1000)  # 17.25
    assert {p.tags["method"] for p in energy} == {"imported"}
    assert sum(p.fields["duration_s"] for p in energy) == 25 * 3600 and contiguous(energy)
    at = by_time(energy)
    # "2025-10-26 00:30:00" (the first value) covers 00:00-00:30 CEST, i.e. ends at 22:30 UTC the day before
    assert at[utc_ns(2025, 10, 25, 22, 30)].fields["kwh"] == pytest.approx(watts[0] * 0.5 / 1000)
    # the repeated wall times 02:00 and 02:30 by order: summer time first, then winter time
    assert at[utc_ns(2025, 10, 26, 0, 0)].fields["kwh"] == pytest.approx(watts[3] * 0.5 / 1000)  # 02:00 CEST
    assert at[utc_ns(2025, 10, 26, 0, 30)].fields["kwh"] == pytest.approx(watts[4] * 0.5 / 1000)  # 02:30 CEST
    assert at[utc_ns(2025, 10, 26, 1, 0)].fields["kwh"] == pytest.approx(watts[5] * 0.5 / 1000)  # 02:00 CET
    assert at[utc_ns(2025, 10, 26, 1, 30)].fields["kwh"] == pytest.approx(watts[6] * 0.5 / 1000)  # 02:30 CET
    assert energy[-1].time_ns == utc_ns(2025, 10, 26, 23, 0)  # "2025-10-27 00:00:00", midnight CET


def test_spring_load_curve_on_one_line_is_46_half_hours(cfg: Path):
    assert SPRING.read_text().count("\n") == 0  # minified, as the API answers
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", "--format", "enedis", str(SPRING)]) == 0
    energy = stored(cfg)
    assert len(energy) == 46
    assert sum(p.fields["kwh"] for p in energy) == pytest.approx((23 * 600 + 23 * 1000) * 0.5 / 1000)  # 18.4
    assert sum(p.fields["duration_s"] for p in energy) == 23 * 3600 and contiguous(energy)
    # after "01:30:00" comes "03:00:00": the half-hour 01:30-02:00 CET ends at 03:00 CEST = 01:00 UTC
    assert by_time(energy)[utc_ns(2026, 3, 29, 1, 0)].fields["duration_s"] == 1800
    assert energy[0].time_ns == utc_ns(2026, 3, 28, 23, 30) and energy[-1].time_ns == utc_ns(2026, 3, 29, 22, 0)


def test_daily_consumption_days_are_french_days_of_23_24_or_25_hours(cfg: Path, capsys):
    assert enedis_kind(DAILY) == "interval"
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", str(DAILY)]) == 0
    assert "(enedis, interval): 5 readings" in capsys.readouterr().out
    energy = stored(cfg)
    assert [p.fields["kwh"] for p in energy] == pytest.approx([10.0, 11.0, 12.0, 13.0, 14.0])  # Wh / 1000
    assert [p.fields["duration_s"] for p in energy] == [86400, 86400, 23 * 3600, 86400, 86400]
    sunday = energy[2]  # "2026-03-29": from midnight CET to midnight CEST
    assert sunday.time_ns == utc_ns(2026, 3, 29, 22) and sunday.time_ns - 23 * 3600 * NS == utc_ns(2026, 3, 28, 23)
    assert energy[0].time_ns - 86400 * NS == utc_ns(2026, 3, 26, 23)  # the 27th starts at midnight CET
    assert contiguous(energy)


def test_a_response_without_the_meter_reading_wrapper_reads_the_same(tmp_path: Path):
    bare = tmp_path / "daily.json"  # conso.boris.sh answers with meter_reading's content itself
    bare.write_text(json.dumps(json.loads(DAILY.read_text())["meter_reading"]))
    assert detect_format(bare) == "enedis"
    wrapped, _ = run(DAILY, "interval")
    unwrapped, _ = run(bare, "interval")
    assert [(p.time_ns, p.fields) for p in unwrapped.energy()] == [(p.time_ns, p.fields) for p in wrapped.energy()]


def test_interval_length_forms(tmp_path: Path):
    assert [json_step_s(s) for s in ("PT30M", "PT10M", "PT60M", "PT1H", "30", 30, "1800", "P30M")] == [
        1800, 600, 3600, 3600, 1800, 1800, 1800, 1800]
    for bad in ("abc", "0", "P1D", True, None, 1.5):
        with pytest.raises(ValueError):
            json_step_s(bad)
    # a MyElectricalData cache writes "30" (minutes): same intervals as the API's "PT30M"
    doc = json.loads(AUTUMN.read_text())
    for e in doc["meter_reading"]["interval_reading"]:
        e["interval_length"] = "30"
    f = tmp_path / "med.json"
    f.write_text(json.dumps(doc))
    ref, _ = run(AUTUMN, "interval")
    med, result = run(f, "interval")
    assert [(p.time_ns, p.fields) for p in med.energy()] == [(p.time_ns, p.fields) for p in ref.energy()]
    assert result.stats.steps == {1800: 50}


# --- bad entries and bad files --------------------------------------------------------------


def test_a_bad_entry_refuses_the_file_then_skip_bad_imports_the_rest(cfg: Path, capsys):
    text = BAD.read_text().splitlines()
    line = next(n for n, ln in enumerate(text, start=1) if '"1O00"' in ln) - 1  # the entry's "{"
    assert text[line - 1].strip() == "{"
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", str(BAD)]) == 1
    err = capsys.readouterr().err
    assert f"{BAD}:{line}: interval_reading[3]: value: could not convert string to float: '1O00'" in err
    assert "1 bad line(s), nothing imported" in err
    assert stored(cfg) == []
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", "--skip-bad", str(BAD)]) == 0
    out = capsys.readouterr().out
    assert "1 bad lines skipped" in out
    energy = stored(cfg)
    imported = [p for p in energy if p.tags["method"] == "imported"]
    assert len(imported) == 7 and sum(p.fields["kwh"] for p in imported) == pytest.approx(7 * 1000 * 0.5 / 1000)
    # the hole 01:30-02:00 is estimated from its neighbours (all 1000 W), as for live data
    hole = by_time(energy)[utc_ns(2026, 1, 15, 1, 0)]
    assert hole.tags["method"] == "estimated" and hole.fields["kwh"] == pytest.approx(0.5)


def test_an_unparseable_json_file_is_a_clear_error_naming_the_file(cfg: Path, tmp_path: Path, capsys):
    broken = tmp_path / "truncated.json"
    broken.write_text(AUTUMN.read_text()[:700])  # cut in the middle of an entry
    assert detect_format(broken) == "enedis"
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", str(broken)]) == 1
    err = capsys.readouterr().err
    assert f"sentinelle import: {broken}: not valid JSON:" in err and "(truncated.json, line " in err
    assert stored(cfg) == []


@pytest.mark.parametrize(("doc", "message"), [
    ({"foo": 1}, 'has no "meter_reading" object'),
    ({"error": "no_data_found", "error_description": "no measure found for this usage point"},
     "error response, not metering data: no_data_found: no measure found for this usage point"),
    ({"usage_point": [{"meter_reading": {"interval_reading": [{"rank": "1", "value": "200"}]}}]}, "v3 response"),
    ({"meter_reading": {"reading_type": {"unit": "VA", "aggregate": "maximum", "measuring_period": "P1D"},
                        "interval_reading": [{"value": "4638", "date": "2023-04-01 12:06:20"}]}},
     "maximum powers (consumption_max_power), not energy"),
    ({"meter_reading": {"reading_type": {"unit": "V"}, "interval_reading": []}}, "unit 'V' is not the W"),
])
def test_json_that_is_not_metering_data_is_refused_with_the_reason(tmp_path: Path, doc: object, message: str):
    f = tmp_path / "other.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(ImportFormatError, match="other.json") as err:
        run(f, "interval")
    assert message in str(err.value)


def test_a_data_connect_file_imported_as_a_counter_is_refused(tmp_path: Path):
    with pytest.raises(ImportFormatError, match="import it with --kind interval"):
        run(DAILY, "counter")


# --- .xlsx ------------------------------------------------------------------------------------


def test_xlsx_load_curve_with_corrected_value_injection_and_reactive_rows(cfg: Path, capsys):
    assert detect_format(XLSX) == "enedis" and enedis_kind(XLSX) == "interval"
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", str(XLSX)]) == 0
    out = capsys.readouterr().out
    assert "(enedis, interval): 48 readings" in out
    assert "ignored: 2 rows (grandeur métier PROD)" in out and "ignored: 2 rows (grandeur physique PRI)" in out
    energy = stored(cfg)
    watts = [300 + 20 * i for i in range(48)]  # the CORRIGE 760 W replaces the BRUT 9999 W at 12:00
    assert len(energy) == 48 and contiguous(energy)
    assert sum(p.fields["kwh"] for p in energy) == pytest.approx(sum(w * 0.5 for w in watts) / 1000)  # 18.48
    assert by_time(energy)[utc_ns(2026, 1, 15, 11, 0)].fields["kwh"] == pytest.approx(760 * 0.5 / 1000)
    assert energy[0].time_ns == utc_ns(2026, 1, 14, 23, 30)  # Horodate 00:30 local = end of the first step


def _csv_as_xlsx(src: Path, dest: Path, *, bad_row: int | None = None) -> None:
    """The CSV's rows as text cells of a worksheet (row n of the sheet = line n of the CSV)."""
    wb = Workbook()
    ws = wb.active
    with src.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter=";"), start=1):
            if n == bad_row:
                row[8] = "n/a"
            ws.append(row)
    wb.save(dest)


def test_xlsx_and_csv_exports_go_through_the_same_reader(tmp_path: Path):
    book = tmp_path / "autumn.xlsx"
    _csv_as_xlsx(CSV_AUTUMN, book)
    from_csv, csv_result = run(CSV_AUTUMN, "interval")
    from_xlsx, xlsx_result = run(book, "interval", format="enedis")
    assert [(p.time_ns, p.fields) for p in from_xlsx.energy()] == [(p.time_ns, p.fields) for p in from_csv.energy()]
    assert sum(p.fields["kwh"] for p in from_xlsx.energy()) == pytest.approx(15.24 + 25.0 + 14.4)
    assert xlsx_result.stats == csv_result.stats
    broken = tmp_path / "broken.xlsx"
    _csv_as_xlsx(CSV_AUTUMN, broken, bad_row=5)
    writer, result = run(broken, "interval", skip_bad=True)
    assert result.problem_lines() == [f"{broken}:5: Valeur: could not convert string to float: 'n/a'"]


def test_a_workbook_whose_recorded_dimension_is_wrong_is_read_whole(tmp_path: Path):
    book = tmp_path / "dimension.xlsx"  # some writers record <dimension ref="A1:A1"> whatever the sheet holds
    with zipfile.ZipFile(XLSX) as zin, zipfile.ZipFile(book, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data, n = re.subn(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:A1"/>', data)
                assert n == 1
            zout.writestr(item, data)
    writer, _ = run(book, "interval")
    assert len(writer.energy()) == 48
    assert sum(p.fields["kwh"] for p in writer.energy()) == pytest.approx(sum(300 + 20 * i for i in range(48)) * 0.5 / 1000)


def test_a_damaged_workbook_is_a_clear_error(tmp_path: Path):
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes(XLSX.read_bytes()[:2000])
    assert detect_format(damaged) == "enedis"
    with pytest.raises(ImportFormatError, match="damaged.xlsx is not a readable .xlsx workbook"):
        run(damaged, "interval")


def test_format_enedis_and_auto_read_json_and_xlsx_alike():
    for path, kwh in ((AUTUMN, 17.25), (DAILY, 60.0), (XLSX, 18.48)):
        for fmt in ("auto", "enedis"):
            writer, result = run(path, "interval", format=fmt)
            assert result.format == "enedis"
            assert sum(p.fields["kwh"] for p in writer.energy()) == pytest.approx(kwh)
