"""Stored `inventory` points -> one record per piece of equipment and per component.

The latest point of a part gives its identity; its first and last seen times come from every
point of that part with the same serial (a swapped part starts again), so a box polled for
five years says so even when its manufacturing date is unknown. Age is taken from the
manufacturing date when the device publishes one, else from the first time it was seen, and
the record says which (`age_from`), because "seen since" is only a lower bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sentinelle.agent.core import NS, Point

MEASUREMENT = "inventory"
DAY_S = 86400.0
YEAR_DAYS = 365.25


@dataclass(frozen=True, slots=True)
class DeviceSite:
    """Where the configuration puts a device (the stored tags may predate a move)."""

    site: str
    member: str | None = None
    contract: str | None = None
    kind: str = "generic"


@dataclass(slots=True)
class Equipment:
    device: str
    part: str
    role: str
    part_class: str
    equipment_class: str  # what lifetimes and factors are looked up by
    site: str | None
    member: str | None
    contract: str | None
    vendor: str | None
    model: str | None
    serial: str | None
    firmware: str | None
    mfg_date: str | None
    first_seen_ns: int
    last_seen_ns: int
    identified: bool
    flags: str | None
    age_years: float | None = None
    age_from: str | None = None  # mfg_date | first_seen
    values: dict[str, object] = field(default_factory=dict)

    def set_age(self, today: date) -> None:
        if self.mfg_date:
            try:
                made = date.fromisoformat(self.mfg_date)
            except ValueError:
                made = None
            if made is not None and made <= today:
                self.age_years, self.age_from = (today - made).days / YEAR_DAYS, "mfg_date"
                return
        first = datetime.fromtimestamp(self.first_seen_ns / NS, UTC).date()
        self.age_years, self.age_from = max(0, (today - first).days) / YEAR_DAYS, "first_seen"


def _text(fields: Mapping[str, object], name: str) -> str | None:
    v = fields.get(name)
    return v if isinstance(v, str) and v else None


def equipment_class(part_class: str, role: str, device_kind: str | None) -> str:
    """Chassis and unidentified boxes take the kind the user gave the device (switch, olt,
    router...): ENTITY-MIB only says "chassis". PDUs, UPSs and components keep their class."""
    if role == "equipment" and part_class in ("chassis", "unknown", "stack") and device_kind and device_kind != "generic":
        return device_kind
    return part_class


def build_records(points: Iterable[Point], devices: Mapping[str, DeviceSite], today: date) -> list[Equipment]:
    """One record per (device, part, serial) ever seen; the latest identity of each."""
    latest: dict[tuple[str, str, str | None], Point] = {}
    first: dict[tuple[str, str, str | None], int] = {}
    last: dict[tuple[str, str, str | None], int] = {}
    for p in points:
        # A LoRa gateway not bound to an inventory device is known by its gateway ID.
        device = p.tags.get("device") or p.tags.get("gateway_id")
        if p.measurement != MEASUREMENT or device is None or "part" not in p.tags:
            continue
        key = (device, p.tags["part"], _text(p.fields, "serial"))
        if key not in latest or p.time_ns >= latest[key].time_ns:
            latest[key] = p
        first[key] = min(first.get(key, p.time_ns), p.time_ns)
        last[key] = max(last.get(key, p.time_ns), p.time_ns)
    # A part whose serial changed: only its current serial is installed equipment.
    current: dict[tuple[str, str], int] = {}
    for (dev, part, _serial), p in latest.items():
        current[(dev, part)] = max(current.get((dev, part), 0), p.time_ns)
    out: list[Equipment] = []
    for key, p in sorted(latest.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[1].time_ns)):
        dev, part, serial = key
        if p.time_ns < current[(dev, part)]:
            continue  # replaced by a newer part at the same position
        where = devices.get(dev)
        role = p.tags.get("role", "component")
        part_class = p.tags.get("part_class", "unknown")
        rec = Equipment(
            device=dev, part=part, role=role, part_class=part_class,
            equipment_class=equipment_class(part_class, role, where.kind if where else None),
            site=where.site if where else p.tags.get("site"),
            member=where.member if where else p.tags.get("member"),
            contract=where.contract if where else p.tags.get("contract"),
            vendor=_text(p.fields, "vendor"), model=_text(p.fields, "model"), serial=serial,
            firmware=_text(p.fields, "firmware"), mfg_date=_text(p.fields, "mfg_date"),
            first_seen_ns=first[key], last_seen_ns=last[key],
            identified=p.fields.get("identified") is not False,
            flags=_text(p.fields, "flags"), values=dict(p.fields),
        )
        rec.set_age(today)
        out.append(rec)
    return out


@dataclass(frozen=True, slots=True)
class Completeness:
    """How much of the polled estate the inventory really identifies."""

    devices: int  # SNMP devices in the configuration
    inventoried: int  # with at least one inventory reading
    identified: int  # with equipment that has a model or a serial
    never_inventoried: list[str]
    without_identity: list[str]

    @property
    def pct(self) -> float:
        return 100.0 * self.identified / self.devices if self.devices else 100.0


def completeness(records: Iterable[Equipment], snmp_devices: Iterable[str]) -> Completeness:
    wanted = list(dict.fromkeys(snmp_devices))
    seen: set[str] = set()
    identified: set[str] = set()
    for r in records:
        seen.add(r.device)
        if r.role == "equipment" and r.identified and (r.model or r.serial):
            identified.add(r.device)
    return Completeness(
        devices=len(wanted),
        inventoried=len([d for d in wanted if d in seen]),
        identified=len([d for d in wanted if d in identified]),
        never_inventoried=[d for d in wanted if d not in seen],
        without_identity=[d for d in wanted if d in seen and d not in identified],
    )
