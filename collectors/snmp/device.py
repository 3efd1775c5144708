"""One SNMP device as a `PollTarget`: identify, poll its profiles, decode, counters, events.

The scheduler calls `poll(scheduled_ns)` on the aligned schedule and cancels it at the
device's deadline (then `on_deadline`). A device problem never raises: it becomes
`device_status reachable=false` (with `error` = timeout, auth, deadline...), an `event`, a
rate-limited log line and a self-metric.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sentinelle.agent.config import ConfigError
from sentinelle.agent.core import Point
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.agent.statefile import read_json, write_json
from sentinelle.collectors.snmp.client import SnmpClient, SnmpError, SnmpSession, Varbind
from sentinelle.collectors.snmp.counters import ResetMarkers, uptime_went_back
from sentinelle.collectors.snmp.decode import (
    SYS_DESCR,
    SYS_NAME,
    SYS_OBJECT_ID,
    SYS_UPTIME,
    Discarded,
    PollPlan,
    Reading,
    decode,
    plan,
)
from sentinelle.collectors.snmp.discovery import Discovery, discover
from sentinelle.collectors.snmp.events import EventBook
from sentinelle.collectors.snmp.profiles import (
    Profile,
    ProfileCatalog,
    ProfileError,
    apply_quirks,
    parse_overrides,
)

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig, DeviceSettings  # composed at run time


log = logging.getLogger("sentinelle.collectors.snmp")

STATUS = "device_status"
class SnmpDevice:
    """Polls one inventory device. State (counter reset markers, episodes, last uptime) lives
    here, and in `state_path` (JSON) when given, so resets and outage durations survive agent
    restarts."""

    def __init__(
        self,
        device: DeviceSettings,
        session: SnmpSession,
        catalog: ProfileCatalog,
        interval_s: float,
        metrics: AgentMetrics | None = None,
        problems: Problems | None = None,
        state_path: Path | None = None,
    ):
        self.device = device
        self.session = session
        self.catalog = catalog
        self._interval_s = interval_s
        self.problems = problems or Problems(log)
        self.state_path = state_path
        self.profiles: list[Profile] | None = None
        self._plan: tuple[list[Profile], PollPlan] | None = None
        self.sys_object_id: str | None = None
        self.reset_markers = ResetMarkers()
        self.events = EventBook(device.id)
        self._uptime_cs: int | None = None
        self._uptime_at_s: float | None = None
        self.quirks: list[str] = []  # quirk profiles folded into `profiles`
        self.discovery: Discovery | None = None  # the last one (collectors/snmp/discovery.py)
        self._reported: set[tuple[str, str, str, str]] = set()
        self._load_state()
        metrics = metrics or AgentMetrics()
        self._m_duration = metrics.gauge("snmp_poll_duration_seconds", "Duration of the last SNMP poll", ["device"])
        self._m_polls = metrics.counter("snmp_polls", "SNMP polls by result", ["device", "result"])
        self._m_errors = metrics.counter("snmp_errors", "SNMP poll errors by kind", ["device", "kind"])
        self._m_discarded = metrics.counter(
            "snmp_values_discarded", "SNMP answers not written as readings (unsupported sentinel, implausible)",
            ["profile", "field", "reason"])

    # -- PollTarget ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.device.id

    @property
    def interval_s(self) -> float:
        return self._interval_s

    async def poll(self, scheduled_ns: int) -> list[Point]:
        started = time.monotonic()
        try:
            points = await self._poll(scheduled_ns, started)
        except SnmpError as err:
            return self._failed(scheduled_ns, err.kind, str(err), started)
        except Exception as exc:  # noqa: BLE001 - a bug or odd answer must not stop the agent
            log.exception("SNMP poll of %s failed unexpectedly", self.id, extra={"device": self.id})
            return self._failed(scheduled_ns, "internal", f"internal error: {type(exc).__name__}", started)
        await self._save_state_off_loop()
        return points

    def on_deadline(self, scheduled_ns: int) -> list[Point]:
        return self._failed(scheduled_ns, "deadline", "poll cancelled at its deadline", None)

    # -- internals ----------------------------------------------------------------------------
    def _failed(self, scheduled_ns: int, kind: str, message: str, started: float | None) -> list[Point]:
        self._m_errors.labels(self.id, kind).inc()
        self._m_polls.labels(self.id, "failed").inc()
        if started is not None:
            self._m_duration.labels(self.id).set(time.monotonic() - started)
        self.problems.report(("snmp", self.id, kind), "SNMP poll failed: %s", message, device=self.id, reason=kind)
        status = Point(STATUS, {"device": self.id}, {"reachable": False, "error": kind}, scheduled_ns)
        points = [status]
        event = self.events.observe("unreachable", True, scheduled_ns, message_start=f"device stopped answering SNMP ({kind})")
        if event is not None:
            points.append(event)
        self._save_state()
        return points

    async def identify(self) -> dict[str, Varbind]:
        """GET the system identity, discover candidate tables (cached) and pick this device's
        profiles, with quirk profiles and the inventory's `overrides` applied."""
        detect = [] if self.device.profiles else self.catalog.detect_oids()
        got = await self.session.get([SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME, *detect])
        oid = got[SYS_OBJECT_ID]
        self.sys_object_id = oid.text() if not oid.absent else None
        descr = got[SYS_DESCR].text() if not got[SYS_DESCR].absent else None
        present = [o for o in detect if o in got and not got[o].absent]
        if not self.device.profiles:
            first = self.catalog.select(self.sys_object_id, (), present, descr)
            present += await self._discovered_roots(first)
        self._adopt(self.catalog.select(self.sys_object_id, self.device.profiles, present, descr))
        return got

    def _adopt(self, selected: list[Profile]) -> None:
        """Use the selected profiles: quirk profiles and the inventory's `overrides` folded in
        (from the current configuration, also for an identification cached in the state file)."""
        self.quirks = [p.name for p in selected if p.is_quirk]
        self.profiles, unknown = apply_quirks(selected, parse_overrides(self.device.overrides))
        if unknown:
            self.problems.report(("snmp-overrides", self.id), "overrides %s match no field of the profiles %s",
                                 ", ".join(unknown), ", ".join(p.name for p in self.profiles), device=self.id)

    async def _discovered_roots(self, chosen: list[Profile]) -> list[str]:
        now = time.time()
        if self.discovery is None or not self.discovery.valid_for(self.sys_object_id, now):
            self.discovery = await discover(self.session, self.catalog, self.sys_object_id, chosen, now)
        return list(self.discovery.roots)

    def _report_discarded(self, discarded: list[Discarded]) -> None:
        """Count every discarded answer; log each (profile, field, reason) once per device."""
        units = {f.name: f.display_unit for p in self.profiles or [] for g in p.groups for f in g.fields}
        for d in discarded:
            field = f"{d.measurement}.{d.name}"
            self._m_discarded.labels(d.profile, field, d.reason).inc()
            key = (d.profile, field, d.reason, "")
            if key in self._reported:
                continue
            self._reported.add(key)
            where = ",".join(f"{k}={v}" for k, v in sorted(d.tags.items()))
            log.log(logging.WARNING if d.reason == "implausible" else logging.INFO,
                    "%s: %s%s (%s) %s: not written", self.id, field, f" [{where}]" if where else "", d.oid,
                    d.describe(units.get(d.name, "")),
                    extra={"device": self.id, "profile": d.profile, "field": field, "reason": d.reason})

    async def _poll(self, scheduled_ns: int, started: float) -> list[Point]:
        if self.profiles is None:
            await self.identify()
        assert self.profiles is not None
        if self._plan is None or self._plan[0] is not self.profiles:
            self._plan = (self.profiles, plan(self.profiles))  # once per identification, not per poll
        todo = self._plan[1]
        scalars = await self.session.get([*todo.scalars, SYS_NAME])
        uptime_vb = scalars.get(SYS_UPTIME)
        if uptime_vb is None or uptime_vb.absent and all(vb.absent for vb in scalars.values()):
            raise SnmpError("pdu_error", "the device answers but has no system group")
        tables = await self.session.walk(todo.columns) if todo.columns else {}
        time_s = scheduled_ns / 1e9
        points: list[Point] = []

        rebooted = False
        if uptime_vb is not None and isinstance(uptime_vb.value, int):
            rebooted = uptime_went_back(self._uptime_cs, self._uptime_at_s, uptime_vb.value, time_s)
            self._uptime_cs, self._uptime_at_s = uptime_vb.value, time_s
            if rebooted:
                points.append(self.events.instant("reboot", scheduled_ns, duration_s=uptime_vb.value / 100.0,
                                                  message="device rebooted (sysUpTime went back)"))

        discarded: list[Discarded] = []
        readings = decode(self.profiles, scalars, tables, None, discarded)
        self._report_discarded(discarded)
        status = next((r for r in readings if r.measurement == STATUS and not r.tags), None)
        if status is None:
            status = Reading(STATUS, {})
            readings.insert(0, status)
        for reading in readings:
            before = "counter_reset" in reading.fields
            reasons = self.reset_markers.apply(reading, rebooted)
            if not before and "meter_reset" in reasons and not rebooted:
                points.append(self.events.instant("counter_reset", scheduled_ns, reading.tags))
            for spec, value in reading.watched.values():
                ev = spec.event
                assert ev is not None
                if ev.only_if is not None and not reading.fields.get(ev.only_if, False):
                    continue
                point = self.events.observe(ev.kind, value in ev.active, scheduled_ns, reading.tags,
                                            ev.message_start, ev.message_end, ev.announce_initial)
                if point is not None:
                    points.append(point)

        back = self.events.observe("unreachable", False, scheduled_ns)
        if back is not None:
            points.append(back)
        duration = time.monotonic() - started
        status.fields["reachable"] = True
        status.fields["poll_duration_s"] = round(duration, 6)
        if rebooted:
            status.fields["rebooted"] = True
        for reading in readings:
            if reading.fields:
                points.append(Point(reading.measurement, {**reading.tags, "device": self.id}, reading.fields, scheduled_ns))
        # Re-identify next time if the device was swapped (another model behind the same IP).
        new_oid = scalars.get(SYS_OBJECT_ID)
        if new_oid is not None and not new_oid.absent and new_oid.text() != self.sys_object_id:
            self.profiles = None
        # Discover and identify again after a reboot (a firmware upgrade can change what the
        # device implements) or once a day.
        if rebooted or (self.discovery is not None and self.discovery.stale(time.time())):
            self.discovery = None
            self.profiles = None
        self._m_duration.labels(self.id).set(duration)
        self._m_polls.labels(self.id, "ok").inc()
        for kind in ("timeout", "auth", "deadline", "unknown_user", "time_window", "decryption", "transport", "pdu_error"):
            self.problems.clear(("snmp", self.id, kind))
        return points

    # -- state across restarts ----------------------------------------------------------------
    def _load_state(self) -> None:
        if self.state_path is None:
            return
        data = read_json(self.state_path)
        if not isinstance(data, dict):
            return
        if "markers" in data:
            self.reset_markers = ResetMarkers.from_json(data.get("markers"))
        else:  # a state file written before the meter-reading contract
            self.reset_markers = ResetMarkers.from_counters_state(data.get("counters"))
        self.events = EventBook.from_json(self.id, data.get("events"))
        self.discovery = Discovery.from_json(data.get("discovery"))
        self._load_identity(data.get("identity"))  # after the discovery: it depends on it
        uptime = data.get("uptime")
        if isinstance(uptime, list) and len(uptime) == 2:
            try:
                self._uptime_cs, self._uptime_at_s = int(uptime[0]), float(uptime[1])
            except (TypeError, ValueError):
                pass

    def _state_data(self) -> dict[str, object]:
        identity = None
        if self.profiles is not None:
            identity = {"sys_object_id": self.sys_object_id, "profiles": [p.name for p in self.profiles],
                        "quirks": list(self.quirks), "selection": self._selection_key()}
        return {"markers": self.reset_markers.to_json(), "events": self.events.to_json(),
                "discovery": self.discovery.to_json() if self.discovery else None,
                "uptime": [self._uptime_cs, self._uptime_at_s] if self._uptime_cs is not None else None,
                "identity": identity}

    def _selection_key(self) -> str:
        """What profile selection depends on (the device's configured profiles and, per catalog
        profile, its name, `always`, sysObjectID prefixes, detect OIDs, discovery roots, families,
        sysDescr pattern and quirk role): a cached identification is reused only while this is
        unchanged. The `overrides` are not part of it: they are applied again on load."""
        parts = [repr(list(self.device.profiles))]
        for name in self.catalog.names():
            p = self.catalog.profiles[name]
            parts.append(repr((p.name, p.always, p.sys_object_ids, p.detect, p.discover, p.families, p.sys_descr,
                               p.is_quirk)))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def _load_identity(self, data: object) -> None:
        """Skip the identification GET after a restart: the first cycle then costs a steady one."""
        if not isinstance(data, dict) or data.get("selection") != self._selection_key():
            return
        names, quirks = data.get("profiles"), data.get("quirks", [])
        if not isinstance(names, list) or not isinstance(quirks, list) \
                or not all(isinstance(n, str) and n in self.catalog.profiles for n in [*names, *quirks]):
            return
        sys_object_id = data.get("sys_object_id")
        sys_object_id = sys_object_id if isinstance(sys_object_id, str) else None
        # A selection that used discovery is only as good as that discovery (a day, same device).
        if not self.device.profiles and (self.discovery is None
                                         or not self.discovery.valid_for(sys_object_id, time.time())):
            return
        self.sys_object_id = sys_object_id
        self._adopt([self.catalog.profiles[n] for n in [*names, *quirks]])

    async def _save_state_off_loop(self) -> None:
        """Save after a good poll in a worker thread: the write + rename of a small file takes
        about a millisecond here (more on an SD card), which for 1,000 devices per cycle
        stalled every other device's requests when done on the event loop."""
        if self.state_path is None:
            return
        try:
            await asyncio.to_thread(write_json, self.state_path, self._state_data())
        except OSError as exc:
            self.problems.report(("snmp-state", self.id), "cannot save SNMP state to %s: %s", str(self.state_path),
                                 type(exc).__name__, device=self.id)

    def _save_state(self) -> None:
        if self.state_path is None:
            return
        data = self._state_data()
        try:
            write_json(self.state_path, data)
        except OSError as exc:
            self.problems.report(("snmp-state", self.id), "cannot save SNMP state to %s: %s", str(self.state_path),
                                 type(exc).__name__, device=self.id)


