"""SNMP answers that are not readings (issue 13): documented sentinels, implausible scales,
discovery of profiles by what a device answers, and what `probe` says per field.

Devices are snmpsim serving recordings (tests/testdata/snmp/README.md says how each was
derived from a real-device recording) and net-snmp snmpd; expected values come from the
recordings and the MIBs, not from our own output."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sentinelle.agent.config import DeviceSettings, parse_config
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.collectors.snmp import cli
from sentinelle.collectors.snmp.client import SnmpClient, Varbind
from sentinelle.collectors.snmp.decode import Discarded, decode
from sentinelle.collectors.snmp.device import SnmpDevice
from sentinelle.collectors.snmp.profiles import SHIPPED_DIR, ProfileCatalog, load_profile_file
from sentinelle.collectors.snmp.settings import SnmpTargetSettings

T0 = 1_700_000_000_000_000_000
RECORDINGS = Path(__file__).resolve().parents[3] / "collectors" / "snmp" / "testdata"
# Values agents answer for "not implemented / no estimate" (RFC 1628 cards, PDUs, OLTs).
GENERIC_SENTINELS = (-1, 2147483647, 4294967295)


@pytest.fixture(scope="module")
def catalog() -> ProfileCatalog:
    return ProfileCatalog.load()


def make(sim, community: str, catalog: ProfileCatalog, client: SnmpClient, metrics: AgentMetrics | None = None,
         tmp: Path | None = None, **device) -> SnmpDevice:
    target = SnmpTargetSettings(host=sim.host, port=sim.port, community=community)
    return SnmpDevice(DeviceSettings(id=community, snmp=target, **device), client.session(target), catalog, 60.0,
                      metrics, None, (tmp / f"{community}.json") if tmp else None)


def only(points, measurement: str, **tags: str):
    found = [p for p in points if p.measurement == measurement and all(p.tags.get(k) == v for k, v in tags.items())]
    assert len(found) == 1, f"{measurement} {tags}: {len(found)} points"
    return found[0]


@pytest.mark.parametrize("path", sorted(SHIPPED_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_no_shipped_numeric_field_can_emit_a_documented_sentinel(path: Path) -> None:
    """Every gauge/counter of every shipped profile declares the MIB's raw range (`valid`),
    and none lets -1 (unless the MIB declares negative values), 2147483647 or 4294967295
    through as a gauge reading."""
    profile = load_profile_file(path)
    undeclared, leaking = [], []
    for group in profile.groups:
        if group.transform:
            continue  # entity-sensor: EntitySensorValue range enforced by the decoder
        for f in group.fields:
            if f.type not in ("gauge", "counter"):
                continue
            if f.valid is None:
                undeclared.append(f"{group.measurement}.{f.name}")
                continue
            negative_ok = f.valid.min is not None and f.valid.min < 0
            for raw in GENERIC_SENTINELS:
                if raw == -1 and negative_ok:
                    continue
                if raw > 2147483646 and (f.type == "counter" or (f.valid.max or 0) > 2147483647):
                    continue  # Counter32/64 and TimeTicks legitimately reach these values
                if not f.is_sentinel(raw):
                    leaking.append(f"{group.measurement}.{f.name} accepts {raw}")
    assert not undeclared, f"{path.name}: numeric fields without a MIB range: {undeclared}"
    assert not leaking, f"{path.name}: {leaking}"


async def test_sentinels_and_implausible_values_are_not_written(snmpsim, catalog, caplog) -> None:
    """ups-quirky: UPS-MIB card answering 4294967295 minutes (no estimate), charge -1,
    battery temperature -1, input frequency 5000 (0.01 Hz) and voltage 2269 (0.1 V)."""
    metrics = AgentMetrics()
    caplog.set_level(logging.INFO, logger="sentinelle.collectors.snmp")
    async with SnmpClient() as client:
        dev = make(snmpsim, "ups-quirky", catalog, client, metrics)
        first = await dev.poll(T0)
        await dev.poll(T0 + 60_000_000_000)
    ups = only(first, "ups")
    for name in ("battery_minutes_remaining", "battery_charge_pct", "battery_temperature_c"):
        assert name not in ups.fields
    assert ups.fields["battery_voltage_v"] == pytest.approx(521.0)  # real readings still there
    for p in (p for p in first if p.measurement == "ups_input"):
        assert "frequency_hz" not in p.fields and "voltage_v" not in p.fields
        assert p.fields["current_a"] == pytest.approx(21.0)
    # Counted per profile and field, at every poll; logged once per device and field.
    assert metrics.value("snmp_values_discarded",
                         {"profile": "ups-mib", "field": "ups.battery_minutes_remaining", "reason": "unsupported"}) == 2
    assert metrics.value("snmp_values_discarded",
                         {"profile": "ups-mib", "field": "ups_input.frequency_hz", "reason": "implausible"}) == 6
    freq_logs = [r for r in caplog.records if "ups_input.frequency_hz" in r.getMessage()]
    assert len(freq_logs) == 1 and "scale 0.01" in freq_logs[0].getMessage()


async def test_inventory_override_fixes_the_scale(snmpsim, catalog) -> None:
    cfg = parse_config("inventory: {sites: [{id: s, devices: [{id: d, snmp: {host: h}, overrides: {"
                       "ups_input.frequency_hz: {scale: 0.01}, ups_input.voltage_v: {scale: 0.1}}}]}]}")
    overrides = cfg.inventory.sites[0].devices[0].overrides
    async with SnmpClient() as client:
        points = await make(snmpsim, "ups-quirky", catalog, client, overrides=overrides).poll(T0)
    line1 = only(points, "ups_input", line="1")
    assert line1.fields["frequency_hz"] == pytest.approx(50.0)
    assert line1.fields["voltage_v"] == pytest.approx(226.9)


async def test_quirk_profile_matched_by_sysobjectid_and_sysdescr(snmpsim, tmp_path) -> None:
    (tmp_path / "eaton-quirk.yaml").write_text(
        'sys_object_ids: ["1.3.6.1.4.1.705.1"]\nsys_descr: "(?i)eaton"\n'
        "overrides: {ups_input.frequency_hz: {scale: 0.01}}\n")
    catalog = ProfileCatalog.load([tmp_path])
    async with SnmpClient() as client:
        points = await make(snmpsim, "ups-quirky", catalog, client).poll(T0)
    assert only(points, "ups_input", line="2").fields["frequency_hz"] == pytest.approx(50.0)
    args = parse(f"{snmpsim.host}:{snmpsim.port}", "--community", "ups-quirky", "--profiles-dir", str(tmp_path))
    out = io.StringIO()
    assert await args.func(args, out) == 0
    assert "Quirks     eaton-quirk" in out.getvalue()


def test_override_errors_name_the_key() -> None:
    with pytest.raises(Exception, match=r"overrides: 'voltage' is not 'measurement.field'"):
        parse_config("inventory: {sites: [{id: s, devices: [{id: d, snmp: {host: h}, overrides: {voltage: {scale: 1}}}]}]}")
    with pytest.raises(Exception, match=r"ups_input.voltage_v: scal"):
        parse_config("inventory: {sites: [{id: s, devices: [{id: d, snmp: {host: h}, overrides: "
                     "{ups_input.voltage_v: {scal: 0.1}}}]}]}")


async def test_unknown_sysobjectid_with_entity_sensor_gets_its_sensors(snmpsim, catalog, tmp_path) -> None:
    """appliance-entity-sensor: a real ENTITY-SENSOR-MIB agent behind a sysObjectID no profile
    names. One GETNEXT finds the table; the result is cached in the state file."""
    async with SnmpClient() as client:
        dev = make(snmpsim, "appliance-entity-sensor", catalog, client, tmp=tmp_path)
        points = await dev.poll(T0)
        assert "entity-sensor" in [p.name for p in dev.profiles or []]
        cpu = only(points, "sensor", index="100006001")
        assert cpu.fields == {"temperature_c": 28.2}  # 282, scale units, precision 1
        # A sensor typed other(1) whose vendor units say dBm: kept as optical power.
        optics = only(points, "sensor", index="100999001")
        assert optics.fields == {"rx_power_dbm": -5.2}
        state = json.loads((tmp_path / "appliance-entity-sensor.json").read_text())
        assert state["discovery"]["roots"] == ["1.3.6.1.2.1.99.1.1.1.1"]
        # A new agent process reuses the cached discovery: no GETNEXT (requests counted).
        again = make(snmpsim, "appliance-entity-sensor", catalog, client, tmp=tmp_path)
        before = client.requests
        await again.identify()
        assert client.requests - before == 1  # the identity GET only
        assert "entity-sensor" in [p.name for p in again.profiles or []]


async def test_vendor_family_without_a_listed_model(snmpsim_factory, tmp_path, catalog) -> None:
    """A Huawei OLT whose sysObjectID is not in the profile's list (another model of the
    line) gets the OLT profile from its family and its ONT table."""
    src = RECORDINGS / "huawei-ma5800-olt.snmprec"
    data = tmp_path / "data"
    data.mkdir()
    text = src.read_text().replace("1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.2011.2.248", "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.2011.2.999.4")
    assert "2011.2.999.4" in text
    (data / "olt-other-model.snmprec").write_text(text)
    sim = snmpsim_factory(data)
    async with SnmpClient() as client:
        dev = make(sim, "olt-other-model", catalog, client)
        points = await dev.poll(T0)
    assert "huawei-gpon-olt" in [p.name for p in dev.profiles or []]
    assert only(points, "ont", ont_id="0").fields["rx_power_dbm"] == pytest.approx(-21.5)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["probe", *argv])


async def test_probe_says_why_per_field(snmpsim) -> None:
    args = parse(f"{snmpsim.host}:{snmpsim.port}", "--community", "ups-quirky", "--json")
    out = io.StringIO()
    assert await args.func(args, out) == 0
    result = json.loads(out.getvalue())
    status = {(f["measurement"], f["field"]): f for f in result["fields"]}
    assert status[("ups", "battery_minutes_remaining")]["status"] == "not supported by the device"
    assert status[("ups", "battery_charge_pct")]["status"] == "not supported by the device"
    assert status[("ups_input", "frequency_hz")]["status"] == "implausible"
    assert "50.00 Hz with scale 0.01" in status[("ups_input", "frequency_hz")]["detail"][0]["text"]
    assert "226.90 V with scale 0.1" in status[("ups_input", "voltage_v")]["detail"][0]["text"]
    assert status[("ups", "battery_voltage_v")]["status"] == "answered"
    assert status[("interface", "speed_mbps")]["status"] == "outside the view or table end"  # no ifXTable
    assert not [v for v in result["values"] if v["field"] in ("battery_minutes_remaining", "frequency_hz")]
    assert not [m for m in result["not_answered"] if m["field"] in ("battery_minutes_remaining", "frequency_hz")]
    args = parse(f"{snmpsim.host}:{snmpsim.port}", "--community", "ups-quirky")
    out = io.StringIO()
    assert await args.func(args, out) == 0
    table = out.getvalue()
    assert "Not supported by the device" in table and "50.00 Hz with scale 0.01" in table


async def test_probe_no_such_object_against_snmpd(snmpd) -> None:
    """net-snmp answers noSuchObject for a UPS-MIB scalar it lacks; probe says so."""
    args = parse(f"127.0.0.1:{snmpd.port}", "--community", "public", "--profile", "ups-mib", "--json")
    out = io.StringIO()
    assert await args.func(args, out) == 0
    status = {(f["measurement"], f["field"]): f["status"] for f in json.loads(out.getvalue())["fields"]}
    assert status[("ups", "battery_status")] in ("noSuchObject", "noSuchInstance")
    assert status[("device_status", "uptime_s")] == "answered"


@pytest.mark.parametrize("text, host, port", [
    ("10.0.0.5", "10.0.0.5", 161), ("10.0.0.5:1161", "10.0.0.5", 1161), ("ups.example:162", "ups.example", 162),
    ("::1", "::1", 161), ("[::1]:161", "::1", 161), ("[fe80::1]", "fe80::1", 161),
])
def test_host_port_forms(text: str, host: str, port: int) -> None:
    assert cli.split_host_port(text, None) == (host, port)


@pytest.mark.parametrize("text", ["10.0.0.5:abc", "[::1", "[::1]x", ":161"])
def test_bad_host_port_is_a_usage_error(text: str) -> None:
    with pytest.raises(ValueError):
        cli.split_host_port(text, None)


async def test_real_sentry4_recording(snmpsim, catalog) -> None:
    """librenms-sentry4: a real ServerTech Sentry4 (LibreNMS test data). Units per Sentry4-MIB:
    cord power W, power factor hundredths, energy tenths of kWh, phase voltage tenths of V,
    current hundredths of A. Both temperature probes answer -410 ("reading invalid": no probe
    plugged in): no sensor point rather than -41 °C."""
    metrics = AgentMetrics()
    async with SnmpClient() as client:
        dev = make(snmpsim, "librenms-sentry4", catalog, client, metrics)
        points = await dev.poll(T0)
    assert "servertech-sentry4" in [p.name for p in dev.profiles or []]
    cord = only(points, "pdu", unit="1", cord="1")
    assert cord.tags["cord_name"] == "Master_Cord_A"
    assert cord.fields["power_w"] == 1701 and cord.fields["apparent_power_va"] == 1790
    assert cord.fields["power_factor"] == pytest.approx(0.95)
    assert cord.fields["energy_kwh_total"] == pytest.approx(893.7)
    phase = only(points, "pdu_phase", phase_index="1")
    assert phase.tags["phase"] == "AA:L1-L2"
    assert phase.fields["voltage_v"] == pytest.approx(207.9)
    assert phase.fields["current_a"] == pytest.approx(2.09) and phase.fields["power_w"] == 415
    assert not [p for p in points if p.measurement == "sensor"]
    assert metrics.value("snmp_values_discarded", {"profile": "servertech-sentry4", "field": "sensor.temperature_c",
                                                   "reason": "unsupported"}) == 2


async def test_real_raritan_recording_found_by_family(snmpsim, catalog) -> None:
    """librenms-raritan-px: a real Raritan PX whose sysObjectID (13742.4) is not the PDU2
    prefix; it answers the PDU2 inlet sensor table, so family discovery selects raritan-pdu2.
    Values are Unsigned32 scaled by the per-sensor decimal digits (PDU2-MIB)."""
    async with SnmpClient() as client:
        dev = make(snmpsim, "librenms-raritan-px", catalog, client)
        points = await dev.poll(T0)
    assert "raritan-pdu2" in [p.name for p in dev.profiles or []]
    inlet = only(points, "pdu", pdu_module="1", inlet="1")
    assert inlet.tags["inlet_label"] == "I1"
    assert inlet.fields["current_a"] == pytest.approx(0.680)  # 680, 3 decimal digits
    assert inlet.fields["voltage_v"] == 233 and inlet.fields["power_w"] == 138
    assert inlet.fields["frequency_hz"] == pytest.approx(50.0)  # 500, 1 decimal digit
    outlet = only(points, "pdu_outlet", outlet="3")
    assert outlet.tags["outlet_name"] == "OUTLET3"
    assert outlet.fields["current_a"] == pytest.approx(0.311) and outlet.fields["power_w"] == 68
    assert "outlet_name" not in only(points, "pdu_outlet", outlet="1").tags  # empty name: no tag


def _vb(oid: str, value: int, syntax: str = "Integer32") -> Varbind:
    return Varbind(oid, syntax, value)


def test_power_within_rating_and_battery_around_nominal(catalog) -> None:
    """`plausible.relative_to`: UPS-MIB output power above 1.5 x upsConfigOutputPower, and an
    APC battery at 10x its nominal voltage, are implausible; within range they are readings.
    (Pure decoding of answers as the client returns them.)"""
    ups = catalog.get("ups-mib")
    rating = "1.3.6.1.2.1.33.1.9.6.0"
    col = "1.3.6.1.2.1.33.1.4.4.1.4"
    for power, ok in ((5100, True), (150_000, False)):
        discarded: list[Discarded] = []
        rows = decode([ups], {rating: _vb(rating, 72090)}, {col: {"1": _vb(f"{col}.1", power)}}, None, discarded)
        line = [r for r in rows if r.measurement == "ups_output"]
        assert bool(line and "power_w" in line[0].fields) is ok
        assert bool(discarded) is not ok
    apc = catalog.get("apc-ups")
    actual, nominal = "1.3.6.1.4.1.318.1.1.1.2.2.8.0", "1.3.6.1.4.1.318.1.1.1.2.2.7.0"
    discarded = []
    rows = decode([apc], {actual: _vb(actual, 480), nominal: _vb(nominal, 48)}, {}, None, discarded)
    assert not [r for r in rows if "battery_voltage_v" in r.fields]
    assert discarded[0].verdict is not None and discarded[0].verdict.likely_scale == pytest.approx(0.1)
    rows = decode([apc], {actual: _vb(actual, 54), nominal: _vb(nominal, 48)}, {}, None, [])
    assert rows[0].fields["battery_voltage_v"] == 54


def test_entity_sensor_unavailable_and_out_of_range_are_unsupported(catalog) -> None:
    profile = catalog.get("entity-sensor")
    base = "1.3.6.1.2.1.99.1.1.1"
    tables = {f"{base}.1": {"1": _vb(f"{base}.1.1", 8), "2": _vb(f"{base}.1.2", 8), "3": _vb(f"{base}.1.3", 8)},
              f"{base}.2": {i: _vb(f"{base}.2.{i}", 9) for i in "123"},
              f"{base}.3": {i: _vb(f"{base}.3.{i}", 0) for i in "123"},
              f"{base}.4": {"1": _vb(f"{base}.4.1", 31), "2": _vb(f"{base}.4.2", 2_000_000_000),
                            "3": _vb(f"{base}.4.3", 30)},
              f"{base}.5": {"1": _vb(f"{base}.5.1", 1), "2": _vb(f"{base}.5.2", 1), "3": _vb(f"{base}.5.3", 2)}}
    discarded: list[Discarded] = []
    rows = decode([profile], {}, tables, None, discarded)
    assert [(r.tags["index"], r.fields) for r in rows] == [("1", {"temperature_c": 31.0})]
    assert sorted((d.tags["index"], d.reason) for d in discarded) == [("2", "unsupported"), ("3", "unsupported")]


async def test_host_resources_against_net_snmp(snmpd, catalog) -> None:
    """net-snmp's own HOST-RESOURCES-MIB: storage sizes equal what snmpwalk reads, loads are
    percentages (MIB: 0..100), used never above size."""
    target = SnmpTargetSettings(host="127.0.0.1", port=snmpd.port, community="public")
    async with SnmpClient() as client:
        dev = SnmpDevice(DeviceSettings(id="srv", snmp=target), client.session(target), catalog, 60.0)
        points = await dev.poll(T0)
    assert "host-resources" in [p.name for p in dev.profiles or []]

    async def snmpwalk(column: str) -> dict[str, float]:
        out = (await asyncio.to_thread(
            subprocess.run, ["snmpwalk", "-v2c", "-c", "public", "-On", "-Oq", f"127.0.0.1:{snmpd.port}", column],
            capture_output=True, text=True, timeout=20, check=True)).stdout
        return {line.split()[0].rsplit(".", 1)[1]: float(line.split()[1]) for line in out.splitlines()
                if line.startswith("." + column + ".")}

    async def snmpwalk_text(column: str) -> dict[str, str]:
        out = (await asyncio.to_thread(
            subprocess.run, ["snmpwalk", "-v2c", "-c", "public", "-On", "-Oq", f"127.0.0.1:{snmpd.port}", column],
            capture_output=True, text=True, timeout=20, check=True)).stdout
        return {line.split()[0].rsplit(".", 1)[1]: line.split()[1] for line in out.splitlines()
                if line.startswith("." + column + ".")}

    reference = await snmpwalk("1.3.6.1.2.1.25.2.3.1.5")
    storage = {p.tags["storage_index"]: p for p in points if p.measurement == "host_storage"}
    # Every row snmpwalk sees is polled...
    assert reference and set(storage) == set(reference)
    # ...and the sizes of disks equal snmpwalk's exactly. RAM, buffer and cache rows
    # (hrStorageRam, hrStorageOther, hrStorageVirtualMemory) are live and change between two
    # reads of this machine: they are only checked to be plausible below.
    types = await snmpwalk_text("1.3.6.1.2.1.25.2.3.1.2")
    disks = {k for k, t in types.items() if t.rsplit(".", 1)[-1] in {"4", "10"}}  # FixedDisk, NetworkDisk
    assert {k: storage[k].fields["size_units"] for k in disks} == {k: reference[k] for k in disks}
    for p in storage.values():
        assert 0 <= p.fields.get("used_units", 0) <= p.fields["size_units"]
    # This container's snmpd may have no hrProcessorTable rows: then none may be invented.
    cpus = {p.tags["cpu"]: p.fields["load_pct"] for p in points if p.measurement == "host_cpu"}
    assert set(cpus) == set(await snmpwalk("1.3.6.1.2.1.25.3.3.1.2"))
    assert all(0 <= v <= 100 for v in cpus.values())


async def test_discovery_is_redone_when_stale_or_after_a_reboot(snmpsim, catalog, tmp_path) -> None:
    """A cached discovery that says "no candidate tables" is trusted for a day; older, or once
    the device rebooted (sysUpTime went back), the device is asked again."""
    state = tmp_path / "appliance-entity-sensor.json"
    uptime_cs = 1692177370  # the recording's sysUpTime
    now = time.time()

    def write(at: float, last_uptime_cs: int | None) -> None:
        state.write_text(json.dumps({
            "discovery": {"sys_object_id": "1.3.6.1.4.1.99999.1.7", "roots": [], "at": at},
            "uptime": [last_uptime_cs, T0 / 1e9] if last_uptime_cs is not None else None}))

    async with SnmpClient() as client:
        write(now - 60, None)  # fresh: trusted, so no entity-sensor
        dev = make(snmpsim, "appliance-entity-sensor", catalog, client, tmp=tmp_path)
        await dev.identify()
        assert "entity-sensor" not in [p.name for p in dev.profiles or []]

        write(now - 2 * 86_400, None)  # two days old: asked again
        dev = make(snmpsim, "appliance-entity-sensor", catalog, client, tmp=tmp_path)
        await dev.identify()
        assert "entity-sensor" in [p.name for p in dev.profiles or []]

        write(now - 60, uptime_cs + 10_000_000)  # fresh, but the device has rebooted since
        dev = make(snmpsim, "appliance-entity-sensor", catalog, client, tmp=tmp_path)
        first = await dev.poll(T0 + 60_000_000_000)
        assert only(first, "device_status").fields.get("rebooted") is True
        assert not [p for p in first if p.measurement == "sensor"]  # still the cached answer
        second = await dev.poll(T0 + 120_000_000_000)
        assert [p for p in second if p.measurement == "sensor"]


async def test_real_ups_mib_cards(snmpsim, catalog) -> None:
    """Real UPS-MIB cards from snmpsim-data, decoded against RFC 1628's units and ranges."""
    async with SnmpClient() as client:
        huawei = await make(snmpsim, "huawei-ups5000", catalog, client).poll(T0)
        args = parse(f"{snmpsim.host}:{snmpsim.port}", "--community", "huawei-ups5000", "--json")
        out = io.StringIO()
        assert await args.func(args, out) == 0
        text = [d["text"] for d in json.loads(out.getvalue())["discarded"]
                if (d["measurement"], d["field"]) == ("ups_output", "power_w")]
        assert text and "likely 3400.00 W with scale 100" in text[0]
        phoenix = await make(snmpsim, "phoenixtec-ups", catalog, client).poll(T0)
        east = await make(snmpsim, "eastpower-istars-ups", catalog, client).poll(T0)
        ingrasys = await make(snmpsim, "ingrasys-ups", catalog, client).poll(T0)
    # Huawei UPS5000 (GSE200M): minutes, charge and battery temperature answer -1 (not
    # implemented); frequencies and voltages in 0.01 Hz / 0.1 V, fixed by the shipped quirk.
    ups = only(huawei, "ups")
    assert not {"battery_minutes_remaining", "battery_charge_pct", "battery_temperature_c"} & set(ups.fields)
    assert ups.fields["battery_voltage_v"] == pytest.approx(538.5)  # 5385 x 0.1 V
    assert ups.fields["output_frequency_hz"] == pytest.approx(49.99)
    line = only(huawei, "ups_input", line="1")
    assert line.fields["frequency_hz"] == pytest.approx(50.0) and line.fields["voltage_v"] == pytest.approx(236.9)
    assert line.fields["current_a"] == pytest.approx(15.2)
    out_line = only(huawei, "ups_output", line="1")
    assert out_line.fields["voltage_v"] == pytest.approx(219.9)
    # Output power 34 "W" for 219.9 V x 18.3 A (4.0 kVA) at 8 % load: not watts (a power
    # factor of 0.008), so not written; probe shows the likely scale.
    assert "power_w" not in out_line.fields and "output_power_w" not in ups.fields
    # Phoenixtec: single-phase (upsInputNumLines = upsOutputNumLines = 1) padding lines 2-3
    # with zeros: those are not lines.
    assert [p.tags["line"] for p in phoenix if p.measurement == "ups_input"] == ["1"]
    assert [p.tags["line"] for p in phoenix if p.measurement == "ups_output"] == ["1"]
    assert only(phoenix, "ups_input").fields["voltage_v"] == 238
    assert only(phoenix, "ups_input").fields["frequency_hz"] == pytest.approx(50.0)
    assert only(phoenix, "ups").fields["battery_voltage_v"] == pytest.approx(41.0)
    # EAST iStars: upsEstimatedMinutesRemaining 0 on mains is outside PositiveInteger (no estimate).
    assert "battery_minutes_remaining" not in only(east, "ups").fields
    assert only(east, "ups").fields["battery_charge_pct"] == 100
    assert sorted(p.fields["load_pct"] for p in east if p.measurement == "ups_output") == [20, 26, 30]
    # Ingrasys: 3 lines, output power within upsConfigOutputPower (48000 W) and V x I.
    assert only(ingrasys, "ups").fields["output_power_w"] == 7900 + 5500 + 7700
    assert only(ingrasys, "ups").fields["battery_temperature_c"] == 32
    assert "output_frequency_hz" not in only(ingrasys, "ups").fields  # TimeTicks 0: 0 Hz is not mains


