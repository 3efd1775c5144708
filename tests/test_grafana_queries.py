"""Every dashboard panel and every alert rule query runs on a real influxd and returns data.

The data: :func:`tests.grafana_data.demo_points` (a day of a simulated NRO, data centre and
LoRa network, with incidents in progress), written by line protocol into a real InfluxDB
1.6.7 (Debian ``influxd``). When the agent's own demo can fill an InfluxDB, swap it in by
changing ``demo_points`` only: nothing here depends on how the lines were produced.

Queries are interpolated the way Grafana's InfluxQL datasource does it (``$timeFilter`` for
the dashboard's or the panel's relative range, ``$__interval``, template variables with
their default "All" value ``.*``), see ``grafana/dashgen.py:substitute``. A panel that returns
nothing fails with its dashboard and title.

The alert rules are also *evaluated* (InfluxQL, then Grafana's reduce / math / threshold
expressions, re-implemented below for the expression types the rules use) to prove each rule
fires on the incident it is written for and stays quiet elsewhere.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.grafana_data import METERS, SITES, demo_points, write_demo
from tests.servers import InfluxDB1

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "grafana"))
import dashgen  # noqa: E402

DB = "sentinelle"
DASHBOARDS = {name: fn() for name, fn in dashgen.DASHBOARDS.items()}
RULES = dashgen.alert_rules()


@pytest.fixture(scope="module")
def demo_influx():
    """A real influxd holding the demo data set in database ``sentinelle``.

    Started here (module scope) rather than through a function-scoped fixture because the
    day of data (~110k points) is written once for all the queries of this module.
    """
    srv = InfluxDB1()
    srv.start()
    try:
        srv.db = DB
        end_ns = time.time_ns()
        write_demo(srv, DB, end_ns)
        yield srv
    finally:
        srv.cleanup()


def _rows(srv: InfluxDB1, q: str, db: str = DB) -> list[dict[str, Any]]:
    return srv.points(q, db=db)


def _panel_cases() -> list[Any]:
    cases = []
    for name, dash in DASHBOARDS.items():
        for p, t, q in dashgen.panel_queries(dash):
            cases.append(pytest.param(name, p["title"], t["refId"], q, id=f"{dash['title']} | {p['title']} [{t['refId']}]"))
    return cases


@pytest.mark.parametrize(("dashboard", "title", "ref", "query"), _panel_cases())
def test_panel_query_returns_rows(demo_influx, dashboard, title, ref, query):
    rows = _rows(demo_influx, query)
    assert rows, f"{dashboard}: panel {title!r} query {ref} returned no rows:\n{query}"


def test_every_panel_has_queries():
    for name, dash in DASHBOARDS.items():
        for p in dashgen.iter_panels(dash):
            assert p.get("targets"), f"{name}: panel {p['title']!r} has no query"


@pytest.mark.parametrize("dashboard", list(DASHBOARDS))
def test_template_variables_list_demo_values(demo_influx, dashboard):
    dash = DASHBOARDS[dashboard]
    values = dashgen.variable_defaults(dash)
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        got = {r["value"] for r in _rows(demo_influx, dashgen.substitute(v["query"], values))}
        assert got, f"{dashboard}: variable {v['name']} lists nothing"
        expected = {
            "site": {s for s in SITES},
            "member": {s["member"] for s in SITES.values()},
            "agent": {s["agent"] for s in SITES.values()},
        }.get(v["name"])
        if expected is not None:
            # Variables read one measurement (device_status, energy...): a subset of the demo.
            assert got <= expected and len(got) >= 2, (v["name"], got)


def test_site_variable_filters_panels(demo_influx):
    """Choosing one site really narrows the queries (the regex filters are wired)."""
    dash = DASHBOARDS["energie-decarbonation.json"]

    def pue_rows(site: str) -> int:
        n = 0
        for p, _t, q in dashgen.panel_queries(dash, {"site": site}):
            if p["title"] == "PUE des centres de données":
                n += len(_rows(demo_influx, q))
        return n

    assert pue_rows("dc-saint-brieuc") == 2  # facility and IT sums
    assert pue_rows("nro-lannion") == 0  # not a data centre

    noc = DASHBOARDS["resilience-noc.json"]
    for p, _t, q in dashgen.panel_queries(noc, {"site": "nro-lannion"}):
        if p["title"] == "Équipements : joignables ou non":
            sites = {r["site"] for r in _rows(demo_influx, q)}
            assert sites == {"nro-lannion"}


def test_energy_and_pue_numbers_match_the_data(demo_influx):
    """The "Énergie consommée" stat counts primary meters only, and PUE is facility / IT."""
    lines = demo_points_written(demo_influx)
    primary = it = facility = 0.0
    for line in lines:
        if not line.startswith("energy,"):
            continue
        kwh = float(line.split(" ")[1].split("=")[1])
        tags = dict(kv.split("=") for kv in line.split(" ")[0].split(",")[1:])
        if tags["meter"] == "primary":
            primary += kwh
        if tags["site_kind"] == "datacentre":
            it += kwh if tags["load"] == "it" else 0.0
            facility += kwh if tags["load"] == "facility" else 0.0
    dash = DASHBOARDS["energie-decarbonation.json"]
    by_title = {}
    for p, t, q in dashgen.panel_queries(dash):
        by_title.setdefault(p["title"], {})[t["refId"]] = _rows(demo_influx, q)
    energy = by_title["Énergie consommée"]["A"][0]["sum"]
    assert energy == pytest.approx(primary, rel=1e-6)
    total_all_meters = sum(METERS[d][2] for d in METERS) / sum(METERS[d][2] for d in METERS if METERS[d][0] == "primary")
    assert total_all_meters > 2  # summing every meter would more than double count: the filter matters
    pue = by_title["PUE des centres de données"]["A"][0]["sum"] / by_title["PUE des centres de données"]["B"][0]["sum"]
    assert pue == pytest.approx(facility / it, rel=1e-6)
    assert 1.2 < pue < 1.6


def demo_points_written(srv: InfluxDB1) -> list[str]:
    # Same generator and same end minute as the fixture (the data set is deterministic).
    last = _rows(srv, 'SELECT last("kwh") FROM "energy"')[0]["time"]
    return demo_points(last)


# ----------------------------------------------------------------------------------------------
# alert rules
# ----------------------------------------------------------------------------------------------


def _rule_cases() -> list[Any]:
    return [pytest.param(r, node, q, id=f"{r['title']} [{node['refId']}]") for r, node, q in dashgen.rule_queries(RULES)]


@pytest.mark.parametrize(("rule", "node", "query"), _rule_cases())
def test_alert_rule_query_returns_rows(demo_influx, rule, node, query):
    rows = _rows(demo_influx, query)
    assert rows, f"alert rule {rule['title']!r} query {node['refId']} returned no rows:\n{query}"
    for label in ("site", "member") if rule["labels"]["team"] == "noc" else ("agent",):
        assert all(label in r for r in rows), f"{rule['title']}: series lack the {label!r} label"


def _series(rows: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], list[float]]:
    """Group InfluxQL rows into series keyed by their tags (Grafana labels), values in time order."""
    out: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for r in rows:
        labels = tuple(sorted((k, v) for k, v in r.items() if isinstance(v, str) and k != "_measurement"))
        value = next(v for k, v in r.items() if k not in ("time", "_measurement") and not isinstance(v, str))
        out.setdefault(labels, []).append(value)
    return out


def evaluate(srv: InfluxDB1, rule: dict[str, Any], db: str = DB) -> set[tuple[tuple[str, str], ...]]:
    """Label sets for which `rule` fires (Grafana SSE semantics for reduce/math/threshold)."""
    results: dict[str, dict[Any, float | list[float]]] = {}
    for node in rule["data"]:
        m = node["model"]
        if node["datasourceUid"] != "__expr__":
            q = dashgen.substitute(m["query"], {}, range_s=node["relativeTimeRange"]["from"], interval="1m")
            results[node["refId"]] = _series(_rows(srv, q, db))
        elif m["type"] == "reduce":
            fn = {"last": lambda v: v[-1], "sum": sum, "max": max, "min": min, "mean": lambda v: sum(v) / len(v)}
            results[node["refId"]] = {k: fn[m["reducer"]](v) for k, v in results[m["expression"]].items()}
        elif m["type"] == "math":
            expr = m["expression"]
            refs = [r for r in results if f"${r}" in expr]
            keys = set.intersection(*(set(results[r]) for r in refs))
            out = {}
            for k in keys:
                e = expr
                for r in refs:
                    e = e.replace(f"${r}", repr(float(results[r][k])))
                out[k] = eval(e, {"__builtins__": {}})  # noqa: S307 - arithmetic on our own numbers
            results[node["refId"]] = out
        elif m["type"] == "threshold":
            ev = m["conditions"][0]["evaluator"]
            p = ev["params"]
            test = {"gt": lambda x, p=p: x > p[0], "lt": lambda x, p=p: x < p[0],
                    "outside_range": lambda x, p=p: x < p[0] or x > p[1],
                    "within_range": lambda x, p=p: p[0] < x < p[1]}[ev["type"]]
            results[node["refId"]] = {k: float(test(v)) for k, v in results[m["expression"]].items()}
        else:
            raise AssertionError(f"expression type {m['type']} not modelled")
    return {k for k, v in results[rule["condition"]].items() if v}


def _rules_by_uid() -> dict[str, dict[str, Any]]:
    return {r["uid"]: r for g in RULES["groups"] for r in g["rules"]}


EXPECTED_FIRING = {
    "sentinelle-device-unreachable": {("device", "pdu-it-2")},
    "sentinelle-site-unreachable": set(),
    "sentinelle-ups-on-battery": {("device", "ups-1")},
    "sentinelle-ups-autonomy-low": {("device", "ups-1")},
    "sentinelle-mains-failure": {("device", "ups-1")},
    "sentinelle-lora-gateway-offline": {("gateway", "gw-02")},
    "sentinelle-ont-optical-budget": {("ont", "3")},
    "sentinelle-agent-spool-growing": set(),
    "sentinelle-agent-silent": set(),
}


def test_every_rule_has_an_expectation():
    assert set(_rules_by_uid()) == set(EXPECTED_FIRING)


@pytest.mark.parametrize("uid", list(EXPECTED_FIRING))
def test_alert_rule_fires_on_its_incident(demo_influx, uid):
    rule = _rules_by_uid()[uid]
    firing = evaluate(demo_influx, rule)
    key = next(iter(EXPECTED_FIRING[uid]))[0] if EXPECTED_FIRING[uid] else None
    got = {(key, dict(labels)[key]) for labels in firing} if key else {tuple(sorted(dict(f).items())) for f in firing}
    assert got == EXPECTED_FIRING[uid], f"{rule['title']}: firing for {firing}"
    for labels in firing:
        d = dict(labels)
        if rule["labels"]["team"] == "noc":
            assert d.get("site") and d.get("member"), f"{rule['title']}: no site/member label on {d}"


def test_site_unreachable_fires_when_every_device_is_down(demo_influx):
    db = "site_down"
    demo_influx.query(f'CREATE DATABASE "{db}"')
    now = time.time_ns() - time.time_ns() % 60_000_000_000
    lines = []
    for i in range(5):
        t = now - i * 60_000_000_000
        lines.append(f"device_status,site=nro-x,member=m,device=a reachable=false {t}")
        lines.append(f"device_status,site=nro-x,member=m,device=b reachable=false {t}")
        lines.append(f"device_status,site=nro-y,member=m,device=c reachable={'false' if i % 2 else 'true'} {t}")
    demo_influx.write(lines, db=db)
    firing = evaluate(demo_influx, _rules_by_uid()["sentinelle-site-unreachable"], db=db)
    assert {dict(f)["site"] for f in firing} == {"nro-x"}


def test_agent_rules_fire_on_silent_and_stuck_agents(demo_influx):
    """A second, small data set: one agent stopped 40 min ago, one whose sink is down for 30 min."""
    db = "agents"
    demo_influx.query(f'CREATE DATABASE "{db}"')
    minute = 60_000_000_000
    now = time.time_ns() - time.time_ns() % minute
    lines = []
    for i in range(180):
        t = now - i * minute
        if i >= 40:
            lines.append(f"agent_internal,agent=silent points_spooled_total={1e6 - i},spool_oldest_age_seconds=0 {t}")
        stuck_age = max(0, 30 - i) * 60.0
        lines.append(f"agent_internal,agent=stuck points_spooled_total={1e6 - i},spool_oldest_age_seconds={stuck_age} {t}")
        lines.append(f"agent_internal,agent=healthy points_spooled_total={1e6 - i},spool_oldest_age_seconds=0 {t}")
    demo_influx.write(lines, db=db)
    rules = _rules_by_uid()
    silent = {dict(f)["agent"] for f in evaluate(demo_influx, rules["sentinelle-agent-silent"], db=db)}
    stuck = {dict(f)["agent"] for f in evaluate(demo_influx, rules["sentinelle-agent-spool-growing"], db=db)}
    assert silent == {"silent"}
    assert stuck == {"stuck"}
