"""Equipment identity (issue 17) read from real-device recordings served by snmpsim: models,
serials and firmware checked field by field against the recording files, nonsense identity
(blank-padded serials, all-zero DateAndTime, EEPROM garbage) flagged, and part changes giving
events. Expected values come from the recordings, not from our own output."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sentinelle.agent.config import DeviceSettings
from sentinelle.agent.core import Point
from sentinelle.collectors.identity_values import clean_date_and_time, clean_date_text, clean_text
from sentinelle.collectors.snmp.client import SnmpClient
from sentinelle.collectors.snmp.identity.parts import vendor_of
from sentinelle.collectors.snmp.identity.spec import IdentityCatalog
from sentinelle.collectors.snmp.identity.target import IdentityTarget
from sentinelle.collectors.snmp.settings import SnmpSettings, SnmpTargetSettings

TESTDATA = Path(__file__).resolve().parents[3] / "collectors" / "snmp" / "testdata"
IDENTITY_RECORDINGS = Path(__file__).resolve().parents[2] / "testdata" / "snmp" / "identity"
T0 = 1_700_000_000_000_000_000
DAY_NS = 86400 * 10**9
ENT = "1.3.6.1.2.1.47.1.1.1.1"


def recorded(name: str, oid: str) -> str:
    """The value a recording holds for `oid` (hex strings decoded), untrimmed."""
    for line in (TESTDATA / f"{name}.snmprec").read_text().splitlines():
        if line.count("|") < 2:
            continue
        o, tag, value = line.split("|", 2)
        if o == oid:
            return bytes.fromhex(value).decode("latin-1") if tag.endswith("x") else value
    raise KeyError(oid)


@pytest.fixture(scope="module")
def catalog() -> IdentityCatalog:
    return IdentityCatalog.load()


def target(sim, community: str, catalog: IdentityCatalog, client: SnmpClient, **kw) -> IdentityTarget:
    snmp = SnmpTargetSettings(host=sim.host, port=sim.port, community=community)
    return IdentityTarget(DeviceSettings(id=community.replace("/", "-"), snmp=snmp), client.session(snmp), catalog, 60.0, **kw)


def part(points: list[Point], name: str) -> Point:
    found = [p for p in points if p.measurement == "inventory" and p.tags["part"] == name]
    assert len(found) == 1, f"{name}: {len(found)} points"
    return found[0]


async def test_cisco_stack_chassis_psu_and_transceivers(snmpsim, catalog) -> None:
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        points = await target(snmpsim, "cisco-c3750-switch", catalog, client).poll(T0)
    chassis = part(points, "entity.1001")
    assert chassis.tags["role"] == "equipment" and chassis.tags["part_class"] == "chassis"
    assert chassis.fields["model"] == recorded("cisco-c3750-switch", f"{ENT}.13.1001") == "WS-C3750G-12S-S"
    assert chassis.fields["serial"] == recorded("cisco-c3750-switch", f"{ENT}.11.1001")
    assert chassis.fields["hardware_rev"] == recorded("cisco-c3750-switch", f"{ENT}.8.1001")
    assert chassis.fields["firmware"] == recorded("cisco-c3750-switch", f"{ENT}.10.1001") == "12.2(50)SE5"
    assert chassis.fields["vendor"] == "Cisco"  # from entPhysicalVendorType's enterprise number
    assert chassis.fields["fru"] is True
    psu = part(points, "entity.1003")
    assert psu.tags["role"] == "component" and psu.tags["part_class"] == "power_supply"
    assert psu.fields["serial"] == recorded("cisco-c3750-switch", f"{ENT}.11.1003")
    assert psu.fields["flags"] == "model:empty"
    # An SFP: serial and model padded with blanks in the recording, trimmed here.
    sfp = part(points, "entity.1024")
    assert recorded("cisco-c3750-switch", f"{ENT}.11.1024").endswith("  ")
    assert sfp.fields["serial"] == recorded("cisco-c3750-switch", f"{ENT}.11.1024").strip() == "FNS17282EL1"
    assert sfp.fields["model"] == "GLC-LH-SMD" and sfp.fields["hardware_rev"] == "V01"
    # An SFP whose model is bytes from a mis-read EEPROM: flagged, never shown as data.
    odd = part(points, "entity.1018")
    assert "model" not in odd.fields and "model:garbled" in odd.fields["flags"]
    assert odd.fields["serial"] == "HA16260330677"
    # Ports, sensors and containers without identity are not inventory items.
    assert not [p for p in points if p.tags.get("part") in ("entity.1005", "entity.1019", "entity.1006")]
    assert [p.tags["part"] for p in points if p.tags["role"] == "equipment"] == ["entity.1001"]


async def test_arista_chassis_software_and_placeholder_mfg_date(snmpsim, catalog) -> None:
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        points = await target(snmpsim, "arista-entity-sensor", catalog, client).poll(T0)
    chassis = part(points, "entity.1")
    rec = "arista-entity-sensor"
    assert chassis.fields["model"] == recorded(rec, f"{ENT}.13.1") == "DCS-7150S-52-CL"
    assert chassis.fields["serial"] == recorded(rec, f"{ENT}.11.1")
    assert chassis.fields["manufacturer"] == chassis.fields["vendor"] == "Arista Networks"
    # The running OS is entPhysicalSoftwareRev; FirmwareRev is the boot loader.
    assert chassis.fields["firmware"] == recorded(rec, f"{ENT}.10.1") == "4.20.5F"
    assert chassis.fields["firmware_rev"] == recorded(rec, f"{ENT}.9.1")
    # entPhysicalMfgDate is all zeros (the MIB's "unknown"): flagged, no date.
    assert "mfg_date" not in chassis.fields and "mfg_date:placeholder" in chassis.fields["flags"]
    psus = [p for p in points if p.tags["part_class"] == "power_supply"]
    assert sorted(p.fields["serial"] for p in psus) == sorted(
        [recorded(rec, f"{ENT}.11.100711000"), recorded(rec, f"{ENT}.11.100721000")])
    assert {p.fields["model"] for p in psus} == {"PWR-460AC-F"}


async def test_apc_pdu_ident_table(snmpsim, catalog) -> None:
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        points = await target(snmpsim, "apc-ap8641", catalog, client).poll(T0)
    pdu = part(points, "pdu.1")
    ident = "1.3.6.1.4.1.318.1.1.26.2.1"
    assert pdu.tags["role"] == "equipment" and pdu.tags["part_class"] == "pdu"
    assert pdu.fields["model"] == recorded("apc-ap8641", f"{ident}.8.1") == "AP8641"
    assert pdu.fields["serial"] == recorded("apc-ap8641", f"{ident}.9.1")
    assert pdu.fields["firmware"] == recorded("apc-ap8641", f"{ident}.6.1") == "6.7.2"
    assert pdu.fields["hardware_rev"] == "02"
    assert recorded("apc-ap8641", f"{ident}.7.1") == "04/16/2019"
    assert pdu.fields["mfg_date"] == "2019-04-16"
    assert pdu.fields["age_from_mfg_years"] == round((date(2023, 11, 14) - date(2019, 4, 16)).days / 365.25, 2)  # at T0
    assert pdu.fields["vendor"] == "APC (Schneider Electric)"


async def test_ups_mib_identity_without_serial(snmpsim, catalog) -> None:
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        points = await target(snmpsim, "eaton-93e-ups", catalog, client).poll(T0)
    ups = part(points, "ups")
    assert ups.fields["manufacturer"] == recorded("eaton-93e-ups", "1.3.6.1.2.1.33.1.1.1.0") == "EATON"
    assert ups.fields["model"] == recorded("eaton-93e-ups", "1.3.6.1.2.1.33.1.1.2.0") == "EATON 93E 80"
    assert ups.fields["firmware"] == recorded("eaton-93e-ups", "1.3.6.1.2.1.33.1.1.3.0") == "INV: 2.08.0011"
    # UPS-MIB has no serial column: the inventory says so instead of inventing one.
    assert "serial" not in ups.fields and "serial:missing" in ups.fields["flags"]


async def test_device_without_identity_counts_as_unidentified(snmpsim, catalog) -> None:
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        points = await target(snmpsim, "huawei-ma5800-olt", catalog, client).poll(T0)
    [system] = [p for p in points if p.measurement == "inventory"]
    assert system.tags["part"] == "system" and system.fields["identified"] is False
    assert system.fields["vendor"] == "Huawei"
    assert system.fields["descr"] == recorded("huawei-ma5800-olt", "1.3.6.1.2.1.1.1.0")


async def test_daily_cadence_and_part_change_events(snmpsim, catalog, tmp_path) -> None:
    state = tmp_path / "inv.json"
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        first = target(snmpsim, "cisco-c3750-switch", catalog, client, state_path=state)
        initial = await first.poll(T0)
        assert initial and not [p for p in initial if p.measurement == "event"]  # baseline: no events
        assert await first.poll(T0 + 60 * 10**9) == []  # not due again within the day
        # The agent restarts; the device is now the Arista box behind the same id, a day later:
        # every Cisco part disappeared, every Arista part appeared.
        swapped = IdentityTarget(first.device, client.session(SnmpTargetSettings(host=snmpsim.host, port=snmpsim.port,
                                 community="arista-entity-sensor")), catalog, 60.0, state_path=state)
        assert swapped.due(T0 + DAY_NS) and not swapped.due(T0 + 60 * 10**9)
        points = await swapped.poll(T0 + DAY_NS)
    events = [p for p in points if p.measurement == "event"]
    kinds = {(p.tags["event"], p.tags["part"]) for p in events}
    assert ("part_removed", "entity.1001") in kinds and ("part_added", "entity.100711000") in kinds
    # The Cisco stack row (entity.1) has no identity and was not kept: the Arista chassis at
    # the same index is a new part.
    assert ("part_added", "entity.1") in kinds
    assert all(p.fields["state"] == "instant" for p in events)


def test_firmware_change_and_swap_events() -> None:
    from sentinelle.collectors.snmp.identity.parts import Part
    from sentinelle.collectors.snmp.identity.target import part_changes, snapshot

    before_parts = [Part("entity.1", "equipment", "chassis", "entity-mib", {"model": "M", "serial": "S1", "software_rev": "1.0"},
                         firmware_from=("software_rev",)),
                    Part("entity.7", "component", "module", "entity-mib", {"model": "LC", "serial": "A"}),
                    Part("entity.8", "component", "power_supply", "entity-mib", {"serial": "P"})]
    before = {p.part: snapshot(p) for p in before_parts}
    after = [Part("entity.1", "equipment", "chassis", "entity-mib", {"model": "M", "serial": "S1", "software_rev": "1.1"},
                  firmware_from=("software_rev",)),
             Part("entity.7", "component", "module", "entity-mib", {"model": "LC", "serial": "B"}),
             Part("entity.9", "component", "power_supply", "entity-mib", {"serial": "P"})]  # renumbered, same serial
    events = {(p.tags["event"], p.tags["part"]): p.fields["message"] for p in part_changes("d", before, after, T0)}
    assert set(events) == {("firmware_changed", "entity.1"), ("part_replaced", "entity.7")}
    assert "1.0 -> 1.1" in events[("firmware_changed", "entity.1")]
    assert "A -> B" in events[("part_replaced", "entity.7")]


@pytest.mark.parametrize(("raw", "value", "flag"), [
    ("FNS17282EL1     ", "FNS17282EL1", None),
    ("", None, "empty"),
    ("   ", None, "empty"),
    ("Unknown", None, "placeholder"),
    ("N/A", None, "placeholder"),
    ("To be filled by O.E.M.", None, "placeholder"),
    ("00000000", None, "placeholder"),
    ("31A962   >       f! ", None, "garbled"),
    ("AB\x01CD", None, "garbled"),
])
def test_serial_normalisation(raw, value, flag) -> None:
    got = clean_text("serial", raw)
    assert (got.value, got.flag) == (value, flag)


def test_dates() -> None:
    today = date(2026, 12, 4)
    assert clean_date_and_time(bytes(11), today).flag == "placeholder"
    assert clean_date_and_time(bytes([0x07, 0xB2, 1, 1, 0, 0, 0, 0]), today).flag == "placeholder"  # 1970-01-01
    assert clean_date_and_time(bytes([0x07, 0xE3, 4, 16, 10, 0, 0, 0]), today).value == "2019-04-16"
    assert clean_date_and_time(bytes([0x07, 0xE3, 13, 40, 0, 0, 0, 0]), today).flag == "garbled"
    assert clean_date_text("01/01/1970", ["%m/%d/%Y"], today).flag == "placeholder"
    assert clean_date_text("04/16/2019", ["%m/%d/%Y"], today).value == "2019-04-16"
    assert clean_date_text("12/31/2099", ["%m/%d/%Y"], today).flag == "in_future"
    assert clean_date_text("12/31/2099", ["%m/%d/%Y"], None).value == "2099-12-31"
    assert clean_date_text("unknown", ["%m/%d/%Y"], today).flag == "placeholder"
    assert clean_date_text("2019.04.16", ["%m/%d/%Y"], today).flag == "unparsed_date"


def test_enterprise_vendors() -> None:
    assert vendor_of("1.3.6.1.4.1.9.1.516") == "Cisco"
    assert vendor_of("1.3.6.1.4.1.30065.1.3011") == "Arista"
    assert vendor_of(".1.3.6.1.4.1.2636.1.1.1.2.29") == "Juniper"
    assert vendor_of("1.3.6.1.4.1.999999.1") is None
    assert vendor_of("1.3.6.1.2.1.1") is None


async def test_demo_site_has_identity(snmpsim, catalog) -> None:
    """The demo's recordings carry identity rows, so `sentinelle inventory` works on the demo."""
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        switch = await target(snmpsim, "demo/demo-switch", catalog, client).poll(T0)
        pdu = await target(snmpsim, "demo/demo-pdu", catalog, client).poll(T0)
        ups = await target(snmpsim, "demo/demo-ups", catalog, client).poll(T0)
    chassis = part(switch, "entity.1")
    assert (chassis.fields["model"], chassis.fields["serial"], chassis.fields["firmware"]) == (
        "WS-C2960-24TT-L", "FOCDEMO0001", "15.0(2)SE")
    assert chassis.fields["mfg_date"] == "2016-03-15"
    sfp = part(switch, "entity.2")
    assert sfp.fields["serial"] == "FNSDEMO0002" and "mfg_date:placeholder" in sfp.fields["flags"]  # 1970-01-01
    assert part(pdu, "pdu.1").fields["mfg_date"] == "2017-03-15"
    assert part(ups, "ups").fields["firmware"] == "INV: 1.12"


