"""Gateway health (staleness, events, state across restarts) and inventory identities."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.collectors.mqtt.gateways import GatewayHealth
from sentinelle.collectors.mqtt.inventory import LoraInventory

S = 1_000_000_000
T0 = 1_700_000_000 * S
GW = "0016c001f153a14c"


def stats(time_ns: int = T0) -> Point:
    return Point("lora_gateway", {"gateway_id": GW, "region": "eu868"}, {"rx_received": 3, "rx_ok": 3}, time_ns)


def conn(online: bool) -> Point:
    return Point("lora_gateway", {"gateway_id": GW, "region": "eu868"}, {"online": online}, T0)


def kinds(points: list[Point]) -> list[str]:
    """Events as `kind:state` (agent/events.py: one episode = a start and an end)."""
    return [f'{p.tags["event"]}:{p.fields["state"]}' for p in points if p.measurement == "event"]


def test_staleness_takes_a_gateway_offline_and_a_message_brings_it_back():
    health = GatewayHealth(staleness_s=300)
    point = stats()
    assert health.observe([point], T0) == []  # first sighting: no event
    assert point.fields["online"] is True and point.fields["last_seen_age_s"] == 0.0

    status = health.check(T0 + 299 * S)
    assert kinds(status) == []
    assert status[0].fields == {"online": True, "last_seen_age_s": 299.0}

    status = health.check(T0 + 301 * S)
    assert kinds(status) == ["gateway_offline:start"]
    event = status[0]
    assert event.tags == {"gateway_id": GW, "region": "eu868", "event": "gateway_offline"}
    assert event.fields["kind"] == "gateway_offline" and "301 s" in str(event.fields["message"])
    assert status[1].fields == {"online": False, "last_seen_age_s": 301.0}
    assert kinds(health.check(T0 + 400 * S)) == []  # reported once

    back = health.observe([stats()], T0 + 500 * S)
    assert kinds(back) == ["gateway_offline:end"]
    assert back[0].fields["duration_s"] == 500.0  # offline since last seen


def test_bridge_offline_state_is_immediate_and_reported_once():
    health = GatewayHealth(staleness_s=300)
    health.observe([conn(True)], T0)
    assert kinds(health.observe([conn(False)], T0 + S)) == ["gateway_offline:start"]
    assert kinds(health.observe([conn(False)], T0 + 2 * S)) == []
    assert kinds(health.observe([conn(True)], T0 + 3 * S)) == ["gateway_offline:end"]


def test_retained_messages_are_old_news():
    health = GatewayHealth(staleness_s=300)
    health.observe([stats()], T0)
    health.check(T0 + 400 * S)  # offline by staleness
    # After a reconnect the broker replays the retained ONLINE state: not proof of life.
    assert kinds(health.observe([conn(True)], T0 + 401 * S, retained=True)) == []
    assert health.gateways[GW].online is False


def test_state_survives_a_restart(tmp_path: Path):
    path = tmp_path / "state" / "gateways.json"
    first = GatewayHealth(staleness_s=300, state_path=path)
    first.observe([stats()], T0)
    first.save()
    assert path.exists()

    # The agent was down for 10 minutes, during which the gateway died.
    second = GatewayHealth(staleness_s=300, state_path=path)
    assert second.load()
    assert second.gateways[GW].last_seen_ns == T0
    assert kinds(second.check(T0 + 600 * S)) == ["gateway_offline:start"]
    second.save()

    # A second restart does not announce the same outage again.
    third = GatewayHealth(staleness_s=300, state_path=path)
    assert third.load()
    assert kinds(third.check(T0 + 700 * S)) == []
    assert third.check(T0 + 700 * S)[0].fields["online"] is False


def test_unreadable_state_file_starts_empty(tmp_path: Path):
    path = tmp_path / "gateways.json"
    path.write_text('{"gateways": {"x": ')
    health = GatewayHealth(staleness_s=60, state_path=path)
    assert health.load() is False
    assert health.gateways == {}


INVENTORY = """
inventory:
  sites:
    - id: nro-lannion
      kind: nro
      devices:
        - id: compteur-tgbt
          kind: energy_meter
          meter: facility
          lora: {dev_eui: "0004A30B001C0530", energy_kwh_total: {path: energy.indexWh, scale: 0.001}, power_w: activePower}
        - id: gw-toit
          kind: lora_gateway
          lora: {gateway_id: 0016C001F153A14C}
