"""Payload decoders: pure functions `(topic, payload, received_ns) -> list[Point]`.

They know message formats, nothing about connections, the inventory or storage, which keeps
them testable field by field on documented samples and fuzzable in isolation. Failure is
`DecodeError(reason)`; an empty list means "understood, nothing to measure" (e.g. a downlink
event), which the source counts as ignored, not as an error.
"""

from __future__ import annotations

from collections.abc import Callable

from sentinelle.agent.core import Point
from sentinelle.collectors.mqtt.decoders.chirpstack import decode_chirpstack
from sentinelle.collectors.mqtt.decoders.common import DecodeError
from sentinelle.collectors.mqtt.decoders.generic import GenericJsonDecoder
from sentinelle.collectors.mqtt.decoders.tts import decode_tts
from sentinelle.collectors.mqtt.settings import MqttFormat, MqttSubscriptionSettings

Decoder = Callable[[str, bytes, int], list[Point]]

__all__ = ["DecodeError", "Decoder", "GenericJsonDecoder", "decode_chirpstack", "decode_tts", "decoder_for"]


def decoder_for(subscription: MqttSubscriptionSettings, default_format: MqttFormat) -> Decoder:
    fmt = subscription.format or default_format
    if fmt == "chirpstack-v4":
        return decode_chirpstack
    if fmt == "tts-v3":
        return decode_tts
    if subscription.mapping is None:
        raise ValueError(f"subscription {subscription.topic!r}: generic-json needs a mapping")
    return GenericJsonDecoder(subscription.topic, subscription.mapping)
