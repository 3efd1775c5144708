"""Where the carbon commands read stored points: the sinks of the agent's configuration.

The report's maths reads through a synchronous `ReportSource` (`points(measurement, start,
end)`); a sink reads with an async `read`. `SinkSource` joins them: the sink runs on an event
loop of its own in a worker thread, so one reader serves plain code (`sentinelle report`) and
code already inside a loop (`sentinelle recompute`, which blocks while it reads, as it always
did). Reads are cut into month-long windows so no answer is huge.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sentinelle.agent.core import NS, Point
from sentinelle.agent.sinks.base import Sink, SinkError, TagFilter
from sentinelle.agent.sinks.build import build_sink
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.agent.sinks.settings import sink_name
from sentinelle.carbon.report.source import LocalStoreSource, ReportSource, ReportSourceError

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig  # the configuration type, for annotations only

WINDOW_NS = 31 * 86400 * NS
READABLE_TYPES = ("local", "influxdb1", "influxdb2")

T = TypeVar("T")


class SinkSource:
    """A `ReportSource` over one sink. `close()` closes the sink and its loop."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.name = sink.name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"read-{sink.name}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"SinkSource({self.sink!r})"

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result()
        except SinkError as exc:
            raise ReportSourceError(str(exc)) from None

    def points(self, measurement: str, start_ns: int, end_ns: int, tags: TagFilter | None = None) -> Iterator[Point]:
        t = start_ns
        while t < end_ns:
            stop = min(t + WINDOW_NS, end_ns)
            yield from self._call(self.sink.read(measurement, t, stop, tags))
            t = stop

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.sink.close(), self._loop).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


def reads_influxdb(config: AgentConfig, choice: str | None) -> bool:
    """The rule `report_source` applies: --source influxdb, or by default the first InfluxDB sink."""
    has_influx = any(s.type in ("influxdb1", "influxdb2") for s in config.effective_sinks())
    return choice == "influxdb" or (choice is None and has_influx)


def report_source(config: AgentConfig, choice: str | None) -> tuple[ReportSource, Any]:
    """(ReportSource, closer) for `--source local|influxdb` (default: the first InfluxDB sink,
    else the local store)."""
    sinks = config.effective_sinks()
    influx = [(i, s) for i, s in enumerate(sinks) if s.type in ("influxdb1", "influxdb2")]
    if reads_influxdb(config, choice):
        if not influx:
            raise ValueError("--source influxdb: no influxdb1 or influxdb2 sink in the configuration")
        i, s = influx[0]
        src = SinkSource(build_sink(s, i, config))
        return src, src.close
    local = next((s for s in sinks if s.type == "local"), None)
    path = config.local_store_path(local)
    if not Path(path).exists():
        raise ValueError(f"local store {path} does not exist (has the agent run with a local sink?)")
    store = LocalStore.open_readonly(Path(path))
    return LocalStoreSource(store), store.close


def readable_source(config: AgentConfig) -> tuple[ReportSource | None, Any, str]:
    """(source, closer, name) of the first sink that can be read back: a local store that
    exists, or an InfluxDB 1.x/2.x sink through InfluxQL; (None, closer, name) when the first
    readable sink holds nothing yet."""
    for i, s in enumerate(config.effective_sinks()):
        if s.type not in READABLE_TYPES:
            continue
        if s.type == "local":
            path = config.local_store_path(s)
            if Path(path).exists():
                store = LocalStore.open_readonly(Path(path))
                return LocalStoreSource(store), store.close, sink_name(s, i)
            return None, lambda: None, sink_name(s, i)
        src = SinkSource(build_sink(s, i, config))
        return src, src.close, sink_name(s, i)
    return None, lambda: None, "-"
