"""The SNMP collector as the runtime sees it: registered in `sentinelle.agent.parts.COLLECTORS`.

One `SnmpClient` for the whole fleet (its in-flight limit is the agent's), the polled devices,
and their equipment-identity targets (issue 17) on their own slow cadence sharing that client.
State: `<state_dir>/<device>.json` for counter reset markers and episodes, `<state_dir>/identity/` for
identity; files of the older `snmp-state/` and `inventory-state/` folders are adopted on open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentinelle.agent.core import CheckRow, CollectorContext, CollectorParts
from sentinelle.agent.statefile import adopt_legacy_state
from sentinelle.collectors.snmp.check import check_devices
from sentinelle.collectors.snmp.client import SnmpClient
from sentinelle.collectors.snmp.device import build_targets, legacy_state_dir
from sentinelle.collectors.snmp.identity.target import build_identity_targets, legacy_identity_state_dir


def _has_snmp(config: Any) -> bool:
    return any(d.snmp is not None for s in config.inventory.sites for d in s.devices)


class SnmpCollector:
    """Polls the inventory's `snmp:` devices."""

    name = "snmp"

    def wanted(self, config: Any) -> bool:
        return _has_snmp(config)

    async def open(self, context: CollectorContext) -> CollectorParts:
        cfg = context.config
        identity_dir = context.state_dir / "identity"
        adopt_legacy_state(_files(legacy_state_dir(cfg)), context.state_dir)
        adopt_legacy_state(_files(legacy_identity_state_dir(cfg)), identity_dir)
        client = await context.stack.enter_async_context(SnmpClient(cfg.snmp))
        targets = build_targets(cfg, client, context.metrics, context.problems, state_dir=context.state_dir)
        identity = build_identity_targets(cfg, client, context.problems, state_dir=identity_dir)
        return CollectorParts(
            targets=[t for t in targets if context.in_shard(t.id)],
            slow_targets=[t for t in identity if context.in_shard(t.device.id)],
        )

    async def check(self, config: Any, timeout_s: float, lang: str = "en") -> list[CheckRow]:
        """One GET of sysObjectID per device (timeouts are the devices' own `snmp:` ones)."""
        from sentinelle.agent.messages import say

        return [(say(lang, "check_device", name=dev_id), ok, detail) for dev_id, ok, detail in await check_devices(config, lang)]


def _files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


COLLECTOR = SnmpCollector()
