"""`sentinelle check` for SNMP devices: does each device answer with these credentials?

One GET of sysObjectID and sysUpTime per device, all devices at once (bounded by the client's
in-flight limit). The answer names the problem a technician can act on: timeout (address,
port, firewall, community), wrong digest (v3 key), unknown user.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sentinelle.agent.messages import say
from sentinelle.collectors.snmp.client import SnmpClient, SnmpError

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig  # composed at run time


SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


async def check_devices(config: AgentConfig, lang: str = "en") -> list[tuple[str, bool, str]]:
    """(device id, ok, detail) for every inventory device with `snmp:`, in inventory order; the
    detail in `lang`, the client's own error text kept as it is."""
    devices = [d for s in config.inventory.sites for d in s.devices if d.snmp is not None]
    async with SnmpClient(config.snmp) as client:

        async def one(device_id: str, session: object) -> tuple[str, bool, str]:
            target = next(d.snmp for d in devices if d.id == device_id)
            where = f"{target.host}:{target.port} SNMPv{'2c' if target.version == 2 else target.version}"
            try:
                answer = await session.get([SYS_OBJECT_ID, SYS_UPTIME])  # type: ignore[attr-defined]
            except SnmpError as exc:
                return device_id, False, say(lang, "snmp_error", where=where, error=exc)
            oid = answer.get(SYS_OBJECT_ID)
            if oid is None or oid.absent:
                return device_id, False, say(lang, "snmp_no_oid", where=where)
            return device_id, True, say(lang, "snmp_ok", where=where, oid=oid.text())

        return list(await asyncio.gather(*(one(d.id, client.session(d.snmp)) for d in devices if d.snmp is not None)))
