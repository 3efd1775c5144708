"""Every dashboard panel and every alert rule query runs on a real influxd and returns data.

The data is written by the real agent: the module fixture starts influxd 1.6.7 (Debian
``influxd``), then runs :class:`agent.runtime.Agent` for ~16 s on the demo configuration
(:func:`agent.demo.demo_config`: snmpsim serving the recordings, a simulated LoRaWAN network
server on a local broker) with an ``influxdb1`` sink. Incidents are added to *this test's*
configuration, not to the public demo: a device on a closed UDP port (unreachable →
``device_status reachable=false`` and ``event``), a UPS on battery with a rising
``input_line_bads`` and an OLT with one ONT below the optical budget (tests/testdata/snmp/,
derived recordings), a second sink on a closed TCP port (write errors, a growing spool), the
gateway falling silent half-way (``lora_gateway online=false`` and a ``gateway_offline`` event),
and a data-centre facility meter (PUE). After ``agent.stop()`` everything is flushed.

The one series a 16 s run cannot produce without starving the others is ``spool_evicted_total``
(the spool has to be full): it is produced by the agent's own :class:`agent.spool.Spool` with a
tiny ``max_bytes`` and its ``AgentMetrics`` snapshot, written through the agent's InfluxDB 1 sink.
``tests/support/grafana_data.py`` (synthetic) is no longer used here; small hand-written series remain
only in the two tests that prove alert rules fire on what a short run cannot show (a silent
agent for 40 min, a sink down for 30 min, a gateway silent for 20 min, a whole site down).

Queries are interpolated the way Grafana's InfluxQL datasource does it (``$timeFilter`` for a
15-minute range or the panel's own ``timeFrom``, ``$__interval`` with the demo's resolution:
min interval 4 s as the demo polls every 4 s, template variables with their default "All"
value ``.*``), see ``tests/support/grafana_queries.py:substitute``. A panel that returns nothing fails with
its dashboard and title.

The alert rules are also *evaluated* (InfluxQL, then Grafana's reduce / math / threshold
expressions, re-implemented below for the expression types the rules use) to prove each rule
fires on the incident it is written for and stays quiet elsewhere.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from grafana import dashgen
from tests.support import grafana_queries
from tests.support.influxdb1 import InfluxDB1

ROOT = Path(__file__).resolve().parents[2]

DB = "sentinelle"
DASHBOARDS = {name: fn() for name, fn in dashgen.DASHBOARDS.items()}
RULES = dashgen.alert_rules()
RUN_S = 16.0
RANGE_S = 900  # a 15-minute dashboard range: the run is inside it
MIN_INTERVAL_S = 4  # the demo polls every 4 s; Grafana's datasource min interval for such a site


def _closed_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_config(data_dir: Path, snmp_port: int, broker: tuple[str, int], influx_url: str):  # noqa: ANN201
    """The demo configuration plus this test's incidents and sinks."""
    from sentinelle.agent.config import AgentConfig
    from sentinelle.agent.demo import demo_config

    cfg = demo_config(data_dir, snmp_port, broker)
    raw = cfg.model_dump(mode="python", exclude_unset=True)
    snmp = {"host": "127.0.0.1", "port": snmp_port, "version": "2c", "timeout": 1, "retries": 0}
    extra = {
        "nro-lannion": [
            {"id": "ups-secours-nro-lannion", "kind": "ups", "snmp": {**snmp, "community": "ups-on-battery"}},
            {"id": "olt-2-nro-lannion", "kind": "olt", "snmp": {**snmp, "community": "olt-weak-ont"}},
        ],
        "dc-saint-brieuc": [
            {"id": "pdu-dc-b", "kind": "pdu",
             # Silent for longer than the poll deadline (80 % of the demo's 4 s): every poll ends at its
             # deadline, so the agent's "failed polls" counters are exercised deterministically.
             # pysnmp: it ignores the ICMP port-unreachable a closed port sends back, where
             # gufo-snmp (the default) fails at once with "refused" (no deadline reached).
             "snmp": {**snmp, "port": _closed_port(socket.SOCK_DGRAM), "community": "apc-ap8641",
                      "timeout": 5, "retries": 0, "backend": "pysnmp"}},
        ],
    }
    for site in raw["inventory"]["sites"]:
        site["devices"] += extra.get(site["id"], [])
        for dev in site["devices"]:
            # A data centre has a facility meter: the UPS feeds the room, the PDU is IT behind it.
            if dev["id"] == "ups-dc":
                dev["meter"] = {"role": "primary", "load": "facility"}
            elif dev["id"] == "pdu-dc-a":
                dev["meter"] = {"role": "sub", "load": "it", "parent": "ups-dc"}
    raw["agent"]["internal_interval"] = 2.0
    raw["mqtt"][0]["gateway_staleness"] = 3.0
    raw["sinks"] = [
        {"type": "influxdb1", "name": "influxdb", "url": influx_url, "database": DB, "timeout": 5},
        {"type": "influxdb1", "name": "influxdb-secours", "url": f"http://127.0.0.1:{_closed_port(socket.SOCK_STREAM)}",
         "database": DB, "timeout": 1, "retry_max_delay": 1},
    ]
    return AgentConfig.model_validate(raw)


