"""`build_sink`: one `sinks:` configuration entry into the runtime `Sink` that writes to it.

The sink classes are imported on use: an agent writing only to its local store never loads the
HTTP client the InfluxDB sinks need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentinelle.agent.sinks.settings import (
    FileSinkSettings,
    InfluxDB1SinkSettings,
    InfluxDB2SinkSettings,
    LocalSinkSettings,
    sink_name,
)

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig
    from sentinelle.agent.sinks.base import Sink


def build_sink(sink_cfg: Any, index: int, config: AgentConfig, *, create: bool = True) -> Sink:
    """The sink for `config.effective_sinks()[index]`; its `name` is the spool's key for it.

    `create=False` (for `sentinelle check`, which writes nothing): file-based sinks only check
    that they could create their file, without creating it."""
    name = sink_name(sink_cfg, index)
    if isinstance(sink_cfg, InfluxDB2SinkSettings):
        from sentinelle.agent.sinks.influxdb2 import InfluxDB2Sink

        return InfluxDB2Sink(name, sink_cfg.url, sink_cfg.org, sink_cfg.bucket, sink_cfg.token.get_secret_value(),
                             gzip_body=sink_cfg.gzip, verify_tls=sink_cfg.verify_tls, timeout=sink_cfg.timeout)
    if isinstance(sink_cfg, InfluxDB1SinkSettings):
        from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink

        password = sink_cfg.password.get_secret_value() if sink_cfg.password is not None else None
        return InfluxDB1Sink(name, sink_cfg.url, sink_cfg.database, retention_policy=sink_cfg.retention_policy,
                             username=sink_cfg.username, password=password, gzip_body=sink_cfg.gzip,
                             verify_tls=sink_cfg.verify_tls, timeout=sink_cfg.timeout)
    if isinstance(sink_cfg, LocalSinkSettings):
        from sentinelle.agent.sinks.local import LocalSink

        return LocalSink(name, config.local_store_path(sink_cfg), create=create)
    if isinstance(sink_cfg, FileSinkSettings):
        from sentinelle.agent.sinks.file import FileSink

        return FileSink(name, sink_cfg.path, create=create)
    raise ValueError(f"unknown sink type {getattr(sink_cfg, 'type', type(sink_cfg).__name__)!r}")
