"""`sentinelle inventory` on the demo site: the agent reads identity from the demo recordings
(served by snmpsim) into the local store, and the command, run as a subprocess like a user
would, lists models, serials, firmware, ages and completeness from that store; plus bad
input and the manufacturing amortisation, which must add up per site and member."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.demo import DEMO_DEVICES, DEMO_SITES
from sentinelle.agent.runtime import Agent
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.inventory.factors import load_lifetimes, load_manufacturing
from sentinelle.carbon.inventory.manufacturing import amortised_share, manufacturing_section
from sentinelle.carbon.inventory.records import DeviceSite, build_records, completeness

NS = 10**9


def demo_yaml(snmpsim: Any, tmp_path: Path) -> Path:
    sites = []
    for site in DEMO_SITES:
        devices = [{"id": d["id"], "kind": d["kind"], "snmp": {"host": snmpsim.host, "port": snmpsim.port,
                    "community": d["recording"], "timeout": 1, "retries": 1}}
                   for d in DEMO_DEVICES if d["site"] == site["id"]]
        sites.append({**site, "devices": devices})
    raw = {"agent": {"name": "t", "interval": 2, "jitter": 0.1, "data_dir": str(tmp_path / "data"),
                     "http": {"enabled": False}},
           "inventory": {"sites": sites}}
    path = tmp_path / "sentinelle.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _inventoried(path: Path) -> int:
    """Devices with an identified equipment record in the store (0 while it is being created)."""
    try:
        store = LocalStore.open_readonly(path)
    except sqlite3.Error:
        return 0
    try:
        return len({p.tags["device"] for p in store.query("inventory") if p.fields.get("identified") is not False})
    except sqlite3.Error:
        return 0
    finally:
        store.close()


def sentinelle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", *args], capture_output=True, text=True, timeout=120)


async def test_inventory_command_on_the_demo_site(snmpsim, tmp_path) -> None:
    cfg_path = demo_yaml(snmpsim, tmp_path)
    config = parse_config(cfg_path.read_text(), str(cfg_path))
    store_path = tmp_path / "data" / "local.db"
    async with Agent(config, http=False) as agent:
        agent.start()
        # Identity is read at the first tick (at most 10 s away): wait until every device's
        # inventory reached the store, bounded.
        for _ in range(80):
            await asyncio.sleep(0.5)
            if store_path.exists() and _inventoried(store_path) >= len(DEMO_DEVICES) - 1:  # the OLT has no identity
                break
        await agent.stop()
    out = tmp_path / "out"
    done = sentinelle("inventory", "-c", str(cfg_path), "--format", "table,csv,json,xlsx", "--out", str(out), "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "WS-C2960-24TT-L" in done.stdout and "FOCDEMO0001" in done.stdout and "15.0(2)SE" in done.stdout
    doc = json.loads((out / "inventory.json").read_text())
    rows = {(r["device"], r["part"]): r for r in doc["tables"]["equipment"]["rows"]}
    switch = rows[("sw-nro-lannion", "entity.1")]
    assert switch["serial"] == "FOCDEMO0001" and switch["firmware"] == "15.0(2)SE"
    assert switch["mfg_date"] == "2016-03-15" and switch["age_from"] == "mfg_date"
    assert switch["class"] == "switch"  # the device kind from the configuration, ENTITY-MIB says "chassis"
    pdu = rows[("pdu-nro-lannion", "pdu.1")]
    assert pdu["serial"] == "DEMO3F3452A5" and pdu["mfg_date"] == "2017-03-15" and pdu["past_lifetime"] is False
    ups = rows[("ups-nro-lannion", "ups")]
    assert ups["serial"] is None and "serial:missing" in ups["flags"] and ups["age_from"] == "first_seen"
    # The demo's OLT recording has no identity tables: listed, counted as unidentified.
    olt = rows[("olt-nro-lannion", "system")]
    assert olt["model"] is None and olt["vendor"] == "Huawei"
    comp = {r["metric"]: r["value"] for r in doc["tables"]["completeness"]["rows"]}
    n = len(DEMO_DEVICES)
    assert comp["SNMP devices configured"] == n
    assert comp["Polled without identity data"] == "olt-nro-lannion"
    assert comp["Identified (model or serial)"] == n - 1, doc["tables"]["equipment"]["rows"]
    sfp = [r for r in doc["tables"]["components"]["rows"] if r["serial"] == "FNSDEMO0002"]
    assert sfp and "mfg_date:placeholder" in sfp[0]["flags"]
    assert (out / "inventory-equipment.csv").read_text().count("FOCDEMO0001") == 1
    assert (out / "inventory.xlsx").stat().st_size > 0


def test_inventory_bad_arguments_and_files(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"agent": {"data_dir": str(tmp_path / "d")}, "inventory": {"sites": [{"id": "x", "devices": [{"id": "ups-x", "snmp": {"host": "127.0.0.1"}}]}]}}))
    bad = sentinelle("inventory", "-c", str(cfg), "--format", "pdf")
    assert bad.returncode == 1 and "pdf" in bad.stderr and "Traceback" not in bad.stderr
    factors = tmp_path / "f.yaml"
    factors.write_text("version: x\nfactors:\n  - {model: X, kgco2e: -3, uncertainty_pct: 10, source: me}\n")
    bad = sentinelle("inventory", "-c", str(cfg), "--factors", str(factors))
    assert bad.returncode == 1 and str(factors) in bad.stderr and "kgco2e" in bad.stderr
    empty = sentinelle("inventory", "-c", str(cfg))
    assert empty.returncode == 1 and "does not exist" in empty.stderr  # no local store yet
    missing = sentinelle("inventory", "-c", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def _point(device: str, part: str, t_s: int, **fields: Any) -> Point:
    return Point("inventory", {"device": device, "part": part, "part_class": fields.pop("part_class", "chassis"),
                               "role": fields.pop("role", "equipment")}, {"identified": True, **fields}, t_s * NS)


def test_manufacturing_amortisation_adds_up_per_site_and_member() -> None:
    t2023 = 1_672_531_200  # 2023-01-01
    points = [
        _point("srv-a", "entity.1", t2023, model="PowerEdge R640", vendor="Dell", serial="A", mfg_date="2021-01-01"),
        _point("srv-a", "entity.1", t2023 + 500 * 86400, model="PowerEdge R640", vendor="Dell", serial="A", mfg_date="2021-01-01"),
        _point("srv-b", "entity.1", t2023, model="ProLiant DL380 Gen10", vendor="HPE", serial="B"),  # no mfg date
        _point("srv-b", "entity.1", t2023 + 500 * 86400, model="ProLiant DL380 Gen10", vendor="HPE", serial="B"),
        _point("sw-1", "entity.1001", t2023 + 500 * 86400, model="WS-C3750G-12S-S", serial="C"),  # no factor
        _point("sw-1", "entity.1003", t2023, role="component", part_class="power_supply", serial="D"),
    ]
    devices = {"srv-a": DeviceSite("dc-1", "m-1", None, "server"), "srv-b": DeviceSite("dc-2", "m-1", None, "server"),
               "sw-1": DeviceSite("dc-2", "m-2", None, "switch")}
    records = build_records(points, devices, date(2024, 12, 31))
    section = manufacturing_section(records, load_manufacturing(), load_lifetimes(), date(2024, 1, 1), date(2025, 1, 1))
    lines = {ln.record.device: ln for ln in section.lines}
    assert set(lines) == {"srv-a", "srv-b", "sw-1"}  # equipment only, not the power supply
    r640 = load_manufacturing().find("PowerEdge R640", "Dell", "server")
    assert r640 is not None and r640.verified is False
    generic = load_manufacturing().find("PowerEdge R9999", "Dell", "server")  # no model row: ADEME's class row
    assert generic is not None and generic.kgco2e == 600 and "20894" in generic.source and not generic.verified
    # 2024 is inside srv-a's 4-year life from 2021-01-01: 366 days of 4 x 365.25.
    assert abs(lines["srv-a"].amortised_kg - r640.kgco2e * 366 / (4 * 365.25)) < 1e-9
    # srv-b starts at its first sighting (2023-01-01), and says so.
    assert lines["srv-b"].start_from == "first_seen" and lines["srv-b"].start == date(2023, 1, 1)
    # ADEME's switch factor is per kg: without the model's weight it cannot be applied.
    assert lines["sw-1"].reason == "no_weight" and lines["sw-1"].amortised_kg == 0.0
    assert lines["sw-1"].factor is not None and lines["sw-1"].factor.per == "kg"
    total_kg = sum(ln.amortised_kg for ln in section.lines)
    assert abs(section.total.amortised_t * 1000 - total_kg) < 1e-9
    for grouping in ("site", "member"):
        assert abs(sum(t.amortised_t for t in section.by[grouping].values()) - section.total.amortised_t) < 1e-12
        assert sum(t.equipment for t in section.by[grouping].values()) == 3
    assert section.by["member"]["m-2"].without_factor_pct == 100.0
    assert round(section.total.without_factor_pct, 3) == round(100 / 3, 3)
    assert all(s.startswith("Boavizta") for s in section.total.sources)
    # With the weight from the maker's data sheet in the table, the per-kg factor applies.
    weighted = load_manufacturing().model_copy(update={"weights": {"WS-C3750G-12S-S": 6.0}})
    with_weight = manufacturing_section(records, weighted, load_lifetimes(), date(2024, 1, 1), date(2025, 1, 1))
    sw = next(ln for ln in with_weight.lines if ln.record.device == "sw-1")
    assert sw.kg_per_unit == 80.7 * 6.0 and sw.reason is None
    # first seen 2024-07-... (t2023 + 500 days): amortised over 8 years from then.
    assert abs(sw.amortised_kg - 80.7 * 6.0 * amortised_share(sw.start, 8, date(2024, 1, 1), date(2025, 1, 1))) < 1e-9
    assert with_weight.by["member"]["m-2"].without_factor_pct == 0.0
    # Equipment past its amortisation period is counted but charged nothing.
    assert amortised_share(date(2010, 1, 1), 4, date(2024, 1, 1), date(2025, 1, 1)) == 0.0
    comp = completeness(records, ["srv-a", "srv-b", "sw-1", "never"])
    assert comp.never_inventoried == ["never"] and comp.identified == 3


def test_swapped_part_keeps_only_the_current_serial() -> None:
    points = [_point("sw", "entity.7", 100, role="component", part_class="module", serial="OLD", model="LC"),
              _point("sw", "entity.7", 200, role="component", part_class="module", serial="NEW", model="LC"),
              _point("sw", "entity.7", 300, role="component", part_class="module", serial="NEW", model="LC")]
    [rec] = build_records(points, {}, date(2024, 1, 1))
    assert rec.serial == "NEW" and rec.first_seen_ns == 200 * NS and rec.last_seen_ns == 300 * NS




def _scope3_year(tmp_path: Path) -> Path:
    """Three inventoried devices on two sites and members over 2024; the config file."""
    store_path = tmp_path / "local.db"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "agent": {"name": "t", "data_dir": str(tmp_path / "d")},
        "inventory": {"sites": [
            {"id": "dc-1", "member": "m-1", "devices": [{"id": "srv-a", "kind": "server"}, {"id": "sw-1", "kind": "switch"}]},
            {"id": "dc-2", "member": "m-2", "devices": [{"id": "srv-b", "kind": "server"}]}]},
        "carbon": {"grid_intensity": {"provider": "static", "value_gco2e_per_kwh": 40}},
        "sinks": [{"type": "local", "path": str(store_path)}]}))
    t0 = 1_704_067_200  # 2024-01-01 00:00 UTC
    store = LocalStore(store_path)
    store.write_points([
        _point("srv-a", "entity.1", t0 + 86400, model="PowerEdge R640", vendor="Dell", serial="A", mfg_date="2022-06-01"),
        _point("srv-b", "entity.1", t0 + 86400, model="PowerEdge R740", vendor="Dell", serial="B", mfg_date="2023-01-01"),
        _point("sw-1", "entity.1001", t0 + 86400, model="WS-C3750G-12S-S", serial="C"),
        Point("energy", {"device": "srv-a", "site": "dc-1", "meter": "srv-a", "method": "measured"}, {"kwh": 1.0}, (t0 + 3600) * NS),
    ])
    store.close()
    return cfg


def test_annual_report_has_a_separate_manufacturing_section(tmp_path) -> None:
    """`sentinelle report --year` writes scope3/manufacturing-<year>-* next to (never into) the
    electricity report; it adds up per site and member and names every factor's source."""
    cfg = _scope3_year(tmp_path)
    out = tmp_path / "out"
    done = sentinelle("report", "-c", str(cfg), "--year", "2024", "--format", "json,csv", "--out", str(out),
                      "--allow-empty", "--lang", "en")  # inventory only: the scope 3 section is what is read
    assert done.returncode == 0, done.stderr
    assert "manufacturing (scope 3, separate)" in done.stdout
    doc = json.loads((out / "scope3" / "manufacturing-2024.json").read_text())
    sites = {r["key"]: r for r in doc["tables"]["manufacturing-site"]["rows"]}
    members = {r["key"]: r for r in doc["tables"]["manufacturing-member"]["rows"]}
    lines = doc["tables"]["manufacturing-lines"]["rows"]
    factors = load_manufacturing()
    r640, r740 = factors.find("PowerEdge R640", "Dell", "server"), factors.find("PowerEdge R740", "Dell", "server")
    assert r640 is not None and r740 is not None
    # 2024 (366 days) lies inside both servers' 4-year amortisation.
    expect = {"dc-1": r640.kgco2e * 366 / (4 * 365.25) / 1000, "dc-2": r740.kgco2e * 366 / (4 * 365.25) / 1000}
    for site, t in expect.items():
        assert abs(sites[site]["amortised_t"] - t) < 1e-5
    assert abs(sites["TOTAL"]["amortised_t"] - sum(expect.values())) < 1e-5
    assert abs(members["TOTAL"]["amortised_t"] - sites["TOTAL"]["amortised_t"]) < 1e-9
    assert sites["dc-1"]["equipment"] == 2 and sites["dc-1"]["with_factor"] == 1 and sites["dc-1"]["without_factor_pct"] == 50.0
    assert all(ln["source"] for ln in lines if ln["kgco2e"] is not None)
    assert [ln["reason"] for ln in lines if ln["device"] == "sw-1"] == ["no_weight"]
    # The electricity report does not contain it.
    main = next(p for p in out.glob("*.json"))
    assert "manufacturing" not in main.read_text()