def legacy_state_dir(config: AgentConfig) -> Path:
    """Where releases before the collector registry kept SNMP state (adopted on open)."""
    return Path(config.agent.data_dir) / "snmp-state"


def _state_file_name(device_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", device_id) + ".json"


def build_targets(
    config: AgentConfig,
    client: SnmpClient,
    metrics: AgentMetrics,
    problems: Problems,
    catalog: ProfileCatalog | None = None,
    state_dir: Path | None = None,
) -> list[SnmpDevice]:
    """One `SnmpDevice` per inventory device with an `snmp:` section, its state file in
    `state_dir` (the runtime passes the collector's own; default `<data_dir>/snmp-state`).

    Raises `ConfigError` for an unusable profile directory, a broken profile file or a device
    naming an unknown profile: these are configuration mistakes to fix before starting.
    """
    try:
        catalog = catalog or ProfileCatalog.load(config.snmp.profiles_dirs)
    except ProfileError as exc:
        raise ConfigError("snmp.profiles_dirs", [str(exc)]) from None
    state_dir = state_dir if state_dir is not None else legacy_state_dir(config)
    targets: list[SnmpDevice] = []
    errors: list[str] = []
    for site in config.inventory.sites:
        for dev in site.devices:
            if dev.snmp is None:
                continue
            for name in dev.profiles:
                if name not in catalog.profiles:
                    errors.append(f"inventory: device {dev.id!r}: unknown SNMP profile {name!r} "
                                  f"(known: {', '.join(catalog.names())})")
            targets.append(SnmpDevice(
                dev, client.session(dev.snmp), catalog, dev.interval or config.agent.interval,
                metrics, problems, state_dir / _state_file_name(dev.id),
            ))
    if errors:
        raise ConfigError("inventory", errors)
    return targets
