"""Pipeline: inventory identity tags on every point, processors after tagging, and a broken
processor never loses readings."""

from __future__ import annotations

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.pipeline import InventoryTags, Pipeline
from sentinelle.agent.selfmetrics import AgentMetrics

CONFIG = """
inventory:
  sites:
    - id: nro-lannion
      kind: nro
      member: lannion-tregor-communaute
      contract: dsp-rip-22
      operator: example-delegataire
      tags: {region: bretagne}
      devices:
        - {id: pdu-a, kind: pdu, tags: {rack: r1}}
"""


def test_identity_tags_from_inventory() -> None:
    cfg = parse_config(CONFIG)
    tagger = InventoryTags(cfg.inventory)
    (p,) = tagger.process([Point("pdu", {"device": "pdu-a", "outlet": "3"}, {"power_w": 1.0}, 1)])
    assert p.tags == {
        "site": "nro-lannion", "site_kind": "nro", "member": "lannion-tregor-communaute",
        "contract": "dsp-rip-22", "operator": "example-delegataire", "region": "bretagne",
        "device": "pdu-a", "device_kind": "pdu", "rack": "r1", "outlet": "3",
    }
    (s,) = tagger.process([Point("lora_gateway", {"site": "nro-lannion", "gateway": "g1"}, {"online": True}, 1)])
    assert s.tags["member"] == "lannion-tregor-communaute" and "device" not in s.tags
    (u,) = tagger.process([Point("x", {"device": "unknown"}, {"v": 1}, 1)])
    assert u.tags == {"device": "unknown"}


class Doubler:
    def process(self, points: list[Point]) -> list[Point]:
        return points + [Point("energy", dict(p.tags), {"kwh": 1.0}, p.time_ns) for p in points if p.measurement == "pdu"]


class Broken:
    def process(self, points: list[Point]) -> list[Point]:
        raise ZeroDivisionError("bug")


async def test_processors_run_after_tagging_and_failures_keep_readings() -> None:
    cfg = parse_config(CONFIG)
    stored: list[Point] = []

    async def store(points: list[Point]) -> None:
        stored.extend(points)

    metrics = AgentMetrics()
    pipe = Pipeline(store, InventoryTags(cfg.inventory), [Broken(), Doubler()], metrics)
    await pipe.emit([Point("pdu", {"device": "pdu-a"}, {"power_w": 2.0}, 7)])
    assert [p.measurement for p in stored] == ["pdu", "energy"]
    assert stored[1].tags["site"] == "nro-lannion"  # the processor saw tagged points
    assert metrics.value("processor_errors_total", {"processor": "Broken"}) == 1
    assert metrics.value("points_collected_total", {"measurement": "pdu"}) == 1
