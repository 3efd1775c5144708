"""MQTT rules checked with the configuration: the TLS files of each broker must load.

`MqttSource` builds its TLS context at start-up; doing it here too (registered in
`agent.config.CONFIG_CHECKS`) makes `check` refuse a bad CA or key file before `run` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sentinelle.collectors.mqtt.client import tls_context


def config_problems(config: Any) -> Iterable[tuple[tuple[Any, ...], str]]:
    for i, broker in enumerate(config.mqtt):
        try:
            tls_context(broker)
        except ValueError as exc:
            yield ("mqtt", i, "tls"), str(exc).replace(f"MQTT broker {broker.url}: ", "")
