"""A year of synthetic meter data through the live carbon step and the real sinks (embedded
local store and influxd 1.6.7), then the annual report from each store, against hand-computed
reference figures.

Site A (`pdu-a`, kWh counter, 2 kW): modulus 5000 kWh (wraps three times), a flagged reboot
reset, an unflagged user reset, a week without readings (the counter kept counting). Site B
(`ups-b`, power samples, 500 W): the same week without samples, estimated from neighbours.
Readings every 3 h over 2024 (leap year: 8784 h); the gap is hours 3000 → 3168 (168 h).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import encode_point
from sentinelle.agent.pipeline import InventoryTags
from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
from sentinelle.agent.sinks.local import LocalSink, LocalStore
from sentinelle.carbon.commands.sources import SinkSource
from sentinelle.carbon.energy import NS
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.meters import meters_from_inventory, sites_from_inventory
from sentinelle.carbon.processor import build_processors
from sentinelle.carbon.report import LocalStoreSource, build_report, report_period

PARIS = ZoneInfo("Europe/Paris")
HOURS = 8784
STEP = 3  # hours between readings
GAP = range(3001, 3168)  # hours without readings: interval 3000 -> 3168
START = int(datetime(2024, 1, 1, tzinfo=PARIS).timestamp()) * NS

CONFIG = """
agent: {name: test}
inventory:
  sites:
    - id: site-a
      kind: shelter
      member: cc-alpha
      contract: dsp-1
      operator: op-x
      allocation: {member: {cc-alpha: 0.6, cc-beta: 0.4}}
      devices:
        - {id: pdu-a, kind: pdu, meter: {role: primary, load: it}}
    - id: site-b
      kind: nro
      member: cc-beta
      contract: dsp-1
      operator: op-y
      devices:
        - {id: ups-b, kind: ups, meter: primary}
carbon:
  grid_intensity: {provider: static, value_gco2e_per_kwh: 50}
  max_gap: 4h
  missing_year: error
"""

# Hand-computed reference
KWH_A = 2.0 * HOURS  # 17568 kWh, all measured (the gap too: the counter kept counting)
KWH_B = 0.5 * HOURS  # 4392 kWh: 4308 integrated + 84 estimated (168 h at 500 W)
FACTOR_2024 = 0.0519  # kgCO2e/kWh, embedded table
COMPLETENESS = (HOURS - 168) / HOURS


def raw_counter(h: int) -> tuple[float, bool]:
    """Site A's counter as the collector reads it at hour h: (value, counter_reset flag)."""
    if h < 2001:
        return (4000 + 2.0 * h) % 5000, False  # wraps between hours 498 and 501
    if h < 5001:
        # reboot right after the reading of hour 1998: flagged by the collector; wraps near 4498
        return (2.0 * (h - 1998)) % 5000, h == 2001
    return (2.0 * (h - 4998)) % 5000, False  # user reset after hour 4998: not flagged, the value drops


def readings() -> list[list[Point]]:
    """Day-sized batches of collector points, as the pipeline would see them."""
    batches: list[list[Point]] = []
    batch: list[Point] = []
    for h in range(0, HOURS + 1, STEP):
        if h in GAP:
            continue
        t = START + h * 3600 * NS
        value, reset = raw_counter(h)
        fields = {"energy_kwh_total": value, "power_w": 2000.0, "energy_kwh_wrap": 5000.0}
        if reset:
            fields["counter_reset"] = True
        batch.append(Point("pdu", {"device": "pdu-a"}, fields, t))
        batch.append(Point("ups", {"device": "ups-b"}, {"output_power_w": 500.0, "on_battery": False}, t))
        if len(batch) >= 16:
            batches.append(batch)
            batch = []
    batches.append(batch)
    return batches


def resilience_points() -> list[Point]:
    """ups-b: polled every 5 min for a day; unreachable 10:00-12:00; two battery episodes."""
    out = []
    day = START + 100 * 86400 * NS
    for i in range(288):
        t = day + i * 300 * NS
        reachable = not (120 <= i < 144)
        on_batt = 30 <= i < 36 or 200 <= i < 203
        out.append(Point("device_status", {"device": "ups-b"}, {"reachable": reachable}, t))
        out.append(Point("ups", {"device": "ups-b"}, {"on_battery": on_batt, "battery_minutes_remaining": 40.0 - (i % 7)}, t))
    return out


