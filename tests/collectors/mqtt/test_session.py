"""Broker session loss (issue 15), against a real mosquitto.

A mosquitto restarted *without* persistence forgets our persistent session: its CONNACK says
"session present: 0" and the QoS 1 messages it had queued for us are gone. The agent must say so
(warning naming the broker, `mqtt_sessions_lost`, an `event` point) and resubscribe. No alarm on
the first connect, nor across a restart *with* persistence (session present: 1).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.collectors.mqtt.test_client import UP_TOPIC, Agent, publish, uplink, wait_until

TOPICS = ["application/+/device/+/event/up"]


def broker_cfg(port: int, protocol: str) -> dict[str, object]:
    return {"url": f"mqtt://127.0.0.1:{port}", "name": "lns-lannion", "site": "nro-lannion", "topics": TOPICS,
            "qos": 1, "protocol": protocol, "reconnect_min": 0.2, "reconnect_max": 0.5}


def session_events(agent: Agent) -> list[object]:
    return [p for p in agent.collected.of("event") if p.tags.get("event") == "mqtt_session_lost"]


async def restart(server: object) -> None:
    await asyncio.to_thread(server.stop)  # type: ignore[attr-defined]
    await asyncio.to_thread(server.start)  # type: ignore[attr-defined]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_a_broker_restarted_without_persistence_is_a_lost_session(mosquitto_factory, protocol, caplog):
    caplog.set_level(logging.INFO, logger="sentinelle.collectors.mqtt")
    server = mosquitto_factory(persistence=False)
    async with Agent(broker_cfg(server.port, protocol), client_id=f"sentinelle-lost-{protocol}") as agent:
        name = agent.source.name
        assert agent.metrics.value("mqtt_sessions_lost", {"broker": name}) == 0  # first connect: no alarm
        rounds = agent.source.subscribe_rounds
        await restart(server)
        await wait_until(lambda: agent.metrics.value("mqtt_sessions_lost", {"broker": name}) == 1, within_s=15)
        await wait_until(lambda: agent.source.subscribe_rounds > rounds and agent.source.connected.is_set())
        # Resubscribed: the stream flows again on the new session.
        await publish(server.port, [(UP_TOPIC, uplink(i)) for i in range(5)])
        await wait_until(lambda: set(agent.collected.f_cnts()) >= set(range(5)))
    events = session_events(agent)
    assert len(events) == 1
    assert events[0].tags["broker"] == "lns-lannion" and events[0].tags["site"] == "nro-lannion"
    assert events[0].fields["state"] == "instant" and "lost our persistent session" in events[0].fields["message"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "lost our persistent session" in r.getMessage()]
    assert len(warnings) == 1 and "lns-lannion" in warnings[0].getMessage()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_no_alarm_across_a_restart_with_persistence(mosquitto_factory, protocol, caplog):
    server = mosquitto_factory(persistence=True)
    async with Agent(broker_cfg(server.port, protocol), client_id=f"sentinelle-kept-{protocol}") as agent:
        name = agent.source.name
        rounds = agent.source.subscribe_rounds
        await restart(server)
        await wait_until(lambda: agent.source.subscribe_rounds > rounds and agent.source.connected.is_set(),
                         within_s=15)
        await publish(server.port, [(UP_TOPIC, uplink(i)) for i in range(3)])
        await wait_until(lambda: set(agent.collected.f_cnts()) >= set(range(3)))
        assert agent.metrics.value("mqtt_sessions_lost", {"broker": name}) == 0
    assert session_events(agent) == []
    assert "lost our persistent session" not in caplog.text


async def test_a_clean_session_client_never_expects_one(mosquitto_factory):
    """QoS 0 without a persistent session: the broker never keeps one, so no alarm either."""
    server = mosquitto_factory(persistence=False)
    cfg = {**broker_cfg(server.port, "3.1.1"), "qos": 0, "persistent_session": False}
    async with Agent(cfg, client_id="sentinelle-clean") as agent:
        rounds = agent.source.subscribe_rounds
        await restart(server)
        await wait_until(lambda: agent.source.subscribe_rounds > rounds and agent.source.connected.is_set(),
                         within_s=15)
        assert agent.metrics.value("mqtt_sessions_lost", {"broker": agent.source.name}) == 0
    assert session_events(agent) == []
