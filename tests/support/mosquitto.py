"""Debian ``mosquitto``, the MQTT broker of the collection and TLS tests."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

from tests.support.ports import HOST, free_tcp_ports
from tests.support.process import ServerError, _Server, find_binary
from tests.support.tls import make_tls_material


class Mosquitto(_Server):
    """Debian ``mosquitto`` broker: anonymous plain listener on ``port``.

    ``persistence=True`` keeps sessions and queued QoS 1 messages across a graceful
    ``stop()``/``start()`` (saved on SIGTERM; ``autosave_interval`` 1 s also covers ``kill()``
    for messages older than a second). ``tls=True`` adds a TLS listener on ``tls_port``
    whose server cert is signed by ``ca_path`` (client cert ``client_cert_path``/``client_key_path``
    available too, not required by the broker).
    """

    name = "mosquitto"
    package = "mosquitto"
    startup_timeout = 15.0

    def __init__(
        self, persistence: bool = False, tls: bool = False, workdir: str | Path | None = None
    ) -> None:
        super().__init__(workdir)
        self.persistence = persistence
        self.tls = tls
        self.conf_path = self.workdir / "mosquitto.conf"
        self.persistence_dir = self.workdir / "persist"
        self.tls_port: int | None = None
        self.tls_url: str | None = None
        self.ca_path: Path | None = None
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self.client_cert_path: Path | None = None
        self.client_key_path: Path | None = None
        self._allocate_ports()
        if tls:
            m = make_tls_material(self.workdir / "tls")
            self.ca_path, self.cert_path, self.key_path = m["ca"], m["cert"], m["key"]
            self.client_cert_path, self.client_key_path = m["client_cert"], m["client_key"]

    def _allocate_ports(self) -> None:
        self.port, tls_port = free_tcp_ports(2)
        self.url = f"mqtt://{HOST}:{self.port}"
        if self.tls:
            self.tls_port = tls_port
            self.tls_url = f"mqtts://{HOST}:{self.tls_port}"

    def _prepare(self) -> None:
        lines = [
            "per_listener_settings false",
            "allow_anonymous true",
            "user root",  # else it drops to user 'mosquitto' and cannot write our temp dir
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
            f"listener {self.port} {HOST}",
        ]
        if self.tls:
            lines += [
                f"listener {self.tls_port} {HOST}",
                f"cafile {self.ca_path}",
                f"certfile {self.cert_path}",
                f"keyfile {self.key_path}",
                "require_certificate false",
            ]
        if self.persistence:
            self.persistence_dir.mkdir(exist_ok=True)
            lines += [
                "persistence true",
                f"persistence_location {self.persistence_dir}/",
                "autosave_interval 1",
            ]
        else:
            lines += ["persistence false"]
        self.conf_path.write_text("\n".join(lines) + "\n")

    def _argv(self) -> list[str]:
        return [find_binary("mosquitto", self.package), "-c", str(self.conf_path)]

    def _ready(self) -> bool:
        if not self._listening(self.port, *([self.tls_port] if self.tls_port else [])):
            return False
        # A real MQTT CONNECT/PUBLISH/DISCONNECT round trip.
        pub = find_binary("mosquitto_pub", "mosquitto-clients")
        r = subprocess.run(
            [pub, "-h", HOST, "-p", str(self.port), "-t", "sentinelle/ready", "-m", "1", "-q", "0"],
            capture_output=True,
            timeout=2,
        )
        if r.returncode != 0:
            return False
        if self.tls and self.tls_port is not None:
            ctx = ssl.create_default_context(cafile=str(self.ca_path))
            with socket.create_connection((HOST, self.tls_port), timeout=1) as s:
                with ctx.wrap_socket(s, server_hostname="localhost"):
                    pass
        return True

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSLContext trusting this broker's throwaway CA."""
        if self.ca_path is None:
            raise ServerError("Mosquitto started without tls=True")
        return ssl.create_default_context(cafile=str(self.ca_path))
