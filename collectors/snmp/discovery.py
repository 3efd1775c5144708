"""Which candidate tables a device has: one GETNEXT varbind per table root, remembered.

Why: a sysObjectID says little about what a firewall, an appliance or a new model of a known
vendor line implements; asking "is there anything under this table root?" does (LibreNMS
discovers the same way). The answer is kept in the device's state file and trusted for a
day, or until the device reboots (a firmware upgrade may add or remove MIBs) or answers with
another sysObjectID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sentinelle.collectors.snmp.client import SnmpSession
from sentinelle.collectors.snmp.profiles import Profile, ProfileCatalog

MAX_AGE_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Discovery:
    """The table roots a device answered under, for one sysObjectID, at `at_s` (epoch s)."""

    sys_object_id: str | None
    roots: tuple[str, ...]
    at_s: float

    def valid_for(self, sys_object_id: str | None, now_s: float) -> bool:
        return self.sys_object_id == sys_object_id and 0.0 <= now_s - self.at_s < MAX_AGE_S

    def stale(self, now_s: float) -> bool:
        return now_s - self.at_s >= MAX_AGE_S

    def to_json(self) -> dict[str, Any]:
        return {"sys_object_id": self.sys_object_id, "roots": list(self.roots), "at": self.at_s}

    @classmethod
    def from_json(cls, data: Any) -> Discovery | None:
        """None for anything that is not a discovery this module wrote (then: discover again)."""
        if not isinstance(data, dict):
            return None
        oid, roots, at = data.get("sys_object_id"), data.get("roots"), data.get("at")
        if not (oid is None or isinstance(oid, str)) or not isinstance(roots, list) \
                or not all(isinstance(r, str) for r in roots) or not isinstance(at, int | float):
            return None
        return cls(oid, tuple(roots), float(at))


async def discover(session: SnmpSession, catalog: ProfileCatalog, sys_object_id: str | None,
                   chosen: Sequence[Profile], now_s: float) -> Discovery:
    """Ask for the roots of the profiles not already chosen (within their vendor families);
    a root is present when the next OID the device has lies under it."""
    roots = catalog.discover_roots(sys_object_id, chosen)
    present: list[str] = []
    if roots:
        got = await session.get_next(roots)
        for root in roots:
            vb = got.get(root)
            if vb is not None and not vb.absent and vb.oid.startswith(root + "."):
                present.append(root)
    return Discovery(sys_object_id, tuple(present), now_s)
