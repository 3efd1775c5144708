"""The agent's own counters: one prometheus-client registry per agent (no global state).

Components ask for their metrics by name (`metrics.counter(...)`); asking twice returns the same
object, so two SNMP targets or two forwarders share one metric family with different labels.
`snapshot_points()` turns the registry into `agent_internal` points, so the same numbers reach
InfluxDB (and Grafana) on sites where nobody can scrape `/metrics`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sentinelle.agent.core import Point

PREFIX = "sentinelle_"


class AgentMetrics:
    def __init__(self, agent_name: str = "sentinelle"):
        self.agent_name = agent_name
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._metrics: dict[str, Counter | Gauge | Histogram] = {}

    def _get(self, kind: type, name: str, doc: str, labels: Sequence[str], **kw: object) -> object:
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                metric = kind(PREFIX + name, doc, list(labels), registry=self.registry, **kw)
                self._metrics[name] = metric
            elif not isinstance(metric, kind):
                raise TypeError(f"metric {name} already exists as {type(metric).__name__}")
            return metric

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        """`name` without the `_total` suffix; prometheus-client adds it."""
        return self._get(Counter, name, doc, labels)  # type: ignore[return-value]

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return self._get(Gauge, name, doc, labels)  # type: ignore[return-value]

    def histogram(self, name: str, doc: str, labels: Sequence[str] = (), buckets: Sequence[float] | None = None) -> Histogram:
        kw = {"buckets": tuple(buckets)} if buckets else {}
        return self._get(Histogram, name, doc, labels, **kw)  # type: ignore[return-value]

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a sample (for tests and summaries); 0 when absent."""
        full = PREFIX + name
        got = self.registry.get_sample_value(full, labels or {})
        if got is None:
            got = self.registry.get_sample_value(full + "_total", labels or {})
        return got or 0.0

    def total(self, name: str) -> float:
        """Sum of a metric over all its label sets."""
        full = PREFIX + name
        total = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name in (full, full + "_total"):
                    total += sample.value
        return total

    def snapshot_points(self, time_ns: int) -> list[Point]:
        """Counters and gauges as `agent_internal` points: field = metric name, tags = labels.

        Histograms are written as their `_sum` and `_count` only (buckets would multiply
        series for little use in Grafana).
        """
        points: dict[tuple[tuple[str, str], ...], Point] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith(("_created", "_bucket")):
                    continue
                field = sample.name.removeprefix(PREFIX)
                tags = {"agent": self.agent_name, **{k: str(v) for k, v in sample.labels.items() if v != ""}}
                key = tuple(sorted(tags.items()))
                point = points.get(key)
                if point is None:
                    point = Point("agent_internal", tags, {}, time_ns)
                    points[key] = point
                point.fields[field] = float(sample.value)
        return [p for p in points.values() if p.fields]
