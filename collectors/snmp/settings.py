"""The SNMP collector's part of the configuration file: `snmp:` defaults and each device's
`snmp:` target, `profile(s):` and `overrides:` (declared here, composed by `agent.config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from sentinelle.agent.configtypes import Duration, HostName, SettingsField, SettingsPart, StrictModel

AuthProtocol = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
# aes192/aes256: Blumenthal key extension (net-snmp and most UPS/PDU cards);
# aes192c/aes256c: Reeder key extension (Cisco).
PrivProtocol = Literal["none", "des", "3des", "aes", "aes128", "aes192", "aes256", "aes192c", "aes256c"]


SnmpBackendName = Literal["gufo", "pysnmp"]


class SnmpTargetSettings(StrictModel):
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
    def _credentials(self) -> SnmpTargetSettings:
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


def _profile_alias(cls: Any, data: Any) -> Any:
    # `profile: ups-mib` is the natural way to name one profile.
    if isinstance(data, dict) and "profile" in data:
        data = dict(data)
        one = data.pop("profile")
        if "profiles" in data:
            raise ValueError("give either 'profile' or 'profiles', not both")
        data["profiles"] = [one] if isinstance(one, str) else one
    return data


def _snmp_overrides(cls: Any, v: dict[str, Any]) -> dict[str, Any]:
    from sentinelle.collectors.snmp.profiles import parse_overrides  # the profile format's owner

    return parse_overrides(v)


SETTINGS_PART = SettingsPart(
    name="snmp",
    sections={"snmp": SettingsField(SnmpSettings, Field(default_factory=SnmpSettings), after="agent")},
    device_fields={
        "snmp": SettingsField(SnmpTargetSettings | None, None, after="kind"),
        "profiles": SettingsField(list[str], Field(default_factory=list), after="snmp"),
        # SNMP field corrections by `measurement.field` (e.g. `ups_input.voltage_v: {scale: 0.1}`);
        # the model is collectors/snmp/profiles.py FieldOverride.
        "overrides": SettingsField(dict[str, Any], Field(default_factory=dict), after="lora"),
    },
    device_validators={
        "_snmp_overrides": field_validator("overrides")(classmethod(_snmp_overrides)),
        "_profile_alias": model_validator(mode="before")(classmethod(_profile_alias)),
    },
    key_aliases={"profiles": "profile"},
)
