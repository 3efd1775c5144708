"""SNMP collector against real agents: snmpsim serving real recordings and vendor-documented
ones (collectors/snmp/testdata), net-snmp snmpd for SNMPv3, a silent UDP socket for the
black hole. Expected values are read from the recording files, not from our own output."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from sentinelle.agent.config import DeviceSettings, parse_config
from sentinelle.agent.core import Point, PollTarget
from sentinelle.agent.lineprotocol import encode_point
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.collectors.snmp import cli
from sentinelle.collectors.snmp.client import SnmpClient, SnmpError
from sentinelle.collectors.snmp.device import SnmpDevice, build_targets
from sentinelle.collectors.snmp.profiles import ProfileCatalog
from sentinelle.collectors.snmp.settings import SnmpSettings, SnmpTargetSettings

TESTDATA = Path(__file__).resolve().parents[3] / "collectors" / "snmp" / "testdata"
T0 = 1_700_000_000_000_000_000


def recorded(name: str, oid: str) -> str:
    """The value a recording holds for `oid` (hex strings decoded)."""
    for line in (TESTDATA / f"{name}.snmprec").read_text().splitlines():
        if line.count("|") < 2:
            continue  # a recording may end with a stray line
        o, tag, value = line.split("|", 2)
        if o == oid:
            return bytes.fromhex(value).decode() if tag.endswith("x") else value
    raise KeyError(oid)


@pytest.fixture(scope="module")
def catalog() -> ProfileCatalog:
    return ProfileCatalog.load()


def device(sim, community: str, catalog: ProfileCatalog, client: SnmpClient, **kw) -> SnmpDevice:
    target = SnmpTargetSettings(host=sim.host, port=sim.port, community=community, **kw)
    return SnmpDevice(DeviceSettings(id=community.replace("/", "-"), snmp=target), client.session(target), catalog, 60.0)


def only(points: list[Point], measurement: str, **tags: str) -> Point:
    found = [p for p in points if p.measurement == measurement and all(p.tags.get(k) == v for k, v in tags.items())]
    assert len(found) == 1, f"{measurement} {tags}: {len(found)} points"
    return found[0]


async def test_system_group_matches_recording(snmpsim, catalog) -> None:
    async with SnmpClient() as client:
        dev = device(snmpsim, "cisco-c3750-switch", catalog, client)
        assert isinstance(dev, PollTarget)
        points = await dev.poll(T0)
    status = only(points, "device_status")
    assert status.tags == {"device": "cisco-c3750-switch"}
    assert status.fields["reachable"] is True
    assert status.fields["sys_name"] == recorded("cisco-c3750-switch", "1.3.6.1.2.1.1.5.0")
    assert status.fields["uptime_s"] == int(recorded("cisco-c3750-switch", "1.3.6.1.2.1.1.3.0")) / 100
    assert status.fields["poll_duration_s"] > 0
    assert all(p.time_ns == T0 for p in points)
    gi = [p for p in points if p.measurement == "interface" and p.tags.get("interface", "").startswith("Gi")]
    assert gi and all(isinstance(p.fields["oper_up"], bool) for p in gi)


@pytest.mark.parametrize("community, profile", [
    ("apc-ap8641", "apc-rpdu2"), ("apc-ap7902b", "apc-rpdu2"), ("apc-ap8932", "apc-rpdu2"),
    ("eaton-93e-ups", "ups-mib"), ("arista-entity-sensor", "entity-sensor"), ("cisco-c3750-switch", "if-mib"),
    ("raritan-px2", "raritan-pdu2"), ("servertech-pro2", "servertech-sentry4"), ("eaton-epdu-g3", "eaton-epdu"),
    ("huawei-ma5800-olt", "huawei-gpon-olt"), ("zte-c320-olt", "zte-gpon-olt"),
])
async def test_profile_auto_selection(snmpsim, catalog, community: str, profile: str) -> None:
    async with SnmpClient() as client:
        dev = device(snmpsim, community, catalog, client)
        await dev.identify()
    assert profile in [p.name for p in dev.profiles or []]


async def test_apc_rpdu2_power_energy_and_sentinels(snmpsim, catalog) -> None:
    async with SnmpClient() as client:
        points = await device(snmpsim, "apc-ap8641", catalog, client).poll(T0)
        old = await device(snmpsim, "apc-ap7902b", catalog, client).poll(T0)
    pdu = only(points, "pdu")
    # rPDU2DeviceStatusPower is in hundredths of kW, Energy in tenths of kWh.
    assert pdu.fields["power_w"] == int(recorded("apc-ap8641", "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1")) * 10 == 1210
    assert pdu.fields["energy_kwh_total"] == pytest.approx(1951.6)
    assert pdu.fields["energy_start_time"] == recorded("apc-ap8641", "1.3.6.1.4.1.318.1.1.26.4.3.1.10.1")
    outlet = only(points, "pdu_outlet", outlet="1")
    assert outlet.tags["outlet_name"] == "CP-CM-SAN-01"
    assert outlet.fields["power_w"] == 163 and outlet.fields["energy_kwh_total"] == pytest.approx(304.6)
    assert only(points, "pdu_phase").fields["current_a"] == pytest.approx(6.5)
    # The AP7902B answers -1 ("not supported") for power and energy: no reading at all.
    old_pdu = only(old, "pdu")
    assert "power_w" not in old_pdu.fields and "energy_kwh_total" not in old_pdu.fields


async def test_ups_mib_eaton(snmpsim, catalog) -> None:
    async with SnmpClient() as client:
        points = await device(snmpsim, "eaton-93e-ups", catalog, client).poll(T0)
    ups = only(points, "ups")
    assert ups.fields["battery_minutes_remaining"] == float(recorded("eaton-93e-ups", "1.3.6.1.2.1.33.1.2.3.0")) == 1092
    assert ups.fields["battery_status"] == "normal" and ups.fields["on_battery"] is False
    assert ups.fields["output_source"] == "normal"
    assert ups.fields["output_power_w"] == 5100 + 3600 + 2700  # sum of upsOutputPower lines
    assert ups.fields["output_load_pct"] == 21
    assert ups.fields["battery_voltage_v"] == pytest.approx(521.0)
    assert not [p for p in points if p.measurement == "event"]


async def test_entity_sensor_scaling_and_optics(snmpsim, catalog) -> None:
    async with SnmpClient() as client:
        points = await device(snmpsim, "arista-entity-sensor", catalog, client).poll(T0)
    cpu = only(points, "sensor", index="100006001")
    assert cpu.tags["sensor"] == "Cpu temp sensor"  # entPhysicalName empty -> entPhysicalDescr
    assert cpu.fields == {"temperature_c": 28.2}  # 282, scale units(9), precision 1
    # DOM TX power: watts, scale milli(8), precision 4: 6015 -> 0.6015 mW -> -2.21 dBm
    tx = only(points, "sensor", index="100305212")
    assert tx.fields["tx_power_dbm"] == pytest.approx(-2.208, abs=0.001)


async def test_vendor_recordings_decode(snmpsim, catalog) -> None:
    async with SnmpClient() as client:
        raritan = await device(snmpsim, "raritan-px2", catalog, client).poll(T0)
        sentry = await device(snmpsim, "servertech-pro2", catalog, client).poll(T0)
        eaton = await device(snmpsim, "eaton-epdu-g3", catalog, client).poll(T0)
        huawei = await device(snmpsim, "huawei-ma5800-olt", catalog, client).poll(T0)
        zte = await device(snmpsim, "zte-c320-olt", catalog, client).poll(T0)
    inlet = only(raritan, "pdu")
    assert inlet.fields["current_a"] == pytest.approx(4.25)  # 4250 with 3 decimal digits
    assert inlet.fields["power_w"] == 912 and inlet.fields["energy_kwh_total"] == pytest.approx(18254.3)
    assert only(raritan, "pdu_outlet", outlet="2").tags["outlet_name"] == "switch-1"
    assert only(sentry, "pdu").fields["energy_kwh_total"] == pytest.approx(12345.6)
    assert only(sentry, "pdu_phase").fields["voltage_v"] == pytest.approx(230.1)
    # Outlet 2 answers -1 ("not available") everywhere: no point rather than zeros.
    assert [p.tags["outlet"] for p in sentry if p.measurement == "pdu_outlet"] == ["1"]
    assert only(eaton, "pdu").fields["energy_kwh_total"] == pytest.approx(7650.0)
    assert only(eaton, "pdu_outlet", outlet="2").fields["power_w"] == 455
    pon = only(huawei, "pon")
    assert pon.tags["pon"] == "GPON 0/2/0" and pon.fields["onts_online"] == 2 and pon.fields["onts_total"] == 3
    assert only(huawei, "ont", ont_id="0").fields["rx_power_dbm"] == pytest.approx(-21.5)
    assert "rx_power_dbm" not in only(huawei, "ont", ont_id="2").fields  # 2147483647: no value
    assert only(zte, "ont", ont_id="1").fields["rx_power_dbm"] == pytest.approx(-22.0)  # 4000 x 0.002 - 30
    assert only(zte, "pon").fields["onts_online"] == 1


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that receives and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


async def test_black_hole_does_not_delay_other_devices(snmpsim, catalog, black_hole) -> None:
    async with SnmpClient(SnmpSettings(timeout=1.0, retries=1)) as client:
        dead_target = SnmpTargetSettings(host="127.0.0.1", port=black_hole, community="public")
        dead = SnmpDevice(DeviceSettings(id="dead", snmp=dead_target), client.session(dead_target), catalog, 60.0)
        alive = device(snmpsim, "eaton-93e-ups", catalog, client)
        started = time.monotonic()
        dead_task = asyncio.create_task(dead.poll(T0))
        alive_points = await alive.poll(T0)
        alive_done = time.monotonic() - started
        dead_points = await dead_task
        dead_done = time.monotonic() - started
    assert only(alive_points, "device_status").fields["reachable"] is True
    assert alive_done < dead_done  # the live device finished while the dead one was still waiting
    status = only(dead_points, "device_status")
    assert status.fields == {"reachable": False, "error": "timeout"}
    assert only(dead_points, "event").fields["kind"] == "unreachable"


async def test_deadline_and_recovery_events(snmpsim, catalog) -> None:
    async with SnmpClient() as client:
        dev = device(snmpsim, "eaton-93e-ups", catalog, client)
        cancelled = dev.on_deadline(T0)
        assert only(cancelled, "device_status").fields == {"reachable": False, "error": "deadline"}
        assert only(cancelled, "event").fields["state"] == "start"
        points = await dev.poll(T0 + 90_000_000_000)
    back = only(points, "event")
    assert back.fields["kind"] == "unreachable" and back.fields["state"] == "end"
    assert back.fields["duration_s"] == 90.0


async def test_snmpv3_authpriv_against_snmpd(snmpd, catalog) -> None:
    target = SnmpTargetSettings(host=snmpd.host, port=snmpd.port, version=3, user=snmpd.user, auth_protocol="sha",
                        auth_key=SecretStr(snmpd.auth_key), priv_protocol="aes", priv_key=SecretStr(snmpd.priv_key))
    target512 = SnmpTargetSettings(host=snmpd.host, port=snmpd.port, version=3, user=snmpd.user512, auth_protocol="sha512",
                           auth_key=SecretStr(snmpd.auth_key512), priv_protocol="aes256",
                           priv_key=SecretStr(snmpd.priv_key512))
    async with SnmpClient() as client:
        got = await client.session(target).get(["1.3.6.1.2.1.1.6.0"])
        got512 = await client.session(target512).get(["1.3.6.1.2.1.1.6.0"])
        points = await SnmpDevice(DeviceSettings(id="srv", snmp=target), client.session(target), catalog, 60.0).poll(T0)
    assert got["1.3.6.1.2.1.1.6.0"].text() == snmpd.sys_location
    assert got512["1.3.6.1.2.1.1.6.0"].text() == snmpd.sys_location
    assert only(points, "device_status").fields["reachable"] is True
    assert only(points, "host").fields["processes"] > 0  # HOST-RESOURCES picked by detection


async def test_snmpv3_wrong_key_is_a_clear_error_without_the_key(snmpd, catalog, caplog) -> None:
    wrong = "not-the-right-auth-key-42"
    target = SnmpTargetSettings(host=snmpd.host, port=snmpd.port, version=3, user=snmpd.user, auth_protocol="sha",
                        auth_key=SecretStr(wrong), priv_protocol="aes", priv_key=SecretStr(snmpd.priv_key),
                        timeout=1.0, retries=0)
    metrics = AgentMetrics()
    caplog.set_level(logging.DEBUG)
    async with SnmpClient() as client:
        with pytest.raises(SnmpError) as err:
            await client.session(target).get(["1.3.6.1.2.1.1.5.0"])
        dev = SnmpDevice(DeviceSettings(id="srv", snmp=target), client.session(target), catalog, 60.0, metrics,
                         Problems(logging.getLogger("sentinelle.collectors.snmp")))
        points = await dev.poll(T0)
    assert err.value.kind == "auth" and "wrong digest" in str(err.value)
    assert only(points, "device_status").fields == {"reachable": False, "error": "auth"}
    assert "wrong digest" in caplog.text
    assert wrong not in caplog.text and snmpd.priv_key not in caplog.text
    assert wrong not in str(err.value) and all(wrong not in encode_point(p) for p in points)
    assert metrics.value("snmp_errors", {"device": "srv", "kind": "auth"}) == 1


async def test_snmpv3_unknown_user(snmpd) -> None:
    target = SnmpTargetSettings(host=snmpd.host, port=snmpd.port, version=3, user="nobody", auth_protocol="sha",
                        auth_key=SecretStr("whatever-key-1"), timeout=1.0, retries=0)
    async with SnmpClient() as client:
        with pytest.raises(SnmpError) as err:
            await client.session(target).get(["1.3.6.1.2.1.1.5.0"])
    assert err.value.kind == "unknown_user"


async def test_snmpv1_walk_and_missing_object(snmpsim) -> None:
    target = SnmpTargetSettings(host=snmpsim.host, port=snmpsim.port, community="cisco-c3750-switch", version=1)
    async with SnmpClient() as client:
        session = client.session(target)
        got = await session.get(["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.99.0"])
        walked = await session.walk(["1.3.6.1.2.1.2.2.1.2"])
    assert got["1.3.6.1.2.1.1.5.0"].text() == "DUMSYS-90" and got["1.3.6.1.2.1.1.99.0"].absent
    recorded_rows = [line for line in (TESTDATA / "cisco-c3750-switch.snmprec").read_text().splitlines()
                     if line.startswith("1.3.6.1.2.1.2.2.1.2.")]
    assert len(walked["1.3.6.1.2.1.2.2.1.2"]) == len(recorded_rows)


async def test_build_targets_from_config(snmpsim, tmp_path) -> None:
    config = parse_config(f"""
