"""The TLS context of an MQTT broker connection, from its settings.

Apart from the client so that configuration checks (`configcheck.py`, run on every load) can
load the TLS files without importing aiomqtt and paho.
"""

from __future__ import annotations

import ssl

from sentinelle.agent.configtypes import secret_value
from sentinelle.collectors.mqtt.settings import MqttBrokerSettings


def tls_context(broker: MqttBrokerSettings) -> ssl.SSLContext | None:
    """The client TLS context, built once (loading files blocks, so not per reconnect)."""
    if not broker.tls_enabled:
        return None
    tls = broker.tls
    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca) if tls and tls.ca else None)
        if tls and tls.cert and tls.key:
            ctx.load_cert_chain(str(tls.cert), str(tls.key), password=secret_value(tls.key_password))
    except (OSError, ssl.SSLError) as exc:
        # The message of a key-file error never contains the key's password.
        raise ValueError(f"MQTT broker {broker.url}: cannot load TLS files: {exc}") from None
    if tls and tls.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
