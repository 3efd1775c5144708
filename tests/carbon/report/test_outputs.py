"""Report outputs and the `sentinelle report` command, on a small site written to the local store:
a facility meter, an IT meter as its sub-meter (PUE, no double count), both tracks."""

from __future__ import annotations

import argparse
import csv
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.pipeline import InventoryTags
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.commands import report as cli
from sentinelle.carbon.energy import NS
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.meters import meters_from_inventory, sites_from_inventory
from sentinelle.carbon.processor import build_processors
from sentinelle.carbon.report import LocalStoreSource, build_report

PARIS = ZoneInfo("Europe/Paris")
DAY = int(datetime(2024, 6, 1, tzinfo=PARIS).timestamp()) * NS


def config_text(store: Path) -> str:
    return f"""
agent: {{name: test}}
inventory:
  sites:
    - id: nro-lannion
      member: lannion-tregor
      contract: dsp-22
      operator: op-x
      devices:
        - {{id: meter-site, kind: meter, meter: {{role: primary, load: facility}}}}
        - {{id: pdu-it, kind: pdu, meter: {{role: sub, load: it, parent: meter-site}}}}
carbon:
  grid_intensity: {{provider: static, value_gco2e_per_kwh: 40}}
sinks:
  - {{type: local, path: {store}}}
"""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """24 h: the site meter counts 3 kW, the IT PDU 2 kW (PUE 1.5), every 15 minutes."""
    path = tmp_path / "local.db"
    config = parse_config(config_text(path))
    tag = InventoryTags(config.inventory)
    (proc,) = build_processors(config, tmp_path / "state")
    points: list[Point] = []
    for i in range(97):
        t = DAY + i * 900 * NS
        batch = [
            Point("meter", {"device": "meter-site"}, {"energy_kwh_total": 1000 + 0.75 * i}, t),
            Point("pdu", {"device": "pdu-it"}, {"power_w": 2000.0}, t),
        ]
        points += proc.process(tag.process(batch))
    s = LocalStore(path)
    s.write_points(points)
    s.close()
    (tmp_path / "config.yaml").write_text(config_text(path))
    return tmp_path