async def test_more_real_devices_from_snmpsim_data(snmpsim, catalog) -> None:
    """HPE ProCurve (ENTITY-MIB with blank-padded transceiver serials), Huawei S5720 (chassis
    without a model name), Juniper MX960 on Junos 12.3 (no ENTITY-MIB: jnxBoxAnatomy)."""
    rec = IDENTITY_RECORDINGS

    def raw(name: str, oid: str) -> str:
        for line in (rec / f"{name}.snmprec").read_text().splitlines():
            o, tag, value = line.split("|", 2)
            if o == oid:
                return bytes.fromhex(value).decode("latin-1") if tag.endswith("x") else value
        raise KeyError(oid)

    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        hpe = await target(snmpsim, "identity/hpe-procurve-516733-b21", catalog, client).poll(T0)
        huawei = await target(snmpsim, "identity/huawei-s5720", catalog, client).poll(T0)
        juniper = await target(snmpsim, "identity/juniper-mx960-12-3r6-6", catalog, client).poll(T0)
    chassis = part(hpe, "entity.1")
    name = "hpe-procurve-516733-b21"
    assert chassis.fields["model"] == raw(name, f"{ENT}.13.1") == "516733-B21"
    assert chassis.fields["serial"] == raw(name, f"{ENT}.11.1")
    assert chassis.fields["firmware"] == raw(name, f"{ENT}.10.1") == "Z.14.31"
    assert chassis.fields["manufacturer"] == "Hewlett-Packard"
    sfp = part(hpe, "entity.30")
    assert raw(name, f"{ENT}.11.30") != sfp.fields["serial"] == raw(name, f"{ENT}.11.30").strip()

    hw = part(huawei, "entity.67108867")
    assert hw.tags["role"] == "equipment" and hw.fields["serial"] == raw("huawei-s5720", f"{ENT}.11.67108867")
    assert hw.fields["firmware"] == "Version 5.160 V200R007C00SPC500"
    assert "model" not in hw.fields and "model:empty" in hw.fields["flags"]
    psus = sorted(p.fields["serial"] for p in huawei if p.tags.get("part_class") == "module" and "serial" in p.fields)
    assert raw("huawei-s5720", f"{ENT}.11.67190797") in psus

    box = part(juniper, "chassis")
    assert box.fields["serial"] == raw("juniper-mx960-12-3r6-6", "1.3.6.1.4.1.2636.3.1.3.0") == "JN11FCEC5AFA"
    assert box.fields["descr"] == "Juniper MX960 Internet Backbone Router" and box.fields["vendor"] == "Juniper"
    assert "hardware_rev" not in box.fields  # jnxBoxRevision is empty in the recording


