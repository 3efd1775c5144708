"""A site's meters: which are summed, which are IT load, and how a shared site is split.

The inventory says, per device, `meter: {role, load, parent}`:
- `role: primary` meters are summed for the site; `sub` meters (a PDU behind a UPS that is
  itself metered) are reported but never added to their parent, so nothing is counted twice;
- `load: it` / `facility` give PUE = facility kWh / IT kWh where both exist;
- a site shared by several member authorities or operators declares `allocation` shares per
  grouping; a site's kWh and tCO2e are split by them, so per-member totals add up to the site.

Readings can contradict the declared hierarchy: an IT sub-meter reading more than its facility
parent (PUE below 1) means a meter is wired, scaled or declared wrong. `hierarchy_inconsistencies`
finds those from any set of simultaneous readings (kWh over one period, or W at one instant), so
the report, the demo and `check` flag them with one rule.

`meters_from_inventory` reads the agent's config objects by attribute (carbon/ does not import
agent/), so any object with the same shape works.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sentinelle.carbon.quantities import Lang, number, ratio

Role = Literal["primary", "sub"]
Load = Literal["it", "facility", "other"]
GROUPINGS = ("site", "member", "contract", "operator")


class MeterHierarchyError(ValueError):
    """An inventory whose meters cannot be summed safely (unknown parent, cycle)."""


@dataclass(frozen=True, slots=True)
class MeterSpec:
    meter: str
    site: str
    role: Role = "primary"
    load: Load = "other"
    parent: str | None = None
    zone: str = "fr-continental"


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """What the report needs about a site beyond the tags on its points."""

    site: str
    zone: str = "fr-continental"
    owners: dict[str, str] = field(default_factory=dict)  # grouping -> value (member, contract, operator)
    allocation: dict[str, dict[str, float]] = field(default_factory=dict)

    def shares(self, grouping: str) -> dict[str, float]:
        """Who owns this site for a grouping, with shares adding up to 1."""
        if grouping == "site":
            return {self.site: 1.0}
        if grouping in self.allocation:
            return dict(self.allocation[grouping])
        owner = self.owners.get(grouping) or "—"
        return {owner: 1.0}


def check_hierarchy(specs: Mapping[str, MeterSpec]) -> None:
    """Raise if a sub-meter names no parent, an unknown parent, a parent on another site, or a cycle."""
    for spec in specs.values():
        if spec.role == "sub" and spec.parent is None:
            raise MeterHierarchyError(f"meter {spec.meter!r} is a sub-meter but names no parent")
        if spec.parent is None:
            continue
        parent = specs.get(spec.parent)
        if parent is None:
            raise MeterHierarchyError(f"meter {spec.meter!r} has parent {spec.parent!r}, which is not a meter")
        if parent.site != spec.site:
            raise MeterHierarchyError(f"meter {spec.meter!r} and its parent {spec.parent!r} are on different sites")
        seen = {spec.meter}
        cur: MeterSpec | None = parent
        while cur is not None:
            if cur.meter in seen:
                raise MeterHierarchyError(f"meter parents form a cycle through {cur.meter!r}")
            seen.add(cur.meter)
            cur = specs.get(cur.parent) if cur.parent else None


InconsistencyKind = Literal["sub-above-parent", "it-above-facility"]


@dataclass(frozen=True, slots=True)
class MeterInconsistency:
    """Readings that the declared meter hierarchy makes impossible.

    `upper` is what should be the larger reading (a parent meter, the facility meters of a
    site), `lower` what it feeds (its sub-meters, the IT meters); both in the unit of the
    readings given (kWh over one period, or W at one instant).
    """

    kind: InconsistencyKind
    site: str
    upper_meters: tuple[str, ...]
    lower_meters: tuple[str, ...]
    upper: float
    lower: float
    unit: str = "kWh"  # of upper and lower: "kWh" over a period, "W" at an instant, "kW" a mean power

    @property
    def ratio(self) -> float | None:
        """upper / lower: the PUE for `it-above-facility`; below 1 by construction."""
        return self.upper / self.lower if self.lower > 0 else None

    def message(self, lang: Lang = "fr", unit: str | None = None) -> str:
        """One line for a technician: which meters, which readings, what to look at."""
        unit = unit or self.unit
        up, low = ", ".join(self.upper_meters), ", ".join(self.lower_meters)
        r = ratio(self.ratio, lang) if self.ratio is not None else "?"
        a, b = number(self.upper, lang), number(self.lower, lang)
        if self.kind == "it-above-facility":
            if lang == "fr":
                return (f"site {self.site} : la charge IT ({low} : {b} {unit}) dépasse le compteur du site ({up} : {a} {unit}), "
                        f"PUE {r} < 1 : hiérarchie de compteurs incohérente (câblage, échelle ou rôle déclaré à vérifier)")
            return (f"site {self.site}: IT load ({low}: {b} {unit}) exceeds the facility meter ({up}: {a} {unit}), "
                    f"PUE {r} < 1: inconsistent meter hierarchy (check wiring, scaling or the declared role)")
        if lang == "fr":
            return (f"site {self.site} : les sous-compteurs ({low} : {b} {unit}) dépassent leur compteur parent ({up} : {a} {unit}) : "
                    "hiérarchie de compteurs incohérente (câblage, échelle ou parent déclaré à vérifier)")
        return (f"site {self.site}: sub-meters ({low}: {b} {unit}) exceed their parent meter ({up}: {a} {unit}): "
                "inconsistent meter hierarchy (check wiring, scaling or the declared parent)")


def hierarchy_inconsistencies(
    readings: Mapping[str, float], specs: Mapping[str, MeterSpec], tolerance: float = 0.0, unit: str = "kWh"
) -> list[MeterInconsistency]:
    """Where simultaneous readings contradict the hierarchy (for the report, the demo and `check`).

    `readings`: meter id -> kWh over one common period, or W at one instant; meters without a
    reading are left out of every comparison (nothing is inferred from silence). Two rules:
    the sub-meters of a parent together read more than the parent; the IT meters of a site
    together read more than its facility meters (PUE below 1). `tolerance` is the relative
    excess allowed for meter accuracy (0.02 for two class-1 meters, say); 0 flags any excess.
    A site whose IT meters are exactly the sub-meters of its only facility meter is reported
    once, as `it-above-facility`.
    """
    out: list[MeterInconsistency] = []
    children: dict[str, list[str]] = {}
    for spec in specs.values():
        if spec.parent is not None and spec.meter in readings and spec.parent in readings:
            children.setdefault(spec.parent, []).append(spec.meter)
    by_site: dict[str, tuple[list[str], list[str]]] = {}
    for spec in specs.values():
        if spec.meter in readings and spec.load in ("facility", "it"):
            facility, it = by_site.setdefault(spec.site, ([], []))
            (facility if spec.load == "facility" else it).append(spec.meter)
    reported: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    for site, (facility, it) in sorted(by_site.items()):
        if not facility or not it:
            continue
        upper, lower = sum(readings[m] for m in facility), sum(readings[m] for m in it)
        if lower > 0 and lower > upper * (1 + tolerance):
            key = (tuple(sorted(facility)), tuple(sorted(it)))
            reported.add(key)
            out.append(MeterInconsistency("it-above-facility", site, key[0], key[1], upper, lower, unit))
    for parent, subs in sorted(children.items()):
        upper, lower = readings[parent], sum(readings[m] for m in subs)
        key = ((parent,), tuple(sorted(subs)))
        if key in reported or not (lower > 0 and lower > upper * (1 + tolerance)):
            continue
        out.append(MeterInconsistency("sub-above-parent", specs[parent].site, key[0], key[1], upper, lower, unit))
    return out


POWER_FIELDS = ("power_w", "output_power_w")  # what the carbon processor integrates
# A meter counter's fields, as the meter-reading contract names them (docs/meter-readings.md),
# for the live processor and the line-protocol import alike.
COUNTER_FIELD = "energy_kwh_total"
RESET_FIELD = "counter_reset"
WRAP_FIELD = f"{COUNTER_FIELD}_wrap"
MAX_RATE_FIELD = f"{COUNTER_FIELD}_max_rate"
LEGACY_WRAP_FIELD = "energy_kwh_wrap"  # the modulus' spelling before the contract; still read


def counter_description(value: object) -> float | None:
    """A counter's descriptive field (`_wrap`, `_max_rate`) when it is a usable positive number;
    anything else (absent, bool, NaN, inf, zero, negative) is as if the collector said nothing."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


