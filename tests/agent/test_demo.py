"""`sentinelle demo`, the README's first command: the real agent against a simulated site
(snmpsim + an MQTT broker with a simulated LoRaWAN network server), into the local store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sentinelle.agent.sinks.local import LocalStore


def test_demo_collects_from_every_simulated_device_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "sentinelle.agent.cli", "demo", "--duration", "10", "--data-dir", str(out), "--json"],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    devices = {d["device"]: d for d in summary["devices"]}
    assert len(devices) == 11  # 7 SNMP devices, 1 LoRa gateway, 3 LoRa sensors (meter, climate, door)
    for name, dev in devices.items():
        assert dev["last_reachable"] is True, name
        assert dev["points"] > 0, name
    polled = [d for d in devices.values() if d["polls"]]
    assert len(polled) == 7 and all(d["polls"] >= 2 for d in polled)
    # Every poll answered, but one may end at its deadline when the test machine is loaded
    # (the Arista recording walks 95 sensors): the demo shows that honestly as 2/3.
    assert all(d["reachable_polls"] >= d["polls"] - 1 for d in polled), polled
    # Moving counters: the simulated PDU's energy index rose, so energy and carbon exist.
    energy = summary["energy_carbon"]
    assert energy["kwh"] > 0 and energy["beges_kgco2e"] > 0 and energy["grid_kgco2e"] > 0
    html = Path(energy["html_report"])
    assert html.exists() and "kWh" in html.read_text(encoding="utf-8")
    store = LocalStore.open_readonly(out / "local.db")
    try:
        measurements = set(store.measurements())
        assert {"device_status", "pdu", "ups", "interface", "lora_device", "lora_gateway", "energy", "carbon"} <= measurements
        tracks = {p.tags["track"] for p in store.query("carbon")}
        assert tracks == {"beges", "grid"}
        sites = {p.tags.get("site") for p in store.query("device_status")}
        assert sites == {"nro-lannion", "dc-saint-brieuc"}
        kwh: dict[str, float] = {}
        for p in store.query("energy"):
            meter = p.tags.get("meter") or p.tags["device"]
            kwh[meter] = kwh.get(meter, 0.0) + float(p.fields["kwh"])
    finally:
        store.close()
    # The simulated site's meter hierarchy is consistent: no sub-meter reads more than its
    # parent, no IT load more than its site's facility meter (the demo once showed a PUE of 0.061).
    import yaml

    demo = yaml.safe_load((out / "demo.yaml").read_text(encoding="utf-8"))
    for site in demo["inventory"]["sites"]:
        meters = {d["id"]: d["meter"] for d in site["devices"] if isinstance(d.get("meter"), dict)}
        meters |= {d["id"]: {"load": d["meter"]} for d in site["devices"] if isinstance(d.get("meter"), str)}
        for dev, meter in meters.items():
            parent = meter.get("parent")
            if parent:
                assert kwh.get(dev, 0.0) <= kwh.get(parent, 0.0) * 1.05, (site["id"], dev, parent, kwh)
        facility = sum(kwh.get(d, 0.0) for d, m in meters.items() if m.get("load") == "facility")
        it = sum(kwh.get(d, 0.0) for d, m in meters.items() if m.get("load") == "it")
        assert it <= facility, (site["id"], kwh)


def test_demo_writes_its_config_and_its_next_commands_work(tmp_path: Path) -> None:
    """The demo leads somewhere: the commands it prints run on the configuration it wrote."""
    import re
    import shlex

    script = Path(sys.executable).parent / "sentinelle"
    proc = subprocess.run([str(script), "demo", "--duration", "8"], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert (tmp_path / "sentinelle-demo" / "demo.yaml").exists()
    # French by default, and the completeness figure is explained.
    assert "équipement" in out.splitlines()[2] and "joignable" in out
    assert "Complétude : part de la période" in out
    # Every simulated sensor it announces is a row of the table.
    announced = re.search(r"\((\d+) passerelle, (\d+) capteurs\)", out)
    assert announced is not None
    table = out.split("\n\n")[1].splitlines()[2:]
    kinds = [row.split()[2] for row in table]
    assert kinds.count("lora_gateway") == int(announced.group(1))
    assert sum(1 for row in table if row.split()[2] in ("sensor", "energy_meter")) == int(announced.group(2))
    commands = [line.strip() for line in out.split("Ensuite :")[1].splitlines() if line.strip()]
    assert [c.split()[1] for c in commands] == ["report", "spool", "run"]
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "sentinelle"
        done = subprocess.run([str(script), *argv[1:]], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr
    assert list(tmp_path.glob("sentinelle-*.html")), "report wrote its HTML next to the user"


def test_demo_table_follows_the_language(capsys) -> None:  # type: ignore[no-untyped-def]
    from sentinelle.agent.demo import DeviceSummary, _print_table

    row = DeviceSummary("ups-1", "nro-a", "ups", 3, 3, True, 3600.0, "ups", 12)
    _print_table([row], "en")
    en = capsys.readouterr().out
    _print_table([row])
    fr = capsys.readouterr().out
    assert en.split()[:4] == ["device", "site", "kind", "reachable"] and " yes " in en
    assert fr.split()[:4] == ["équipement", "site", "type", "joignable"] and " oui " in fr
