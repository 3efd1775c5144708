"""MQTT and LoRaWAN collector: ChirpStack v4, The Things Stack v3 and generic JSON over MQTT.

`build_sources(config, metrics, problems, state_dir)` gives one `MqttSource` per configured
broker, for the runtime to run next to the SNMP scheduler. See README.md in this folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.collectors.mqtt.client import MqttSource
from sentinelle.collectors.mqtt.gateways import GatewayHealth
from sentinelle.collectors.mqtt.inventory import LoraInventory

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig  # composed at run time


__all__ = ["GatewayHealth", "LoraInventory", "MqttSource", "build_sources"]


def build_sources(config: AgentConfig, metrics: AgentMetrics, problems: Problems, state_dir: Path) -> list[MqttSource]:
    """One source per `mqtt:` entry. Raises ValueError for unusable TLS files (fail at start)."""
    sources: list[MqttSource] = []
    used: set[str] = set()
    for index, broker in enumerate(config.mqtt):
        name = broker.name or f"{broker.host}:{broker.port}"
        if name in used:
            name = f"{name}#{index}"
        used.add(name)
        # Stable across restarts, distinct per agent: a persistent session resumes, and two
        # agents sharing a subscription are two members of the group.
        client_id = broker.client_id or f"sentinelle-{config.agent.name}-{index}"
        state_file = state_dir / f"mqtt-gateways-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.json"
        sources.append(
            MqttSource(
                broker,
                client_id=client_id,
                metrics=metrics,
                problems=problems,
                inventory=LoraInventory.from_inventory(config.inventory, broker.site),
                health=GatewayHealth(broker.gateway_staleness, state_file),
                name=name,
            )
        )
    return sources
