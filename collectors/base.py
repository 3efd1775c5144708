"""What the agent expects of a collector. Collectors know protocols and devices, not storage.

Two shapes:
- a `PollTarget` is polled by the agent's scheduler at aligned times (SNMP devices);
- a `Source` runs on its own and pushes what arrives (MQTT brokers).
Both hand `Point`s to an `Emit` callback: the pipeline, which tags, processes and spools them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sentinelle.agent.logs import Problems
from sentinelle.agent.point import Point
from sentinelle.agent.selfmetrics import AgentMetrics

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


# --- the registry contract -------------------------------------------------------------------
# The runtime and `check` know collectors only by the module names in
# `sentinelle.agent.runtime.COLLECTORS`; each such module exposes `COLLECTOR`, an object with the
# shape below. So adding a collector is one module and one tuple entry, and the core names none.


@dataclass(frozen=True)
class CollectorContext:
    """What the runtime hands every collector when it opens: the same things, the same way."""

    config: Any
    metrics: AgentMetrics
    problems: Problems
    #: Resources a collector opens (clients, sessions) are entered here and close with the agent.
    stack: contextlib.AsyncExitStack
    #: `<agent.data_dir>/state/<collector name>`, created before `open`; the collector's only
    #: place for files that must survive a restart.
    state_dir: Path
    #: True for a device id this agent instance polls (`agent.shard`); collectors drop the rest.
    in_shard: Callable[[str], bool]


@dataclass
class CollectorParts:
    """What an opened collector gives the runtime."""

    #: Polled by the scheduler and counted as polled devices.
    targets: list[PollTarget] = field(default_factory=list)
    #: Polled by the scheduler on their own slow cadence (equipment identity), not counted.
    slow_targets: list[PollTarget] = field(default_factory=list)
    #: Push-based, run next to the scheduler.
    sources: list[Source] = field(default_factory=list)


CheckRow = tuple[str, bool, str]


@runtime_checkable
class Collector(Protocol):
    """A registered collector. `check(config, timeout_s, lang="en") -> list[CheckRow]` is
    optional: the `check` command calls it when present, rows are (label, ok, detail), the label
    in the run's language."""

    @property
    def name(self) -> str:
        """Short, stable, filename-safe: also the name of its state directory."""
        ...

    def wanted(self, config: Any) -> bool:
        """Whether this configuration uses the collector at all (nothing is opened otherwise)."""
        ...

    async def open(self, context: CollectorContext) -> CollectorParts: ...


def adopt_legacy_state(files: Iterable[Path], state_dir: Path) -> None:
    """Move state files an older release kept elsewhere into `state_dir`, so an upgrade loses no
    counter or gateway history. A file already present in `state_dir` wins (it is newer)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for old in files:
        if not old.is_file():
            continue
        new = state_dir / old.name
        if new.exists():
            continue
        os.replace(old, new)