@pytest.fixture(scope="module")
def influxdb1(tmp_path_factory):
    """One real influxd 1.6.7 for the module: the year is written once, then read by every test."""
    from tests.support.influxdb1 import InfluxDB1

    srv = InfluxDB1(workdir=tmp_path_factory.mktemp("influxd-annual"))
    srv.start()
    try:
        srv.create_database("sentinelle")
        srv.db = "sentinelle"
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def stored(tmp_path_factory, influxdb1):
    """Run the live carbon step over the year and write every point through both real sinks."""
    import asyncio

    tmp = tmp_path_factory.mktemp("annual")
    config = parse_config(CONFIG)
    tagger = InventoryTags(config.inventory)
    (processor,) = build_processors(config, tmp / "state")
    lines: list[bytes] = []
    for batch in readings():
        for p in processor.process(tagger.process(batch)):
            lines.append(encode_point(p).encode())
    lines += [encode_point(p).encode() for p in tagger.process(resilience_points())]
    db = influxdb1.db or "sentinelle"

    async def write_all() -> None:
        local = LocalSink("local", tmp / "local.db")
        influx = InfluxDB1Sink("influx", influxdb1.url, db)
        try:
            for i in range(0, len(lines), 5000):
                await local.write(lines[i : i + 5000])
                await influx.write(lines[i : i + 5000])
        finally:
            await local.close()
            await influx.close()

    if not influxdb1.db:
        influxdb1.query(f'CREATE DATABASE "{db}"')
    asyncio.run(write_all())
    return config, tmp / "local.db", influxdb1.url, db, processor


@pytest.fixture(scope="module")
def reports(stored):
    config, local_path, url, db, _ = stored
    start, end, label = report_period(2024)
    kwargs = dict(
        label=label,
        sites=sites_from_inventory(config.inventory),
        meters=meters_from_inventory(config.inventory),
        missing_year="error",
        max_gap_s=config.carbon.max_gap,
    )
    store = LocalStore.open_readonly(local_path)
    try:
        local = build_report(LocalStoreSource(store), start, end, FactorTable.embedded(), **kwargs)
    finally:
        store.close()
    influx_source = SinkSource(InfluxDB1Sink("influx", url, db))
    try:
        influx = build_report(influx_source, start, end, FactorTable.embedded(), **kwargs)
    finally:
        influx_source.close()
    return local, influx


def test_annual_figures_match_the_hand_computed_reference(reports):
    local, _ = reports
    a, b = local.sites
    assert (a.key, b.key) == ("site-a", "site-b")
    assert a.kwh_total == pytest.approx(KWH_A, rel=1e-3)
    assert a.kwh["measured"] == pytest.approx(KWH_A, rel=1e-9)
    assert b.kwh_total == pytest.approx(KWH_B, rel=1e-3)
    assert b.kwh["estimated"] == pytest.approx(0.5 * 168, rel=1e-9)
    assert b.kwh["integrated"] == pytest.approx(0.5 * (HOURS - 168), rel=1e-9)
    assert a.beges_t == pytest.approx(KWH_A * FACTOR_2024 / 1000, rel=1e-3)
    assert b.beges_t == pytest.approx(KWH_B * FACTOR_2024 / 1000, rel=1e-3)
    assert a.grid_t == pytest.approx(KWH_A * 50e-6, rel=1e-3)
    # the week-long gap shows in completeness, for the counter as for the power meter
    assert a.completeness == pytest.approx(COMPLETENESS, abs=1e-6)
    assert b.completeness == pytest.approx(COMPLETENESS, abs=1e-6)
    # uncertainty: root-sum-square of activity (2 % measured) and factor (10 %)
    assert a.beges_u_rel == pytest.approx(math.sqrt(0.02**2 + 0.10**2), rel=1e-6)
    u_act_b = (0.05 * 0.5 * (HOURS - 168) + 0.30 * 0.5 * 168) / KWH_B
    assert b.beges_u_rel == pytest.approx(math.sqrt(u_act_b**2 + 0.10**2), rel=1e-6)
    # provenance on every figure
    for s in (a, b):
        assert s.factor_years == "2024"
        assert s.factor_version == "V23.6"  # the embedded table, built from ADEME's Base Carbone V23.6
        assert "43642" in s.factor_source  # the 2024 element of the export
        assert "factor-unverified" not in s.flags and "incomplete" in s.flags
    assert "unverified-factor" not in local.notes