async def test_pdu_vendor_identity_tables(snmpsim, catalog) -> None:
    """Raritan, ServerTech and Eaton identity tables (hand-written from the vendors' MIBs, no
    real recording exists), with the nonsense they publish in the field: a model padded with
    blanks, an empty link-unit serial, a 1970-01-01 date, a serial reading "N/A"."""
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        raritan = await target(snmpsim, "identity/raritan-px2", catalog, client).poll(T0)
        sentry = await target(snmpsim, "identity/servertech-pro2", catalog, client).poll(T0)
        eaton = await target(snmpsim, "identity/eaton-epdu-g3", catalog, client).poll(T0)
    px2 = part(raritan, "pdu")
    assert (px2.fields["manufacturer"], px2.fields["model"], px2.fields["serial"], px2.fields["firmware"]) == (
        "Raritan", "PX2-5496", "PKE0954001", "3.5.0.5-46082")
    master, link = part(sentry, "unit.1"), part(sentry, "unit.2")
    assert (master.fields["model"], master.fields["serial"], master.fields["mfg_date"], master.fields["firmware"]) == (
        "C2S42TE-YCME2M66/C", "ABEF0001234", "2019-05-14", "Version 8.0m")
    assert master.tags["role"] == link.tags["role"] == "equipment"
    assert "serial" not in link.fields and "mfg_date" not in link.fields
    assert link.fields["flags"] == "mfg_date:placeholder,serial:empty"
    epdu = part(eaton, "unit.0")
    assert (epdu.fields["model"], epdu.fields["firmware"]) == ("EMAB03", "03.01.0008")
    assert "serial" not in epdu.fields and epdu.fields["flags"] == "serial:placeholder"
    assert epdu.fields["vendor"] == "Eaton"


