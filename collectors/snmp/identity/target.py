"""The inventory poller of one SNMP device: a `PollTarget` on the device's own schedule that
reads identity at start and then once per `snmp.inventory_interval` (default daily).

Why a separate target and not more profile groups: identity is large (an entPhysicalTable has
hundreds of rows) and changes rarely, so reading it every minute would multiply the SNMP load
for nothing; and a device that does not answer is retried at its next tick, not a day later.
The last inventory is kept in a JSON state file so a part swapped while the agent was stopped
still gives its event, and a restart does not announce every part again.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelle.agent.core import Point
from sentinelle.agent.events import event_point
from sentinelle.agent.logs import Problems
from sentinelle.agent.statefile import read_json, write_json
from sentinelle.collectors.snmp.client import SnmpClient, SnmpError, SnmpSession, Varbind
from sentinelle.collectors.snmp.decode import SYS_DESCR, SYS_OBJECT_ID
from sentinelle.collectors.snmp.identity.parts import DECIDING, Part, device_parts, sparse_group, wanted_rows
from sentinelle.collectors.snmp.identity.spec import IdentityCatalog

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig, DeviceSettings  # composed at run time


log = logging.getLogger("sentinelle.collectors.snmp.identity")

DEFAULT_EVERY_S = 86400.0
# Ticks no closer than this: the scheduler's deadline is 0.8 x the interval, and a large
# entPhysicalTable takes seconds to walk, more than a demo's 3 s metrics interval allows.
MIN_TICK_S = 10.0
# Reads in a row that must agree before "the device lost all its identity" is believed.
CONFIRM_LOSS = 3


def part_changes(device: str, before: dict[str, dict[str, Any]], parts: list[Part], time_ns: int) -> list[Point]:
    """`event` points for what changed between two inventories of one device.

    A part that moved to another index with the same serial (agents that renumber
    entPhysicalIndex at boot) is the same part: no event.
    """
    now = {p.part: snapshot(p) for p in parts}
    added = [k for k in now if k not in before]
    removed = [k for k in before if k not in now]
    moved_serials = {now[k].get("serial") for k in added} & {before[k].get("serial") for k in removed} - {None}
    events: list[Point] = []

    def event(kind: str, part: str, message: str) -> None:
        events.append(event_point(kind, "instant", message, time_ns, {"device": device, "part": part}))

    for k in added:
        if now[k].get("serial") not in moved_serials:
            event("part_added", k, "part appeared: " + describe(now[k]))
    for k in removed:
        if before[k].get("serial") not in moved_serials:
            event("part_removed", k, "part disappeared: " + describe(before[k]))
    for k in now.keys() & before.keys():
        old, new = before[k], now[k]
        if old.get("serial") and new.get("serial") and old["serial"] != new["serial"]:
            event("part_replaced", k, f"part replaced: serial {old['serial']} -> {new['serial']} ({describe(new)})")
        elif old.get("firmware") and new.get("firmware") and old["firmware"] != new["firmware"]:
            event("firmware_changed", k, f"firmware {old['firmware']} -> {new['firmware']} ({describe(new)})")
    return events


def snapshot(part: Part) -> dict[str, Any]:
    return {"class": part.klass, "model": part.values.get("model"), "serial": part.values.get("serial"),
            "firmware": part.firmware}


def describe(snap: dict[str, Any]) -> str:
    words = [snap.get("class"), snap.get("model"), f"serial {snap['serial']}" if snap.get("serial") else None]
    return " ".join(str(w) for w in words if w)


class IdentityTarget:
    """Reads one device's identity; `poll` returns nothing until the next inventory is due."""

    def __init__(
        self,
        device: DeviceSettings,
        session: SnmpSession,
        catalog: IdentityCatalog,
        interval_s: float,
        every_s: float = DEFAULT_EVERY_S,
        problems: Problems | None = None,
        state_path: Path | None = None,
    ):
        self.device = device
        self.session = session
        self.catalog = catalog
        self._interval_s = max(interval_s, MIN_TICK_S)
        self.every_ns = int(every_s * 1e9)
        self.problems = problems or Problems(log)
        self.state_path = state_path
        self.last_ns: int | None = None
        self.parts: dict[str, dict[str, Any]] | None = None
        self._suspicious = 0  # consecutive reads that lost every identity
        self._load_state()

    @property
    def id(self) -> str:
        # Distinct from the metrics poller's id: the scheduler keys overruns and jitter by it.
        return f"{self.device.id}#inventory"

    @property
    def interval_s(self) -> float:
        return self._interval_s

    def due(self, scheduled_ns: int) -> bool:
        return self.last_ns is None or scheduled_ns - self.last_ns >= self.every_ns

    async def poll(self, scheduled_ns: int) -> list[Point]:
        if not self.due(scheduled_ns):
            return []
        try:
            parts = await self.read(datetime.fromtimestamp(scheduled_ns / 1e9, UTC).date())
        except SnmpError as err:
            # The metrics poller reports reachability; here, only retry at the next tick.
            self.problems.report(("inventory", self.device.id), "inventory of %s not read: %s",
                                 self.device.id, str(err), device=self.device.id, reason=err.kind)
            return []
        self.problems.clear(("inventory", self.device.id))
        if self._lost_everything(parts):
            # An agent that answers but suddenly publishes no identity at all is far more often
            # a glitch (a table not yet filled after a reboot) than a device without parts:
            # recording it would remove every part, then add them all back the next day.
            self._suspicious += 1
            if self._suspicious < CONFIRM_LOSS:
                self.problems.report(("inventory-empty", self.device.id),
                                     "inventory of %s: no identity answered (%d parts before); retrying",
                                     self.device.id, len(self.parts or {}), device=self.device.id)
                return []
        self._suspicious = 0
        points = [p.point(self.device.id, scheduled_ns) for p in parts]
        if self.parts is not None:
            points += part_changes(self.device.id, self.parts, parts, scheduled_ns)
        self.parts = {p.part: snapshot(p) for p in parts}
        self.last_ns = scheduled_ns
        self._save_state()
        return points

    def on_deadline(self, scheduled_ns: int) -> list[Point]:
        return []

    def _lost_everything(self, parts: list[Part]) -> bool:
        had = any(v.get("serial") or v.get("model") for v in (self.parts or {}).values())
        return had and not any(p.values.get("serial") or p.values.get("model") for p in parts)

    async def read(self, today: date) -> list[Part]:
        """GET the system identity, pick the identity profiles, read them."""
        detect = self.catalog.detect_oids()
        got = await self.session.get([SYS_DESCR, SYS_OBJECT_ID, *detect])
        oid_vb = got.get(SYS_OBJECT_ID)
        sys_object_id = oid_vb.text() if oid_vb is not None and not oid_vb.absent else None
        descr_vb = got.get(SYS_DESCR)
        sys_descr = descr_vb.text() if descr_vb is not None and not descr_vb.absent else None
        present = [o for o in detect if o in got and not got[o].absent]
        profiles = self.catalog.select(sys_object_id, present)
        groups = [g for p in profiles for g in p.groups]
        scalars_oids = [f.oid for g in groups if not g.table for f in g.fields.values()]
        scalars = await self.session.get(scalars_oids) if scalars_oids else {}
        tables: dict[str, dict[str, Varbind]] = {}
        full = [f.oid for g in groups if g.table and not sparse_group(g) for f in g.fields.values()]
        deciding = [f.oid for g in groups if sparse_group(g) for k, f in g.fields.items() if k in DECIDING]
        walked = list(dict.fromkeys(full + deciding))
        if walked:
            tables.update(await self.session.walk(walked))
        # Second pass: the other columns, only for the rows that are inventory items.
        wanted: dict[str, tuple[str, str]] = {}  # instance OID -> (column, row)
        for g in groups:
            if sparse_group(g):
                rows = wanted_rows(g, tables, today)
                wanted.update({f"{f.oid}.{row}": (f.oid, row) for k, f in g.fields.items()
                               if k not in DECIDING and f.oid not in tables for row in rows})
        if wanted:
            answers = await self.session.get(list(wanted))
            for instance, (column, row) in wanted.items():
                vb = answers.get(instance)
                if vb is not None:
                    tables.setdefault(column, {})[row] = vb
        return device_parts(profiles, scalars, tables, sys_descr, sys_object_id, today)

    def _load_state(self) -> None:
        if self.state_path is None:
            return
        data = read_json(self.state_path)
        if isinstance(data, dict):
            last, parts = data.get("last_ns"), data.get("parts")
            self.last_ns = last if isinstance(last, int) else None
            self.parts = parts if isinstance(parts, dict) else None

    def _save_state(self) -> None:
        if self.state_path is None:
            return
        try:
            write_json(self.state_path, {"last_ns": self.last_ns, "parts": self.parts})
        except OSError as exc:
            self.problems.report(("inventory-state", self.device.id), "cannot save inventory state to %s: %s",
                                 str(self.state_path), type(exc).__name__, device=self.device.id)


