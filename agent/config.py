"""The agent's one YAML file: pydantic models, loading, and errors a technician can act on.

`load_config(path)` returns a validated `Config` or raises `ConfigError`, whose message lists
every problem as `FILE:LINE: key.path[0].sub: reason`. Secret values never appear in it.
"""

from __future__ import annotations

import importlib
import os
import re
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    ByteSize,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from sentinelle.agent.configtypes import Duration, HostName, HttpUrl, StrictModel, check_host

IDENT = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$"
Ident = Annotated[str, Field(pattern=IDENT, max_length=128)]

SECRET_KEY_HINTS = ("key", "token", "password", "community", "secret", "passphrase")


SYSTEM_DATA_DIR = Path("/var/lib/sentinelle")


def default_data_dir() -> Path:
    """Where the spool and the local store live when `agent.data_dir` is not set.

    One rule, so the service and a shell agree: `$SENTINELLE_DATA_DIR`, else
    `$STATE_DIRECTORY` (systemd `StateDirectory=sentinelle`, i.e. /var/lib/sentinelle), else
    /var/lib/sentinelle for root, else the user's XDG state directory
    (`$XDG_STATE_HOME/sentinelle`, by default ~/.local/state/sentinelle). Never the current
    directory: `spool stats` run from another folder must find the same spool.
    """
    for var in ("SENTINELLE_DATA_DIR", "STATE_DIRECTORY"):
        if os.environ.get(var):
            return Path(os.environ[var].split(":")[0])
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return SYSTEM_DATA_DIR
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "sentinelle"


# --- agent ----------------------------------------------------------------------------------


class ShardSettings(StrictModel):
    """Split one inventory across `count` agents; this agent polls devices whose stable hash
    modulo `count` is `index`."""

    index: int = Field(ge=0)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _index_below_count(self) -> ShardSettings:
        if self.index >= self.count:
            raise ValueError(f"index {self.index} must be smaller than count {self.count}")
        return self


