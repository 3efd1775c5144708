"""Lifetime and obsolescence: equipment past its expected life, the age distribution, and the
firmware versions running per model (what runs old software). Longer life is the first lever
of the hardware footprint, so these are counted on equipment, not on components."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sentinelle.carbon.inventory.factors import LifetimeTable
from sentinelle.carbon.inventory.records import Equipment

AGE_BUCKETS = ((0, 2, "0-2"), (2, 5, "2-5"), (5, 8, "5-8"), (8, 12, "8-12"), (12, 1000, "12+"))


@dataclass(frozen=True, slots=True)
class Ageing:
    record: Equipment
    lifetime_years: float | None
    past_lifetime: bool | None  # None: no lifetime for its class


def ageing(records: Iterable[Equipment], lifetimes: LifetimeTable) -> list[Ageing]:
    out = []
    for r in records:
        if r.role != "equipment":
            continue
        life = lifetimes.years(r.equipment_class)
        past = None if life is None or r.age_years is None else r.age_years > life
        out.append(Ageing(r, life, past))
    return out


def age_bucket(age_years: float) -> str:
    return next(label for lo, hi, label in AGE_BUCKETS if lo <= age_years < hi)


def age_distribution(items: Iterable[Ageing]) -> dict[tuple[str, str], int]:
    """(site, bucket) -> count of equipment."""
    counts: Counter[tuple[str, str]] = Counter()
    for a in items:
        if a.record.age_years is not None:
            counts[(a.record.site or "", age_bucket(a.record.age_years))] += 1
    return dict(counts)


def firmware_per_model(records: Iterable[Equipment]) -> dict[tuple[str, str], int]:
    """(model, firmware) -> count, over equipment and components that report both."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in records:
        if r.model and r.firmware:
            counts[(r.model, r.firmware)] += 1
    return dict(counts)
