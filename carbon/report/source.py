"""What the report reads points from: any `ReportSource`.

The report's maths knows no store: `carbon.commands.sources` gives it the embedded local store
(`LocalStoreSource`) or a sink read back through the sink interface (InfluxDB through InfluxQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from sentinelle.agent.core import Point


class ReportSourceError(RuntimeError):
    """The store cannot be read. Messages never contain a token or password."""


class ReportSource(Protocol):
    def points(self, measurement: str, start_ns: int, end_ns: int,
               tags: dict[str, str] | None = None) -> Iterable[Point]:
        """Points of `measurement` in [start_ns, end_ns), of the series carrying all `tags`."""
        ...


class LocalStoreSource:
    """Any object with `query(measurement, start_ns, end_ns, tags)` (agent.sinks.local.LocalStore)."""

    def __init__(self, store: Any):
        self.store = store

    def points(self, measurement: str, start_ns: int, end_ns: int,
               tags: dict[str, str] | None = None) -> Iterator[Point]:
        return iter(self.store.query(measurement, start_ns, end_ns, tags))
