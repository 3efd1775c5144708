"""Resilience signals: `event` points when a watched state changes (DESIGN section 2).

An episode (device unreachable, link down, UPS on battery, battery low) gives a `start` event
when it begins and an `end` event with `duration_s` when it ends; a reboot is an `instant`
event. Grafana draws them as annotations. The tag `event=<kind>` keeps two kinds that change
at the same poll in distinct series (InfluxDB keeps one value per series and timestamp).

Fields: `kind` (string), `state` (start | end | instant), `message` (short English text),
`duration_s` (on `end`, seconds since the matching `start`, when this agent saw the start).
"""

from __future__ import annotations

from typing import Any

from sentinelle.agent.core import Point
from sentinelle.agent.events import EventState, event_point

MESSAGES = {
    "unreachable": ("device stopped answering SNMP", "device answers SNMP again"),
    "link_down": ("interface down", "interface up again"),
    "on_battery": ("UPS on battery", "UPS back on mains"),
    "battery_low": ("UPS battery low", "UPS battery no longer low"),
    "reboot": ("device rebooted", "device rebooted"),
    "counter_reset": ("energy meter reset", "energy meter reset"),
}


class EventBook:
    """Per-device memory of watched states. Serialisable, so an outage that spans an agent
    restart still ends with its duration."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._states: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _key(kind: str, tags: dict[str, str]) -> str:
        return kind + "|" + ",".join(f"{k}={v}" for k, v in sorted(tags.items()))

    def _point(self, kind: str, state: EventState, tags: dict[str, str], time_ns: int, message: str, duration_s: float | None) -> Point:
        return event_point(kind, state, message, time_ns, {**tags, "device": self.device}, duration_s)

    def observe(
        self,
        kind: str,
        active: bool,
        time_ns: int,
        tags: dict[str, str] | None = None,
        message_start: str | None = None,
        message_end: str | None = None,
        announce_initial: bool = True,
    ) -> Point | None:
        """Record the current state; return an event point when it changed (or when the first
        observation is already an active episode)."""
        tags = dict(tags or {})
        key = self._key(kind, tags)
        prev = self._states.get(key)
        default_start, default_end = MESSAGES.get(kind, (f"{kind} started", f"{kind} ended"))
        if prev is None:
            self._states[key] = {"active": active, "since_ns": time_ns if active else None}
            if active and announce_initial:
                return self._point(kind, "start", tags, time_ns, message_start or default_start, None)
            return None
        if prev["active"] == active:
            return None
        if active:
            self._states[key] = {"active": True, "since_ns": time_ns}
            return self._point(kind, "start", tags, time_ns, message_start or default_start, None)
        since = prev.get("since_ns")
        duration = (time_ns - since) / 1e9 if isinstance(since, int) and time_ns >= since else None
        self._states[key] = {"active": False, "since_ns": None}
        return self._point(kind, "end", tags, time_ns, message_end or default_end, duration)

    def instant(self, kind: str, time_ns: int, tags: dict[str, str] | None = None, message: str | None = None,
                duration_s: float | None = None) -> Point:
        """A one-off event (reboot, meter reset)."""
        return self._point(kind, "instant", dict(tags or {}), time_ns, message or MESSAGES.get(kind, (kind,))[0], duration_s)

    def to_json(self) -> dict[str, Any]:
        return dict(self._states)

    @classmethod
    def from_json(cls, device: str, data: Any) -> EventBook:
        book = cls(device)
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, dict) and isinstance(value.get("active"), bool):
                    since = value.get("since_ns")
                    book._states[str(key)] = {"active": value["active"], "since_ns": since if isinstance(since, int) else None}
        return book
