"""The demo's simulated LoRa site, read by the real collector through both demo brokers."""

from __future__ import annotations

import asyncio
import logging

import pytest
import yaml

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import encode_point
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.collectors.mqtt.collector import build_sources
from sentinelle.collectors.mqtt.sim import (
    DEMO_LORA_DEVICES,
    DEMO_SENSORS,
    demo_broker,
    demo_mqtt_config,
    publish_demo_traffic,
)


def demo_config(host: str, port: int):
    devices = [{k: v for k, v in d.items() if k != "site"} for d in DEMO_LORA_DEVICES]
    return parse_config(yaml.safe_dump({
        "agent": {"name": "demo"},
        "inventory": {"sites": [{"id": "nro-lannion", "kind": "nro", "devices": devices}]},
        "mqtt": [demo_mqtt_config(host, port)],
    }))


@pytest.mark.parametrize("prefer_mosquitto", [True, False], ids=["mosquitto", "amqtt"])
async def test_simulated_site_decodes_into_tagged_points(prefer_mosquitto, tmp_path):
    async with demo_broker(prefer_mosquitto=prefer_mosquitto) as (host, port):
        metrics = AgentMetrics("demo")
        (source,) = build_sources(demo_config(host, port), metrics, Problems(logging.getLogger("sentinelle.collectors.mqtt")), tmp_path)
        points: list[Point] = []

        async def emit(batch: list[Point]) -> None:
            points.extend(batch)

        task = asyncio.create_task(source.run(emit))
        await asyncio.wait_for(source.connected.wait(), 10)
        sent = await publish_demo_traffic(host, port, duration_s=1.0, interval_s=0.25)
        for _ in range(200):
            if metrics.value("mqtt_messages_received", {"broker": source.name}) >= sent:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert metrics.value("mqtt_messages_received", {"broker": source.name}) == sent
    assert metrics.total("mqtt_messages_rejected") == 0
    uplinks = [p for p in points if p.measurement == "lora_device" and "f_cnt" in p.fields]
    assert {p.tags["dev_eui"] for p in uplinks} == {s.dev_eui for s in DEMO_SENSORS}
    meter = [p for p in uplinks if p.tags.get("device") == "meter-tgbt-nro-lannion"]
    assert len(meter) >= 3 and all(p.tags["site"] == "nro-lannion" for p in meter)
    index = [p.fields["energy_kwh_total"] for p in meter]
    assert index == sorted(index) and index[-1] > index[0]  # a growing kWh index, like a PDU's
    assert all(1000 < p.fields["power_w"] < 4000 for p in meter)
    gateway = [p for p in points if p.measurement == "lora_gateway" and "rx_ok" in p.fields]
    assert gateway and all(p.tags["device"] == "lora-gw-nro-lannion" for p in gateway)
    for p in points:
        encode_point(p)
