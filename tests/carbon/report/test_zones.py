"""A continental site and a site in Guyane: each gets its zone's ADEME element, the split by post,
and totals equal to kWh x factor; the grid track of Guyane (no time-varying source) falls back
to the zone's annual factor, flagged; an unknown zone is refused with its line."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sentinelle.agent.config import ConfigError, parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.pipeline import InventoryTags
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.commands import report as cli
from sentinelle.carbon.energy import NS
from sentinelle.carbon.processor import build_processors

PARIS = ZoneInfo("Europe/Paris")
DAY = int(datetime(2024, 6, 1, tzinfo=PARIS).timestamp()) * NS
KWH = 72.0  # 3 kW for 24 h on each site
CONTINENTAL = (0.0519, "43642", (0.035, 0.0131, 0.0038))  # Base Carbone V23.6, 2024, France continentale
GUYANE = (0.957, "24307", (0.314, 0.00365 + 0.6 + 0.039))  # Base Carbone V23.6, Guyane (undated element)


def config_text(store: Path) -> str:
    return f"""
agent: {{name: test}}
inventory:
  sites:
    - id: nro-lannion
      devices:
        - {{id: meter-lannion, kind: meter, meter: primary}}
    - id: pop-kourou
      zone: guyane
      devices:
        - {{id: meter-kourou, kind: meter, meter: primary}}
carbon:
  grid_intensity: {{provider: static, value_gco2e_per_kwh: 40}}
sinks:
  - {{type: local, path: {store}}}
"""


@pytest.fixture
def report_json(tmp_path: Path) -> dict:
    path = tmp_path / "local.db"
    config = parse_config(config_text(path))
    tag = InventoryTags(config.inventory)
    (proc,) = build_processors(config, tmp_path / "state")
    points: list[Point] = []
    for i in range(97):
        t = DAY + i * 900 * NS
        batch = [Point("meter", {"device": d}, {"energy_kwh_total": 500 + 0.75 * i}, t) for d in ("meter-lannion", "meter-kourou")]
        points += proc.process(tag.process(batch))
    store = LocalStore(path)
    store.write_points(points)
    store.close()
    (tmp_path / "config.yaml").write_text(config_text(path))
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", "-c", str(tmp_path / "config.yaml"), "--out", str(tmp_path / "out"),
                              "--from", "2024-06-01", "--to", "2024-06-02", "--format", "json,html"])  # fmt: skip
    assert args.func(args) == 0
    doc = json.loads(next((tmp_path / "out").glob("*.json")).read_text(encoding="utf-8"))
    doc["_html"] = next((tmp_path / "out").glob("*.html")).read_text(encoding="utf-8")
    return doc


def test_each_site_gets_its_zone_factor_element_and_version(report_json: dict):
    sites = {r["key"]: r for r in report_json["tables"]["site"]["rows"]}
    for site, (factor, element, _) in (("nro-lannion", CONTINENTAL), ("pop-kourou", GUYANE)):
        row = sites[site]
        assert row["kwh_total"] == pytest.approx(KWH)
        assert row["factor_kg"] == pytest.approx(factor)
        assert f"({element})" in row["factor_source"] and row["factor_version"] == "V23.6"
        assert row["beges_t"] == pytest.approx(KWH * factor / 1000, rel=1e-9)
    assert "factor-undated" in sites["pop-kourou"]["flags"] and "factor-undated" not in sites["nro-lannion"]["flags"]
    used = {f["zone"]: f for f in report_json["factors_used"]}
    assert used["guyane"]["source_id"] == "24307" and used["guyane"]["verified"] is True
    assert used["fr-continental"]["source_id"] == "43642" and used["fr-continental"]["year"] == 2024


def test_split_by_post_adds_up_to_kwh_times_factor(report_json: dict):
    rows = report_json["tables"]["postes BEGES"]["rows"]
    by = {(r["key"], r["post"]): r for r in rows}
    for site, (factor, _, parts) in (("nro-lannion", CONTINENTAL), ("pop-kourou", GUYANE)):
        total = KWH * factor / 1000
        combustion = parts[0] / sum(parts)
        assert by[(site, "2.1")]["beges_post_t"] == pytest.approx(total * combustion, rel=1e-6)
        assert by[(site, "4.1")]["beges_post_t"] == pytest.approx(total * (1 - combustion), rel=1e-6)
        assert by[(site, "2.1")]["beges_post_t"] + by[(site, "4.1")]["beges_post_t"] == pytest.approx(total, rel=1e-9)
    assert "Petit Saut" in by[("pop-kourou", "4.1")]["parts"]
    grand = KWH * (CONTINENTAL[0] + GUYANE[0]) / 1000
    assert by[("Total", "2.1")]["beges_post_t"] + by[("Total", "4.1")]["beges_post_t"] == pytest.approx(grand, rel=1e-9)
    method = " ".join(str(r["value"]) for r in report_json["tables"]["méthode"]["rows"])
    assert "version 5" in method and "§4.2.2" in method and "poste 4.1" in method
    assert "data-section='beges-posts'" in report_json["_html"]


def test_grid_track_of_a_zone_without_time_varying_source_is_its_annual_factor_flagged(report_json: dict):
    sites = {r["key"]: r for r in report_json["tables"]["site"]["rows"]}
    assert sites["nro-lannion"]["grid_t"] == pytest.approx(KWH * 40e-6)  # the configured (continental) provider
    assert sites["pop-kourou"]["grid_t"] == pytest.approx(KWH * GUYANE[0] / 1000)
    assert "grid:zone-annual-factor" in sites["pop-kourou"]["flags"]
    assert "grid:zone-annual-factor" not in sites["nro-lannion"]["flags"]
    # Each site names the grid source of its own meters only (a continental site used to list
    # the Guyane annual factor too, because sources were pooled over the whole report).
    assert sites["nro-lannion"]["grid_source"] == "static:config [static]"
    assert "24307" in sites["pop-kourou"]["grid_source"] and "static" not in sites["pop-kourou"]["grid_source"]
    assert "static" in sites["Total"]["grid_source"] and "24307" in sites["Total"]["grid_source"]


def test_check_refuses_an_unknown_zone_with_its_line():
    text = "agent: {name: t}\ninventory:\n  sites:\n    - id: a\n      zone: guyane\n    - id: b\n      zone: atlantis\n      devices: [{id: d1, snmp: {host: 127.0.0.1}}]\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    (problem,) = err.value.problems
    assert problem.startswith("c.yaml:7: inventory.sites[1].zone: unknown zone 'atlantis'") and "guyane" in problem


def test_method_sheet_states_the_year_rule(report_json: dict):
    rows = {r["item"]: r["value"] for r in report_json["tables"]["méthode"]["rows"]}
    assert "factor-year-M-for-N" in rows["year_rule"] and "factor-undated" in rows["year_rule"]