async def test_real_firewall_with_unknown_sysobjectid_gets_its_sensors(snmpsim, catalog) -> None:
    """paloalto-pa5050: a real Palo Alto PA-5050 (sysObjectID 1.3.6.1.4.1.25461.2.3.9, named by
    no profile) implementing ENTITY-SENSOR-MIB: 10 fans (rpm) and 4 temperatures (celsius,
    scale units, precision 0), found by discovery."""
    async with SnmpClient() as client:
        dev = make(snmpsim, "paloalto-pa5050", catalog, client)
        points = await dev.poll(T0)
    assert dev.sys_object_id == "1.3.6.1.4.1.25461.2.3.9"
    assert "entity-sensor" in [p.name for p in dev.profiles or []]
    sensors = {p.tags["index"]: p for p in points if p.measurement == "sensor"}
    assert sensors["12"].tags["sensor"] == "Temperature @ 10G Phys [U171]"
    assert sensors["12"].fields == {"temperature_c": 23.0}
    assert sensors["13"].fields == {"temperature_c": 34.0}
    assert sensors["2"].fields == {"fan_rpm": 4618.0}
    assert sum(1 for p in sensors.values() if "fan_rpm" in p.fields) == 10


def test_probe_status_timeout_and_absent_kinds(catalog) -> None:
    """The per-field words when a request timed out, or the agent said noSuchInstance /
    endOfMibView (statuses computed from what the client returned)."""
    ups = catalog.get("ups-mib")
    minutes, status_oid = "1.3.6.1.2.1.33.1.2.3.0", "1.3.6.1.2.1.33.1.2.1.0"
    scalars = {minutes: Varbind(minutes, "NoSuchInstance", None), status_oid: Varbind(status_oid, "EndOfMibView", None)}
    timed_out = {"1.3.6.1.2.1.33.1.3.3.1.2"}
    rows = cli.field_statuses([ups], scalars, {}, timed_out, [], [])
    status = {(f["measurement"], f["field"]): f["status"] for f in rows}
    assert status[("ups", "battery_minutes_remaining")] == "noSuchInstance"
    assert status[("ups", "battery_status")] == "outside the view or table end"
    assert status[("ups_input", "frequency_hz")] == "timeout"
    assert status[("ups_input", "voltage_v")] == "outside the view or table end"