def test_inventory_follows_the_files_agent_lang_unless_told(tmp_path) -> None:
    """Like `report`: a site configured in English gets English tables without `--lang`."""
    cfg = _scope3_year(tmp_path)
    french = sentinelle("inventory", "-c", str(cfg), "--year", "2024")
    assert french.returncode == 0, french.stderr
    assert "Émissions de fabrication" in french.stdout
    text = yaml.safe_load(cfg.read_text())
    text["agent"]["lang"] = "en"
    cfg.write_text(yaml.safe_dump(text))
    english = sentinelle("inventory", "-c", str(cfg), "--year", "2024")
    assert english.returncode == 0, english.stderr
    assert "Manufacturing emissions" in english.stdout and "Émissions de fabrication" not in english.stdout
    told = sentinelle("inventory", "-c", str(cfg), "--year", "2024", "--lang", "fr")
    assert "Émissions de fabrication" in told.stdout


def test_scope3_files_of_a_date_range_have_plain_ascii_names(tmp_path) -> None:
    """Before: `--from/--to` named the scope 3 files after the period label
    ("manufacturing-2024-01-01 → 2024-02-01.json"), an arrow and spaces that Windows shares,
    Excel and zip tools mangle, while the electricity report's files were ASCII already."""
    cfg = _scope3_year(tmp_path)
    out = tmp_path / "out"
    done = sentinelle("report", "-c", str(cfg), "--from", "2024-01-01", "--to", "2024-02-01", "--format", "json,csv",
                      "--out", str(out), "--allow-empty", "--lang", "en")
    assert done.returncode == 0, done.stderr
    names = [p.name for p in (out / "scope3").iterdir()]
    assert "manufacturing-2024-01-01-2024-02-01.json" in names
    assert all(n.isascii() and " " not in n for n in names), names


