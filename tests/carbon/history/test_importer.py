"""`sentinelle import` end to end into the embedded local store, then the annual report.

A year (2025, French local time) of synthetic 5-minute readings, generated here:
- `pdu-1`: a Wh counter with modulus 1 000 000 Wh that wraps, is reset to zero four times
  and has gaps of 3 hours, 2 days and 2 weeks (it kept counting: the gaps' energy is measured
  but they are not fine-grained data, so completeness shows them);
- `ups-1`: power samples with the same gaps, estimated from neighbours.
True power: P(t) = 800 + 200 sin(2πt/1 day) W. The hand-computed references below follow the
documented rules directly (counter: exact energy; power: trapezoid, gaps at the mean power of
four valid intervals each side).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sentinelle.agent.cli import main
from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.energy import NS
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.meters import meters_from_inventory, sites_from_inventory
from sentinelle.carbon.processor import CarbonProcessor
from sentinelle.carbon.report import LocalStoreSource, build_report, report_period

PARIS = ZoneInfo("Europe/Paris")
STEP_S = 300
START = int(datetime(2025, 1, 1, tzinfo=PARIS).timestamp())
END = int(datetime(2026, 1, 1, tzinfo=PARIS).timestamp())
GAPS = [  # (first missing reading time, seconds without readings)
    (int(datetime(2025, 2, 10, 8, tzinfo=PARIS).timestamp()), 3 * 3600),
    (int(datetime(2025, 5, 3, tzinfo=PARIS).timestamp()), 2 * 86400),
    (int(datetime(2025, 8, 1, tzinfo=PARIS).timestamp()), 14 * 86400),
]
# Unflagged resets, each when the counter is below half its modulus (above it, a drop is
# indistinguishable from a wrap, by design of carbon.energy.counter_delta).
RESETS = [int(datetime(2025, m, d, 12, tzinfo=PARIS).timestamp()) for m, d in ((3, 15), (5, 14), (7, 23), (11, 10))]
MODULUS_WH = 1_000_000
FACTOR_2024 = 0.0519  # embedded table; 2025 is not published: the latest earlier year, flagged

CONFIG = """
agent: {{name: test, data_dir: {data}}}
inventory:
  sites:
    - id: nro-a
      kind: nro
      member: cc-a
      contract: dsp-1
      devices:
        - {{id: pdu-1, kind: pdu, meter: {{role: primary, load: it, kind: counter, unit: Wh, modulus: {mod}}}}}
    - id: nro-b
      kind: nro
      member: cc-b
      devices:
        - {{id: ups-1, kind: ups, meter: {{role: primary, kind: power}}}}
carbon:
  max_gap: 900
  missing_year: latest
