"""From collector to spool: tag each point with its identity, run processors, store.

The inventory knows what a device *is* (its site, member authority, contract, operator); the
collectors only know the device id. `InventoryTags` adds the DESIGN section 2 identity tags to
every point, so Grafana and the annual report can group by any of them. Processors (carbon/
energy and emissions) come after tagging, so they see the site and meter of every reading.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from sentinelle.agent.core import Point, Processor
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics

if TYPE_CHECKING:
    from sentinelle.agent.config import InventorySettings  # composed at run time


log = logging.getLogger("sentinelle.agent.pipeline")


class InventoryTags:
    """Adds site and device identity tags from the inventory to points tagged `device` or `site`.

    A collector's own tags win over the inventory's (a collector knows better, e.g. a LoRa
    device's own `site` when it roams), except that empty values never overwrite.
    """

    def __init__(self, inventory: InventorySettings, extra: dict[str, str] | None = None):
        self._site_tags: dict[str, dict[str, str]] = {}
        self._device_tags: dict[str, dict[str, str]] = {}
        base = dict(extra or {})
        for site in inventory.sites:
            stags = dict(base)
            stags.update(site.tags)
            stags["site"] = site.id
            stags["site_kind"] = site.kind
            for key in ("member", "contract", "operator"):
                value = getattr(site, key)
                if value:
                    stags[key] = value
            self._site_tags[site.id] = stags
            for dev in site.devices:
                dtags = dict(stags)
                dtags.update(dev.tags)
                dtags["device"] = dev.id
                dtags["device_kind"] = dev.kind
                self._device_tags[dev.id] = dtags

    def tags_for(self, point: Point) -> dict[str, str] | None:
        device = point.tags.get("device")
        if device is not None and device in self._device_tags:
            return self._device_tags[device]
        site = point.tags.get("site")
        if site is not None and site in self._site_tags:
            return self._site_tags[site]
        return None

    def process(self, points: list[Point]) -> list[Point]:
        for point in points:
            tags = self.tags_for(point)
            if tags:
                merged = dict(tags)
                merged.update({k: v for k, v in point.tags.items() if v != ""})
                point.tags = merged
        return points


Store = Callable[[list[Point]], Awaitable[object]]


class Pipeline:
    """`emit` for collectors: tag, process, then hand to the store (the spool).

    A processor that raises is logged (rate-limited) and skipped for that batch: the raw
    readings still reach the spool, so a bug in the maths never loses measurements.
    """

    def __init__(
        self,
        store: Store,
        tagger: InventoryTags,
        processors: Sequence[Processor] = (),
        metrics: AgentMetrics | None = None,
        problems: Problems | None = None,
    ):
        self._store = store
        self._tagger = tagger
        self._processors = list(processors)
        self._problems = problems or Problems(log)
        m = metrics or AgentMetrics()
        self._collected = m.counter("points_collected", "Points handed to the pipeline by collectors", ["measurement"])
        self._processor_errors = m.counter("processor_errors", "Processor failures (batch kept unprocessed)", ["processor"])

    async def emit(self, points: list[Point]) -> None:
        if not points:
            return
        # One counter update per measurement and batch, not per point (a poll brings hundreds).
        for measurement, count in Counter(p.measurement for p in points).items():
            self._collected.labels(measurement).inc(count)
        points = self._tagger.process(points)
        for processor in self._processors:
            name = type(processor).__name__
            try:
                points = processor.process(points)
            except Exception as exc:  # noqa: BLE001 - a processor bug must not lose readings
                self._processor_errors.labels(name).inc()
                self._problems.report(("processor", name, type(exc).__name__), "processor %s failed: %s", name, exc, reason=type(exc).__name__)
        await self._store(points)