def test_entity_sensor_implausible_value_gets_a_likely_scale(catalog) -> None:
    """A temperature sensor declaring scale units but answering tenths (282 for 28.2 °C)."""
    profile = catalog.get("entity-sensor")
    base = "1.3.6.1.2.1.99.1.1.1"
    tables = {f"{base}.1": {"7": _vb(f"{base}.1.7", 8)}, f"{base}.2": {"7": _vb(f"{base}.2.7", 9)},
              f"{base}.3": {"7": _vb(f"{base}.3.7", 0)}, f"{base}.4": {"7": _vb(f"{base}.4.7", 282)},
              f"{base}.5": {"7": _vb(f"{base}.5.7", 1)}}
    discarded: list[Discarded] = []
    assert decode([profile], {}, tables, None, discarded) == []
    assert discarded[0].reason == "implausible" and "likely 28.20" in discarded[0].describe("°C")


def test_olt_unknown_run_status_is_not_offline(catalog) -> None:
    """HUAWEI-XPON-MIB run status unknown(-1) (ONT not yet reported) is neither online nor
    offline: no `online` field, so it is not counted in onts_total."""
    olt = catalog.get("huawei-gpon-olt")
    col = "1.3.6.1.4.1.2011.6.128.1.1.2.46.1.15"
    tables = {col: {"4194312192.0": _vb(f"{col}.4194312192.0", 1), "4194312192.1": _vb(f"{col}.4194312192.1", -1)}}
    discarded: list[Discarded] = []
    rows = decode([olt], {}, tables, None, discarded)
    assert [r.tags["ont_id"] for r in rows if r.measurement == "ont"] == ["0"]
    pon = [r for r in rows if r.measurement == "pon"]
    assert pon[0].fields["onts_total"] == 1 and pon[0].fields["onts_online"] == 1
    assert [(d.name, d.reason) for d in discarded] == [("online", "unsupported")]