def run(store: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.add_parser(sub)
    args = parser.parse_args(["report", "-c", str(store / "config.yaml"), "--out", str(store / "out"), *extra])
    return args.func(args)


def test_all_outputs_with_figures_and_provenance(store: Path, capsys):
    assert run(store, "--from", "2024-06-01", "--to", "2024-06-02") == 0
    out = store / "out"
    # XLSX: one sheet per grouping plus compteurs, mensuel, résilience, méthode
    wb = openpyxl.load_workbook(next(out.glob("*.xlsx")))
    assert wb.sheetnames == ["site", "member", "contract", "operator", "compteurs", "mensuel", "résilience", "méthode", "postes BEGES"]
    ws = wb["site"]
    header = [c.value for c in ws[1]]
    row = dict(zip(header, [c.value for c in ws[2]], strict=True))
    assert row["Site"] == "nro-lannion"
    assert row["Énergie totale (kWh)"] == pytest.approx(72.0)  # the primary meter only, 3 kW x 24 h
    assert row["PUE"] == pytest.approx(1.5)
    assert row["Complétude des données (%)"] == pytest.approx(100.0)
    assert row["Émissions BEGES (tCO2e)"] == pytest.approx(72 * 0.0519 / 1000)
    assert row["Émissions réseau temps réel (tCO2e, comparaison)"] == pytest.approx(72 * 40e-6)
    assert row["Version du facteur"] == "V23.6"  # the embedded table: ADEME Base Carbone V23.6
    assert row["Source du facteur"] and row["Année du facteur"] == "2024"
    method = "\n".join(str(c.value) for r in wb["méthode"].iter_rows() for c in r)
    assert "poste 2.1" in method and "fabrication" in method
    meters = {r[0].value: r for r in wb["compteurs"].iter_rows(min_row=2)}
    assert meters["pdu-it"][3].value == "sous-compteur" and meters["pdu-it"][6].value == pytest.approx(48.0)
    # French Excel CSV
    assert run(store, "--from", "2024-06-01", "--to", "2024-06-02", "--format", "csv", "--excel-fr") == 0
    raw = next(out.glob("*-site.csv")).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[1][2] == "72,0"
    # JSON
    doc = json.loads(next(out.glob("*.json")).read_text(encoding="utf-8"))
    site = doc["tables"]["site"]["rows"][0]
    assert site["kwh_total"] == pytest.approx(72.0) and site["completeness_pct"] == 100.0
    used = doc["factors_used"][0]
    assert used["verified"] is True and used["source_id"] == "43642" and used["version"] == "V23.6"
    assert sum(used["post_shares"].values()) == pytest.approx(1.0)
    posts = {r["post"]: r for r in doc["tables"]["postes BEGES"]["rows"] if r["key"] == "nro-lannion"}
    assert posts["2.1"]["beges_post_t"] + posts["4.1"]["beges_post_t"] == pytest.approx(72 * 0.0519 / 1000)
    # HTML: self-contained, figures and statements present
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert "<svg" in html and "<script" not in html and "src=" not in html
    assert "data-figure='kwh_total'>72" in html
    assert "poste 2.1" in html and "data-section='beges-posts'" in html
    assert "ATTENTION" not in html  # every factor used is verified against the export
    assert "72,0\u00a0kWh" in capsys.readouterr().out  # French number format by default


def test_english_labels(store: Path):
    assert run(store, "--from", "2024-06-01", "--to", "2024-06-02", "--format", "xlsx", "--lang", "en") == 0
    wb = openpyxl.load_workbook(next((store / "out").glob("*.xlsx")))
    assert "method" in wb.sheetnames
    assert wb["site"]["C1"].value == "Total energy (kWh)"


def test_bad_arguments_are_clear_errors(store: Path, capsys):
    assert run(store, "--year", "2024", "--group-by", "planet") == 1
    assert "unknown planet" in capsys.readouterr().err
    only_2023 = store / "f2023.yaml"
    only_2023.write_text(
        "table: t\nversion: '1'\nunit: kgCO2e/kWh\nzones:\n  fr-continental:\n    label: x\n"
        "    factors: [{year: 2023, value: 0.05, source: s}]\n"
    )
    assert run(store, "--year", "2024", "--factors", str(only_2023), "--missing-year", "error") == 1
    assert "no fr-continental factor for 2024" in capsys.readouterr().err
    assert run(store, "--year", "2024", "--factors", str(only_2023), "--missing-year", "latest", "--format", "json") == 0
    doc = json.loads(next((store / "out").glob("*.json")).read_text(encoding="utf-8"))
    assert doc["factors_used"][0]["year"] == 2023 and doc["factors_used"][0]["requested_year"] == 2024
    assert "factor-year-2023-for-2024" in doc["tables"]["site"]["rows"][0]["flags"]
    bad = store / "bad.yaml"
    bad.write_text("table: x\n")
    assert run(store, "--year", "2024", "--factors", str(bad)) == 1
    assert "invalid factor table" in capsys.readouterr().err


def test_a_period_without_data_warns_writes_nothing_and_exits_1(store: Path, capsys):
    """Before: exit 0 with "0.0 kWh" tables that look fine."""
    assert run(store, "--year", "2019") == 1
    err = capsys.readouterr().err
    assert "aucune donnée d'énergie sur la période 2019" in err and "--allow-empty" in err
    assert not (store / "out").exists() or not any((store / "out").iterdir())
    assert run(store, "--year", "2019", "--allow-empty", "--format", "json", "--lang", "en") == 0
    doc = json.loads(next((store / "out").glob("*.json")).read_text(encoding="utf-8"))
    assert doc["tables"]["site"]["rows"][0]["flags"] == "no-data"


DC_CONFIG = """
agent: {{name: test}}
inventory:
  sites:
    - id: dc-brieuc
      kind: datacentre
      member: saint-brieuc-agglo
      devices:
        - {{id: ups-dc, kind: ups, meter: {{role: primary, load: facility}}}}
        - {{id: pdu-dc, kind: pdu, meter: {{role: sub, load: it, parent: ups-dc}}}}
    - id: nro-silent
      kind: nro
      member: guingamp-paimpol
      devices:
        - {{id: pdu-silent, kind: pdu, meter: primary}}
carbon:
  grid_intensity: {{provider: static, value_gco2e_per_kwh: 40}}
sinks:
  - {{type: local, path: {store}}}
"""


@pytest.fixture
def dc_store(tmp_path: Path) -> Path:
    """A data centre whose IT PDU reads 2 kW behind a UPS reading 120 W (a mis-scaled meter,
    as in the demo: PUE 0.06), and a site of the inventory whose meter never answered."""
    path = tmp_path / "local.db"
    text = DC_CONFIG.format(store=path)
    config = parse_config(text)
    tag = InventoryTags(config.inventory)
    (proc,) = build_processors(config, tmp_path / "state")
    points: list[Point] = []
    for i in range(97):
        t = DAY + i * 900 * NS
        points += proc.process(tag.process([
            Point("ups", {"device": "ups-dc"}, {"output_power_w": 120.0}, t),
            Point("pdu", {"device": "pdu-dc"}, {"power_w": 2000.0}, t),
        ]))  # fmt: skip
    s = LocalStore(path)
    s.write_points(points)
    s.close()
    (tmp_path / "config.yaml").write_text(text)
    return tmp_path


def test_silent_sites_stay_in_the_tables_and_impossible_pue_is_flagged(dc_store: Path, capsys):
    assert run(dc_store, "--from", "2024-06-01", "--to", "2024-06-02") == 0
    err = capsys.readouterr().err
    assert "PUE 0,06 < 1" in err and "nro-silent" in err
    out = dc_store / "out"
    doc = json.loads(next(out.glob("*.json")).read_text(encoding="utf-8"))
    sites = {r["key"]: r for r in doc["tables"]["site"]["rows"]}
    assert sites["nro-silent"]["completeness_pct"] == 0.0 and sites["nro-silent"]["kwh_total"] == 0.0
    assert "no-data" in sites["nro-silent"]["flags"]
    assert "meter-hierarchy-inconsistent" in sites["dc-brieuc"]["flags"]
    assert sites["dc-brieuc"]["pue"] == pytest.approx(0.06)
    members = {r["key"] for r in doc["tables"]["member"]["rows"]}
    assert {"guingamp-paimpol", "saint-brieuc-agglo"} <= members
    (inc,) = doc["meter_hierarchy"]
    assert inc["kind"] == "it-above-facility" and inc["lower_meters"] == ["pdu-dc"]
    # People's outputs word the flags in the report's language (JSON keeps the codes).
    rows = list(csv.reader(next(out.glob("*-site.csv")).read_text(encoding="utf-8").splitlines()))
    flags = {r[0]: r[-1] for r in rows[1:]}
    assert "hiérarchie de compteurs incohérente" in flags["dc-brieuc"] and "aucune donnée" in flags["nro-silent"]
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert "hiérarchie de compteurs incohérente" in html and "nro-silent" in html


def test_one_language_per_output_and_ascii_file_names(store: Path):
    assert run(store, "--from", "2024-06-01", "--to", "2024-06-02") == 0
    out = store / "out"
    names = [p.name for p in out.iterdir()]
    assert names and all(n.isascii() and " " not in n for n in names), names
    assert "sentinelle-2024-06-01-2024-06-02-methode.csv" in names
    for p in out.glob("*.csv"):
        text = p.read_text(encoding="utf-8")
        # the embedded table's English notes and codes stay out of a French report
        for english in ("Second-hand", "verified=", "n/a", "factor-unverified", "primary", "warning"):
            assert english not in text, (p.name, english)
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert "Second-hand" not in html and "factor-unverified" not in html
    assert run(store, "--from", "2024-06-01", "--to", "2024-06-02", "--lang", "en") == 0
    method = next(out.glob("*-method.csv")).read_text(encoding="utf-8")
    assert "V23.6" in method and "Second-hand" not in method and "Périmètre" not in method


def test_a_silent_primary_meter_counts_as_0_percent_of_its_site(store: Path):
    """A second primary meter declared but never heard from: the site is half covered, and the
    meter is listed (before: 100 %, and the meter vanished from the tables)."""
    text = (store / "config.yaml").read_text().replace(
        "        - {id: pdu-it,", "        - {id: meter-backup, kind: meter, meter: primary}\n        - {id: pdu-it,"
    )
    (store / "config.yaml").write_text(text)
    assert run(store, "--from", "2024-06-01", "--to", "2024-06-02", "--format", "json") == 0
    doc = json.loads(next((store / "out").glob("*.json")).read_text(encoding="utf-8"))
    site = doc["tables"]["site"]["rows"][0]  # then the total row
    assert site["completeness_pct"] == pytest.approx(50.0) and site["kwh_total"] == pytest.approx(72.0)
    meters = {r["meter"]: r for r in doc["tables"]["compteurs"]["rows"]}
    assert meters["meter-backup"]["completeness_pct"] == 0.0 and meters["meter-backup"]["kwh_total"] == 0.0
    (month,) = doc["tables"]["mensuel"]["rows"]
    assert month["completeness_pct"] == pytest.approx(50.0)


def test_a_parent_meter_with_a_gap_is_not_flagged_below_its_sub_meter(tmp_path: Path):
    """The facility meter (3 kW) was silent half the day, the IT PDU (2 kW) never: the IT kWh
    exceed the facility kWh, but the hierarchy is fine; mean powers over each meter's covered
    time are compared. A real excess (IT 4 kW) is still flagged, in kW."""
    path = tmp_path / "local.db"
    config = parse_config(config_text(path))
    tag = InventoryTags(config.inventory)

    def stored(it_w: float) -> list[str]:
        (proc,) = build_processors(config, tmp_path / f"state-{it_w}")
        points: list[Point] = []
        for i in range(97):
            t = DAY + i * 900 * NS
            batch = [Point("pdu", {"device": "pdu-it"}, {"power_w": it_w}, t)]
            if i <= 48:  # the site meter stops answering at noon
                batch.append(Point("meter", {"device": "meter-site"}, {"power_w": 3000.0}, t))
            points += proc.process(tag.process(batch))
        s = LocalStore(path)
        s.write_points(points)
        s.close()
        store = LocalStore.open_readonly(path)
        try:
            report = build_report(
                LocalStoreSource(store), DAY, DAY + 86400 * NS, FactorTable.embedded(),
                sites=sites_from_inventory(config.inventory), meters=meters_from_inventory(config.inventory),
            )  # fmt: skip
        finally:
            store.close()
        path.unlink()
        return [i.message("fr") for i in report.inconsistencies]

    assert stored(2000.0) == []
    (msg,) = stored(4000.0)
    assert "4,00 kW" in msg and "3,00 kW" in msg
