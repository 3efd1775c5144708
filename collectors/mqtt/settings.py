"""The MQTT collector's part of the configuration file: the `mqtt:` brokers and each
device's `lora:` binding (declared here, composed by `agent.config`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from sentinelle.agent.configtypes import IDENT, Duration, SettingsField, SettingsPart, StrictModel, check_host


class LoraMeterFieldSettings(StrictModel):
    """Where a LoRa energy meter's decoded payload holds a reading, and its scale to our unit
    (e.g. an index in Wh: `{path: index_wh, scale: 0.001}` gives `energy_kwh_total` in kWh)."""

    path: str = Field(min_length=1, max_length=256)
    scale: float = 1.0


class LoraEnergyFieldSettings(LoraMeterFieldSettings):
    """A LoRa meter's index, with what the meter's documentation says of its counter: `wrap`,
    the value at which it rolls over to 0 (in the payload's unit, e.g. 4294967296 for a 32-bit Wh
    index), and `max_rate`, the most it can count per second (in kWh). Carbon judges a drop or a
    jump with them exactly as for a PDU (docs/meter-readings.md)."""

    wrap: float | None = Field(default=None, gt=0)
    max_rate: float | None = Field(default=None, gt=0)


class LoraBindingSettings(StrictModel):
    """How an inventory device is recognised in LoRaWAN traffic (collectors/mqtt/README.md).

    `dev_eui` binds an end device (ChirpStack `deviceInfo.devEui`, TTS `end_device_ids.dev_eui`);
    `gateway_id` binds a gateway (ChirpStack gateway ID / TTS gateway ID). A bound device's points
    carry `device=<id>`; `energy_kwh_total` / `power_w` turn decoded payload values into the
    same fields a PDU has, so a LoRa meter goes through the same energy maths.
    """

    dev_eui: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{16}$")
    gateway_id: str | None = Field(default=None, min_length=1, max_length=64)
    energy_kwh_total: LoraEnergyFieldSettings | None = None
    power_w: LoraMeterFieldSettings | None = None

    @field_validator("energy_kwh_total", "power_w", mode="before")
    @classmethod
    def _path_shorthand(cls, v: Any) -> Any:
        return {"path": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _normalise(self) -> LoraBindingSettings:
        if self.dev_eui is None and self.gateway_id is None:
            raise ValueError("give 'dev_eui' (end device) or 'gateway_id' (gateway)")
        if self.dev_eui is not None:
            self.dev_eui = self.dev_eui.lower()
        if self.gateway_id is not None:
            self.gateway_id = self.gateway_id.lower()
        if (self.energy_kwh_total or self.power_w) and self.dev_eui is None:
            raise ValueError("energy_kwh_total / power_w need the meter's 'dev_eui'")
        return self


MqttFormat = Literal["chirpstack-v4", "tts-v3", "generic-json"]


def check_topic_filter(v: str) -> str:
    """An MQTT topic filter as the collector subscribes it (one rule for `topics:` entries and
    `subscriptions[].topic`, so neither can reach the broker task unchecked)."""
    if not v or len(v) > 1024:
        raise ValueError("a topic filter has 1 to 1024 characters")
    levels = v.split("/")
    for i, level in enumerate(levels):
        if ("{" in level or "}" in level) and not re.fullmatch(r"\{[a-z_][a-z0-9_]*\}", level):
            raise ValueError(f"level {level!r}: a named segment is a whole level like '{{site}}'")
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError("'#' must be the whole last level")
        if "+" in level and level != "+":
            raise ValueError("'+' must be a whole level")
    if v.startswith("$share/"):
        raise ValueError("write the plain topic and set the broker's 'shared_group' instead of '$share/GROUP/'")
    return v


TopicFilter = Annotated[str, AfterValidator(check_topic_filter)]


class MqttTlsSettings(StrictModel):
    """TLS towards the broker. No `ca`: the system trust store. `cert`+`key`: client certificate."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    key_password: SecretStr | None = None
    # Only for a lab broker with a self-signed certificate: skips hostname and chain checks.
    insecure: bool = False

    @model_validator(mode="after")
    def _cert_and_key(self) -> MqttTlsSettings:
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs both 'cert' and 'key'")
        return self


class GenericJsonFieldSettings(StrictModel):
    """One field of a generic JSON message: a path (`a.b[0].c`) and the type to store."""

    path: str = Field(min_length=1, max_length=256)
    type: Literal["float", "int", "bool", "str"] = "float"
    scale: float = 1.0


class GenericJsonMappingSettings(StrictModel):
    """How a non-LoRaWAN JSON message becomes one point (collectors/mqtt/README.md)."""

    measurement: str = Field(default="sensor", pattern=r"^[a-z][a-z0-9_]*$")
    tags: dict[str, str] = Field(default_factory=dict)
    tag_paths: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, GenericJsonFieldSettings] = Field(min_length=1)
    time_path: str | None = None
    time_format: Literal["rfc3339", "unix_s", "unix_ms", "unix_us", "unix_ns"] = "rfc3339"

    @field_validator("fields", mode="before")
    @classmethod
    def _path_shorthand(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"path": p} if isinstance(p, str) else p) for k, p in v.items()}
        return v

    @field_validator("fields")
    @classmethod
    def _field_names(cls, v: dict[str, GenericJsonFieldSettings]) -> dict[str, GenericJsonFieldSettings]:
        for name in v:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name == "time":
                raise ValueError(f"field name {name!r} must be snake_case (and not 'time')")
        return v