"""


def energy_j(t: float) -> float:
    """∫ P dt from START (joules)."""
    x = t - START
    return 800 * x + 200 * 86400 / (2 * math.pi) * (1 - math.cos(2 * math.pi * x / 86400))


def power_w(t: float) -> float:
    return 800 + 200 * math.sin(2 * math.pi * (t - START) / 86400)


def reading_times(start: int = START, end: int = END) -> list[int]:
    out = []
    for t in range(start, end + 1, STEP_S):
        if any(g <= t < g + d for g, d in GAPS):
            continue
        out.append(t)
    return out


def write_counter_csv(path: Path, times: list[int]) -> None:
    """Semicolon, decimal comma, Wh, ISO 8601 with offsets; resets right after a reading."""
    base = 0.0  # joules at the last reset
    with path.open("w", encoding="utf-8") as f:
        f.write("horodate;index_wh\n")
        for t in times:
            wh = (energy_j(t) - base) / 3600
            f.write(f"{datetime.fromtimestamp(t, PARIS).isoformat()};{f'{wh % MODULUS_WH:.6f}'.replace('.', ',')}\n")
            if t in RESETS:
                base = energy_j(t)


def write_power_csv(path: Path, times: list[int]) -> None:
    """Comma, no header, epoch seconds, W."""
    with path.open("w") as f:
        for t in times:
            f.write(f"{t},{power_w(t):.6f}\n")


def hand_power_kwh(times: list[int], max_gap: int = 900, n: int = 4) -> tuple[float, float]:
    """(kWh, seconds covered by fine intervals) by the documented rules, written out plainly."""
    ivs = []
    for a, b in zip(times, times[1:], strict=False):
        if b - a > max_gap:
            ivs.append([a, b, None])
        else:
            ivs.append([a, b, (power_w(a) + power_w(b)) / 2 * (b - a) / 3.6e6])
    total = covered = 0.0
    for i, (a, b, kwh) in enumerate(ivs):
        if kwh is not None:
            total += kwh
            covered += b - a
            continue
        side = [ivs[j] for j in range(i - 1, max(-1, i - 1 - n), -1)] + [ivs[j] for j in range(i + 1, min(len(ivs), i + 1 + n))]
        mean_w = sum(k for _, _, k in side) * 3.6e6 / sum(e - s for s, e, _ in side)
        total += mean_w * (b - a) / 3.6e6
    return total, covered


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path, list[int]]:
    cfg = tmp_path / "sentinelle.yaml"
    cfg.write_text(CONFIG.format(data=tmp_path / "data", mod=MODULUS_WH))
    return cfg, tmp_path / "data" / "local.db", reading_times()


def report(cfg: Path, start: int = START, end: int = END):  # noqa: ANN201
    config = parse_config(cfg.read_text(), str(cfg))
    with LocalStore.open_readonly(config.local_store_path()) as store:
        return build_report(LocalStoreSource(store), start * NS, end * NS, FactorTable.embedded(),
                            sites=sites_from_inventory(config.inventory), meters=meters_from_inventory(config.inventory),
                            missing_year="latest", max_gap_s=900)


def meter(rep, name: str):  # noqa: ANN001, ANN201
    return next(m for m in rep.meters if m.meter == name)


def test_a_year_of_counter_and_power_readings_gives_the_hand_computed_report(setup, tmp_path: Path, capsys):
    cfg, store_path, times = setup
    counter_csv, power_csv = tmp_path / "pdu-1.csv", tmp_path / "ups-1.csv"
    write_counter_csv(counter_csv, times)
    write_power_csv(power_csv, times)
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", str(counter_csv)]) == 0
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "ups-1", str(power_csv)]) == 0
    out = capsys.readouterr().out
    assert "pdu-1.csv (csv, counter): 100477 readings" in out and "ups-1.csv (csv, power)" in out

    rep = report(cfg)
    # counter: exact energy from the first to the last reading, across wraps, resets and gaps
    counter_kwh = (energy_j(times[-1]) - energy_j(times[0])) / 3.6e6
    pdu = meter(rep, "pdu-1")
    assert pdu.kwh_total == pytest.approx(counter_kwh, rel=1e-3)
    assert pdu.kwh["imported"] == pytest.approx(counter_kwh, rel=1e-3)
    gap_s = sum(d + STEP_S for _, d in GAPS)  # the intervals that span each gap
    assert pdu.completeness == pytest.approx(1 - gap_s / (END - START), abs=1e-4)
    power_kwh, covered = hand_power_kwh(times)
    ups = meter(rep, "ups-1")
    assert ups.kwh_total == pytest.approx(power_kwh, rel=1e-3)
    assert ups.kwh["estimated"] > 0 and ups.kwh["imported"] > 0
    assert ups.completeness == pytest.approx(covered / (END - START), abs=1e-4)

    site_a = next(s for s in rep.sites if s.key == "nro-a")
    assert site_a.beges_t == pytest.approx(counter_kwh * FACTOR_2024 / 1000, rel=1e-3)
    assert "factor-year-2024-for-2025" in site_a.flags  # the report says a fallback was used
    assert "fallback-factor" in rep.notes
    total = rep.totals()
    assert total.beges_t == pytest.approx((counter_kwh + power_kwh) * FACTOR_2024 / 1000, rel=1e-3)

    # the same import again changes no figure and no stored point
    with LocalStore.open_readonly(store_path) as store:
        before = store.count()
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", str(counter_csv)]) == 0
    with LocalStore.open_readonly(store_path) as store:
        assert store.count() == before
    again = report(cfg)
    assert again.totals().kwh_total == total.kwh_total
    assert again.totals().beges_t == total.beges_t


def _live_points(times: list[int]) -> list[Point]:
    """The live processor's energy and carbon points for pdu-1 polled at `times`."""
    config_text = CONFIG.format(data="/nonexistent", mod=MODULUS_WH)
    config = parse_config(config_text, "inline")
    proc = CarbonProcessor(meters_from_inventory(config.inventory), Path("/tmp"), FactorTable.embedded(), None)
    proc.state_path = Path("/nonexistent/never-written.json")
    proc._save = lambda: None  # type: ignore[method-assign]  # keep the test's state in memory
    out = []
    for t in times:
        p = Point("pdu", {"device": "pdu-1", "site": "nro-a", "site_kind": "nro", "member": "cc-a", "contract": "dsp-1",
                          "device_kind": "pdu"}, {"energy_kwh_total": energy_j(t) / 3.6e6}, t * NS)
        out.extend(q for q in proc.process([p]) if q.measurement in ("energy", "carbon"))
    return out


