"""Debian ``victoria-metrics``, a sink that takes Influx line protocol."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.support.http_client import http
from tests.support.ports import HOST, free_tcp_port
from tests.support.process import ServerError, _Server, find_binary


class VictoriaMetrics(_Server):
    """Debian ``victoria-metrics`` (single node): accepts Influx line protocol on
    ``/write`` and ``/api/v2/write`` (influxdb-client works against it), no InfluxQL.

    Naming (verified with 1.79): line ``power,site=a device=3.5,energy=7i 1700000000000000000``
    becomes ``power_device{site="a"}`` = 3.5 and ``power_energy{site="a"}`` = 7, at millisecond
    precision; a field named ``value`` still gives ``power_value``. ``/write?db=x`` adds a label
    ``db="x"``; ``/api/v2/write?bucket=`` adds none. Malformed lines are dropped with HTTP 204
    (only logged); string fields become 0, booleans 1. ``export()`` flushes first, so points
    written a moment ago are counted.
    """

    name = "victoria-metrics"
    package = "victoria-metrics"
    startup_timeout = 30.0

    def __init__(self, workdir: str | Path | None = None) -> None:
        super().__init__(workdir)
        self._allocate_ports()
        self.data_dir = self.workdir / "data"

    def _allocate_ports(self) -> None:
        self.port = free_tcp_port()
        self.url = f"http://{HOST}:{self.port}"

    def _argv(self) -> list[str]:
        return [
            find_binary("victoria-metrics", self.package),
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr={HOST}:{self.port}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
            "-memory.allowedPercent=20",
        ]

    def _ready(self) -> bool:
        if not self._listening(self.port):
            return False
        status, _ = http("GET", f"{self.url}/health", timeout=1)
        return status == 200

    def flush(self) -> None:
        """Make just-written points searchable (``/internal/force_flush``)."""
        status, body = http("GET", f"{self.url}/internal/force_flush")
        if status != 200:
            raise ServerError(f"force_flush -> HTTP {status}: {body[:300]!r}")

    def write(self, lines: str | Iterable[str], precision: str = "ns") -> None:
        """Write Influx line protocol via ``/write`` (test setup)."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        status, resp = http("POST", f"{self.url}/write?precision={precision}", data=body.encode())
        if status not in (200, 204):
            raise ServerError(f"vm write -> HTTP {status}: {resp[:300]!r}")

    def export(self, match: str = '{__name__!=""}', flush: bool = True) -> list[dict[str, Any]]:
        """All series matching ``match`` as dicts ``{"metric": {...}, "values": [...],
        "timestamps": [ms...]}`` (``/api/v1/export``, JSON lines)."""
        if flush:
            self.flush()
        # Default end is "now" truncated to the second, hiding the last second's points.
        qs = urllib.parse.urlencode(
            {"match[]": match, "start": "0", "end": str(int(time.time()) + 2 * 86400)}
        )
        status, body = http("GET", f"{self.url}/api/v1/export?{qs}")
        if status != 200:
            raise ServerError(f"vm export -> HTTP {status}: {body[:300]!r}")
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

    def count_points(self, match: str = '{__name__!=""}') -> int:
        """Total number of samples over all matching series."""
        return sum(len(s["values"]) for s in self.export(match))
