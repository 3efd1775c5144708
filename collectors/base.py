"""What the agent expects of a collector. Collectors know protocols and devices, not storage.

Two shapes:
- a `PollTarget` is polled by the agent's scheduler at aligned times (SNMP devices);
- a `Source` runs on its own and pushes what arrives (MQTT brokers).
Both hand `Point`s to an `Emit` callback: the pipeline, which tags, processes and spools them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from sentinelle.agent.point import Point

Emit = Callable[[list[Point]], Awaitable[None]]


@runtime_checkable
class PollTarget(Protocol):
    """One device polled on a schedule."""

    @property
    def id(self) -> str:
        """Unique device id (from the inventory): used for sharding, jitter and logs."""
        ...

    @property
    def interval_s(self) -> float: ...

    async def poll(self, scheduled_ns: int) -> list[Point]:
        """Poll once. `scheduled_ns` is the aligned schedule time: use it as the points' time.

        Must not raise for device problems (unreachable, bad answers): return the points that
        describe them (e.g. `device_status reachable=false`). The scheduler enforces a hard
        deadline by cancelling this coroutine; `on_deadline` is then asked for points.
        """
        ...

    def on_deadline(self, scheduled_ns: int) -> list[Point]:
        """Points to emit when a poll was cancelled at its deadline (e.g. reachable=false)."""
        ...


@runtime_checkable
class Source(Protocol):
    """A push-based collector (one MQTT broker connection)."""

    @property
    def name(self) -> str: ...

    async def run(self, emit: Emit) -> None:
        """Run until cancelled; reconnect on its own; never raise for bad input."""
        ...
