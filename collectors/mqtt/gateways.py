"""Gateway health: online/offline from the gateway bridge's messages, with a staleness limit.

A ChirpStack gateway bridge sends `event/stats` every 30 s by default and keeps a retained
`state/conn` (its MQTT will turns it OFFLINE when the bridge drops). A gateway is offline when
the bridge says so or when nothing was heard from it for `staleness`; it is back online at the
next live message. Transitions give `event` points (Grafana annotations); each check gives a
`lora_gateway` point with `online` and `last_seen_age_s`.

Last-seen times and states are kept in a small JSON file, so a restarted agent neither forgets
a gateway that died while it was down nor announces a second time an outage it already reported.
A retained message is old news: it never refreshes last-seen nor ends an outage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinelle.agent.core import NS, Point
from sentinelle.agent.events import event_point
from sentinelle.agent.statefile import write_atomic


@dataclass(slots=True)
class GatewayState:
    tags: dict[str, str]
    last_seen_ns: int | None = None
    online: bool | None = None  # None: not known yet
    offline_since_ns: int | None = None


class GatewayHealth:
    def __init__(self, staleness_s: float, state_path: Path | None = None):
        self.staleness_ns = int(staleness_s * NS)
        self.state_path = state_path
        self.gateways: dict[str, GatewayState] = {}
        self._dirty = False

    # --- persistence ----------------------------------------------------------------------

    def load(self) -> bool:
        """Restore the saved state. Returns False (and starts empty) if the file is unreadable."""
        if self.state_path is None or not self.state_path.exists():
            return True
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            for gateway_id, raw in data["gateways"].items():
                tags = {str(k): str(v) for k, v in raw.get("tags", {}).items()}
                tags["gateway_id"] = gateway_id
                self.gateways[gateway_id] = GatewayState(
                    tags=tags,
                    last_seen_ns=_opt_int(raw.get("last_seen_ns")),
                    online=raw.get("online") if isinstance(raw.get("online"), bool) else None,
                    offline_since_ns=_opt_int(raw.get("offline_since_ns")),
                )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.gateways.clear()
            return False
        return True

    def dump(self) -> bytes | None:
        """The state as JSON bytes if it changed since the last dump (taken in the event loop,
        so the file can be written in a thread while observations go on)."""
        if self.state_path is None or not self._dirty:
            return None
        data = {
            "version": 1,
            "gateways": {
                gid: {"tags": st.tags, "last_seen_ns": st.last_seen_ns, "online": st.online,
                      "offline_since_ns": st.offline_since_ns}
                for gid, st in self.gateways.items()
            },
        }
        self._dirty = False
        return json.dumps(data, sort_keys=True).encode()

    def write(self, data: bytes) -> None:
        """Write dumped state durably (`agent.statefile`): never a half-written file."""
        if self.state_path is None:
            return
        write_atomic(self.state_path, data)

    def save(self) -> None:
        data = self.dump()
        if data is not None:
            self.write(data)

    # --- observations ---------------------------------------------------------------------

    def observe(self, points: Iterable[Point], received_ns: int, *, retained: bool = False) -> list[Point]:
        """Watch decoded `lora_gateway` points; return the transition events they cause.

        Stats points gain `online=true` and `last_seen_age_s=0`.
        """
        events: list[Point] = []
        for point in points:
            if point.measurement != "lora_gateway":
                continue
            gateway_id = point.tags.get("gateway_id")
            if not gateway_id:
                continue
            st = self.gateways.get(gateway_id)
            if st is None:
                st = GatewayState(tags=_base_tags(point.tags))
                self.gateways[gateway_id] = st
            self._dirty = True
            if point.fields.get("online") is False:
                if st.online is not False:
                    events.append(self._event(st, "gateway_offline", received_ns, "the gateway bridge reported OFFLINE"))
                    st.online = False
                    st.offline_since_ns = received_ns
                continue
            if retained:
                if st.online is None:
                    st.online = True
                    st.last_seen_ns = st.last_seen_ns or received_ns
                continue
            if "online" not in point.fields:
                point.fields["online"] = True
                point.fields["last_seen_age_s"] = 0.0
            if st.online is False:
                down_s = (received_ns - st.offline_since_ns) / NS if st.offline_since_ns else None
                text = "back online" + (f" after {down_s:.0f} s offline" if down_s is not None else "")
                events.append(self._event(st, "gateway_online", received_ns, text, offline_s=down_s))
            st.online = True
            st.offline_since_ns = None
            st.last_seen_ns = received_ns
        return events

    def check(self, now_ns: int) -> list[Point]:
        """Staleness check: offline events for gateways gone quiet, and one status point each."""
        out: list[Point] = []
        for st in self.gateways.values():
            age_s = None if st.last_seen_ns is None else max(0.0, (now_ns - st.last_seen_ns) / NS)
            if st.online is not False and st.last_seen_ns is not None and now_ns - st.last_seen_ns > self.staleness_ns:
                text = f"no message for {age_s:.0f} s (staleness {self.staleness_ns / NS:.0f} s)"
                out.append(self._event(st, "gateway_offline", now_ns, text))
                st.online = False
                st.offline_since_ns = st.last_seen_ns
                self._dirty = True
            if st.online is None:
                continue
            fields: dict[str, float | bool] = {"online": st.online}
            if age_s is not None:
                fields["last_seen_age_s"] = age_s
            out.append(Point("lora_gateway", dict(st.tags), fields, now_ns))
        return out

    def _event(self, st: GatewayState, kind: str, time_ns: int, text: str, offline_s: float | None = None) -> Point:
        """`gateway_offline` start / end: one episode, like a device outage (agent/events.py)."""
        gateway_id = st.tags.get("gateway_id", "?")
        going_down = kind == "gateway_offline"
        message = f"LoRa gateway {gateway_id} {'offline' if going_down else 'online again'}: {text}"
        return event_point("gateway_offline", "start" if going_down else "end", message, time_ns, st.tags, offline_s)


def _base_tags(tags: dict[str, str]) -> dict[str, str]:
    # Identity from the inventory is re-applied on every emitted point; keep only what the
    # network tells us, so an inventory change is not shadowed by a stale state file.
    return {k: v for k, v in tags.items() if k in ("gateway_id", "region")}


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
