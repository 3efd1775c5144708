"""`sentinelle check` tests MQTT brokers as the agent would connect: TLS, credentials, subscribe.

Real Debian mosquitto on 127.0.0.1: one broker requiring a password (right and wrong password),
and a port where nothing listens. Each line names the broker by host:port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.mosquitto import Mosquitto
from tests.support.ports import HOST, free_tcp_port
from tests.support.process import find_binary

PASSWORD = "broker-pw-Zq81x"


class PasswordMosquitto(Mosquitto):
    """mosquitto with `allow_anonymous false` and one user (`sentinelle` / PASSWORD)."""

    def _prepare(self) -> None:
        super()._prepare()
        passwd = self.workdir / "passwd"
        subprocess.run([find_binary("mosquitto_passwd", "mosquitto"), "-b", "-c", str(passwd), "sentinelle", PASSWORD],
                       check=True, capture_output=True, timeout=30)
        text = self.conf_path.read_text().replace("allow_anonymous true", "allow_anonymous false")
        self.conf_path.write_text(text + f"password_file {passwd}\n")

    def _ready(self) -> bool:
        return self._listening(self.port)


def run_check(cfg: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "sentinelle.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", "check", "--lang", "en", "-c", str(path), *extra],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_check_reports_each_broker_by_host_and_port(tmp_path: Path) -> None:
    (tmp_path / "good.pw").write_text(PASSWORD + "\n")
    (tmp_path / "bad.pw").write_text("not-the-password-4411\n")
    down = free_tcp_port()
    with PasswordMosquitto(workdir=tmp_path / "broker") as broker:
        url = f"mqtt://{HOST}:{broker.port}"
        topics = ["application/+/device/+/event/up"]
        cfg = {
            "agent": {"data_dir": str(tmp_path / "data")},
            "mqtt": [
                {"url": url, "name": "lns", "username": "sentinelle", "password_file": str(tmp_path / "good.pw"), "topics": topics},
                {"url": url, "name": "wrongpw", "username": "sentinelle", "password_file": str(tmp_path / "bad.pw"), "topics": topics},
                {"url": f"mqtt://{HOST}:{down}", "name": "down", "topics": topics},
            ],
        }
        proc = run_check(cfg, tmp_path, "--timeout", "3s")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("mqtt ")}
    assert set(rows) == {"lns", "wrongpw", "down"}, out
    assert " ok " in rows["lns"] and f"{HOST}:{broker.port}" in rows["lns"] and "subscribed to 1" in rows["lns"], out
    assert "FAIL" in rows["wrongpw"] and f"{HOST}:{broker.port}" in rows["wrongpw"], out
    assert "credentials" in rows["wrongpw"], out
    assert "FAIL" in rows["down"] and f"{HOST}:{down}" in rows["down"] and "refused" in rows["down"], out
    assert PASSWORD not in out + proc.stderr and "not-the-password-4411" not in out + proc.stderr
    assert not (tmp_path / "data").exists(), "check writes nothing"


def test_check_no_devices_skips_brokers(tmp_path: Path) -> None:
    down = free_tcp_port()
    cfg = {"agent": {"data_dir": str(tmp_path / "data")}, "mqtt": [{"url": f"mqtt://{HOST}:{down}", "topics": ["a/+"]}]}
    proc = run_check(cfg, tmp_path, "--no-devices")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mqtt " not in proc.stdout and "data_dir" in proc.stdout


def test_check_uses_the_configured_tls(mosquitto_factory: Any, tmp_path: Path) -> None:
    import certifi

    broker = mosquitto_factory(tls=True)
    topics = ["application/+/device/+/event/up"]
    cfg = {
        "agent": {"data_dir": str(tmp_path / "data")},
        "mqtt": [
            {"url": broker.tls_url, "name": "right-ca", "tls": {"ca": str(broker.ca_path)}, "topics": topics},
            # Public CAs only: the broker's private CA is not among them.
            {"url": broker.tls_url, "name": "wrong-ca", "tls": {"ca": certifi.where()}, "topics": topics},
        ],
    }
    proc = run_check(cfg, tmp_path, "--timeout", "5s")
    rows = {line.split()[1]: line for line in proc.stdout.splitlines() if line.startswith("mqtt ")}
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert " ok " in rows["right-ca"] and "(TLS," in rows["right-ca"], proc.stdout
    assert "FAIL" in rows["wrong-ca"] and "TLS failed" in rows["wrong-ca"] and f":{broker.tls_port}" in rows["wrong-ca"], proc.stdout
