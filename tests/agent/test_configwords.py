"""Whatever is wrong in a file, the loader answers in a technician's words.

Every leaf (and every section) of a complete configuration is replaced in turn by values of
the wrong kind; each result either loads or raises `ConfigError` whose every line is
`FILE:LINE: key.path: reason` without pydantic's internal vocabulary. No other exception.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinelle.agent.config import ConfigError, parse_config

JARGON = ("Input should", "instance of", "Input tag", "pydantic", "function-after", "tagged-union", "Value error",
          "MeterSettings", "SnmpTarget", "MqttBroker", "model_type", "Settings")
LINE = re.compile(r"^cfg\.yaml:\d+: [^:]+: .+")

FULL = """
agent: {name: a1, interval: 60s, jitter: 5s, concurrency: 10, shard: {index: 0, count: 2}, log: {level: info}, http: {listen: '127.0.0.1:9273'}}
snmp: {timeout: 2s, retries: 1}
inventory:
  sites:
    - id: s1
      kind: nro
      member: m
      allocation: {member: {m: 1.0}}
      devices:
        - {id: pdu-1, snmp: {host: 10.0.0.5, port: 161, community: c0mmunity-x, version: 2c}, profile: apc-rpdu2, meter: {load: facility}}
        - {id: ups-1, snmp: {host: 10.0.0.6, version: 3, user: noc, auth_protocol: sha, auth_key: authkey-123, priv_protocol: aes, priv_key: privkey-123}, meter: {role: sub, parent: pdu-1, load: it}}
        - {id: lora-1, lora: {dev_eui: 0004a30b001c2d3e, energy_kwh_total: index_wh}}
mqtt:
  - {url: 'mqtt://127.0.0.1:1883', format: chirpstack-v4, topics: ['application/+/device/+/event/up'], qos: 1, password: mqtt-pass-1}
carbon: {grid_intensity: {provider: static, value_gco2e_per_kwh: 30}, max_gap: 15m}
sinks:
  - {type: influxdb1, url: 'http://127.0.0.1:8086', database: sentinelle, password: influx-pass-1}
  - {type: local, name: store}
spool: {max_bytes: 1GiB, sync: normal}
"""
SECRETS = ("c0mmunity-x", "authkey-123", "privkey-123", "mqtt-pass-1", "influx-pass-1")
WRONG: list[Any] = [[1, 2], {"x": 1}, "not-valid value", 3.5, True, -7, None]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = replaced(data[path[0]], path[1:], value)
    return copy


def test_full_configuration_loads() -> None:
    parse_config(FULL, "cfg.yaml")


@pytest.mark.parametrize("wrong", WRONG, ids=repr)
def test_every_wrong_value_is_worded_for_a_technician(wrong: Any, tmp_path: Path) -> None:
    data = yaml.safe_load(FULL)
    refused = 0
    for path in paths(data):
        text = yaml.safe_dump(replaced(data, path, wrong), sort_keys=False)
        try:
            parse_config(text, "cfg.yaml")
        except ConfigError as exc:
            refused += 1
            for line in exc.problems:
                assert LINE.match(line), (path, line)
                assert not any(j in line for j in JARGON), (path, line)
                assert not any(s in line for s in SECRETS if s not in str(wrong)), (path, line)
    assert refused > len(paths(data)) // 3


async def test_what_loads_also_builds(tmp_path: Path) -> None:
    """Parity, from the other side: any configuration the loader accepts (the full one with
    each value replaced in turn) builds every collector and the carbon step without a new
    refusal. A rule enforced only when building would show up here as an exception."""
    import logging

    from sentinelle.agent.logs import Problems
    from sentinelle.agent.selfmetrics import AgentMetrics
    from sentinelle.carbon.processor import build_processors
    from sentinelle.collectors.mqtt.collector import build_sources
    from sentinelle.collectors.snmp.client import SnmpClient
    from sentinelle.collectors.snmp.configcheck import catalog_for
    from sentinelle.collectors.snmp.device import build_targets

    data = yaml.safe_load(FULL)
    built = 0
    # One SNMP engine for all (it is slow to create); sessions are built per configuration.
    async with SnmpClient(parse_config(FULL).snmp) as client:
        for wrong in WRONG:
            for path in paths(data):
                try:
                    config = parse_config(yaml.safe_dump(replaced(data, path, wrong), sort_keys=False), "cfg.yaml")
                except ConfigError:
                    continue
                config.agent.data_dir = tmp_path
                metrics, problems = AgentMetrics(), Problems(logging.getLogger("t"))
                build_targets(config, client, metrics, problems, catalog_for(config.snmp.profiles_dirs))
                build_sources(config, metrics, problems, tmp_path)
                build_processors(config, tmp_path)
                built += 1
    assert built > 30
