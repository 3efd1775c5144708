"""The `sinks:` section: one settings model per sink type (the runtime sinks of the same
names without `Settings` live next to this file; `build_sink` turns one into the other)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr

from sentinelle.agent.configtypes import Duration, HttpUrl, StrictModel


class SinkSettingsBase(StrictModel):
    name: str | None = None
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    timeout: Duration = 10.0
    # Exponential backoff between failed writes, capped: bounds how late writes resume after a
    # sink that answered errors recovers (an unreachable sink is also probed every second).
    retry_max_delay: Duration = 8.0


class InfluxDB2SinkSettings(SinkSettingsBase):
    type: Literal["influxdb2"]
    url: HttpUrl
    org: str
    bucket: str
    token: SecretStr
    gzip: bool = True
    verify_tls: bool = True


class InfluxDB1SinkSettings(SinkSettingsBase):
    type: Literal["influxdb1"]
    url: HttpUrl
    database: str
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    gzip: bool = True
    verify_tls: bool = True


class LocalSinkSettings(SinkSettingsBase):
    type: Literal["local"]
    path: Path | None = None


class FileSinkSettings(SinkSettingsBase):
    type: Literal["file"]
    path: Path


SinkSettings = Annotated[InfluxDB2SinkSettings | InfluxDB1SinkSettings | LocalSinkSettings | FileSinkSettings, Field(discriminator="type")]


def sink_name(sink: Any, index: int) -> str:
    return sink.name or f"{sink.type}-{index}"
