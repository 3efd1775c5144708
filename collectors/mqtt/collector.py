"""The MQTT / LoRaWAN collector as the runtime sees it: registered in
`sentinelle.agent.parts.COLLECTORS`. One source per `mqtt:` broker; gateway health files in
`<state_dir>/`, adopting `mqtt-gateways-*.json` an older release kept in `<data_dir>/state/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentinelle.agent.core import CheckRow, CollectorContext, CollectorParts
from sentinelle.agent.statefile import adopt_legacy_state
from sentinelle.collectors.mqtt import build_sources
from sentinelle.collectors.mqtt.check import check_brokers


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

        return [(say(lang, "check_mqtt", name=label), ok, detail) for label, ok, detail in await check_brokers(config, timeout_s, lang)]


COLLECTOR = MqttCollector()
