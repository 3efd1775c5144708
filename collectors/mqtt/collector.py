"""The MQTT / LoRaWAN collector as the runtime sees it: registered in
`sentinelle.agent.parts.COLLECTORS`. One source per `mqtt:` broker; gateway health files in
`<state_dir>/`, adopting `mqtt-gateways-*.json` an older release kept in `<data_dir>/state/`.

The MQTT client (aiomqtt, paho) is imported when a broker is configured, not by the registry:
an SNMP-only agent never loads it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelle.agent.core import CheckRow, CollectorContext, CollectorParts
from sentinelle.agent.statefile import adopt_legacy_state

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig  # composed at run time
    from sentinelle.agent.logs import Problems
    from sentinelle.agent.selfmetrics import AgentMetrics
    from sentinelle.collectors.mqtt.client import MqttSource


class MqttCollector:
    """Subscribes to the configured brokers."""

    name = "mqtt"

    def wanted(self, config: Any) -> bool:
        return bool(config.mqtt)

    async def open(self, context: CollectorContext) -> CollectorParts:
        legacy = Path(context.config.agent.data_dir) / "state"
        adopt_legacy_state(sorted(legacy.glob("mqtt-gateways-*.json")), context.state_dir)
        sources = build_sources(context.config, context.metrics, context.problems, context.state_dir)
        return CollectorParts(sources=list(sources))

    async def check(self, config: Any, timeout_s: float, lang: str = "en") -> list[CheckRow]:
        """Connect to each broker within `timeout_s`."""
        from sentinelle.agent.messages import say
        from sentinelle.collectors.mqtt.check import check_brokers

        return [(say(lang, "check_mqtt", name=label), ok, detail) for label, ok, detail in await check_brokers(config, timeout_s, lang)]


def build_sources(config: AgentConfig, metrics: AgentMetrics, problems: Problems, state_dir: Path) -> list[MqttSource]:
    """One source per `mqtt:` entry. Raises ValueError for unusable TLS files (fail at start)."""
    from sentinelle.collectors.mqtt.client import MqttSource
    from sentinelle.collectors.mqtt.gateways import GatewayHealth
    from sentinelle.collectors.mqtt.inventory import LoraInventory

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


COLLECTOR = MqttCollector()