class MqttSubscriptionSettings(StrictModel):
    """One topic filter and the decoder for what arrives on it.

    For `generic-json` the topic may name segments, `sensors/{site}/{sensor}/state`: each
    `{name}` subscribes as `+` and becomes tag `name` on the point.
    """

    topic: TopicFilter
    format: MqttFormat | None = None
    qos: Literal[0, 1] | None = None
    mapping: GenericJsonMappingSettings | None = None

class MqttBrokerSettings(StrictModel):
    """One broker connection (one task). See collectors/mqtt/README.md and sample.yaml."""

    url: str
    name: str | None = Field(default=None, pattern=IDENT)
    # Decoder for `topics` and for subscriptions that do not name one.
    format: MqttFormat = "chirpstack-v4"
    topics: list[TopicFilter] = Field(default_factory=list)
    subscriptions: list[MqttSubscriptionSettings] = Field(default_factory=list)
    username: str | None = None
    password: SecretStr | None = None
    qos: Literal[0, 1] = 1
    # Default `sentinelle-<agent name>-<broker index>`: stable, so a persistent session resumes.
    client_id: str | None = Field(default=None, max_length=128)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    tls: MqttTlsSettings | None = None
    # Persistent session (nothing missed across a short disconnect). Default: on when qos is 1.
    persistent_session: bool | None = None
    # MQTT 5: how long the broker keeps the session (and queued QoS 1 messages) while away.
    session_expiry: Duration = 3600.0
    # MQTT 5 shared subscription: agents with the same group split the stream ($share/GROUP/...).
    shared_group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    keepalive: Duration = 30.0
    # Messages waiting between the network and the decoders; beyond it they are dropped, counted.
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    reconnect_min: Duration = 1.0
    reconnect_max: Duration = 60.0
    # A gateway not heard from for this long is reported offline.
    gateway_staleness: Duration = 300.0
    # Site tag for points of devices that are not in the inventory.
    site: str | None = None

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_words(cls, v: Any) -> Any:
        text = str(v).lower().lstrip("v")
        return {"3": "3.1.1", "3.1.1": "3.1.1", "311": "3.1.1", "5": "5", "5.0": "5"}.get(text, v)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        m = re.fullmatch(r"(mqtts?|tcp|ssl|tls)://(\[[^\]]+\]|[^:/@\s]+)(?::(\d{1,5}))?/?", v)
        if m is None:
            raise ValueError("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (credentials go in username/password)")
        if m.group(3) is not None and not 1 <= int(m.group(3)) <= 65535:
            raise ValueError("port must be 1..65535")
        check_host(m.group(2))
        return v

    @model_validator(mode="after")
    def _consistent(self) -> MqttBrokerSettings:
        if not self.topics and not self.subscriptions:
            raise ValueError("give at least one entry in 'topics' or 'subscriptions'")
        for i, sub in enumerate(self.subscriptions):
            fmt = sub.format or self.format
            if fmt == "generic-json" and sub.mapping is None:
                raise ValueError(f"subscriptions[{i}]: format generic-json needs a 'mapping'")
            if fmt != "generic-json" and sub.mapping is not None:
                raise ValueError(f"subscriptions[{i}]: 'mapping' is only for format generic-json")
        if self.format == "generic-json" and self.topics:
            raise ValueError("generic-json topics need a mapping: list them under 'subscriptions'")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must not be smaller than reconnect_min")
        if self.gateway_staleness < 1.0:
            raise ValueError("gateway_staleness must be at least 1s")
        return self

    @property
    def tls_enabled(self) -> bool:
        return self.tls is not None or self.url.split("://", 1)[0] in ("mqtts", "ssl", "tls")

    @property
    def host(self) -> str:
        rest = self.url.split("://", 1)[1].rstrip("/")
        if rest.startswith("["):
            return rest[1:].split("]", 1)[0]
        return rest.rsplit(":", 1)[0] if ":" in rest else rest

    @property
    def port(self) -> int:
        rest = self.url.split("://", 1)[1].rstrip("/")
        tail = rest.rsplit("]", 1)[-1]
        if ":" in tail:
            return int(tail.rsplit(":", 1)[1])
        return 8883 if self.tls_enabled else 1883

    @property
    def session_persistent(self) -> bool:
        return self.qos == 1 if self.persistent_session is None else self.persistent_session


SETTINGS_PART = SettingsPart(
    name="mqtt",
    sections={"mqtt": SettingsField(list[MqttBrokerSettings], Field(default_factory=list), after="inventory")},
    # LoRaWAN identity (end device or gateway) for the MQTT collector.
    device_fields={"lora": SettingsField(LoraBindingSettings | None, None, after="tags")},
    collects=lambda config: bool(config.mqtt),
    pattern_words={
        r"^[0-9A-Fa-f]{16}$": "expected 16 hexadecimal digits (a LoRaWAN EUI, e.g. 0004a30b001c2d3e)",
        r"^[A-Za-z0-9_.-]+$": "letters, digits and _ . - only (no spaces or '/')",
    },
)