async def test_apc_smart_ups_identity_and_battery_dates(snmpsim, catalog) -> None:
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        points = await target(snmpsim, "identity/apc-smart-ups", catalog, client).poll(T0)
    ups = part(points, "ups")
    assert (ups.fields["model"], ups.fields["serial"], ups.fields["firmware"]) == (
        "Smart-UPS X 3000", "AS1711123456", "UPS 09.3 (ID20)")
    assert ups.fields["mfg_date"] == "2017-03-14"  # mm/dd/yy, per PowerNet-MIB
    assert ups.fields["battery_replaced_date"] == "2000-01-01"
    # A recommended replacement date lies ahead by nature: not refused as "in the future".
    assert ups.fields["battery_replace_due_date"] == "2027-09-20"
    assert "flags" not in ups.fields


async def test_inventory_interval_setting_and_tick() -> None:
    """`snmp.inventory_interval` sets the cadence; ticks are never closer than 10 s, so the
    scheduler's deadline (0.8 x interval) leaves time to walk a large entPhysicalTable."""
    import yaml as _yaml

    from sentinelle.agent.config import parse_config
    from sentinelle.collectors.snmp.identity.target import build_identity_targets

    raw = {"agent": {"interval": 3}, "snmp": {"inventory_interval": "12h"},
           "inventory": {"sites": [{"id": "s", "devices": [
               {"id": "a", "snmp": {"host": "127.0.0.1", "community": "x"}},
               {"id": "b", "interval": 120, "snmp": {"host": "127.0.0.1", "community": "x"}},
               {"id": "no-snmp"}]}]}}
    config = parse_config(_yaml.safe_dump(raw))
    async with SnmpClient(config.snmp) as client:
        targets = build_identity_targets(config, client, problems=None)
    assert [(t.id, t.interval_s, t.every_ns) for t in targets] == [
        ("a#inventory", 10.0, 12 * 3600 * 10**9), ("b#inventory", 120.0, 12 * 3600 * 10**9)]
    assert targets[0].due(T0) and targets[0].state_path is not None