test_config.__test__ = False  # a helper, not a test


async def _run_agent(data_dir: Path, snmp_port: int, influx_url: str) -> None:
    from sentinelle.agent.runtime import Agent
    from sentinelle.collectors.mqtt.sim import demo_broker, publish_demo_traffic

    async with demo_broker() as broker:
        config = test_config(data_dir, snmp_port, broker, influx_url)
        async with Agent(config, http=False) as agent:
            lns = asyncio.create_task(publish_demo_traffic(
                *broker, duration_s=RUN_S, interval_s=1.0, gateway_silent_after_s=RUN_S / 2))
            await agent.run(duration_s=RUN_S)
            await asyncio.gather(lns, return_exceptions=True)
            await agent.stop()


async def _evictions(data_dir: Path, influx_url: str) -> None:
    """spool_evicted_total from the agent's own spool, full, and its metrics snapshot."""
    from sentinelle.agent.core import Point
    from sentinelle.agent.lineprotocol import encode_point
    from sentinelle.agent.selfmetrics import AgentMetrics
    from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
    from sentinelle.agent.spool import Spool

    metrics = AgentMetrics("demo")
    spool = await Spool.open(data_dir / "spool-plein.db", sinks=["influxdb"], max_bytes=20_000, sync="normal",
                             metrics=metrics)
    sink = InfluxDB1Sink("influxdb", influx_url, DB)
    try:
        for round_ in range(3):
            # Three snapshots a few seconds apart (stamped, not slept), the spool overflowing between.
            now = time.time_ns() - (2 - round_) * 5 * 10**9
            await spool.append([Point("pdu_outlet", {"device": "pdu-dc-a", "outlet": str(i)},
                                      {"power_w": float(i)}, now + i) for i in range(400)])
            await sink.write([encode_point(p).encode() for p in metrics.snapshot_points(now)])
        assert metrics.total("spool_evicted") > 0, "the tiny spool did not overflow"
    finally:
        await sink.close()
        await spool.close()


@pytest.fixture(scope="module")
def demo_influx(snmpsim, tmp_path_factory):
    """A real influxd holding what the real agent wrote from the simulated site."""
    srv = InfluxDB1(workdir=tmp_path_factory.mktemp("influxd-grafana"))
    srv.start()
    try:
        srv.create_database(DB)
        srv.db = DB
        data_dir = tmp_path_factory.mktemp("agent-grafana")
        asyncio.run(_run_agent(data_dir, snmpsim.port, srv.url))
        asyncio.run(_evictions(data_dir, srv.url))
        yield srv
    finally:
        srv.stop()


def _rows(srv: InfluxDB1, q: str, db: str = DB) -> list[dict[str, Any]]:
    return srv.points(q, db=db)


def _panel_cases() -> list[Any]:
    cases = []
    for name, dash in DASHBOARDS.items():
        for p, t, q in grafana_queries.panel_queries(dash, range_s=RANGE_S, min_interval_s=MIN_INTERVAL_S):
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


def _annotation_cases() -> list[Any]:
    cases = []
    for name, dash in DASHBOARDS.items():
        values = grafana_queries.variable_defaults(dash)
        for a in dash["annotations"]["list"]:
            if "target" in a:
                q = grafana_queries.substitute(a["target"]["query"], values, range_s=RANGE_S, min_interval_s=MIN_INTERVAL_S)
                cases.append(pytest.param(name, a["name"], q, a["target"]["textColumn"],
                                          id=f"{dash['title']} | annotation {a['name']}"))
    return cases


