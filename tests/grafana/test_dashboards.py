"""Dashboards and provisioning: schema, ids, datasource, French texts, units, colours, alert rules.

The schema check type-checks each dashboard against Grafana's published TypeScript types
(npm ``@grafana/schema``, pinned in grafana/schema-check/package.json) with the TypeScript
compiler: each panel against its plugin's ``Options``/``FieldConfig``, its targets against
the InfluxQL query model, the whole against ``Dashboard``. Install it once with
``npm ci --prefix grafana/schema-check``; without it the test fails (never skips).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import dashgen

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
SCHEMA_CHECK = GRAFANA / "schema-check"

DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE_FILE = GRAFANA / "provisioning" / "datasources" / "sentinelle.yaml"
PROVIDER_FILE = GRAFANA / "provisioning" / "dashboards" / "sentinelle.yaml"
RULES_FILE = GRAFANA / "provisioning" / "alerting" / "sentinelle-rules.yaml"
OKABE_ITO = {c.lower() for c in dashgen.OKABE_ITO}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def walk(obj: Any, key: str) -> list[Any]:
    """Every value stored under `key` anywhere in a JSON tree."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found.extend(walk(v, key))
    elif isinstance(obj, list):
        for v in obj:
            found.extend(walk(v, key))
    return found


def test_committed_files_match_the_generator():
    assert dashgen.main(["--check"]) == 0, "run: python -m grafana.dashgen"
    assert {p.name for p in DASHBOARD_FILES} == set(dashgen.DASHBOARDS)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_panel_ids_unique_and_layout_in_grid(path):
    dash = load(path)
    ids = [p["id"] for p in dash["panels"]] + [p["id"] for r in dash["panels"] for p in r.get("panels", [])]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
    cells: dict[tuple[int, int], str] = {}
    for p in dash["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (path.name, p["title"], g)
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{path.name}: {p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_only_the_provisioned_datasource(path):
    dash = load(path)
    provisioned = yaml.safe_load(DATASOURCE_FILE.read_text())["datasources"]
    assert [d["uid"] for d in provisioned] == [dashgen.DS_UID]
    refs = walk(dash, "datasource")
    assert refs, "no datasource reference at all"
    for ref in refs:
        if ref == {"type": "grafana", "uid": "-- Grafana --"}:
            continue  # Grafana's built-in annotations
        assert ref == {"type": "influxdb", "uid": dashgen.DS_UID}, f"{path.name}: foreign datasource {ref}"
    for p in dashgen.iter_panels(dash):
        for t in p["targets"]:
            assert t["datasource"]["uid"] == dashgen.DS_UID


FRENCH = re.compile(r"[éèêàçùôî]|\b(des|les|du|de|la|le|par|sur)\b", re.IGNORECASE)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_french_titles_descriptions_units_and_palette(path):
    dash = load(path)
    assert FRENCH.search(dash["title"] + " " + dash["description"]), dash["title"]
    for p in dashgen.iter_panels(dash):
        assert p["title"] and len(p["description"]) > 30, f"{path.name}: {p['title']!r} needs a description"
        assert FRENCH.search(p["title"] + " " + p["description"]), f"{path.name}: {p['title']!r} is not French"
        defaults = p["fieldConfig"]["defaults"]
        if p["type"] in ("timeseries", "bargauge", "stat") and not defaults.get("mappings"):
            assert defaults.get("unit"), f"{path.name}: {p['title']!r} has no unit"
    for color in walk(dash, "color") + walk(dash, "fixedColor"):
        if isinstance(color, str) and color.startswith("#"):
            assert color.lower() in OKABE_ITO, f"{path.name}: colour {color} is not in the Okabe-Ito palette"
    # States are told by text, not by colour alone.
    for mapping in walk(dash, "mappings"):
        for m in mapping:
            results = [m["options"]["result"]] if m["type"] in ("range", "regex", "special") else m["options"].values()
            for result in results:
                assert result.get("text"), f"{path.name}: a value mapping has a colour but no text"


def test_units_used_cover_the_brief():
    units = set()
    for path in DASHBOARD_FILES:
        units |= set(walk(load(path), "unit"))
        units |= {o["value"] for o in walk(load(path), "properties") for o in o if o["id"] == "unit"}
    for needed in ("watt", "kwatth", "percent", "dBm", "m", "suffix: gCO₂e"):
        assert needed in units, f"no panel uses unit {needed!r}"


def test_variables_cover_site_member_contract_operator_device_kind():
    for name in ("resilience-noc.json", "energie-decarbonation.json"):
        names = {v["name"] for v in load(GRAFANA / "dashboards" / name)["templating"]["list"]}
        assert {"site", "member", "contract", "operator", "device_kind"} <= names, name
    assert "agent" in {v["name"] for v in load(GRAFANA / "dashboards" / "agent.json")["templating"]["list"]}


def test_noc_annotations_come_from_event_points():
    anns = load(GRAFANA / "dashboards" / "resilience-noc.json")["annotations"]["list"]
    queries = [a["target"]["query"] for a in anns if "target" in a]
    assert len(queries) >= 3 and all('FROM "event"' in q for q in queries)
    # Every event carries its kind in the tag `event` (agent/events.py).
    kinds = set(re.findall(r"\"event\"::tag = '(\w+)'", " ".join(queries)))
    assert {"unreachable", "on_battery", "gateway_offline"} <= kinds


# ----------------------------------------------------------------------------------------------
# @grafana/schema type check
# ----------------------------------------------------------------------------------------------


def _tsc(build: Path) -> subprocess.CompletedProcess[str]:
    tsc = SCHEMA_CHECK / "node_modules" / "typescript" / "bin" / "tsc"
    schema = SCHEMA_CHECK / "node_modules" / "@grafana" / "schema" / "package.json"
    node = shutil.which("node")
    assert node, "Node.js is needed for the dashboard schema check"
    assert tsc.exists() and schema.exists(), "run: npm ci --prefix grafana/schema-check"
    return subprocess.run([node, str(tsc), "-p", str(SCHEMA_CHECK / "tsconfig.json")], capture_output=True,
                          text=True, timeout=300, cwd=SCHEMA_CHECK)


@pytest.fixture
def schema_build():
    build = SCHEMA_CHECK / "build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    yield build
    shutil.rmtree(build, ignore_errors=True)


def test_dashboards_satisfy_grafana_schema(schema_build):
    for path in DASHBOARD_FILES:
        (schema_build / f"{path.stem}.ts").write_text(dashgen.typescript_source(path.name, load(path)))
    r = _tsc(schema_build)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


def test_schema_check_rejects_a_broken_dashboard(schema_build):
    """Negative control: a misspelt option, a wrong enum value and an unknown query key fail."""
    dash = copy.deepcopy(load(GRAFANA / "dashboards" / "resilience-noc.json"))
    stat = next(p for p in dashgen.iter_panels(dash) if p["type"] == "stat")
    stat["options"]["colorMode"] = "rainbow"
    ts = next(p for p in dashgen.iter_panels(dash) if p["type"] == "timeseries")
    ts["fieldConfig"]["defaults"]["unitt"] = "m"
    ts["targets"][0]["rawQuerry"] = True
    (schema_build / "broken.ts").write_text(dashgen.typescript_source("broken", dash))
    r = _tsc(schema_build)
    assert r.returncode != 0
    for needle in ('"rainbow"', '"unitt"', '"rawQuerry"'):
        assert needle in r.stdout, f"tsc did not report {needle}: {r.stdout[-3000:]}"


# ----------------------------------------------------------------------------------------------
# provisioning
# ----------------------------------------------------------------------------------------------


def test_datasource_provisioning_reads_the_token_from_a_file():
    text = DATASOURCE_FILE.read_text()
    ds = yaml.safe_load(text)["datasources"][0]
    assert ds["type"] == "influxdb" and ds["jsonData"]["version"] == "InfluxQL"
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"]["httpHeaderValue1"].startswith("Token $__file{")
    assert ds["url"].startswith("${") and ds["jsonData"]["dbName"].startswith("${")


def test_dashboard_provider_points_at_the_compose_mount():
    prov = yaml.safe_load(PROVIDER_FILE.read_text())["providers"][0]
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{prov['options']['path']}:ro" in mounts
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_alert_rules_file():
    doc = yaml.safe_load(RULES_FILE.read_text())
    assert doc["apiVersion"] == 1
    rules = [r for g in doc["groups"] for r in g["rules"]]
    assert len({r["uid"] for r in rules}) == len(rules)
    titles = " ".join(r["title"] for r in rules)
    for topic in ("injoignable", "batterie", "secteur", "LoRa", "optique", "Spool", "silencieux"):
        assert topic.lower() in titles.lower(), f"no alert rule about {topic}"
    for r in rules:
        assert r["labels"]["severity"] in ("critical", "warning")
        assert FRENCH.search(r["annotations"]["summary"]), r["title"]
        refs = {n["refId"] for n in r["data"]}
        assert r["condition"] in refs
        for n in r["data"]:
            assert n["datasourceUid"] in (dashgen.DS_UID, "__expr__"), r["title"]
            if n["datasourceUid"] == dashgen.DS_UID:
                q = n["model"]["query"]
                if r["labels"]["team"] == "noc":
                    # Multi-dimensional: one alert per site/member (Grafana labels from GROUP BY tags).
                    assert '"site"' in q and '"member"' in q, (r["title"], q)
                    assert "{{ $labels.site }}" in r["annotations"]["summary"]
                assert "$timeFilter" in q


def test_no_secret_in_exported_files():
    token_like = re.compile(r"(token|password|secret)\s*[:=]\s*['\"]?[A-Za-z0-9_\-]{16,}", re.IGNORECASE)
    for path in [*DASHBOARD_FILES, DATASOURCE_FILE, PROVIDER_FILE, RULES_FILE]:
        assert not token_like.search(path.read_text()), path


def test_pue_below_1_is_marked_inconsistent_not_shown_as_a_good_score():
    """A PUE below 1 (IT load above the facility meter) is red and worded as an inconsistent
    meter hierarchy; the hourly panel no longer hides it below a y-axis minimum of 1."""
    energy = load(GRAFANA / "dashboards" / "energie-decarbonation.json")
    pue_panels = [p for p in energy["panels"] if p.get("title", "").startswith("PUE")]
    assert len(pue_panels) == 2
    for p in pue_panels:
        d = p["fieldConfig"]["defaults"]
        steps = d["thresholds"]["steps"]
        assert steps[0]["value"] is None and steps[0]["color"].lower() == dashgen.VERMILLION.lower()
        assert steps[1]["value"] == 1.0 and steps[1]["color"].lower() != dashgen.VERMILLION.lower()
        assert "min" not in d or d["min"] < 1
        assert "incohérent" in p["description"]
    stat = next(p for p in pue_panels if p["type"] == "stat")
    (mapping,) = stat["fieldConfig"]["defaults"]["mappings"]
    assert mapping["type"] == "range" and mapping["options"]["to"] < 1 and "incohérent" in mapping["options"]["result"]["text"]
    ts = next(p for p in pue_panels if p["type"] == "timeseries")
    assert ts["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