# Measurements that are never a device's own meter reading, for the live processor and the
# history import alike: what carbon derives itself (energy, carbon, grid_intensity: reading them
# back would count a kWh twice), per-outlet and per-phase figures (parts of the device total),
# events, identity records and the agent's own metrics.
SKIP_MEASUREMENTS = frozenset({"energy", "carbon", "grid_intensity", "pdu_outlet", "pdu_phase", "event",
                               "inventory", "agent_internal"})


def power_readings(points: Iterable[Any], specs: Mapping[str, MeterSpec]) -> dict[str, float]:
    """meter -> W from one poll's points (tag `device`, field `power_w` or `output_power_w`),
    for `hierarchy_inconsistencies` in `check`: meters are polled a few seconds apart, so
    compare with a tolerance (0.05, say). Device totals only: outlet and phase rows are parts
    of their device's reading, not readings of their own."""
    out: dict[str, float] = {}
    for p in points:
        device = p.tags.get("device")
        if device not in specs or p.measurement in ("pdu_outlet", "pdu_phase"):
            continue
        for name in POWER_FIELDS:
            v = p.fields.get(name)
            if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
                out[device] = float(v)
                break
    return out


def meters_from_inventory(inventory: Any) -> dict[str, MeterSpec]:
    """Device id -> MeterSpec for devices whose inventory entry sets `meter`."""
    specs: dict[str, MeterSpec] = {}
    for site in inventory.sites:
        for dev in site.devices:
            m = getattr(dev, "meter", None)
            if m is None:
                continue
            specs[dev.id] = MeterSpec(dev.id, site.id, m.role, m.load, m.parent, getattr(site, "zone", "fr-continental"))
    check_hierarchy(specs)
    return specs