@pytest.mark.parametrize(("dashboard", "name", "query", "text_column"), _annotation_cases())
def test_annotation_query_runs_and_events_have_text(demo_influx, dashboard, name, query, text_column):
    # Runs without error (influxd rejects a bad query); the demo switch's down port gives no
    # link_down event (an unchanged state at the first poll), so rows are not required here.
    rows = _rows(demo_influx, query)
    if name != "Liens down":
        assert rows, f"{dashboard}: annotation {name!r} returned no rows:\n{query}"
    assert all(r.get(text_column) for r in rows), f"{dashboard}: annotation {name!r} has rows without {text_column}"


@pytest.mark.parametrize("dashboard", list(DASHBOARDS))
def test_template_variables_list_demo_values(demo_influx, dashboard):
    from sentinelle.agent.demo import DEMO_SITES

    dash = DASHBOARDS[dashboard]
    values = grafana_queries.variable_defaults(dash)
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        got = {r["value"] for r in _rows(demo_influx, grafana_queries.substitute(v["query"], values))}
        assert got, f"{dashboard}: variable {v['name']} lists nothing"
        expected = {
            "site": {s["id"] for s in DEMO_SITES},
            "member": {s["member"] for s in DEMO_SITES},
            "contract": {s["contract"] for s in DEMO_SITES},
            "operator": {s["operator"] for s in DEMO_SITES},
            "agent": {"demo"},
        }.get(v["name"])
        if expected is not None:
            assert got == expected, (v["name"], got)


def test_site_variable_filters_panels(demo_influx):
    """Choosing one site really narrows the queries (the regex filters are wired)."""
    dash = DASHBOARDS["energie-decarbonation.json"]

    def pue_rows(site: str) -> int:
        n = 0
        for p, _t, q in grafana_queries.panel_queries(dash, {"site": site}, range_s=RANGE_S, min_interval_s=MIN_INTERVAL_S):
            if p["title"] == "PUE des centres de données":
                n += len(_rows(demo_influx, q))
        return n

    assert pue_rows("dc-saint-brieuc") == 2  # facility and IT sums
    assert pue_rows("nro-lannion") == 0  # not a data centre

    noc = DASHBOARDS["resilience-noc.json"]
    for p, _t, q in grafana_queries.panel_queries(noc, {"site": "nro-lannion"}, range_s=RANGE_S, min_interval_s=MIN_INTERVAL_S):
        if p["title"] == "Équipements : joignables ou non":
            sites = {r["site"] for r in _rows(demo_influx, q)}
            assert sites == {"nro-lannion"}


def test_energy_and_pue_numbers_match_the_data(demo_influx):
    """The "Énergie consommée" stat counts primary meters only, and PUE is facility / IT."""
    points = _rows(demo_influx, 'SELECT "kwh", "meter_role", "meter_load", "site_kind" FROM "energy"')
    primary = sum(p["kwh"] for p in points if p["meter_role"] == "primary")
    every_meter = sum(p["kwh"] for p in points)
    dc = [p for p in points if p["site_kind"] == "datacentre"]
    facility = sum(p["kwh"] for p in dc if p["meter_load"] == "facility")
    it = sum(p["kwh"] for p in dc if p["meter_load"] == "it")
    assert primary > 0 and facility > 0
    assert every_meter > primary  # sub-meters exist: summing every meter would double count
    by_title: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for p, t, q in grafana_queries.panel_queries(DASHBOARDS["energie-decarbonation.json"], range_s=RANGE_S,
                                         min_interval_s=MIN_INTERVAL_S):
        by_title.setdefault(p["title"], {})[t["refId"]] = _rows(demo_influx, q)
    assert by_title["Énergie consommée"]["A"][0]["sum"] == pytest.approx(primary, rel=1e-6)
    pue = by_title["PUE des centres de données"]
    assert pue["A"][0]["sum"] == pytest.approx(facility, rel=1e-6)
    assert pue["B"][0]["sum"] == pytest.approx(it, rel=1e-6)  # apc-ap8641's index does not move in 16 s: 0


# ----------------------------------------------------------------------------------------------
# alert rules
# ----------------------------------------------------------------------------------------------


