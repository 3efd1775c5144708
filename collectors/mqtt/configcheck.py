"""MQTT rules checked with the configuration: the TLS files of each broker must load.

`MqttSource` builds its TLS context at start-up; doing it here too (registered in
`agent.parts.CONFIG_CHECKS`) makes `check` refuse a bad CA or key file before `run` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sentinelle.collectors.mqtt.tls import tls_context


def config_problems(config: Any) -> Iterable[tuple[tuple[Any, ...], str]]:
    yield from _lora_problems(config)
    for i, broker in enumerate(config.mqtt):
        try:
            tls_context(broker)
        except ValueError as exc:
            yield ("mqtt", i, "tls"), str(exc).replace(f"MQTT broker {broker.url}: ", "")


def _lora_problems(config: Any) -> Iterable[tuple[tuple[Any, ...], str]]:
    """A DevEUI or gateway id bound to two devices: the second one's line."""
    seen: dict[tuple[str, str], str] = {}
    for si, site in enumerate(config.inventory.sites):
        for di, dev in enumerate(site.devices):
            if dev.lora is None:
                continue
            for key in ("dev_eui", "gateway_id"):
                value = getattr(dev.lora, key)
                if value is None:
                    continue
                if (key, value) in seen:
                    yield ("inventory", "sites", si, "devices", di, "lora", key), f"{key} {value} is already bound to device {seen[(key, value)]!r}"
                seen.setdefault((key, value), dev.id)