def test_html_report_shows_scope3_in_its_own_section_in_the_run_language(tmp_path) -> None:
    """Before: the scope 3 figures were only in scope3/ files, the HTML document a signatory
    reads had none, and the summary line was English in a French run. Now the document has its
    own scope 3 section after the method (per site and member, French numbers), printed by
    Chromium like the rest, and the summary follows --lang."""
    from sentinelle.carbon.quantities import mass_t
    from tests.carbon.report.test_html import browse, pdf_text, visible_text

    cfg = _scope3_year(tmp_path)
    factors = load_manufacturing()
    r640, r740 = factors.find("PowerEdge R640", "Dell", "server"), factors.find("PowerEdge R740", "Dell", "server")
    assert r640 is not None and r740 is not None
    dc1_t = r640.kgco2e * 366 / (4 * 365.25) / 1000
    total_t = dc1_t + r740.kgco2e * 366 / (4 * 365.25) / 1000
    texts = {}
    for lang in ("fr", "en"):
        out = tmp_path / f"out-{lang}"
        done = sentinelle("report", "-c", str(cfg), "--year", "2024", "--format", "html", "--out", str(out),
                          "--allow-empty", "--lang", lang)
        assert done.returncode == 0, done.stderr
        (html,) = out.glob("*.html")
        text = visible_text(html.read_text(encoding="utf-8"))
        texts[lang] = (done.stdout, text, html)
    stdout, text, html = texts["fr"]
    line = next(ln for ln in stdout.splitlines() if "scope 3" in ln)  # the other lines name files
    assert line.startswith("fabrication (scope 3, à part)") and "manufacturing" not in line
    assert mass_t(total_t, "fr") in line
    title = "Fabrication des équipements (scope 3, immobilisations)"
    method, annexes = text.index("Méthode et provenance des facteurs"), text.index("Annexes")
    assert method < text.index(title) < annexes
    section = text[text.index(title):annexes]
    assert "jamais ajoutées à l'électricité" in section
    for name in ("dc-1", "dc-2", "m-1", "m-2", "Par site", "Par membre", "Équipements comptés", "Part sans facteur"):
        assert name in section, name
    assert mass_t(dc1_t, "fr") in section and mass_t(total_t, "fr") in section
    assert "50,0\u00a0%" in section and "50.0" not in section  # decimal comma, no-break space
    assert r640.source in section and r740.source in section
    assert factors.version in section
    pdf = tmp_path / "report.pdf"
    browse(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri())
    assert "Fabrication des équipements" in pdf_text(pdf)

    stdout, text, _ = texts["en"]
    assert "manufacturing (scope 3, separate)" in stdout and mass_t(total_t, "en") in stdout
    section = text[text.index("Equipment manufacturing (scope 3, capital goods)"):text.index("Annexes")]
    assert "50.0\u00a0%" in section and "By member" in section and mass_t(dc1_t, "en") in section


