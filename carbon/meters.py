"""A site's meters: which are summed, which are IT load, and how a shared site is split.

The inventory says, per device, `meter: {role, load, parent}`:
- `role: primary` meters are summed for the site; `sub` meters (a PDU behind a UPS that is
  itself metered) are reported but never added to their parent, so nothing is counted twice;
- `load: it` / `facility` give PUE = facility kWh / IT kWh where both exist;
- a site shared by several member authorities or operators declares `allocation` shares per
  grouping; a site's kWh and tCO2e are split by them, so per-member totals add up to the site.

`meters_from_inventory` reads the agent's config objects by attribute (carbon/ does not import
agent/), so any object with the same shape works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
