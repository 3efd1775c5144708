"""Identification cached per device in the state directory (issue 14 item 3): after a restart
the first cycle costs a steady one (no identification GET), the same points come out, and a
changed catalog or configured profile list makes the device identify again."""

from __future__ import annotations

import json

from pydantic import SecretStr

from sentinelle.agent.config import DeviceSettings
from sentinelle.collectors.snmp.client import SnmpClient
from sentinelle.collectors.snmp.device import SnmpDevice
from sentinelle.collectors.snmp.profiles import ProfileCatalog
from sentinelle.collectors.snmp.settings import SnmpTargetSettings

T0 = 1_700_000_000_000_000_000
MINUTE = 60_000_000_000


def fields(points) -> list[tuple]:
    return sorted((p.measurement, tuple(sorted(p.tags.items())),
                   tuple(sorted((k, v) for k, v in p.fields.items() if k != "poll_duration_s"))) for p in points)


async def test_identity_survives_restart_and_is_dropped_when_the_catalog_changes(snmpsim, tmp_path) -> None:
    catalog = ProfileCatalog.load()
    target = SnmpTargetSettings(host=snmpsim.host, port=snmpsim.port, community=SecretStr("eaton-93e-ups"))
    device = DeviceSettings(id="ups", snmp=target)
    state = tmp_path / "ups.json"
    async with SnmpClient() as client:
        # Setup: the device's candidate tables were already discovered (h4's discovery, kept a
        # day in the same state file), so the identifying cycle below costs only the
        # identification GET; the identification itself is not cached yet.
        scout = SnmpDevice(device, client.session(target), catalog, 60.0)
        await scout.identify()
        assert scout.discovery is not None
        state.write_text(json.dumps({"discovery": scout.discovery.to_json()}))
        first = SnmpDevice(device, client.session(target), catalog, 60.0, state_path=state)
        assert first.profiles is None
        r0 = client.requests
        await first.poll(T0)
        identify_cycle = client.requests - r0
        r0 = client.requests
        steady = await first.poll(T0 + MINUTE)
        steady_cycle = client.requests - r0
        assert identify_cycle == steady_cycle + 1  # the identification GET

        restarted = SnmpDevice(device, client.session(target), catalog, 60.0, state_path=state)
        assert [p.name for p in restarted.profiles or []] == [p.name for p in first.profiles or []]
        assert restarted.sys_object_id == first.sys_object_id
        r0 = client.requests
        again = await restarted.poll(T0 + 2 * MINUTE)
        assert client.requests - r0 == steady_cycle
        assert fields(again) == fields(steady)

        trimmed = ProfileCatalog({n: p for n, p in catalog.profiles.items() if n != "host-resources"}.values())
        other = SnmpDevice(device, client.session(target), trimmed, 60.0, state_path=state)
        assert other.profiles is None  # selection inputs changed: identify again
        named = SnmpDevice(DeviceSettings(id="ups", snmp=target, profiles=["ups-mib"]), client.session(target), catalog, 60.0,
                           state_path=state)
        assert named.profiles is None


async def test_cached_identity_keeps_quirks_overrides_and_follows_the_discovery(snmpsim, tmp_path) -> None:
    """One state file holds h4's discovery and h5's identification. After a restart the quirk
    profile and the inventory's overrides still apply (same points, no identification GET, no
    GETNEXT); a discovery older than a day makes the device identify again."""
    profiles_dir = tmp_path / "profiles"
    profiles_dir.mkdir()
    (profiles_dir / "eaton-quirk.yaml").write_text(
        'sys_object_ids: ["1.3.6.1.4.1.705.1"]\nsys_descr: "(?i)eaton"\n'
        "overrides: {ups_input.frequency_hz: {scale: 0.01}}\n")
    catalog = ProfileCatalog.load([profiles_dir])
    target = SnmpTargetSettings(host=snmpsim.host, port=snmpsim.port, community=SecretStr("ups-quirky"))
    device = DeviceSettings(id="ups", snmp=target, overrides={"ups_input.voltage_v": {"scale": 0.1}})
    state = tmp_path / "ups.json"
    async with SnmpClient() as client:
        first = SnmpDevice(device, client.session(target), catalog, 60.0, state_path=state)
        await first.poll(T0)
        r0 = client.requests
        steady = await first.poll(T0 + MINUTE)
        steady_cycle = client.requests - r0
        line2 = next(p for p in steady if p.measurement == "ups_input" and p.tags.get("line") == "2")
        assert line2.fields["frequency_hz"] == 50.0 and line2.fields["voltage_v"] > 200  # quirk, override
        saved = json.loads(state.read_text())
        assert saved["discovery"] is not None and saved["identity"]["quirks"] == ["eaton-quirk"]

        restarted = SnmpDevice(device, client.session(target), catalog, 60.0, state_path=state)
        assert restarted.quirks == ["eaton-quirk"]
        r0 = client.requests
        again = await restarted.poll(T0 + 2 * MINUTE)
        assert client.requests - r0 == steady_cycle
        assert fields(again) == fields(steady)

        saved = json.loads(state.read_text())
        saved["discovery"]["at"] -= 2 * 86_400
        state.write_text(json.dumps(saved))
        assert SnmpDevice(device, client.session(target), catalog, 60.0, state_path=state).profiles is None