"""


def test_inventory_binds_devices_gateways_and_meter_fields():
    config = parse_config(INVENTORY)
    inv = LoraInventory.from_inventory(config.inventory, default_site="rip-22")
    meter = Point("lora_device", {"dev_eui": "0004a30b001c0530"},
                  {"decoded_energy_index_wh": 1234567.0, "decoded_active_power": 812.0, "rssi_dbm": -90.0}, T0)
    gateway = Point("lora_gateway", {"gateway_id": GW}, {"online": True}, T0)
    stranger = Point("lora_device", {"dev_eui": "ffffffffffffffff"}, {"rssi_dbm": -100.0}, T0)
    inv.enrich([meter, gateway, stranger])
    assert meter.tags == {"dev_eui": "0004a30b001c0530", "device": "compteur-tgbt", "site": "nro-lannion"}
    assert meter.fields["energy_kwh_total"] == 1234.567
    assert meter.fields["power_w"] == 812.0
    assert gateway.tags["device"] == "gw-toit" and gateway.tags["site"] == "nro-lannion"
    assert stranger.tags == {"dev_eui": "ffffffffffffffff", "site": "rip-22"}  # broker default site
    assert "energy_kwh_total" not in stranger.fields


WRAPPING_METER = """
inventory:
  sites:
    - id: nro-lannion
      kind: nro
      devices:
        - id: compteur-tgbt
          kind: energy_meter
          meter: facility
          lora: {dev_eui: "0004A30B001C0530",
                 energy_kwh_total: {path: energy.indexWh, scale: 0.001, wrap: 4294967296, max_rate: 0.01}}
"""


def test_a_lora_meter_declares_its_counters_wrap_and_max_rate_and_carbon_counts_across_the_wrap(tmp_path):
    """A 32-bit Wh index rolls over: the binding's `wrap:` (payload unit) and `max_rate:` (kWh/s)
    go beside each reading as the contract's fields, so carbon counts the roll-over as energy."""
    from sentinelle.carbon.factors import FactorTable
    from sentinelle.carbon.meters import MeterSpec
    from sentinelle.carbon.processor import CarbonProcessor

    config = parse_config(WRAPPING_METER)
    inv = LoraInventory.from_inventory(config.inventory)
    readings = [Point("lora_device", {"dev_eui": "0004a30b001c0530"}, {"decoded_energy_index_wh": wh}, T0 + i * 300 * S)
                for i, wh in enumerate([4294967296 - 300.0, 200.0])]
    inv.enrich(readings)
    assert readings[0].fields["energy_kwh_total_wrap"] == pytest.approx(4294967.296)
    assert readings[0].fields["energy_kwh_total_max_rate"] == 0.01
    proc = CarbonProcessor({"compteur-tgbt": MeterSpec("compteur-tgbt", "nro-lannion")}, tmp_path, FactorTable.embedded(), None)
    energy = [q for p in readings for q in proc.process([p]) if q.measurement == "energy"]
    assert [e.fields["kwh"] for e in energy] == pytest.approx([0.5])  # 300 Wh before the roll-over, 200 after


def test_wrap_is_refused_on_a_power_field():
    from sentinelle.agent.config import ConfigError

    text = WRAPPING_METER.replace("energy_kwh_total: {path: energy.indexWh, scale: 0.001, wrap: 4294967296, max_rate: 0.01}",
                                  "power_w: {path: activePower, wrap: 65536}")
    with pytest.raises(ConfigError, match="wrap"):
        parse_config(text)