def legacy_identity_state_dir(config: AgentConfig) -> Path:
    """Where releases before the collector registry kept identity state (adopted on open)."""
    return Path(config.agent.data_dir) / "inventory-state"


def build_identity_targets(config: AgentConfig, client: SnmpClient, problems: Problems | None,
                           catalog: IdentityCatalog | None = None, state_dir: Path | None = None) -> list[IdentityTarget]:
    """One `IdentityTarget` per inventory device with an `snmp:` section. Users' identity
    profiles live in an `identity/` folder of each `snmp.profiles_dirs` entry. State files go to
    `state_dir` (the runtime passes the collector's own; default `<data_dir>/inventory-state`)."""
    catalog = catalog or IdentityCatalog.load(
        [d / "identity" for d in config.snmp.profiles_dirs if (Path(d) / "identity").is_dir()])
    every_s = float(getattr(config.snmp, "inventory_interval", DEFAULT_EVERY_S))
    state_dir = state_dir if state_dir is not None else legacy_identity_state_dir(config)
    targets: list[IdentityTarget] = []
    for site in config.inventory.sites:
        for dev in site.devices:
            if dev.snmp is None:
                continue
            name = re.sub(r"[^A-Za-z0-9._-]", "_", dev.id) + ".json"
            targets.append(IdentityTarget(dev, client.session(dev.snmp), catalog, dev.interval or config.agent.interval,
                                          every_s, problems, state_dir / name))
    return targets