class LogSettings(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"
    # The same problem on the same device is logged at most once per this window.
    rate_limit: Duration = 300.0


class HttpSettings(StrictModel):
    enabled: bool = True
    listen: str = "127.0.0.1:9273"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9273")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class AgentSettings(StrictModel):
    name: str = Field(default_factory=socket.gethostname)
    interval: Duration = 60.0
    jitter: Duration = 5.0
    concurrency: int = Field(default=50, ge=1, le=1000)
    # Hard limit on one device's poll; default: 80 % of its interval.
    deadline: Duration | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    shard: ShardSettings | None = None
    log: LogSettings = Field(default_factory=LogSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    # How often the agent's own counters are written as `agent_internal` points.
    internal_interval: Duration = 60.0
    # Language of the command-line summaries (and, by default, of reports and the demo).
    lang: Literal["fr", "en"] = "fr"

    @field_validator("interval")
    @classmethod
    def _positive_interval(cls, v: float) -> float:
        if v < 1.0:
            raise ValueError("interval must be at least 1s")
        return v


# --- SNMP -----------------------------------------------------------------------------------

AuthProtocol = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
# aes192/aes256: Blumenthal key extension (net-snmp and most UPS/PDU cards);
# aes192c/aes256c: Reeder key extension (Cisco).
PrivProtocol = Literal["none", "des", "3des", "aes", "aes128", "aes192", "aes256", "aes192c", "aes256c"]


SnmpBackendName = Literal["gufo", "pysnmp"]


class SnmpTarget(StrictModel):
    """How to reach one device over SNMP. Unset timeouts and retries come from `snmp:`."""

    host: HostName
    port: int = Field(default=161, ge=1, le=65535)
    version: Literal[1, 2, 3] = 2
    community: SecretStr | None = None
    user: str | None = None
    auth_protocol: AuthProtocol = "none"
    auth_key: SecretStr | None = None
    priv_protocol: PrivProtocol = "none"
    priv_key: SecretStr | None = None
    context: str = ""
    # SNMPv3 only: must be written as `noAuthNoPriv` for a user without keys, so that a
    # forgotten key file is never silently downgraded to no security.
    security_level: Literal["noAuthNoPriv", "authNoPriv", "authPriv"] | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=10)
    max_repetitions: int | None = Field(default=None, ge=1, le=200)
    # SNMP library for this device; unset: `snmp.backend` (collectors/snmp/transport/).
    backend: SnmpBackendName | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_words(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.lower().lstrip("v")
            return {"1": 1, "2": 2, "2c": 2, "3": 3}.get(text, v)
        return v

    @field_validator("security_level", mode="before")
    @classmethod
    def _level_words(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"noauthnopriv": "noAuthNoPriv", "authnopriv": "authNoPriv", "authpriv": "authPriv"}.get(v.lower(), v)
        return v

    @model_validator(mode="after")
    def _credentials(self) -> SnmpTarget:
        if self.version in (1, 2):
            if self.security_level is not None:
                raise ValueError("security_level is for SNMPv3 only (set version: 3, or remove it)")
            if self.community is None:
                self.community = SecretStr("public")
            return self
        if not self.user:
            raise ValueError("SNMPv3 needs 'user'")
        if self.community is not None:
            raise ValueError("'community' is for SNMPv1/v2c: SNMPv3 uses user, auth_key and priv_key")
        if self.auth_protocol != "none":
            if self.auth_key is None:
                raise ValueError("auth_protocol is set: give 'auth_key' or 'auth_key_file'")
            if len(self.auth_key.get_secret_value()) < 8:
                raise ValueError("auth_key must have at least 8 characters (RFC 3414)")
        elif self.auth_key is not None:
            raise ValueError("auth_key is given but auth_protocol is 'none'")
        if self.priv_protocol != "none":
            if self.auth_protocol == "none":
                raise ValueError("privacy (priv_protocol) needs authentication (auth_protocol)")
            if self.priv_key is None:
                raise ValueError("priv_protocol is set: give 'priv_key' or 'priv_key_file'")
            if len(self.priv_key.get_secret_value()) < 8:
                raise ValueError("priv_key must have at least 8 characters (RFC 3414)")
        elif self.priv_key is not None:
            raise ValueError("priv_key is given but priv_protocol is 'none'")
        level = "authPriv" if self.priv_protocol != "none" else "authNoPriv" if self.auth_protocol != "none" else "noAuthNoPriv"
        if self.security_level is None and level == "noAuthNoPriv":
            raise ValueError(
                f"SNMPv3 user {self.user!r} has no auth_protocol/auth_key: give them (and priv_protocol/priv_key), "
                "or write security_level: noAuthNoPriv if the device really has no security"
            )
        if self.security_level is not None and self.security_level != level:
            raise ValueError(
                f"security_level is {self.security_level} but the keys given make it {level} "
                "(authNoPriv needs auth_protocol + auth_key; authPriv also priv_protocol + priv_key)"
            )
        self.security_level = level
        return self


class SnmpSettings(StrictModel):
    """Defaults for every SNMP device, and where users keep their own profiles."""

    timeout: Duration = 2.0
    retries: int = Field(default=1, ge=0, le=10)
    max_repetitions: int = Field(default=25, ge=1, le=200)
    # Requests in flight at once across all devices (UDP on loopback drops above ~50).
    max_in_flight: int = Field(default=50, ge=1, le=500)
    # gufo-snmp (fast, the default) or pysnmp (the reference); per device with `snmp.backend`.
    backend: SnmpBackendName = "gufo"
    profiles_dirs: list[Path] = Field(default_factory=list)
    # Equipment identity (collectors/snmp/identity) is read at start and then this often.
    inventory_interval: Duration = 86400.0


# --- inventory ------------------------------------------------------------------------------


class MeterSettings(StrictModel):
    """What a device's energy readings mean for the site's energy balance (carbon/ uses it)."""

    role: Literal["primary", "sub"] = "primary"
    # `it`: IT load (PUE denominator); `facility`: the whole site (PUE numerator).
    load: Literal["it", "facility", "other"] = "other"
    parent: str | None = None
    # For `sentinelle import` of past readings (flags override): what the readings are
    # (cumulative `counter`, `power` samples, energy per `interval`), their unit (kWh, Wh, MWh;
    # W, kW) and a counter's modulus in that unit (where it wraps).
    kind: Literal["counter", "power", "interval"] | None = None
    unit: str | None = Field(default=None, pattern=r"^(?i:kwh|wh|mwh|w|kw|mw)$")
    modulus: float | None = Field(default=None, gt=0)


class LoraMeterField(StrictModel):
    """Where a LoRa energy meter's decoded payload holds a reading, and its scale to our unit
    (e.g. an index in Wh: `{path: index_wh, scale: 0.001}` gives `energy_kwh_total` in kWh)."""

    path: str = Field(min_length=1, max_length=256)
    scale: float = 1.0


class LoraBinding(StrictModel):
    """How an inventory device is recognised in LoRaWAN traffic (collectors/mqtt/README.md).

    `dev_eui` binds an end device (ChirpStack `deviceInfo.devEui`, TTS `end_device_ids.dev_eui`);
    `gateway_id` binds a gateway (ChirpStack gateway ID / TTS gateway ID). A bound device's points
    carry `device=<id>`; `energy_kwh_total` / `power_w` turn decoded payload values into the
    same fields a PDU has, so a LoRa meter goes through the same energy maths.
    """

    dev_eui: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{16}$")
    gateway_id: str | None = Field(default=None, min_length=1, max_length=64)
    energy_kwh_total: LoraMeterField | None = None
    power_w: LoraMeterField | None = None

    @field_validator("energy_kwh_total", "power_w", mode="before")
    @classmethod
    def _path_shorthand(cls, v: Any) -> Any:
        return {"path": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _normalise(self) -> LoraBinding:
        if self.dev_eui is None and self.gateway_id is None:
            raise ValueError("give 'dev_eui' (end device) or 'gateway_id' (gateway)")
        if self.dev_eui is not None:
            self.dev_eui = self.dev_eui.lower()
        if self.gateway_id is not None:
            self.gateway_id = self.gateway_id.lower()
        if (self.energy_kwh_total or self.power_w) and self.dev_eui is None:
            raise ValueError("energy_kwh_total / power_w need the meter's 'dev_eui'")
        return self


class Device(StrictModel):
    id: Ident
    kind: str = "generic"
    snmp: SnmpTarget | None = None
    profiles: list[str] = Field(default_factory=list)
    interval: Duration | None = None
    meter: MeterSettings | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    # LoRaWAN identity (end device or gateway) for the MQTT collector.
    lora: LoraBinding | None = None
    # SNMP field corrections by `measurement.field` (e.g. `ups_input.voltage_v: {scale: 0.1}`);
    # the model is the SNMP collector's (collectors/snmp/profiles.py FieldOverride).
    overrides: dict[str, Any] = Field(default_factory=dict)

    @field_validator("overrides")
    @classmethod
    def _snmp_overrides(cls, v: dict[str, Any]) -> dict[str, Any]:
        from sentinelle.collectors.snmp.profiles import parse_overrides  # the collector owns the format

        return parse_overrides(v)

    @model_validator(mode="before")
    @classmethod
    def _profile_alias(cls, data: Any) -> Any:
        # `profile: ups-mib` is the natural way to name one profile.
        if isinstance(data, dict) and "profile" in data:
            data = dict(data)
            one = data.pop("profile")
            if "profiles" in data:
                raise ValueError("give either 'profile' or 'profiles', not both")
            data["profiles"] = [one] if isinstance(one, str) else one
        return data

    @field_validator("meter", mode="before")
    @classmethod
    def _meter_shorthand(cls, v: Any) -> Any:
        # `meter: it` / `meter: facility` / `meter: primary` are the short forms.
        if isinstance(v, str):
            if v in ("it", "facility", "other"):
                return {"load": v}
            if v in ("primary", "sub"):
                return {"role": v}
            raise ValueError(
                "expected it, facility, other, primary or sub, or a mapping such as {role: sub, load: it, parent: DEVICE}"
            )
        return v


class Site(StrictModel):
    id: Ident
    kind: str = "site"
    name: str | None = None
    member: str | None = None
    contract: str | None = None
    operator: str | None = None
    # Electricity zone for the BEGES factor: continental France unless the site is in a ZNI.
    zone: str = "fr-continental"
    tags: dict[str, str] = Field(default_factory=dict)
    devices: list[Device] = Field(default_factory=list)
    # Shared sites: the site's kWh split by declared shares, per grouping, e.g.
    # `allocation: {member: {cc-a: 0.6, cc-b: 0.4}}`. Shares of one grouping add up to 1.
    allocation: dict[Literal["member", "contract", "operator"], dict[str, float]] = Field(default_factory=dict)

    @field_validator("allocation")
    @classmethod
    def _shares_add_up(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for key, shares in v.items():
            if not shares:
                raise ValueError(f"allocation.{key} is empty")
            if any(not 0 <= s <= 1 for s in shares.values()):
                raise ValueError(f"allocation.{key}: each share is between 0 and 1")
            if abs(sum(shares.values()) - 1.0) > 1e-6:
                raise ValueError(f"allocation.{key}: shares add up to {sum(shares.values()):g}, not 1")
        return v


class Inventory(StrictModel):
    # Unique site and device ids are checked by `inventory_problems` (it names the duplicate's
    # own line, which a model validator cannot).
    sites: list[Site] = Field(default_factory=list)


# --- MQTT -----------------------------------------------------------------------------------


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


class MqttTls(StrictModel):
    """TLS towards the broker. No `ca`: the system trust store. `cert`+`key`: client certificate."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    key_password: SecretStr | None = None
    # Only for a lab broker with a self-signed certificate: skips hostname and chain checks.
    insecure: bool = False

    @model_validator(mode="after")
    def _cert_and_key(self) -> MqttTls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs both 'cert' and 'key'")
        return self


class GenericJsonField(StrictModel):
    """One field of a generic JSON message: a path (`a.b[0].c`) and the type to store."""

    path: str = Field(min_length=1, max_length=256)
    type: Literal["float", "int", "bool", "str"] = "float"
    scale: float = 1.0


class GenericJsonMapping(StrictModel):
    """How a non-LoRaWAN JSON message becomes one point (collectors/mqtt/README.md)."""

    measurement: str = Field(default="sensor", pattern=r"^[a-z][a-z0-9_]*$")
    tags: dict[str, str] = Field(default_factory=dict)
    tag_paths: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, GenericJsonField] = Field(min_length=1)
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
    def _field_names(cls, v: dict[str, GenericJsonField]) -> dict[str, GenericJsonField]:
        for name in v:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name == "time":
                raise ValueError(f"field name {name!r} must be snake_case (and not 'time')")
        return v


class MqttSubscription(StrictModel):
    """One topic filter and the decoder for what arrives on it.

    For `generic-json` the topic may name segments, `sensors/{site}/{sensor}/state`: each
    `{name}` subscribes as `+` and becomes tag `name` on the point.
    """

    topic: TopicFilter
    format: MqttFormat | None = None
    qos: Literal[0, 1] | None = None
    mapping: GenericJsonMapping | None = None

class MqttBroker(StrictModel):
    """One broker connection (one task). See collectors/mqtt/README.md and sample.yaml."""

    url: str
    name: str | None = Field(default=None, pattern=IDENT)
    # Decoder for `topics` and for subscriptions that do not name one.
    format: MqttFormat = "chirpstack-v4"
    topics: list[TopicFilter] = Field(default_factory=list)
    subscriptions: list[MqttSubscription] = Field(default_factory=list)
    username: str | None = None
    password: SecretStr | None = None
    qos: Literal[0, 1] = 1
    # Default `sentinelle-<agent name>-<broker index>`: stable, so a persistent session resumes.
    client_id: str | None = Field(default=None, max_length=128)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    tls: MqttTls | None = None
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
    def _consistent(self) -> MqttBroker:
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


# --- carbon ---------------------------------------------------------------------------------


class GridIntensitySettings(StrictModel):
    """The `grid` track's time-varying intensity (carbon/intensity.py)."""

    provider: Literal["static", "csv", "rte", "electricitymaps"] = "static"
    path: Path | None = None
    # static: one value; also the value used before an online provider has fetched anything.
    value_gco2e_per_kwh: float | None = Field(default=None, ge=0, lt=5000)
    token: SecretStr | None = None
    zone: str = "FR"  # Electricity Maps zone
    url: str | None = None  # override the online API address (tests, proxies)
    timeout: Duration = 10.0
    refresh: Duration = 900.0

    @model_validator(mode="after")
    def _provider_needs(self) -> GridIntensitySettings:
        if self.provider == "csv" and self.path is None:
            raise ValueError("provider 'csv' needs 'path' (an éCO2mix or Electricity Maps export)")
        if self.provider == "electricitymaps" and self.token is None:
            raise ValueError("provider 'electricitymaps' needs 'token' or 'token_file'")
        return self


class CarbonSettings(StrictModel):
    beges_factor: str = "ademe-base-empreinte"
    # A factor table in the embedded table's format, replacing it (checked Base Empreinte values).
    factors_file: Path | None = None
    # A year missing from the table: `error`, or `latest` earlier year, flagged in every output.
    missing_year: Literal["error", "latest"] = "latest"
    grid_intensity: GridIntensitySettings = Field(default_factory=GridIntensitySettings)
    # Power samples further apart than this are a gap; `gap_fill` estimates it or leaves it missing.
    max_gap: Duration = 900.0
    gap_fill: Literal["estimate", "missing"] = "estimate"
    # Activity-data relative uncertainty per method (%), for the BEGES uncertainty.
    uncertainty_pct: dict[Literal["measured", "integrated", "imported", "estimated", "missing"], float] = Field(
        default_factory=lambda: {"measured": 2.0, "integrated": 5.0, "imported": 2.0, "estimated": 30.0, "missing": 100.0}
    )


# --- sinks and spool ------------------------------------------------------------------------


class _SinkBase(StrictModel):
    name: str | None = None
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    timeout: Duration = 10.0
    # Exponential backoff between failed writes, capped: bounds how late writes resume after a
    # sink that answered errors recovers (an unreachable sink is also probed every second).
    retry_max_delay: Duration = 8.0


class InfluxDB2Sink(_SinkBase):
    type: Literal["influxdb2"]
    url: HttpUrl
    org: str
    bucket: str
    token: SecretStr
    gzip: bool = True
    verify_tls: bool = True


class InfluxDB1Sink(_SinkBase):
    type: Literal["influxdb1"]
    url: HttpUrl
    database: str
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    gzip: bool = True
    verify_tls: bool = True


class LocalSink(_SinkBase):
    type: Literal["local"]
    path: Path | None = None


class FileSink(_SinkBase):
    type: Literal["file"]
    path: Path


Sink = Annotated[InfluxDB2Sink | InfluxDB1Sink | LocalSink | FileSink, Field(discriminator="type")]


class SpoolSettings(StrictModel):
    path: Path | None = None
    max_bytes: ByteSize = ByteSize(1024**3)
    # `full` survives a power cut (fsync per commit); `normal` survives a crash of the process.
    sync: Literal["full", "normal"] = "full"
    # measurement (or fnmatch pattern, e.g. `pdu*`) -> priority, higher is kept longer when the
    # spool is full. Defaults: interface/pon/ont 10, agent_internal 20, others 50, energy/carbon/event 90.
    priorities: dict[str, int] = Field(default_factory=dict)
    # Lines a sink rejected are kept for inspection and replay, at most this many per sink.
    max_dead_letters: int = Field(default=100_000, ge=0)


class Config(StrictModel):
    agent: AgentSettings = Field(default_factory=AgentSettings)
    snmp: SnmpSettings = Field(default_factory=SnmpSettings)
    inventory: Inventory = Field(default_factory=Inventory)
    mqtt: list[MqttBroker] = Field(default_factory=list)
    carbon: CarbonSettings = Field(default_factory=CarbonSettings)
    sinks: list[Sink] = Field(default_factory=list)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)

    @model_validator(mode="after")
    def _something_to_collect(self) -> Config:
        # An agent with nothing to read would run forever and write only its own counters:
        # refuse it here so `check` and `run` both say so before systemd restarts it in a loop.
        if not self.mqtt and not any(site.devices for site in self.inventory.sites):
            raise ValueError("no device and no MQTT source: nothing to collect (add inventory devices or an mqtt: broker)")
        return self

    def effective_sinks(self) -> list[Sink]:
        """The configured sinks, or the embedded local store when none is configured."""
        return list(self.sinks) if self.sinks else [LocalSink(type="local")]

    def spool_path(self) -> Path:
        return self.spool.path or self.agent.data_dir / "spool.db"

    def local_store_path(self, sink: LocalSink | None = None) -> Path:
        if sink is not None and sink.path is not None:
            return sink.path
        return self.agent.data_dir / "local.db"

    def secrets(self) -> list[str]:
        """Every secret value in this config, for log redaction."""
        found: list[str] = []

        def walk(obj: Any) -> None:
            if isinstance(obj, SecretStr):
                value = obj.get_secret_value()
                if value:
                    found.append(value)
            elif isinstance(obj, StrictModel):
                for name in type(obj).model_fields:
                    walk(getattr(obj, name))
            elif isinstance(obj, list | tuple):
                for item in obj:
                    walk(item)
            elif isinstance(obj, dict):
                for item in obj.values():
                    walk(item)

        walk(self)
        return found


def sink_name(sink: Any, index: int) -> str:
    return sink.name or f"{sink.type}-{index}"


# --- checks beyond one model ---------------------------------------------------------------

# A problem found after the models validated: the key path in the YAML data and the reason.
ConfigProblem = tuple[tuple[Any, ...], str]

# Modules that check what no single model can see (a profile name against the profile
# catalogue, a meter `parent` against the other meters, TLS files that must load...). Each has
# `config_problems(config) -> Iterable[ConfigProblem]`. `parse_config` runs them all, so
# `check` and `run` refuse the same files: a rule a collector needs at start-up goes here,
# never only in the collector's build step.
CONFIG_CHECKS = ("sentinelle.collectors.snmp.configcheck", "sentinelle.collectors.mqtt.configcheck", "sentinelle.carbon.configcheck")


def inventory_problems(config: Config) -> Iterable[ConfigProblem]:
    """Ids used twice (sites, devices, LoRa identities, sink names), each at its own line."""
    seen_sites: dict[str, int] = {}
    seen_devices: dict[str, str] = {}
    seen_lora: dict[tuple[str, str], str] = {}
    for si, site in enumerate(config.inventory.sites):
        if site.id in seen_sites:
            yield ("inventory", "sites", si, "id"), f"site id {site.id!r} is used twice (also sites[{seen_sites[site.id]}])"
        seen_sites.setdefault(site.id, si)
        for di, dev in enumerate(site.devices):
            where = ("inventory", "sites", si, "devices", di)
            if dev.id in seen_devices:
                yield (*where, "id"), f"device id {dev.id!r} is used twice (sites {seen_devices[dev.id]!r} and {site.id!r})"
            seen_devices.setdefault(dev.id, site.id)
            if dev.lora is None:
                continue
            for key in ("dev_eui", "gateway_id"):
                value = getattr(dev.lora, key)
                if value is None:
                    continue
                if (key, value) in seen_lora:
                    yield (*where, "lora", key), f"{key} {value} is already bound to device {seen_lora[(key, value)]!r}"
                seen_lora.setdefault((key, value), dev.id)
    names: set[str] = set()
    for i, sink in enumerate(config.sinks):
        name = sink_name(sink, i)
        if name in names:
            yield ("sinks", i, "name" if sink.name else "type"), f"two sinks are named {name!r}: give each a distinct 'name'"
        names.add(name)


def installed_parts(module_names: Iterable[str]) -> Iterator[Any]:
    """Import each registered part (config checks, CLI extensions), skipping a part this build
    does not install; an import error inside an installed part is raised, not hidden."""
    for module_name in module_names:
        try:
            yield importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name or module_name.startswith(str(exc.name) + "."):
                continue
            raise


def semantic_problems(config: Config) -> list[ConfigProblem]:
    """Every problem `inventory_problems` and the registered `CONFIG_CHECKS` find."""
    problems = list(inventory_problems(config))
    for module in installed_parts(CONFIG_CHECKS):
        problems.extend(module.config_problems(config))
    return problems


# --- loading --------------------------------------------------------------------------------


class ConfigError(Exception):
    """A configuration that cannot be used. `str()` is the message to show the user."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))


# Keys a model accepts under a short name: the line is the short key's when only it is written.
KEY_ALIASES = {"profiles": "profile"}

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _key_lines(
    node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int], dupes: list[tuple[tuple[Any, ...], str]]
) -> None:
    """Line of every key path; a key written twice in one mapping is recorded in `dupes`
    (PyYAML silently keeps the last one, which hides half of a config)."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or mapping used as a key: the models refuse it with its line
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first:
                dupes.append(((*path, key), f"key {key!r} is written twice in this mapping (first at line {first[key]}): "
                              "the second would silently replace the first"))
                out[(*path, key, "#dup")] = line
                continue
            first[key] = line
            out[(*path, key)] = line
            _key_lines(value_node, (*path, key), out, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _key_lines(item, (*path, i), out, dupes)


_PLACEHOLDER = re.compile(r"SENTINELLE_ENV_REF_(\d+)_")


def _protect_env_refs(text: str) -> tuple[str, list[tuple[str, str | None]]]:
    """Swap `${VAR}` for plain placeholders *before* YAML parsing.

    `${...}` is not valid inside a YAML flow mapping (`{community: ${X}}`), yet that is how
    people write it. The placeholder is a plain word on the same line, so YAML parses and
    line numbers stay right; `_interpolate` puts the values in after parsing, so a value
    with YAML-special characters (`: `, `#`) cannot change the document's structure.
    """
    refs: list[tuple[str, str | None]] = []

    def sub(match: re.Match[str]) -> str:
        refs.append((match.group(1), match.group(2)))
        return f"SENTINELLE_ENV_REF_{len(refs) - 1}_"

    return _ENV_REF.sub(sub, text), refs


def _interpolate(
    data: Any, refs: list[tuple[str, str | None]], path: tuple[Any, ...], problems: list[tuple[tuple[Any, ...], str]],
    strict: bool = True,
) -> Any:
    """Replace placeholders with `$VAR` (or the `:-default`); an unset VAR is an error unless
    `strict` is False (read-only commands that do not use the value)."""
    if isinstance(data, dict):
        return {k: _interpolate(v, refs, (*path, k), problems, strict) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, refs, (*path, i), problems, strict) for i, v in enumerate(data)]
    if isinstance(data, str) and "SENTINELLE_ENV_REF_" in data:

        def sub(match: re.Match[str]) -> str:
            name, default = refs[int(match.group(1))]
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            if strict:
                problems.append((path, f"environment variable {name} is not set"))
            return ""

        return _PLACEHOLDER.sub(sub, data)
    return data


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of a pydantic error location that exists in the YAML data.

    Pydantic inserts union tags (e.g. `influxdb2`) and validator names into locations; they
    are not keys the user wrote, so they are dropped for the message and the line lookup.
    """
    out: list[Any] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and not part.startswith(("function-", "tagged-")):
            # A missing or unknown key: name it, but stop walking.
            if part not in ("influxdb2", "influxdb1", "local", "file"):
                out.append(part)
                break
    return tuple(out)


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and any(h in key.lower() for h in SECRET_KEY_HINTS)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    reason = str(getattr(exc, "problem", None) or exc)
    mark = getattr(exc, "problem_mark", None)
    if "'\\t'" in reason or "\t" in reason:
        reason = "a tab character: YAML indentation must use spaces, not tabs"
    elif "mapping values are not allowed" in reason:
        reason = "unexpected ':' here (check the indentation of this line and the one above, or quote a value containing ': ')"
    elif "could not find expected ':'" in reason:
        reason = "a key without ':' (or a line indented differently from its neighbours)"
    if mark is not None:
        reason += f" (column {mark.column + 1})"
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        reason += f"; {context} at line {context_mark.line + 1}"
    return f"not valid YAML: {reason}"


def parse_config(text: str, path: str = "<config>", *, read_secrets: bool = True) -> Config:
    """Validate YAML text; raise `ConfigError` naming the file, line, key path and reason.

    `read_secrets=False` is for read-only commands (`spool stats`): an unset `${VAR}` or an
    unreadable `*_file` secret is then not an error, every other rule still applies.
    """
    text, refs = _protect_env_refs(text)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ConfigError(path, [f"{where}: {_yaml_reason(exc)}"]) from None
    if data is None:
        raise ConfigError(path, [f"{path}:1: (top level): the file is empty: a configuration needs at least "
                                 "'inventory:' or 'mqtt:' (see deploy/examples/)"])
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{path}:1: (top level): the top level must be a mapping of sections "
                                 "(agent:, inventory:, mqtt:, sinks:, ...), not a {kind}".format(
                                     kind="list" if isinstance(data, list) else "single value")])
    lines: dict[tuple[Any, ...], int] = {}
    dupes: list[tuple[tuple[Any, ...], str]] = []
    if node is not None:
        _key_lines(node, (), lines, dupes)

    def where(p: tuple[Any, ...], own_line: bool = False) -> str:
        if own_line and (*p, "#dup") in lines:
            return f"{path}:{lines[(*p, '#dup')]}"
        for i, part in enumerate(p):
            # A key the user wrote in its short form (`profile: x` for `profiles: [x]`).
            if part in KEY_ALIASES and p[:i + 1] not in lines and (*p[:i], KEY_ALIASES[part]) in lines:
                p = (*p[:i], KEY_ALIASES[part])
                break
        for n in range(len(p), -1, -1):
            if p[:n] in lines:
                return f"{path}:{lines[p[:n]]}"
        return path

    if dupes:
        raise ConfigError(path, [f"{where(p, own_line=True)}: {_format_loc(p)}: {msg}" for p, msg in dupes])
    env_problems: list[tuple[tuple[Any, ...], str]] = []
    data = _interpolate(data, refs, (), env_problems, strict=read_secrets)
    if env_problems:
        raise ConfigError(path, [f"{where(p)}: {_format_loc(p)}: {msg}" for p, msg in env_problems])
    try:
        config = Config.model_validate(data, context={"read_secrets": read_secrets})
    except ValidationError as exc:
        raise ConfigError(path, [_validation_line(err, data, where) for err in exc.errors(
            include_url=False, include_context=True, include_input=True)]) from None
    problems = semantic_problems(config)
    if problems:
        raise ConfigError(path, [f"{where(p)}: {_format_loc(p)}: {msg}" for p, msg in problems])
    return config



def _validation_line(err: Any, data: Any, where: Any) -> str:
    from sentinelle.agent.configwords import model_at, reword

    loc = tuple(err["loc"])
    p = _data_path(data, loc)
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        p = (*p, str((err.get("ctx") or {}).get("discriminator", "type")).strip("'"))
    key = next((x for x in reversed(p) if isinstance(x, str)), None)
    reason = reword(dict(err), model_at(Config, loc), key)
    if err["type"] not in ("extra_forbidden", "missing"):
        value = err.get("input")
        if isinstance(value, str | int | float) and not isinstance(value, bool) and not _is_secret_key(key):
            if len(str(value)) <= 60 and "@" not in str(value) and f"{value!r}" not in reason:
                reason += f" (got {value!r})"
    return f"{where(p)}: {_format_loc(p)}: {reason}"


def load_config(path: str | Path, *, read_secrets: bool = True) -> Config:
    """Read and validate a configuration file (see `parse_config`)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(p), [f"{p}: file not found"]) from None
    except IsADirectoryError:
        raise ConfigError(str(p), [f"{p}: is a directory, not a configuration file"]) from None
    except OSError as exc:
        raise ConfigError(str(p), [f"{p}: cannot read: {exc.strerror or exc.__class__.__name__}"]) from None
    try:
        # utf-8-sig: a byte-order mark left by a Windows editor is not an error.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(str(p), [
            f"{p}:{line}: (top level): byte 0x{raw[exc.start]:02x} at column {column} is not UTF-8: "
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ]) from None
    return parse_config(text, str(p), read_secrets=read_secrets)