async def test_inventory_reads_influxdb_through_influxql(influxdb1, tmp_path) -> None:
    """The same command on an InfluxDB 1.6 sink (InfluxQL over /query, the report's reader):
    first/last seen across daily readings, the swapped serial gone, strings and booleans intact."""
    from sentinelle.agent.lineprotocol import encode_point
    from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink

    day = 86400
    t0 = 1_767_225_600  # 2026-01-01 UTC
    points = [
        _point("sw-1", "entity.1001", t0, model="WS-C3750G-12S-S", serial="FDO1622Y10H", firmware="12.2(50)SE5",
               vendor="Cisco", flags="mfg_date:placeholder"),
        _point("sw-1", "entity.1001", t0 + 3 * day, model="WS-C3750G-12S-S", serial="FDO1622Y10H", firmware="15.0(2)SE",
               vendor="Cisco", flags="mfg_date:placeholder"),
        Point("event", {"device": "sw-1", "part": "entity.1001", "event": "firmware_changed"},
              {"kind": "firmware_changed", "state": "instant", "message": "firmware 12.2(50)SE5 -> 15.0(2)SE"},
              (t0 + 3 * day) * NS),
        Point("event", {"device": "sw-1", "event": "unreachable"}, {"kind": "unreachable", "state": "start",
              "message": "device stopped answering SNMP"}, (t0 + day) * NS),
        _point("sw-1", "entity.1024", t0, role="component", part_class="port", model="GLC-LH-SMD", serial="OLD1"),
        _point("sw-1", "entity.1024", t0 + 3 * day, role="component", part_class="port", model="GLC-LH-SMD", serial="NEW2"),
    ]
    sink = InfluxDB1Sink("influxdb", influxdb1.url, influxdb1.db)
    try:
        await sink.write([encode_point(p).encode() for p in points])
    finally:
        await sink.close()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "agent": {"name": "t", "data_dir": str(tmp_path / "d")},
        "inventory": {"sites": [{"id": "nro-1", "member": "m-1", "contract": "dsp-1", "devices": [
            {"id": "sw-1", "kind": "switch", "snmp": {"host": "127.0.0.1", "community": "x"}}]}]},
        "sinks": [{"type": "influxdb1", "url": influxdb1.url, "database": influxdb1.db}]}))
    out = tmp_path / "out"
    done = await asyncio.to_thread(sentinelle, "inventory", "-c", str(cfg), "--format", "json", "--out", str(out),
                                   "--since", "2025-12-01")
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "inventory.json").read_text())
    [sw] = doc["tables"]["equipment"]["rows"]
    assert (sw["site"], sw["member"], sw["contract"], sw["class"]) == ("nro-1", "m-1", "dsp-1", "switch")
    assert sw["firmware"] == "15.0(2)SE" and sw["first_seen"] == "2026-01-01" and sw["last_seen"] == "2026-01-04"
    assert sw["age_from"] == "first_seen" and sw["flags"] == "mfg_date:placeholder"
    [sfp] = doc["tables"]["components"]["rows"]
    assert sfp["serial"] == "NEW2" and sfp["first_seen"] == "2026-01-04"
    changes = doc["tables"]["changes"]["rows"]
    assert [(c["date"], c["event"], c["part"]) for c in changes] == [("2026-01-04", "firmware_changed", "entity.1001")]
    firmware = {(r["model"], r["firmware"]): r["count"] for r in doc["tables"]["firmware"]["rows"]}
    assert firmware == {("WS-C3750G-12S-S", "15.0(2)SE"): 1}