def sites_from_inventory(inventory: Any) -> dict[str, SiteSpec]:
    out: dict[str, SiteSpec] = {}
    for site in inventory.sites:
        owners = {k: getattr(site, k) for k in ("member", "contract", "operator") if getattr(site, k, None)}
        out[site.id] = SiteSpec(site.id, getattr(site, "zone", "fr-continental"), owners, dict(getattr(site, "allocation", {}) or {}))
    return out


def site_total(kwh_by_meter: Mapping[str, float], roles: Mapping[str, str]) -> float:
    """Sum of the primary meters (a meter with no declared role counts as primary)."""
    return sum(v for m, v in kwh_by_meter.items() if roles.get(m, "primary") == "primary")


def pue(facility_kwh: float, it_kwh: float) -> float | None:
    """Facility / IT energy, when both were measured; None otherwise."""
    if facility_kwh > 0 and it_kwh > 0:
        return facility_kwh / it_kwh
    return None


def allocate(value: float, shares: Mapping[str, float]) -> dict[str, float]:
    """`value` split by shares; the parts add up to `value` (the last share takes the rounding)."""
    keys = list(shares)
    total = sum(shares.values())
    if not keys or total <= 0:
        raise ValueError("allocation needs at least one positive share")
    parts = {k: value * shares[k] / total for k in keys[:-1]}
    parts[keys[-1]] = value - sum(parts.values())
    return parts


def merge_allocations(rows: Iterable[tuple[Mapping[str, float], float]]) -> dict[str, float]:
    """Sum of several allocated values: [(shares, value)] -> owner -> value."""
    out: dict[str, float] = {}
    for shares, value in rows:
        for owner, part in allocate(value, shares).items():
            out[owner] = out.get(owner, 0.0) + part
    return out
