"""`sentinelle check`: a technician's first command on site. It must say, per device and per
sink, whether it answers, exit non-zero when something does not, and write nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def run_check(cfg: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "sentinelle.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", "check", "-c", str(path)],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_check_reports_devices_and_sinks_and_writes_nothing(snmpsim: Any, influxdb1: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cfg = {
        "agent": {"data_dir": str(data_dir)},
        "inventory": {"sites": [{"id": "nro", "devices": [
            {"id": "ups-1", "snmp": {"host": "127.0.0.1", "port": snmpsim.port, "community": "eaton-93e-ups"}},
            {"id": "pdu-silent", "snmp": {"host": "127.0.0.1", "port": 9, "community": "x", "timeout": 0.3, "retries": 0}},
        ]}]},
        "sinks": [
            {"type": "influxdb1", "name": "central", "url": influxdb1.url, "database": "sentinelle"},
            {"type": "influxdb1", "name": "nodb", "url": influxdb1.url, "database": "absent_db"},
        ],
    }
    proc = run_check(cfg, tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = {line.split()[0] + " " + line.split()[1]: line for line in out.splitlines() if line.strip()}
    assert " ok " in lines["device ups-1"] and "sysObjectID 1.3.6.1.4.1.705" in lines["device ups-1"], out
    # Port 9 is closed: the ICMP port unreachable reads as "refused" (gufo-snmp), no 2 s timeout.
    assert "FAIL" in lines["device pdu-silent"] and "refused" in lines["device pdu-silent"].lower(), out
    assert " ok " in lines["sink central"], out
    assert "FAIL" in lines["sink nodb"] and "absent_db" in lines["sink nodb"], out
    assert not data_dir.exists(), "check must not create the data directory, spool or store"
