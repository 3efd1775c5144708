"""`sentinelle check`: a technician's first command on site. It must say, per device and per
sink, whether it answers, exit non-zero when something does not, and write nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def run_check(cfg: dict[str, Any], tmp_path: Path, lang: tuple[str, ...] = ("--lang", "en")) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "sentinelle.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", "check", *lang, "-c", str(path)],
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


def test_check_table_is_french_by_default_with_device_errors_verbatim(snmpsim: Any, mosquitto: Any, influxdb1: Any,
                                                                      tmp_path: Path) -> None:
    """Before: row labels, ok/FAIL and the agent's own detail sentences were English in a
    French run. Now French by default (English with --lang en); an error text that comes from
    the device, the SNMP client or the sink is the same in both languages."""
    cfg = {
        "agent": {"data_dir": str(tmp_path / "data")},
        "inventory": {"sites": [{"id": "nro", "devices": [
            {"id": "ups-1", "snmp": {"host": "127.0.0.1", "port": snmpsim.port, "community": "eaton-93e-ups"}},
            {"id": "pdu-silent", "snmp": {"host": "127.0.0.1", "port": 9, "community": "x", "timeout": 0.3, "retries": 0}},
        ]}]},
        "mqtt": [{"url": f"mqtt://127.0.0.1:{mosquitto.port}", "name": "lns", "topics": ["application/+/device/+/event/up"]}],
        "sinks": [{"type": "influxdb1", "name": "nodb", "url": influxdb1.url, "database": "absent_db"}],
    }
    rows = {}
    for lang, args in (("fr", ()), ("en", ("--lang", "en"))):
        (tmp_path / lang).mkdir()
        proc = run_check(cfg, tmp_path / lang, args)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        rows[lang] = [line for line in proc.stdout.splitlines() if line.strip()]
    fr = {" ".join(line.split()[:2]): line for line in rows["fr"]}
    assert rows["fr"][0].startswith("configuration ") and "équipement(s)" in rows["fr"][0]
    assert rows["fr"][1].startswith("dossier de données ") and " ok " in rows["fr"][1]
    assert " ok " in fr["équipement ups-1"] and "SNMPv2c : sysObjectID 1.3.6.1.4.1.705" in fr["équipement ups-1"]
    assert " ÉCHEC " in fr["équipement pdu-silent"] and "FAIL" not in "".join(rows["fr"])
    assert " ÉCHEC " in fr["destination nodb"]
    assert "connecté (sans TLS, anonyme), abonné à 1 filtre(s)" in fr["mqtt lns"]
    en = {" ".join(line.split()[:2]): line for line in rows["en"]}
    assert " FAIL " in en["device pdu-silent"] and "connected (no TLS, anonymous)" in en["mqtt lns"]
    # What the device, client or sink said is not translated: the same words after the label.
    for fr_key, en_key in (("équipement pdu-silent", "device pdu-silent"), ("destination nodb", "sink nodb")):
        fr_detail = fr[fr_key].split(" ÉCHEC ", 1)[1].strip().replace(" : ", ": ")
        en_detail = en[en_key].split(" FAIL ", 1)[1].strip()
        assert fr_detail == en_detail and "absent_db" in en["sink nodb"], (fr_detail, en_detail)
