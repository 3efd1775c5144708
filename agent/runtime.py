"""The running agent: config in, collectors, pipeline, spool and forwarders wired together.

Life cycle (`async with Agent(config) as agent: await agent.run()`):
open the spool first (so nothing collected can be lost), then the sinks and one forwarder per
sink, then the collectors. On stop, collectors stop first, the forwarders get a bounded time to
drain, and the spool is closed last. What is still in the spool is sent by the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelle.agent.core import CollectorContext, Point, PollTarget, Processor, Source
from sentinelle.agent.forwarder import Forwarder
from sentinelle.agent.logs import Problems
from sentinelle.agent.parts import build_processors, registered_collectors
from sentinelle.agent.pipeline import InventoryTags, Pipeline
from sentinelle.agent.scheduler import Scheduler, in_shard
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.agent.sinks.base import Sink
from sentinelle.agent.sinks.build import build_sink
from sentinelle.agent.sinks.settings import sink_name
from sentinelle.agent.spool import Spool

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig  # composed at run time
    from sentinelle.agent.status import StatusServer


log = logging.getLogger("sentinelle.agent.runtime")

__all__ = ["Agent", "registered_collectors"]


class Agent:
    def __init__(self, config: AgentConfig, *, http: bool | None = None, processors: list[Processor] | None = None):
        self.config = config
        self.metrics = AgentMetrics(config.agent.name)
        self.problems = Problems(log, window_s=config.agent.log.rate_limit)
        self.data_dir = Path(config.agent.data_dir)
        self.state_dir = self.data_dir / "state"
        self._http_enabled = config.agent.http.enabled if http is None else http
        self._extra_processors = processors
        self.spool: Spool | None = None
        self.sinks: list[Sink] = []
        self.forwarders: list[Forwarder] = []
        self.targets: list[PollTarget] = []
        self.inventory_targets: list[PollTarget] = []
        self.sources: list[Source] = []
        self.scheduler: Scheduler | None = None
        self.pipeline: Pipeline | None = None
        self.status: StatusServer | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[Any]] = []
        self._forwarder_tasks: list[asyncio.Task[Any]] = []
        self._invalid = self.metrics.counter("points_invalid", "Points refused by the line-protocol encoder", ["measurement"])
        self.started_at = time.time()
        self._stopped = False

    # --- assembly -----------------------------------------------------------------------------

    async def __aenter__(self) -> Agent:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self._stack.aclose()

    async def _open(self) -> None:
        cfg = self.config
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        sink_cfgs = cfg.effective_sinks()
        names = [sink_name(s, i) for i, s in enumerate(sink_cfgs)]
        spool_path = cfg.spool_path()
        spool_path.parent.mkdir(parents=True, exist_ok=True)
        self.spool = await Spool.open(
            spool_path,
            sinks=names,
            max_bytes=int(cfg.spool.max_bytes),
            sync=cfg.spool.sync,
            priorities=cfg.spool.priorities,
            metrics=self.metrics,
            max_dead_letters=cfg.spool.max_dead_letters,
        )
        self._stack.push_async_callback(self.spool.close)
        for i, scfg in enumerate(sink_cfgs):
            sink = build_sink(scfg, i, cfg)
            self.sinks.append(sink)
            self._stack.push_async_callback(sink.close)
            self.forwarders.append(
                Forwarder(
                    self.spool, sink,
                    batch_size=scfg.batch_size,
                    retry_max_delay=scfg.retry_max_delay,
                    metrics=self.metrics,
                    problems=self.problems,
                )
            )
        processors: list[Processor] = list(self._extra_processors) if self._extra_processors is not None else self._default_processors()
        self.pipeline = Pipeline(self._store, InventoryTags(cfg.inventory), processors, self.metrics, self.problems)
        await self._open_collectors()
        self.scheduler = Scheduler(
            [*self.targets, *self.inventory_targets],
            self.pipeline.emit,
            concurrency=cfg.agent.concurrency,
            jitter_s=cfg.agent.jitter,
            deadline_s=cfg.agent.deadline,
            metrics=self.metrics,
            problems=self.problems,
        )
        if self._http_enabled:
            from sentinelle.agent.status import StatusServer  # aiohttp's server, loaded only when enabled

            self.status = StatusServer(self.metrics, self.readiness, cfg.agent.http.host, cfg.agent.http.port)
            await self._stack.enter_async_context(self.status)

    def _default_processors(self) -> list[Processor]:
        return build_processors(self.config, self.state_dir)  # carbon/ plugs in here (agent.parts)

    def _devices_in_shard(self) -> set[str]:
        shard = self.config.agent.shard
        ids = {d.id for s in self.config.inventory.sites for d in s.devices}
        if shard is None:
            return ids
        return {i for i in ids if in_shard(i, shard.index, shard.count)}

    async def _open_collectors(self) -> None:
        """Open each registered collector this configuration wants, each with its own state
        directory `<data_dir>/state/<name>`; resources they open close with the agent."""
        mine = self._devices_in_shard()
        for collector in registered_collectors():
            if not collector.wanted(self.config):
                continue
            state_dir = self.state_dir / collector.name
            state_dir.mkdir(parents=True, exist_ok=True)
            context = CollectorContext(self.config, self.metrics, self.problems, self._stack, state_dir, mine.__contains__)
            parts = await collector.open(context)
            self.targets.extend(parts.targets)
            # Slow targets (equipment identity) share the scheduler but are not polled devices.
            self.inventory_targets.extend(parts.slow_targets)
            self.sources.extend(parts.sources)

    # --- data path ----------------------------------------------------------------------------

    async def _store(self, points: list[Point]) -> None:
        assert self.spool is not None
        result = await self.spool.append(points)
        for point, reason in result.invalid:
            self._invalid.labels(point.measurement).inc()
            self.problems.report(
                ("invalid-point", point.measurement, reason[:40]),
                "point of %s refused: %s", point.measurement, reason,
                device=point.tags.get("device"), reason="invalid_point",
            )
        for forwarder in self.forwarders:
            forwarder.notify()

    async def write_internal(self) -> None:
        """Write the agent's own counters as `agent_internal` points (through the spool)."""
        if self.spool is not None:
            await self._refresh_spool_gauges()
        now_ns = time.time_ns()
        await self._store(self.metrics.snapshot_points(now_ns))

    async def _refresh_spool_gauges(self) -> None:
        assert self.spool is not None
        stats = await self.spool.stats()
        self.metrics.gauge("spool_bytes", "Bytes of line protocol held in the spool").set(stats.bytes)
        pending = self.metrics.gauge("spool_pending", "Points waiting for a sink", ["sink"])
        age = self.metrics.gauge("spool_oldest_age_seconds", "Age of the oldest point waiting for a sink", ["sink"])
        for name, count in stats.pending.items():
            pending.labels(name).set(count)
            age.labels(name).set(stats.oldest_age_s.get(name) or 0.0)

    async def _internal_loop(self) -> None:
        interval = self.config.agent.internal_interval
        while True:
            await asyncio.sleep(interval - (time.time() % interval))
            try:
                await self.write_internal()
            except Exception as exc:  # noqa: BLE001
                self.problems.report(("internal",), "could not write agent_internal points: %s", exc)

    def readiness(self) -> tuple[bool, dict[str, object]]:
        ready = self.spool is not None and self.scheduler is not None
        return ready, {
            "agent": self.config.agent.name,
            "targets": len(self.targets),
            "sources": len(self.sources),
            "sinks": [s.name for s in self.sinks],
        }

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start collection and forwarding in the background."""
        assert self.scheduler is not None and self.pipeline is not None
        for forwarder in self.forwarders:
            self._forwarder_tasks.append(asyncio.create_task(forwarder.run(), name=f"forward-{forwarder.sink.name}"))
        self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        for source in self.sources:
            self._tasks.append(asyncio.create_task(source.run(self.pipeline.emit), name=f"source-{source.name}"))
        self._tasks.append(asyncio.create_task(self._internal_loop(), name="agent-internal"))
        log.info(
            "agent %s started: %d polled devices, %d MQTT sources, sinks %s",
            self.config.agent.name, len(self.targets), len(self.sources), ", ".join(s.name for s in self.sinks),
        )

    async def run(self, duration_s: float | None = None, stop: asyncio.Event | None = None) -> None:
        """Run until `duration_s` elapses or `stop` is set; a component that fails ends the run.

        A component that simply *finishes* does not end the run: a scheduler with no polled
        device (an MQTT-only LoRaWAN agent) returns at once, and the agent must keep reading
        its brokers. Only an exception (or the stop/duration) ends it, and the exception is
        raised so the command exits non-zero instead of pretending it collected.
        """
        self.start()
        stopper = asyncio.create_task(stop.wait(), name="stop-request") if stop is not None else None
        watched: set[asyncio.Task[Any]] = set(self._tasks)
        loop = asyncio.get_running_loop()
        deadline = None if duration_s is None else loop.time() + duration_s
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                if remaining == 0.0:
                    return
                if not watched and stopper is None:
                    # Nothing left that could fail: wait for the duration (or forever).
                    await (asyncio.sleep(remaining) if remaining is not None else asyncio.Event().wait())
                    return
                done, _ = await asyncio.wait(
                    watched | ({stopper} if stopper else set()), timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if not done or (stopper is not None and stopper in done):
                    return
                for task in done:
                    watched.discard(task)
                    if not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                    log.debug("component %s finished (nothing left for it to do)", task.get_name())
        finally:
            if stopper is not None:
                stopper.cancel()

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop collectors, let forwarders drain for at most `drain_s`, then stop them.

        Idempotent: `async with` calls it again on exit after an explicit stop.
        """
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.spool is not None and self.forwarders:
            with contextlib.suppress(Exception):
                await self.write_internal()
            await asyncio.gather(*(f.flush(drain_s) for f in self.forwarders), return_exceptions=True)
        for task in self._forwarder_tasks:
            task.cancel()
        await asyncio.gather(*self._forwarder_tasks, return_exceptions=True)
        self._forwarder_tasks.clear()
