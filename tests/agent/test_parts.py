"""The collector registry: the runtime and `check` open collectors only through
`sentinelle.agent.parts.COLLECTORS`; each collector gets `<data_dir>/state/<name>` the same
way, and state an older release kept in `snmp-state/`, `inventory-state/` or `state/` is
adopted on open so an upgrade loses no counter, uptime or gateway history."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinelle.agent import cli, parts
from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Collector, CollectorContext, CollectorParts
from sentinelle.agent.runtime import Agent, registered_collectors


def raw_config(snmpsim: Any, tmp_path: Path, mqtt: bool = True) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "agent": {"name": "reg", "interval": 60, "jitter": 0, "data_dir": str(tmp_path / "data"),
                  "http": {"enabled": False}},
        "inventory": {"sites": [{"id": "nro-a", "kind": "nro", "member": "m", "devices": [
            {"id": "ups-1", "kind": "ups", "snmp": {"host": snmpsim.host, "port": snmpsim.port, "community": "eaton-93e-ups"}},
        ]}]},
    }
    if mqtt:
        # Never connected: the agent is opened, not started.
        raw["mqtt"] = [{"name": "lns", "url": "mqtt://127.0.0.1:9", "format": "chirpstack-v4", "topics": ["application/+/device/+/event/up"]}]
    return raw


def test_registered_collectors_follow_the_tuple_and_meet_the_protocol() -> None:
    collectors = registered_collectors()
    assert [c.name for c in collectors] == ["snmp", "mqtt"]
    assert all(isinstance(c, Collector) for c in collectors)


async def test_each_collector_gets_its_own_state_dir(snmpsim: Any, tmp_path: Path) -> None:
    cfg = parse_config(yaml.safe_dump(raw_config(snmpsim, tmp_path)))
    data = tmp_path / "data"
    async with Agent(cfg) as agent:
        (device,) = agent.targets
        (identity,) = agent.inventory_targets
        (source,) = agent.sources
    assert device.state_path == data / "state" / "snmp" / "ups-1.json"
    assert identity.state_path == data / "state" / "snmp" / "identity" / "ups-1.json"
    assert source.health.state_path == data / "state" / "mqtt" / "mqtt-gateways-lns.json"


async def test_state_of_older_releases_is_adopted_on_open(snmpsim: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "snmp-state").mkdir(parents=True)
    (data / "snmp-state" / "ups-1.json").write_text(json.dumps({"uptime": [123456, 1000.0]}))
    (data / "inventory-state").mkdir()
    (data / "inventory-state" / "ups-1.json").write_text(json.dumps({"last_ns": 42, "parts": []}))
    (data / "state").mkdir()
    gateways = {"gateways": {"0016c001ff10a235": {"tags": {}, "last_seen_ns": 7, "online": True}}}
    (data / "state" / "mqtt-gateways-lns.json").write_text(json.dumps(gateways))
    cfg = parse_config(yaml.safe_dump(raw_config(snmpsim, tmp_path)))
    async with Agent(cfg) as agent:
        (device,) = agent.targets
        (source,) = agent.sources
        # The restored uptime proves the file was read from its new place, not just moved.
        assert device._uptime_cs == 123456
        assert source.health.load() and "0016c001ff10a235" in source.health.gateways
    assert json.loads((data / "state" / "snmp" / "identity" / "ups-1.json").read_text())["last_ns"] == 42
    assert not (data / "snmp-state" / "ups-1.json").exists()
    assert not (data / "inventory-state" / "ups-1.json").exists()
    assert not (data / "state" / "mqtt-gateways-lns.json").exists()


async def test_newer_state_wins_over_a_leftover_legacy_file(snmpsim: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "snmp-state").mkdir(parents=True)
    (data / "snmp-state" / "ups-1.json").write_text(json.dumps({"uptime": [1, 1.0]}))
    (data / "state" / "snmp").mkdir(parents=True)
    (data / "state" / "snmp" / "ups-1.json").write_text(json.dumps({"uptime": [999, 2.0]}))
    cfg = parse_config(yaml.safe_dump(raw_config(snmpsim, tmp_path, mqtt=False)))
    async with Agent(cfg) as agent:
        (device,) = agent.targets
        assert device._uptime_cs == 999
        assert agent.sources == []


class _Recorder:
    """A collector registered only by this test, to show the runtime needs no edit for one."""

    name = "recorder"

    def __init__(self) -> None:
        self.contexts: list[CollectorContext] = []

    def wanted(self, config: Any) -> bool:
        return True

    async def open(self, context: CollectorContext) -> CollectorParts:
        self.contexts.append(context)
        return CollectorParts()

    async def check(self, config: Any, timeout_s: float, lang: str = "en") -> list[tuple[str, bool, str]]:
        return [("recorder", False, f"refused with community {config.inventory.sites[0].devices[0].snmp.community}")]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    module = types.ModuleType("sentinelle_test_recorder")
    module.COLLECTOR = _Recorder()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(parts, "COLLECTORS", (module.__name__, "sentinelle.collectors.not_installed"))
    return module.COLLECTOR  # type: ignore[attr-defined,no-any-return]


async def test_a_registered_collector_is_opened_with_the_common_context(recorder: _Recorder, snmpsim: Any, tmp_path: Path) -> None:
    cfg = parse_config(yaml.safe_dump(raw_config(snmpsim, tmp_path)))
    async with Agent(cfg) as agent:
        # Only the registered collectors: SNMP and MQTT are not in this build's tuple.
        assert agent.targets == [] and agent.sources == []
    (context,) = recorder.contexts
    assert context.state_dir == tmp_path / "data" / "state" / "recorder" and context.state_dir.is_dir()
    assert context.in_shard("ups-1") and not context.in_shard("elsewhere")


async def test_check_runs_registered_checks_and_redacts(recorder: _Recorder, snmpsim: Any, tmp_path: Path) -> None:
    cfg = parse_config(yaml.safe_dump(raw_config(snmpsim, tmp_path)))
    rows = await cli._check_collectors(cfg, 1.0)
    ((label, status, detail),) = rows
    assert (label, status) == ("recorder", False)  # rows carry ok as a bool; the word is printed in the run's language
    assert "eaton-93e-ups" not in detail and detail.startswith("refused with community *")