def test_lora_gateway_identity_from_bridge_metadata() -> None:
    """ChirpStack gateway bridge `event/stats` with static metadata: the gateway gets an
    `inventory` point (JSON and protobuf alike); placeholders are flagged; no metadata, none."""
    from chirpstack_api.gw import gw_pb2
    from google.protobuf import json_format

    from sentinelle.collectors.mqtt.decoders.chirpstack import decode_chirpstack

    gw = "0016c001f153a14c"
    base = json.loads((Path(__file__).resolve().parents[3] / "collectors" / "mqtt" / "testdata"
                       / "chirpstack-gateway-stats.json").read_text())
    topic = f"eu868/gateway/{gw}/event/stats"
    assert [p.measurement for p in decode_chirpstack(topic, json.dumps(base).encode(), 0)] == ["lora_gateway"]
    with_meta = {**base, "metadata": {"Model": "Wirnet iStation", "serial_number": "  7276FF002E0507  ",
                                      "firmware-version": "KerOS 5.9.4", "manufacturer": "Kerlink"}}
    as_json = json.dumps(with_meta).encode()
    as_pb = json_format.Parse(as_json, gw_pb2.GatewayStats()).SerializeToString()
    for payload in (as_json, as_pb):
        [_, inv] = decode_chirpstack(topic, payload, 0)
        assert inv.measurement == "inventory" and inv.tags["gateway_id"] == gw and inv.tags["part_class"] == "lora_gateway"
        assert (inv.fields["model"], inv.fields["serial"], inv.fields["firmware"], inv.fields["vendor"]) == (
            "Wirnet iStation", "7276FF002E0507", "KerOS 5.9.4", "Kerlink")
    odd = json.dumps({**base, "metadata": {"serial": "unknown", "version": "1.2"}}).encode()
    [_, inv] = decode_chirpstack(topic, odd, 0)
    assert "serial" not in inv.fields and inv.fields["flags"] == "model:missing,serial:placeholder"
    assert inv.fields["identified"] is False
    # An unbound gateway is listed under its gateway ID.
    [rec] = build_records([inv], {}, date(2024, 1, 1))
    assert rec.device == gw and rec.equipment_class == "lora_gateway" and rec.firmware == "1.2"


def test_inventory_on_a_damaged_store_is_a_clear_error(tmp_path) -> None:
    store = tmp_path / "local.db"
    store.write_bytes(b"this is not a database" * 100)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"agent": {"data_dir": str(tmp_path)}, "inventory": {"sites": [{"id": "x", "devices": [{"id": "ups-x", "snmp": {"host": "127.0.0.1"}}]}]},
                                   "sinks": [{"type": "local", "path": str(store)}]}))
    done = sentinelle("inventory", "-c", str(cfg))
    assert done.returncode == 1 and "Traceback" not in done.stderr and done.stderr.startswith("sentinelle inventory:")