def _rule_cases() -> list[Any]:
    return [pytest.param(r, node, q, id=f"{r['title']} [{node['refId']}]") for r, node, q in grafana_queries.rule_queries(RULES)]


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
            q = grafana_queries.substitute(m["query"], {}, range_s=node["relativeTimeRange"]["from"], interval="1m")
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
    # label -> values, from the incidents this module's fixture put on the simulated site
    "sentinelle-device-unreachable": {("device", "pdu-dc-b")},
    "sentinelle-site-unreachable": set(),  # one device of dc-saint-brieuc answers: not the whole site
    "sentinelle-ups-on-battery": {("device", "ups-secours-nro-lannion")},
    "sentinelle-ups-autonomy-low": {("device", "ups-secours-nro-lannion")},
    "sentinelle-mains-failure": {("device", "ups-secours-nro-lannion")},
    # 16 s of data cannot show a gateway silent for 15 min, nor points waiting 15 min, nor an
    # agent silent for 10 min: the rules run and stay quiet here; they fire in the tests below.
    "sentinelle-lora-gateway-offline": set(),
    "sentinelle-ont-optical-budget": {("device", "olt-2-nro-lannion")},
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
    if uid == "sentinelle-device-unreachable":
        # On 2 shared cores a big recording (the Arista's 95 sensors) can miss the demo's 3.2 s
        # deadline: the injected dead device must fire, a slow one may too.
        assert EXPECTED_FIRING[uid] <= got, f"{rule['title']}: firing for {firing}"
    else:
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
    """Hand-written series (what 16 s of agent cannot show): one agent stopped 40 min ago, one
    whose sink is down for 30 min. Fields and tags as ``AgentMetrics.snapshot_points`` writes them."""
    db = "agents"
    demo_influx.query(f'CREATE DATABASE "{db}"')
    minute = 60_000_000_000
    now = time.time_ns() - time.time_ns() % minute
    lines = []
    for i in range(180):
        t = now - i * minute
        if i >= 40:
            lines.append(f"agent_internal,agent=silent spool_bytes=4096 {t}")
            lines.append(f"agent_internal,agent=silent,sink=influxdb spool_oldest_age_seconds=0 {t}")
        stuck_age = max(0, 30 - i) * 60.0
        lines.append(f"agent_internal,agent=stuck spool_bytes={1e6 - i} {t}")
        lines.append(f"agent_internal,agent=stuck,sink=influxdb spool_oldest_age_seconds=0 {t}")
        lines.append(f"agent_internal,agent=stuck,sink=influxdb-nro spool_oldest_age_seconds={stuck_age} {t}")
        lines.append(f"agent_internal,agent=healthy spool_bytes=4096 {t}")
        lines.append(f"agent_internal,agent=healthy,sink=influxdb spool_oldest_age_seconds=0 {t}")
    demo_influx.write(lines, db=db)
    rules = _rules_by_uid()
    silent = {dict(f)["agent"] for f in evaluate(demo_influx, rules["sentinelle-agent-silent"], db=db)}
    stuck = {(dict(f)["agent"], dict(f)["sink"])
             for f in evaluate(demo_influx, rules["sentinelle-agent-spool-growing"], db=db)}
    assert silent == {"silent"}
    assert stuck == {("stuck", "influxdb-nro")}


def test_gateway_rule_fires_on_a_long_silence(demo_influx):
    """A gateway silent for 20 min (``GatewayTracker.check`` writes its age every check)."""
    db = "gateways"
    demo_influx.query(f'CREATE DATABASE "{db}"')
    now = time.time_ns()
    lines = []
    for i in range(10):
        t = now - i * 60_000_000_000
        tags = "site=lora-22,member=m,device_kind=lora_gateway"
        lines.append(f"lora_gateway,{tags},device=gw-ok,gateway_id=01 online=true,last_seen_age_s=12 {t}")
        lines.append(f"lora_gateway,{tags},device=gw-muette,gateway_id=02 online=false,"
                     f"last_seen_age_s={1200 - i * 60} {t}")
    demo_influx.write(lines, db=db)
    firing = evaluate(demo_influx, _rules_by_uid()["sentinelle-lora-gateway-offline"], db=db)
    assert {dict(f)["device"] for f in firing} == {"gw-muette"}