def test_an_import_overlapping_live_data_counts_each_kwh_once(setup, tmp_path: Path, capsys):
    cfg, store_path, _ = setup
    jan = [t for t in reading_times(START, START + 31 * 86400)]
    week = [t for t in jan if START + 10 * 86400 <= t <= START + 17 * 86400]
    with LocalStore(store_path) as store:
        store.write_points(_live_points(week))
    f = tmp_path / "jan.csv"
    write_counter_csv(f, jan)  # no reset in January: the same counter as the live one
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", str(f)]) == 0
    assert "168.00 h already covered by live data were left to it" in capsys.readouterr().out
    with LocalStore.open_readonly(store_path) as store:
        energy = list(store.query("energy", tags={"meter": "pdu-1"}))
    spans = sorted((p.time_ns - int(p.fields["duration_s"] * NS), p.time_ns) for p in energy)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # stored intervals never overlap
    assert {p.tags["method"] for p in energy} == {"measured", "imported"}
    rep = report(cfg, START, START + 31 * 86400)
    assert meter(rep, "pdu-1").kwh_total == pytest.approx((energy_j(jan[-1]) - energy_j(jan[0])) / 3.6e6, rel=1e-9)
    assert meter(rep, "pdu-1").kwh["measured"] == pytest.approx((energy_j(week[-1]) - energy_j(week[0])) / 3.6e6)


def test_a_file_with_a_bad_line_is_refused_whole_then_imported_with_skip_bad(setup, tmp_path: Path, capsys):
    cfg, store_path, _ = setup
    f = tmp_path / "bad.csv"
    f.write_text("time;kwh\n2026-01-01T00:00:00+01:00;1000\n2026-01-01T00:05:00+01:00;1010\n"
                 "2026-01-01T00:10:00+01:00;douze\n2026-01-01T00:15:00+01:00;1030\n")
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", "--unit", "kWh", str(f)]) == 1
    err = capsys.readouterr().err
    assert f"{f}:4: value: could not convert string to float: 'douze'" in err
    assert "1 bad line(s), nothing imported" in err
    assert not store_path.exists() or LocalStore.open_readonly(store_path).count() == 0
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", "--unit", "kWh", "--skip-bad", str(f)]) == 0
    captured = capsys.readouterr()
    assert f"skipped {f}:4:" in captured.err and "1 bad lines skipped" in captured.out
    with LocalStore.open_readonly(store_path) as store:
        assert sum(p.fields["kwh"] for p in store.query("energy")) == pytest.approx(30.0)