agent: {{data_dir: {tmp_path}}}
inventory:
  sites:
    - id: nro-1
      devices:
        - {{id: pdu-a, snmp: {{host: 127.0.0.1, port: {snmpsim.port}, community: apc-ap8641}}, profile: apc-rpdu2}}
        - {{id: lora-gw, kind: lora}}
""")
    async with SnmpClient(config.snmp) as client:
        targets = build_targets(config, client, AgentMetrics(), Problems(logging.getLogger("t")))
        assert [t.id for t in targets] == ["pdu-a"] and targets[0].interval_s == 60.0
        await targets[0].poll(T0)
        points = await targets[0].poll(T0 + 60_000_000_000)
    # state persisted in the data dir; the second poll carries the raw meter and its
    # description for carbon, never a delta, and no reset
    pdu = only(points, "pdu").fields
    assert pdu["energy_kwh_total"] >= 0 and pdu["energy_kwh_total_max_rate"] > 0
    assert "counter_reset" not in pdu and not [k for k in pdu if k.endswith("_delta")]
    assert (tmp_path / "snmp-state" / "pdu-a.json").is_file()
    # The unknown profile is now refused when the file is loaded (the check `run` and `check`
    # share), before `build_targets` could see it.
    with pytest.raises(Exception, match="unknown SNMP profile 'nope'"):
        bad = parse_config("inventory: {sites: [{id: s, devices: [{id: d, snmp: {host: h}, profile: nope}]}]}")
        build_targets(bad, SnmpClient(), AgentMetrics(), Problems(logging.getLogger("t")))


async def test_probe_json_and_table(snmpsim) -> None:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["probe", snmpsim.host, "--port", str(snmpsim.port), "--community", "eaton-93e-ups", "--json"])
    out = io.StringIO()
    assert await args.func(args, out) == 0
    result = json.loads(out.getvalue())
    assert result["sys_object_id"] == "1.3.6.1.4.1.705.1" and "ups-mib" in result["profiles"]
    minutes = [v for v in result["values"] if v["field"] == "battery_minutes_remaining"]
    assert minutes == [{"measurement": "ups", "tags": {}, "field": "battery_minutes_remaining", "value": 1092.0, "unit": "min"}]
    assert any(m["oid"] == "1.3.6.1.2.1.31.1.1.1.15" for m in result["not_answered"])  # no ifHighSpeed
    args = parser.parse_args(["probe", snmpsim.host, "--port", str(snmpsim.port), "--community", "apc-ap8641"])
    out = io.StringIO()
    assert await args.func(args, out) == 0
    table = out.getvalue()
    assert "apc-rpdu2" in table and "1210" in table and " W" in table and "kWh" in table


async def test_demo_recordings_move(snmpsim, catalog) -> None:
    """The demo's simulated switch (snmpsim `numeric` variation) gives growing octets."""
    async with SnmpClient() as client:
        dev = device(snmpsim, "demo/demo-switch", catalog, client)
        first_in_octets = only(await dev.poll(T0), "interface", interface="Gi1/0/1").fields["in_octets"]
        await asyncio.sleep(1.1)
        points = await dev.poll(T0 + 60_000_000_000)
    gi1 = only(points, "interface", interface="Gi1/0/1")
    assert gi1.fields["in_octets"] > first_in_octets and "counter_reset" not in gi1.fields