def test_local_store_and_influxdb_give_the_same_report(reports):
    local, influx = reports
    for grouping in ("site", "member", "contract", "operator"):
        lg, ig = local.groups[grouping], influx.groups[grouping]
        assert [g.key for g in lg] == [g.key for g in ig]
        for x, y in zip(lg, ig, strict=True):
            assert x.kwh == pytest.approx(y.kwh, rel=1e-9)
            assert x.beges_t == pytest.approx(y.beges_t, rel=1e-9)
            assert x.grid_t == pytest.approx(y.grid_t, rel=1e-9)
            assert x.completeness == pytest.approx(y.completeness, rel=1e-9)
    assert [(r.site, r.device_kind, r.outages, r.battery_episodes) for r in local.resilience] == [
        (r.site, r.device_kind, r.outages, r.battery_episodes) for r in influx.resilience
    ]


def test_member_allocations_add_up_to_the_sites(reports):
    local, _ = reports
    members = {g.key: g for g in local.groups["member"]}
    assert members["cc-alpha"].kwh_total == pytest.approx(0.6 * KWH_A, rel=1e-3)
    assert members["cc-beta"].kwh_total == pytest.approx(0.4 * KWH_A + KWH_B, rel=1e-3)
    for grouping in ("member", "contract", "operator"):
        groups = local.groups[grouping]
        assert sum(g.kwh_total for g in groups) == pytest.approx(sum(s.kwh_total for s in local.sites), rel=1e-12)
        assert sum(g.beges_t for g in groups) == pytest.approx(sum(s.beges_t for s in local.sites), rel=1e-12)


def test_resilience_figures(reports):
    local, _ = reports
    (ups,) = [r for r in local.resilience if r.site == "site-b" and r.device_kind == "ups"]
    assert ups.outages == 1
    assert ups.outage_s == pytest.approx(2 * 3600)
    assert ups.availability == pytest.approx(264 / 288)
    assert ups.battery_episodes == 2
    assert ups.battery_s == pytest.approx(9 * 300)
    assert ups.min_battery_minutes == 34.0


def test_processor_state_survives_a_restart(tmp_path: Path):
    config = parse_config(CONFIG)
    (first,) = build_processors(config, tmp_path)
    tag = InventoryTags(config.inventory)
    t = START + 86400 * NS
    first.process(tag.process([Point("pdu", {"device": "pdu-a"}, {"energy_kwh_total": 10.0}, t)]))
    (second,) = build_processors(config, tmp_path)  # the agent restarted
    out = second.process(tag.process([Point("pdu", {"device": "pdu-a"}, {"energy_kwh_total": 13.0}, t + 7200 * NS)]))
    energy = [p for p in out if p.measurement == "energy"]
    assert len(energy) == 1 and energy[0].fields["kwh"] == 3.0 and energy[0].tags["method"] == "measured"
    carbon = {p.tags["track"]: p for p in out if p.measurement == "carbon"}
    assert set(carbon) == {"beges", "grid"}
    assert carbon["beges"].fields["gco2e"] == pytest.approx(3.0 * FACTOR_2024 * 1000)
    assert carbon["beges"].tags["factor_source"].startswith("ademe-base-empreinte-electricite:fr-continental:2024")
    assert carbon["grid"].fields["factor_gco2e_per_kwh"] == 50
    # a bad reading is dropped with a count, never an exception
    out = second.process(tag.process([Point("pdu", {"device": "pdu-a"}, {"energy_kwh_total": float("nan")}, t + 10800 * NS)]))
    assert second.rejected == 1 and all(p.measurement == "pdu" for p in out)
