"""`sentinelle check` for MQTT brokers: can this agent connect and subscribe, as configured?

For each broker: connect with the configured TLS and credentials, subscribe to every topic
filter, disconnect. The check uses its own client id and a clean session at QoS 0, and the
plain filters (not `$share/...`), so it never takes over the running agent's persistent
session nor a message of its shared group.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any

import aiomqtt

from sentinelle.agent.configtypes import secret_value
from sentinelle.agent.messages import say
from sentinelle.collectors.mqtt.client import subscriptions_of
from sentinelle.collectors.mqtt.tls import tls_context
from sentinelle.collectors.mqtt.topics import TopicFilter


async def check_brokers(config: Any, timeout_s: float = 10.0, lang: str = "en") -> list[tuple[str, bool, str]]:
    """(label, ok, detail) per broker, in configuration order; label is `name` or host:port;
    the detail in `lang`, the broker's own error text kept as it is."""
    return list(await asyncio.gather(*(check_broker(b, i, timeout_s, lang) for i, b in enumerate(config.mqtt))))


async def check_broker(broker: Any, index: int, timeout_s: float = 10.0, lang: str = "en") -> tuple[str, bool, str]:
    where = f"{broker.host}:{broker.port}"
    label = broker.name or where
    filters = [TopicFilter.parse(sub.topic).text for sub in subscriptions_of(broker)]
    try:
        kwargs: dict[str, Any] = {
            "hostname": broker.host,
            "port": broker.port,
            "username": broker.username,
            "password": secret_value(broker.password),
            "identifier": f"sentinelle-check-{os.getpid()}-{index}",
            "tls_context": tls_context(broker),
            "timeout": timeout_s,
            "protocol": aiomqtt.ProtocolVersion.V5 if broker.protocol == "5" else aiomqtt.ProtocolVersion.V311,
        }
        if broker.protocol != "5":
            kwargs["clean_session"] = True
        async with asyncio.timeout(timeout_s + 1):
            async with aiomqtt.Client(**kwargs) as client:
                refused = []
                for text in filters:
                    granted = await client.subscribe(text, qos=0)
                    if any(_failed(code) for code in granted):
                        refused.append(text)
    except TimeoutError:
        return label, False, say(lang, "mqtt_timeout", where=where, seconds=f"{timeout_s:g}")
    except (aiomqtt.MqttError, OSError, ssl.SSLError, ValueError) as exc:
        return label, False, say(lang, "mqtt_error", where=where, reason=_reason(exc, lang))
    if refused:
        return label, False, say(lang, "mqtt_sub_refused", where=where, filters=", ".join(refused))
    scheme = say(lang, "mqtt_tls_on" if broker.tls_enabled else "mqtt_tls_off")
    user = say(lang, "mqtt_user", name=broker.username) if broker.username else say(lang, "mqtt_anonymous")
    return label, True, say(lang, "mqtt_ok", where=where, scheme=scheme, user=user, count=len(filters))


def _failed(code: Any) -> bool:
    failed = getattr(code, "is_failure", None)
    return bool(failed) if failed is not None else int(code) >= 0x80


def _reason(exc: BaseException, lang: str = "en") -> str:
    """What a technician can act on, in `lang`; the library's own text stays verbatim inside."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "not authori" in lowered or "bad user name or password" in lowered or "code:5" in lowered.replace(" ", ""):
        return say(lang, "mqtt_credentials", text=text)
    if "refused" in lowered and "errno" in lowered:
        return say(lang, "mqtt_conn_refused", text=text)
    if "certificate" in lowered or isinstance(exc, ssl.SSLError):
        return say(lang, "mqtt_tls", text=text)
    return text