def test_import_summary_follows_the_language(setup, tmp_path: Path, capsys):
    """Before: the summary was English in a French run. French by default (decimal comma,
    French words), `--lang en` prints today's English; the same file, the same figures."""
    cfg, _, _ = setup
    f = tmp_path / "lang.csv"
    f.write_text("time;kwh\n2026-01-01T00:00:00+01:00;1000\n2026-01-01T00:05:00+01:00;1010.25\n"
                 "2026-01-01T00:10:00+01:00;douze\n2026-01-01T00:15:00+01:00;1030.5\n")
    assert main(["import", "-c", str(cfg), "--meter", "pdu-1", "--unit", "kWh", "--skip-bad", str(f)]) == 0
    fr = capsys.readouterr().out.splitlines()[0]
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", "--unit", "kWh", "--skip-bad", str(f)]) == 0
    en = capsys.readouterr().out.splitlines()[0]
    assert en.startswith(f"{f} (csv, counter): 3 readings, ") and "30.500 kWh" in en and "1 bad lines skipped" in en
    assert fr.startswith(f"{f} (csv, counter) : 3 relevé(s), ") and "30,500 kWh" in fr, fr
    assert "1 ligne(s) en erreur ignorée(s)" in fr and "readings" not in fr and "written" not in fr


@pytest.mark.parametrize(("day", "hours"), [((2025, 3, 30), 23), ((2025, 10, 26), 25)])
def test_dst_days_of_naive_local_readings(setup, tmp_path: Path, day: tuple[int, int, int], hours: int):
    cfg, store_path, _ = setup
    start = int(datetime(*day, tzinfo=PARIS).timestamp())
    end = start + hours * 3600
    times = list(range(start, end + 1, STEP_S))
    f = tmp_path / "dst.csv"
    with f.open("w") as out:  # naive local wall times, in order: the repeated hour appears twice
        for t in times:
            out.write(f"{datetime.fromtimestamp(t, PARIS).strftime('%Y-%m-%d %H:%M:%S')},{energy_j(t) / 3.6e6:.9f}\n")
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", "--unit", "kWh", "--tz", "Europe/Paris", str(f)]) == 0
    with LocalStore.open_readonly(store_path) as store:
        energy = list(store.query("energy"))
    assert len(energy) == hours * 12
    assert sum(p.fields["duration_s"] for p in energy) == hours * 3600
    assert sum(p.fields["kwh"] for p in energy) == pytest.approx((energy_j(end) - energy_j(start)) / 3.6e6, rel=1e-6)


def test_enedis_load_curve_through_the_cli_and_the_report(tmp_path: Path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"agent: {{name: t, data_dir: {tmp_path / 'data'}}}\n"
        "inventory:\n  sites:\n    - id: nro-e\n      devices:\n        - {id: prm-1, kind: linky, meter: facility}\n"
    )
    curve = Path(__file__).resolve().parents[3] / "carbon/history/testdata/enedis_load_curve_2025-10-26_autumn.csv"
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", str(curve)]) == 0  # kind from the file
    out = capsys.readouterr().out
    assert "(enedis, interval): 242 readings" in out and "54.640 kWh" in out
    assert "ignored: 4 rows (grandeur métier PROD)" in out and "steps: 10 min: 144, 30 min: 98" in out
    config = parse_config(cfg.read_text(), str(cfg))
    with LocalStore.open_readonly(config.local_store_path()) as store:
        rep = build_report(LocalStoreSource(store), *report_period(2025)[:2], FactorTable.embedded(), missing_year="latest")
    assert rep.totals().kwh_total == pytest.approx(54.64)
    assert rep.meters[0].kwh["imported"] == pytest.approx(54.64)


def test_usage_and_config_errors(setup, tmp_path: Path, capsys):
    cfg, _, _ = setup
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "nope", str(tmp_path / "x.csv")]) == 2
    assert "no device 'nope' in the inventory" in capsys.readouterr().err
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", "--unit", "W", str(tmp_path / "x.csv")]) == 2
    assert "unit 'W' does not fit a counter meter" in capsys.readouterr().err
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "pdu-1", str(tmp_path / "missing.csv")]) == 1
    assert "missing.csv" in capsys.readouterr().err
