"""`sentinelle import --manifest METERS.csv [--jobs N]`: many meters in one run, end to end into
the local store (worker processes sharing it), checked before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.agent.cli import main
from sentinelle.agent.config import parse_config
from sentinelle.agent.sinks.local import LocalStore

T0 = 1_748_728_800  # 2025-06-01 00:00 Europe/Paris
CONFIG = """agent: {{name: t, data_dir: {data}}}
inventory:
  sites:
    - id: nro-m
      kind: nro
      devices:
        - {{id: pdu-1, kind: pdu, meter: {{role: primary, kind: counter}}}}
        - {{id: pdu-2, kind: pdu, meter: {{role: primary, kind: counter}}}}
        - {{id: ups-1, kind: ups, meter: {{role: primary, kind: power}}}}
        - {{id: sw-1, kind: switch}}
"""


def counter_csv(path: Path, start_s: int, n: int, first_kwh: float, step_kwh: float, sep: str = ",") -> Path:
    rows = [f"time{sep}kwh"] + [f"{start_s + i * 300}{sep}{first_kwh + i * step_kwh:.4f}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(data=tmp_path / "data"))
    exports = tmp_path / "exports"
    exports.mkdir()
    counter_csv(exports / "pdu-1-a.csv", T0, 289, 100.0, 0.5)  # a day: 144 kWh
    counter_csv(exports / "pdu-1-b.csv", T0 + 86400, 289, 244.0, 0.25)  # the next day: 72 kWh
    counter_csv(exports / "pdu-2.csv", T0, 145, 10.0, 0.1, sep=";")  # half a day: 14.4 kWh
    (exports / "ups-1.csv").write_text("time;w\n" + "".join(f"{T0 + i * 300};{1200 + (i % 2) * 600}\n" for i in range(13)))
    return cfg, exports


def energy(cfg: Path) -> dict[str, tuple[int, float]]:
    config = parse_config(cfg.read_text(), str(cfg))
    out: dict[str, tuple[int, float]] = {}
    with LocalStore.open_readonly(config.local_store_path()) as store:
        for p in store.query("energy"):
            n, kwh = out.get(p.tags["meter"], (0, 0.0))
            out[p.tags["meter"]] = (n + 1, kwh + p.fields["kwh"])
    return out


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_manifest_imports_every_meter_once_whatever_the_jobs(site, jobs: int, capsys) -> None:
    cfg, exports = site
    manifest = exports / "meters.csv"
    # relative paths, a comment, an empty line, a per-row override of the kind
    manifest.write_text("meter,file,kind\n# the PDU of the shelter, two exports\npdu-1,pdu-1-a.csv,\n"
                        "pdu-2,pdu-2.csv,\n\nups-1,ups-1.csv,power\npdu-1,pdu-1-b.csv,counter\n")
    for _ in range(2):  # the second run changes nothing
        assert main(["import", "--lang", "en", "-c", str(cfg), "--manifest", str(manifest), "--jobs", str(jobs)]) == 0
        got = energy(cfg)
        # two days of 5-minute intervals (each file is imported alone: the second one starts
        # where the first ends, nothing is invented between them)
        assert got["pdu-1"] == (288 + 288, pytest.approx(144.0 + 72.0))
        assert got["pdu-2"] == (144, pytest.approx(14.4))
        # power samples alternating 1200/1800 W: trapezoids of 1500 W over an hour
        assert got["ups-1"] == (12, pytest.approx(1.5))
    out = capsys.readouterr().out
    assert out.count("pdu-1-a.csv (csv, counter): 289 readings") == 2
    assert f"4 of 4 files imported (3 meters, {min(jobs, 3)} jobs)" in out
    # a meter's files one after the other, meters in the order of their first row
    assert out.index("pdu-1-a.csv") < out.index("pdu-1-b.csv") < out.index("pdu-2.csv") < out.index("ups-1.csv")


def test_a_bad_manifest_names_every_problem_and_writes_nothing(site, capsys) -> None:
    cfg, exports = site
    manifest = exports / "meters.csv"
    manifest.write_text("meter;file;kind;modulus\npdu-1;pdu-1-a.csv;;\npdu-9;pdu-2.csv;;\nsw-1;ups-1.csv;;\n"
                        "pdu-2;missing.csv;;\nups-1;ups-1.csv;watts;-3\npdu-2;pdu-2.csv\n")
    assert main(["import", "--lang", "en", "-c", str(cfg), "--manifest", str(manifest), "--jobs", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{manifest}: 6 problem(s), nothing imported" in err
    assert f"{manifest}:3: meter: no device 'pdu-9' in the inventory" in err
    assert f"{manifest}:4: meter: device 'sw-1' has no 'meter:' entry" in err
    assert f"{manifest}:5: file: {exports / 'missing.csv'} does not exist" in err
    assert f"{manifest}:6: kind: 'watts' is not one of counter, power, interval" in err
    assert f"{manifest}:6: modulus: '-3' is not a positive number" in err
    assert f"{manifest}:7: 2 cells, the header has 4" in err
    config = parse_config(cfg.read_text(), str(cfg))
    assert not Path(config.local_store_path()).exists()

    manifest.write_text("meter,path\npdu-1,pdu-1-a.csv\n")
    assert main(["import", "--lang", "en", "-c", str(cfg), "--manifest", str(manifest)]) == 2
    assert f"{manifest}:1: unknown column(s) 'path'; missing column(s) file" in capsys.readouterr().err


def test_a_refused_file_fails_the_run_but_not_the_other_meters(site, capsys) -> None:
    cfg, exports = site
    (exports / "pdu-2.csv").write_text((exports / "pdu-2.csv").read_text().replace(f"{T0 + 600};", f"{T0 + 600};abc"))
    manifest = exports / "meters.csv"
    manifest.write_text("meter,file\npdu-1,pdu-1-a.csv\npdu-2,pdu-2.csv\n")
    assert main(["import", "--lang", "en", "-c", str(cfg), "--manifest", str(manifest), "--jobs", "2"]) == 1
    captured = capsys.readouterr()
    assert f"{exports / 'pdu-2.csv'}:4:" in captured.err and "nothing imported" in captured.err
    assert "1 of 2 files imported" in captured.out and "1 failed" in captured.out
    assert set(energy(cfg)) == {"pdu-1"}
