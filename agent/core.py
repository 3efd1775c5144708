"""The core every part shares: the data model and the interfaces between parts.

- `Point`: one measurement at one time, what collectors emit, the pipeline tags, carbon/
  computes on and the spool stores (its line protocol is `agent/lineprotocol.py`);
- `Emit`: how a collector hands points to the pipeline;
- `PollTarget` / `Source`: the two shapes of collector work (polled on a schedule, or pushing);
- `Processor`: a step of the pipeline after tagging (carbon/'s energy and emissions);
- `Collector`, `CollectorContext`, `CollectorParts`: the registry contract the runtime and
  `check` use, so they name no collector.

This module imports nothing from the rest of Sentinelle: every package may depend on it, it
depends on none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # types only: the core must not import the agent's machinery
    from sentinelle.agent.logs import Problems
    from sentinelle.agent.selfmetrics import AgentMetrics

NS = 1_000_000_000  # Point.time_ns is in nanoseconds: the one seconds-to-time_ns factor

FieldValue = float | int | bool | str


@dataclass(slots=True)
class Point:
    """One measurement at one time: `measurement,tags fields time_ns`.

    `time_ns` is nanoseconds since the Unix epoch (UTC). For polled data it is the *scheduled*
    poll time, so a replayed write lands on the same series and timestamp (idempotent).
    """

    measurement: str
    tags: dict[str, str] = field(default_factory=dict)
    fields: dict[str, FieldValue] = field(default_factory=dict)
    time_ns: int = 0

    def with_tags(self, extra: Mapping[str, str]) -> Point:
        """A copy with `extra` tags added; the point's own tags win on a clash."""
        return Point(self.measurement, {**extra, **self.tags}, dict(self.fields), self.time_ns)


class Processor(Protocol):
    """A step after tagging: returns the points it was given plus any it derives."""

    def process(self, points: list[Point]) -> list[Point]: ...


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
# `sentinelle.agent.parts.COLLECTORS`; each such module exposes `COLLECTOR`, an object with the
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
