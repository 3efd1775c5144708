"""Debian ``influxd`` 1.x, the InfluxDB sink's and the dashboards' real database."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.support.http_client import http
from tests.support.ports import HOST, free_tcp_ports
from tests.support.process import ServerError, _Server, find_binary


class InfluxDB1(_Server):
    """Debian ``influxd`` 1.6.7: ``/write`` + InfluxQL ``/query`` (no ``/api/v2``), no auth."""

    name = "influxd"
    package = "influxdb"
    startup_timeout = 30.0

    def __init__(self, workdir: str | Path | None = None) -> None:
        super().__init__(workdir)
        self._allocate_ports()
        self.conf_path = self.workdir / "influxdb.conf"
        self.db: str | None = None

    def _allocate_ports(self) -> None:
        self.port, self.rpc_port = free_tcp_ports(2)
        self.url = f"http://{HOST}:{self.port}"

    def _prepare(self) -> None:
        d = self.workdir
        self.conf_path.write_text(
            f"""reporting-disabled = true
bind-address = "{HOST}:{self.rpc_port}"

[meta]
  dir = "{d}/meta"
  logging-enabled = false

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{HOST}:{self.port}"
  auth-enabled = false
  log-enabled = false
  flux-enabled = false

[logging]
  format = "logfmt"
  level = "warn"

[subscriber]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = false
"""
        )

    def _argv(self) -> list[str]:
        return [find_binary("influxd", self.package), "run", "-config", str(self.conf_path)]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        return env

    def _ready(self) -> bool:
        if not self._listening(self.port):
            return False
        status, _ = http("GET", f"{self.url}/ping", timeout=1)
        return status == 204

    def query(self, q: str, db: str | None = None, epoch: str | None = None) -> dict[str, Any]:
        """Run InfluxQL (POST /query) and return the parsed JSON; raise on HTTP or statement error."""
        params = {"q": q}
        if db:
            params["db"] = db
        if epoch:
            params["epoch"] = epoch
        status, body = http(
            "POST",
            f"{self.url}/query",
            data=urllib.parse.urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise ServerError(f"influx query {q!r} -> HTTP {status}: {body[:500]!r}")
        result: dict[str, Any] = json.loads(body)
        for r in result.get("results", []):
            if "error" in r:
                raise ServerError(f"influx query {q!r} -> {r['error']}")
        return result

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def write(self, lines: str | Iterable[str], db: str | None = None, precision: str = "ns") -> None:
        """Write line protocol (for test setup); raise unless 204."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        dbname = db or self.db
        if not dbname:
            raise ServerError("write needs a db")
        qs = urllib.parse.urlencode({"db": dbname, "precision": precision})
        status, resp = http("POST", f"{self.url}/write?{qs}", data=body.encode())
        if status != 204:
            raise ServerError(f"influx write -> HTTP {status}: {resp[:500]!r}")

    def points(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts (column -> value), tags included if grouped by them."""
        res = self.query(q, db=db or self.db, epoch="ns")
        rows: list[dict[str, Any]] = []
        for r in res.get("results", []):
            for s in r.get("series", []) or []:
                for v in s.get("values", []):
                    row = dict(zip(s["columns"], v, strict=False))
                    row.update(s.get("tags", {}) or {})
                    row.setdefault("_measurement", s.get("name"))
                    rows.append(row)
        return rows