@pytest.fixture
def snmpd_ipv6(tmp_path: Path):
    """A minimal net-snmp agent on [::1] (loopback only), for `probe [::1]:PORT`."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "snmpd6.conf"
    conf.write_text(f"agentaddress udp6:[::1]:{port}\nrocommunity6 public ::1\n")
    binary = shutil.which("snmpd", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    assert binary, "snmpd (Debian package snmpd) is needed"
    proc = subprocess.Popen([binary, "-f", "-Lf", str(tmp_path / "snmpd.log"), "-C", "-c", str(conf),
                             "-p", str(tmp_path / "snmpd.pid")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):  # ready when it answers (bounded: 5 s)
            done = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "0.1", "-r", "0", f"udp6:[::1]:{port}",
                                   "1.3.6.1.2.1.1.1.0"], capture_output=True, text=True, timeout=5)
            if done.returncode == 0:
                break
        else:
            pytest.fail(f"snmpd on [::1]:{port} did not start: {(tmp_path / 'snmpd.log').read_text()[-500:]}")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_probe_ipv6_host_port(snmpd_ipv6: int) -> None:
    args = parse(f"[::1]:{snmpd_ipv6}", "--json")
    out = io.StringIO()
    assert await args.func(args, out) == 0
    result = json.loads(out.getvalue())
    assert result["host"] == "::1" and result["port"] == snmpd_ipv6
    assert result["sys_object_id"].startswith("1.3.6.1.4.1.8072.3.2")  # net-snmp


@pytest.mark.parametrize("backend", ["gufo", "pysnmp"])
async def test_ipv6_device_on_both_backends(snmpd_ipv6: int, backend: str) -> None:
    """GET, GETNEXT (discovery) and a column walk to an IPv6 literal, through each backend."""
    from pydantic import SecretStr

    target = SnmpTargetSettings(host="::1", port=snmpd_ipv6, community=SecretStr("public"), backend=backend)
    async with SnmpClient() as client:
        session = client.session(target)
        assert session.backend_name == backend
        got = await session.get(["1.3.6.1.2.1.1.2.0"])
        assert str(got["1.3.6.1.2.1.1.2.0"].value).startswith("1.3.6.1.4.1.8072.3.2")
        nxt = await session.get_next(["1.3.6.1.2.1.1"])
        assert nxt["1.3.6.1.2.1.1"].oid.startswith("1.3.6.1.2.1.1.") and not nxt["1.3.6.1.2.1.1"].absent
        column = await session.walk_column("1.3.6.1.2.1.2.2.1.2")  # ifDescr
        assert column and any(vb.text() == "lo" for vb in column.values())
        await session.close()


async def test_override_matching_no_field_is_reported(snmpsim, catalog, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="sentinelle.collectors.snmp")
    cfg = parse_config("inventory: {sites: [{id: s, devices: [{id: d, snmp: {host: h}, overrides: {"
                       "ups_input.frequncy_hz: {scale: 0.01}}}]}]}")
    async with SnmpClient() as client:
        dev = make(snmpsim, "ups-quirky", catalog, client, overrides=cfg.inventory.sites[0].devices[0].overrides)
        await dev.identify()
    assert any("ups_input.frequncy_hz match no field" in r.getMessage() for r in caplog.records)


async def test_eaton_93e_input_power_zero_under_load_is_not_a_reading(snmpsim, catalog) -> None:
    """eaton-93e-ups (real): upsInputTruePower answers 0 W on lines carrying 227 V x 21.0 A.
    0 W at 4.8 kVA is "not measured", not a reading; the output lines (5100 W) are."""
    async with SnmpClient() as client:
        points = await make(snmpsim, "eaton-93e-ups", catalog, client).poll(T0)
    for p in (p for p in points if p.measurement == "ups_input"):
        assert "power_w" not in p.fields and p.fields["current_a"] == pytest.approx(21.0)
    assert "input_power_w" not in only(points, "ups").fields
    assert only(points, "ups_output", line="1").fields["power_w"] == 5100
