"""Small value types shared by every configuration section: durations, secrets, strict models.

Kept apart from `agent.config` so collectors can declare their own sections with the same
rules (durations like `90s`, secrets from `*_file`) without importing the whole config.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    model_validator,
)

IDENT = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$"
Ident = Annotated[str, Field(pattern=IDENT, max_length=128)]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> float:
    """`90`, `90s`, `1m30s`, `500ms`, `2h`, `7d` → seconds (float). Negative is an error."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '60s', '5m', '1h30m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if not text:
            raise ValueError("empty duration")
        if text.startswith("-"):
            raise ValueError(f"a duration cannot be negative (got {value!r})")
        try:
            seconds = float(text)
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _DURATION_PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_S[match.group(2)]
                pos = match.end()
            if pos != len(text) or pos == 0:
                raise ValueError(
                    f"invalid duration {value!r}: use a number of seconds or units ms, s, m, h, d, w "
                    "(e.g. '60s', '5m', '1h30m')"
                ) from None
    else:
        raise ValueError("a duration is a number of seconds or a string like '60s', '5m', '1h30m'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def check_host(value: str) -> str:
    """An IPv4/IPv6 address (`[::1]` too) or a DNS name; `10.0.0.300` or `nro 1` are refused.

    A dotted string of digits is read as an IPv4 address, never as a name, so a mistyped
    address cannot pass as a host name that simply fails to resolve at 3 a.m.
    """
    text = value.strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", bare):
        raise ValueError(f"{value!r} is not a valid IPv4 address (four numbers 0-255, e.g. 10.0.0.30)")
    if ":" in bare:
        raise ValueError(f"{value!r} is not a valid IPv6 address")
    name = bare.removesuffix(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{value!r} is not a valid address or host name (letters, digits, '-' and '.', no spaces)")
    return bare


HostName = Annotated[str, AfterValidator(check_host)]


def check_http_url(value: str) -> str:
    """`http(s)://HOST[:PORT][/path]`: the scheme is required (requests to `influx:8086` fail
    far from the file), credentials belong in their own keys, not in the URL."""
    text = value.strip()
    if "://" not in text:
        raise ValueError("the URL needs a scheme: write http://HOST:PORT or https://HOST")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"scheme {parts.scheme!r} is not supported: use http:// or https://")
    if parts.username or parts.password:
        raise ValueError("credentials do not go in the URL: use token/username/password (or *_file)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number 1..65535") from None
    if port == 0:
        raise ValueError("the port must be a number 1..65535")
    check_host(parts.hostname or "")
    return text


HttpUrl = Annotated[str, AfterValidator(check_http_url)]


def read_secret_file(path: str | Path) -> str:
    """Read a secret from a file (trailing newline stripped, as `echo x > file` leaves one)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"secret file {str(p)!r} does not exist") from None
    except PermissionError:
        raise ValueError(f"secret file {str(p)!r} is not readable by this user") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"secret file {str(p)!r} cannot be read: {exc.__class__.__name__}") from None
    secret = text.rstrip("\r\n")
    if not secret:
        raise ValueError(f"secret file {str(p)!r} is empty")
    return secret


class SecretFileKeyError(ValueError):
    """A `*_file` key whose value cannot be a path: the message names that key's own line."""

    def __init__(self, key: str, reason: str):
        super().__init__(reason)
        self.key = key


# Stands for a secret a read-only command did not read (long enough for length rules).
UNREAD_SECRET = "unread-secret-placeholder"


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors (a typo must not pass silently),
    and every `SecretStr` field `x` may instead be given as `x_file: /path/to/file`."""

    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        # Read-only commands (spool stats...) validate with `read_secrets: False`: a secret
        # file they do not use must not stop them.
        read = not (isinstance(info.context, dict) and info.context.get("read_secrets") is False)
        out = dict(data)
        for name, info in cls.model_fields.items():
            file_key = f"{name}_file"
            if file_key not in out:
                continue
            if not _is_secret(info.annotation):
                continue
            if out.get(name) is not None:
                raise ValueError(f"give either {name!r} or {file_key!r}, not both")
            file_path = out.pop(file_key)
            if not isinstance(file_path, str | Path) or not str(file_path).strip():
                # `token_file: [a, b]`, a number or nothing: said here, not as a TypeError later.
                raise SecretFileKeyError(file_key, f"must be the path of a file holding the secret (got {_kind(file_path)})")
            out[name] = read_secret_file(file_path) if read else UNREAD_SECRET
        return out


def _kind(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a mapping", list: "a list", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return SecretStr in getattr(annotation, "__args__", ())


def secret_value(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


# --- parts of the file ----------------------------------------------------------------------

# A problem found after the models validated: the key path in the YAML data and the reason.
ConfigProblem = tuple[tuple[Any, ...], str]


@dataclass(frozen=True)
class SettingsField:
    """One key a part adds to a section of the file, written after the key `after` there.

    The place matters: it is the order of "accepted keys here are ..." in messages and of
    pydantic's errors, so a composed section reads as if one model declared it."""

    annotation: Any
    default: Any = None  # a plain default or a pydantic `Field(...)`
    after: str | None = None


@dataclass(frozen=True)
class SettingsPart:
    """What one part (a collector, carbon/) declares in the configuration file.

    `agent.config` composes the root model, each site and each device from the agent's own
    keys plus these, so the agent knows no collector's details. `validators` are pydantic
    validators (`field_validator(...)`, `model_validator(...)`) of the part's device or site
    keys; `collects` says whether a configuration gives the part something to collect
    without any inventory device (an MQTT broker does)."""

    name: str
    sections: Mapping[str, SettingsField] = field(default_factory=dict)
    site_fields: Mapping[str, SettingsField] = field(default_factory=dict)
    site_validators: Mapping[str, Any] = field(default_factory=dict)
    device_fields: Mapping[str, SettingsField] = field(default_factory=dict)
    device_validators: Mapping[str, Any] = field(default_factory=dict)
    collects: Callable[[Any], bool] | None = None
    # Key names a user may write in a short form (`profile: x` for `profiles: [x]`).
    key_aliases: Mapping[str, str] = field(default_factory=dict)
    # The part's `pattern=` regexes said in words for error messages (`agent.configwords`).
    pattern_words: Mapping[str, str] = field(default_factory=dict)


def compose_fields(own: Mapping[str, SettingsField], added: Iterable[tuple[str, SettingsField]]) -> dict[str, tuple[Any, Any]]:
    """`own` keys in their order, each added key right after its `after` key (at the end when
    that key is absent), as `create_model` takes them."""
    order = list(own)
    fields = dict(own)
    pending = list(added)
    while pending:
        placed = [(name, f) for name, f in pending if f.after is None or f.after in fields]
        if not placed:
            placed = pending[:1]
        for name, f in placed:
            fields[name] = f
            if f.after in order:
                order.insert(order.index(f.after) + 1, name)
            else:
                order.append(name)
            pending.remove((name, f))
    return {name: (fields[name].annotation, fields[name].default) for name in order}
