"""Small value types shared by every configuration section: durations, secrets, strict models.

Kept apart from `agent.config` so collectors can declare their own sections with the same
rules (durations like `90s`, secrets from `*_file`) without importing the whole config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, model_validator

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


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors (a typo must not pass silently),
    and every `SecretStr` field `x` may instead be given as `x_file: /path/to/file`."""

    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, info in cls.model_fields.items():
            file_key = f"{name}_file"
            if file_key not in out:
                continue
            if not _is_secret(info.annotation):
                continue
            if out.get(name) is not None:
                raise ValueError(f"give either {name!r} or {file_key!r}, not both")
            out[name] = read_secret_file(out.pop(file_key))
        return out


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return SecretStr in getattr(annotation, "__args__", ())


def secret_value(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
