"""Carbon rules checked with the configuration: meter hierarchy, factor table file, site zones.

The live carbon step (`carbon.processor.build_processors`) refuses an inconsistent meter
hierarchy and an unreadable `factors_file` at start-up. Registered in
`agent.parts.CONFIG_CHECKS`, the same functions run when the file is loaded, so `check`
refuses them first and each problem points at the device's own `meter:` line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sentinelle.carbon.factors import FactorError, FactorTable
from sentinelle.carbon.meters import MeterHierarchyError, MeterSpec, check_hierarchy

if TYPE_CHECKING:
    from sentinelle.carbon.settings import CarbonConfig



def config_problems(config: CarbonConfig) -> Iterable[tuple[tuple[Any, ...], str]]:
    yield from _meter_problems(config)
    path = getattr(config.carbon, "factors_file", None)
    try:
        table = FactorTable.from_file(path) if path is not None else FactorTable.embedded()
    except (FactorError, ValueError) as exc:
        yield ("carbon", "factors_file"), str(exc)
        return
    # A site's BEGES factor comes from its zone: a zone the table does not have is refused here,
    # not at the first carbon point.
    for i, site in enumerate(config.inventory.sites):
        if not table.has_zone(site.zone):
            yield (("inventory", "sites", i, "zone"),
                   f"unknown zone {site.zone!r}: {table.origin} has factors for {', '.join(table.zones())}")


def _meter_problems(config: CarbonConfig) -> Iterable[tuple[tuple[Any, ...], str]]:
    specs: dict[str, MeterSpec] = {}
    keys: dict[str, tuple[Any, ...]] = {}
    for si, site in enumerate(config.inventory.sites):
        for di, dev in enumerate(site.devices):
            m = dev.meter
            if m is None:
                continue
            specs[dev.id] = MeterSpec(dev.id, site.id, m.role, m.load, m.parent, site.zone)
            keys[dev.id] = ("inventory", "sites", si, "devices", di, "meter", "parent" if m.parent or m.role == "sub" else "role")
    try:
        check_hierarchy(specs)
        return
    except MeterHierarchyError as exc:
        first = str(exc)
    # carbon's own rule names the first bad meter only; putting each meter first in turn
    # finds every bad meter with that same rule (no second copy of it here).
    found = False
    for meter, spec in specs.items():
        ordered = {meter: spec, **{k: v for k, v in specs.items() if k != meter}}
        try:
            check_hierarchy(ordered)
        except MeterHierarchyError as exc:
            if repr(meter) in str(exc).split(",")[0]:
                found = True
                yield keys[meter], str(exc)
    if not found:
        yield ("inventory",), first