async def test_a_read_that_lost_every_identity_is_retried_not_recorded(snmpsim, catalog, tmp_path) -> None:
    """A device that answers but suddenly has no identity (here: the Cisco id now answers as
    the OLT recording, which has none) is not believed at once: no points, no 30 removals;
    only after CONFIRM_LOSS reads in a row is the loss recorded, with its events."""
    from sentinelle.collectors.snmp.identity.target import CONFIRM_LOSS

    state = tmp_path / "inv.json"
    async with SnmpClient(SnmpSettings(timeout=2.0, retries=1)) as client:
        first = target(snmpsim, "cisco-c3750-switch", catalog, client, state_path=state)
        assert await first.poll(T0)
        empty = IdentityTarget(first.device, client.session(SnmpTargetSettings(host=snmpsim.host, port=snmpsim.port,
                               community="huawei-ma5800-olt")), catalog, 60.0, state_path=state)
        t = T0 + DAY_NS
        for _ in range(CONFIRM_LOSS - 1):
            assert await empty.poll(t) == [] and empty.due(t)
            t += 60 * 10**9
        points = await empty.poll(t)
    assert [p.tags["part"] for p in points if p.measurement == "inventory"] == ["system"]
    assert ("part_removed", "entity.1001") in {(p.tags["event"], p.tags["part"]) for p in points if p.measurement == "event"}
