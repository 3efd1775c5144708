"""The running agent's own face: /metrics while polling real devices, agent_internal points,
and the `spool` command on what it left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from sentinelle.agent.config import parse_config
from sentinelle.agent.runtime import Agent
from sentinelle.agent.sinks.local import LocalStore


def config(snmpsim: Any, tmp_path: Path, sinks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "agent": {"name": "rt", "interval": 1, "jitter": 0, "data_dir": str(tmp_path),
                  "http": {"listen": "127.0.0.1:0"}, "internal_interval": 1},
        "inventory": {"sites": [{"id": "nro-a", "kind": "nro", "member": "m", "devices": [
            {"id": "ups-1", "kind": "ups", "snmp": {"host": snmpsim.host, "port": snmpsim.port, "community": "eaton-93e-ups"}},
        ]}]},
        **({"sinks": sinks} if sinks is not None else {}),
    }


async def test_metrics_endpoint_and_internal_points_while_running(snmpsim: Any, tmp_path: Path) -> None:
    cfg = parse_config(yaml.safe_dump(config(snmpsim, tmp_path)))
    async with Agent(cfg) as agent:
        agent.start()
        import asyncio

        await asyncio.sleep(3.2)
        assert agent.status is not None
        base = f"http://127.0.0.1:{agent.status.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/metrics") as r:
                text = await r.text()
            async with http.get(base + "/readyz") as r:
                ready = await r.json()
        await agent.stop()
    assert 'sentinelle_polls_total{device="ups-1",outcome="ok"}' in text
    assert "sentinelle_poll_duration_seconds_count" in text
    assert "sentinelle_sink_points_written_total" in text
    assert ready["ready"] is True and ready["targets"] == 1
    store = LocalStore.open_readonly(tmp_path / "local.db")
    try:
        internal = list(store.query("agent_internal"))
        ups = list(store.query("ups", tags={"device": "ups-1"}))
    finally:
        store.close()
    assert internal and all(p.tags["agent"] == "rt" for p in internal)
    assert any("points_collected_total" in p.fields for p in internal)
    # Identity tags from the inventory on collected points.
    assert ups and ups[0].tags["site"] == "nro-a" and ups[0].tags["member"] == "m"
    assert ups[0].fields["battery_minutes_remaining"] == 1092


def test_spool_command_shows_backlog_and_dead_letters(snmpsim: Any, tmp_path: Path) -> None:
    dead_sink = [{"type": "influxdb1", "name": "central", "url": "http://127.0.0.1:9", "database": "x", "timeout": 0.5}]
    raw = config(snmpsim, tmp_path, dead_sink)
    raw["agent"]["http"] = {"enabled": False}
    cfg_path = tmp_path / "agent.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    cfg = parse_config(yaml.safe_dump(raw))

    async def collect_then_reject_one() -> None:
        async with Agent(cfg) as agent:
            await agent.run(duration_s=2.5)
            assert agent.spool is not None
            await agent.spool.dead_letter("central", (await agent.spool.read_batch("central", 1)), "unable to parse (test)")

    import asyncio

    asyncio.run(collect_then_reject_one())
    proc = subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", "spool", "stats", "-c", str(cfg_path), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["pending"]["central"] > 0
    assert stats["dead_letters"]["central"] == 1
    proc = subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", "spool", "dead-letters", "-c", str(cfg_path)],
                          capture_output=True, text=True, timeout=60)
    assert "unable to parse (test)" in proc.stdout
    before = stats["pending"]["central"]
    proc = subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", "spool", "replay", "--lang", "en", "-c", str(cfg_path), "--sink", "central"],
                          capture_output=True, text=True, timeout=60)
    assert "1 dead-lettered point(s) queued again" in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", "spool", "stats", "-c", str(cfg_path), "--json"],
                          capture_output=True, text=True, timeout=60)
    after = json.loads(proc.stdout)
    assert after["pending"]["central"] == before + 1 and after["dead_letters"].get("central", 0) == 0


# What an agent loads is memory on every site box: a client the configuration does not use
# must not be imported by the settings, the registry or the runtime (it once was, through
# package __init__ files: +10 MB for every configuration load).
UNUSED_HERE = ("aiohttp", "aiomqtt", "paho", "babel", "influxdb_client", "openpyxl", "pysnmp", "snmpsim")


def test_an_snmp_agent_writing_locally_loads_no_client_it_does_not_use(snmpsim: Any, tmp_path: Path) -> None:
    """SNMP-only, local store, status server off: a real poll, then no HTTP, MQTT, report or
    pysnmp module in the process (run apart, so this test's own imports do not count)."""
    raw = {
        "agent": {"name": "lean", "interval": 1, "jitter": 0, "data_dir": str(tmp_path / "data"), "http": {"enabled": False}},
        "inventory": {"sites": [{"id": "nro-a", "kind": "nro", "member": "m", "devices": [
            {"id": "ups-1", "kind": "ups", "snmp": {"host": snmpsim.host, "port": snmpsim.port, "community": "eaton-93e-ups"}},
        ]}]},
    }
    config = tmp_path / "lean.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code = (
        "import asyncio, json, sys\n"
        "from sentinelle.agent.config import load_config\n"
        "from sentinelle.agent.runtime import Agent\n"
        "async def main():\n"
        f"    async with Agent(load_config({str(config)!r})) as agent:\n"
        "        await agent.run(duration_s=2.5)\n"
        "        polled = agent.metrics.total('polls')\n"
        f"    print(json.dumps({{'polled': polled, 'loaded': [m for m in {UNUSED_HERE!r} if m in sys.modules]}}))\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["polled"] >= 1, "the agent did not poll: the test would prove nothing"
    assert result["loaded"] == []
