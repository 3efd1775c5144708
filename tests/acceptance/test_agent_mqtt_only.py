"""An agent whose only input is MQTT (a LoRaWAN network agent) runs until stopped and writes
decoded points; a configuration with nothing to collect is refused by `check` and `run` alike.

Real parts: Debian mosquitto on 127.0.0.1, the ChirpStack v4 traffic the demo simulator
publishes (JSON uplinks, protobuf gateway stats, retained state/conn), `sentinelle run` as a
subprocess, the embedded local store read back.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import yaml

from sentinelle.agent.sinks.local import LocalStore
from sentinelle.collectors.mqtt.sim import DEMO_GATEWAY, publish_demo_traffic


def _mqtt_only(mosquitto: Any, data_dir: Path) -> dict[str, Any]:
    return {
        "agent": {"name": "lora-only", "data_dir": str(data_dir), "http": {"enabled": False}},
        "inventory": {"sites": [{"id": "lora-22", "kind": "lora", "devices": [
            {"id": "gw-1", "kind": "lora_gateway", "lora": {"gateway_id": DEMO_GATEWAY}},
        ]}]},
        "mqtt": [{"url": mosquitto.url, "format": "chirpstack-v4", "qos": 1,
                  "topics": ["application/+/device/+/event/up", "+/gateway/+/state/conn", "+/gateway/+/event/stats"]}],
    }


async def _sentinelle(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sentinelle.agent.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_mqtt_only_agent_keeps_running_and_writes_decoded_points(mosquitto: Any, tmp_path: Path) -> None:
    """Before the fix `run` returned at once (the empty scheduler ended the run), rc 0, nothing stored."""
    cfg = tmp_path / "lora.yaml"
    cfg.write_text(yaml.safe_dump(_mqtt_only(mosquitto, tmp_path / "data")))
    agent = asyncio.create_task(_sentinelle("run", "-c", str(cfg), "--duration", "8"))
    await asyncio.sleep(2)  # let the agent subscribe; the retained state/conn covers any delay
    sent = await publish_demo_traffic(mosquitto.host, mosquitto.port, duration_s=4, interval_s=0.5)
    rc, out, err = await agent
    assert rc == 0, err[-2000:]
    assert sent > 10
    store = LocalStore.open_readonly(tmp_path / "data" / "local.db")
    try:
        uplinks = list(store.query("lora_device"))
        gateway = list(store.query("lora_gateway", tags={"device": "gw-1"}))
    finally:
        store.close()
    # Uplinks published two seconds after start were decoded: the agent was still running.
    assert len({p.time_ns for p in uplinks}) >= 4, err[-2000:]
    assert any("temperature" in "".join(p.fields) for p in uplinks)
    assert gateway and gateway[0].tags["site"] == "lora-22"


async def test_nothing_to_collect_is_refused_by_check_and_run(tmp_path: Path) -> None:
    cfg = tmp_path / "empty-site.yaml"
    cfg.write_text("agent: {name: x}\ninventory:\n  sites:\n    - {id: nro-a, kind: nro}\n")
    for command in (["check", "--no-devices"], ["run", "--duration", "5"]):
        rc, out, err = await _sentinelle(command[0], "-c", str(cfg), *command[1:])
        assert rc == 2, (command, out, err)
        assert "no device and no MQTT source: nothing to collect" in err
        assert "Traceback" not in err


class _BrokenSource:
    """A collector that dies (a bug, not bad input): the only stand-in in this file, because a
    real source is built to retry forever and cannot be made to fail on purpose."""

    name = "broken"

    async def run(self, emit: Any) -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("decoder bug")


async def test_a_component_that_fails_still_ends_the_run(mosquitto: Any, tmp_path: Path) -> None:
    """Finishing is not failing: the run goes on after the empty scheduler returns, but a
    component that raises ends it with its exception (so `run` exits non-zero)."""
    import pytest

    from sentinelle.agent.config import parse_config
    from sentinelle.agent.runtime import Agent

    cfg = parse_config(yaml.safe_dump(_mqtt_only(mosquitto, tmp_path / "data")))
    async with Agent(cfg) as agent:
        agent.sources.append(_BrokenSource())
        with pytest.raises(RuntimeError, match="decoder bug"):
            await agent.run(duration_s=30)
