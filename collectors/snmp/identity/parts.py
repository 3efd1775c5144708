"""SNMP answers -> the parts and equipment of one device, normalised. Pure functions, no I/O.

A *part* is anything with an identity (a chassis, a line card, a power supply, an SFP, a PDU
of a chain); *equipment* is what a syndicate counts and amortises (a switch chassis, a PDU, a
UPS). Each device gives at least one equipment record: when no profile says more, one is made
from sysDescr and the vendor of its sysObjectID, marked `identified=false`, so the inventory's
completeness counts it instead of losing it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from sentinelle.agent.core import FieldValue, Point
from sentinelle.collectors.identity_values import (
    Clean,
    clean_date_and_time,
    clean_date_text,
    clean_text,
)
from sentinelle.collectors.snmp.client import Varbind
from sentinelle.collectors.snmp.identity.spec import IdentityField, IdentityGroup, IdentityProfile

MEASUREMENT = "inventory"
ENTERPRISES_FILE = Path(__file__).parent / "enterprises.yaml"
ENTERPRISE_PREFIX = "1.3.6.1.4.1."

Tables = Mapping[str, Mapping[str, Varbind]]


@functools.cache
def _enterprises() -> dict[int, str]:
    data = yaml.safe_load(ENTERPRISES_FILE.read_text(encoding="utf-8"))
    return {int(k): str(v["vendor"]) for k, v in data["enterprises"].items()}


def vendor_of(oid: str | None) -> str | None:
    """The vendor of a sysObjectID or entPhysicalVendorType, from its enterprise number."""
    if not oid or not oid.lstrip(".").startswith(ENTERPRISE_PREFIX):
        return None
    arc = oid.lstrip(".")[len(ENTERPRISE_PREFIX):].split(".", 1)[0]
    return _enterprises().get(int(arc)) if arc.isdigit() else None


@dataclass(slots=True)
class Part:
    """One identified thing. `values` hold only clean data; `flags` say what was refused."""

    part: str
    role: str  # equipment | component
    klass: str
    profile: str
    values: dict[str, str | int | bool] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)
    firmware_from: tuple[str, ...] = ("firmware_rev", "software_rev")
    identified: bool = True

    @property
    def firmware(self) -> str | None:
        for name in self.firmware_from:
            value = self.values.get(name)
            if isinstance(value, str):
                return value
        return None

    def fill_from(self, other: Part) -> None:
        """Complete this record with what `other` (a lower-priority view of the same
        equipment) knows; a value found elsewhere clears the flag about its absence."""
        for name, value in other.values.items():
            if name not in self.values:
                self.values[name] = value
                self.flags.pop(name, None)
        for name, flag in other.flags.items():
            if name not in self.values:
                self.flags.setdefault(name, flag)

    def point(self, device: str, time_ns: int) -> Point:
        fields: dict[str, FieldValue] = {k: v for k, v in self.values.items() if k != "contained_in"}
        fields.pop("class", None)
        made = self.values.get("mfg_date")
        if isinstance(made, str):
            # Numeric, so a dashboard can chart it (InfluxQL has no date arithmetic on strings).
            at = datetime.fromtimestamp(time_ns / 1e9, UTC).date()
            fields["age_from_mfg_years"] = round((at - date.fromisoformat(made)).days / 365.25, 2)
        firmware = self.firmware
        if firmware is not None:
            fields["firmware"] = firmware
        fields["profile"] = self.profile
        fields["identified"] = self.identified
        if self.flags:
            fields["flags"] = ",".join(f"{k}:{v}" for k, v in sorted(self.flags.items()))
        tags = {"device": device, "part": self.part, "part_class": self.klass, "role": self.role}
        return Point(MEASUREMENT, tags, fields, time_ns)


def _clean(name: str, spec: IdentityField, vb: Varbind, today: date | None) -> Clean:
    value = vb.value
    if name.endswith("_due_date"):
        today = None  # a due date is expected to lie ahead
    if spec.type == "date_and_time":
        return clean_date_and_time(value if isinstance(value, bytes) else str(value).encode(), today)
    if spec.type == "date":
        return clean_date_text(vb.text(), spec.date_formats, today)
    if spec.type in ("enum", "bool", "integer"):
        if not isinstance(value, int):
            return Clean(None, "garbled")
        if spec.type == "enum":
            return Clean(spec.enum.get(value, f"unknown({value})"))
        if spec.type == "bool":
            return Clean({1: True, 2: False}.get(value), None if value in (1, 2) else "garbled")
        return Clean(value)
    if spec.type == "oid":
        text = vb.text().lstrip(".")
        return Clean(text if text and text not in ("0.0", "0") else None)
    if isinstance(value, int):
        return Clean(str(value))
    return clean_text(name, vb.text())


def _read(group: IdentityGroup, get: Mapping[str, Varbind] | None, row: str | None, tables: Tables,
          today: date) -> tuple[dict[str, str | int | bool], dict[str, str]]:
    values: dict[str, str | int | bool] = {}
    flags: dict[str, str] = {}
    for name, spec in group.fields.items():
        vb = get.get(spec.oid) if get is not None else (tables.get(spec.oid) or {}).get(row or "")
        if vb is None or vb.absent or vb.value is None:
            if name in ("model", "serial"):
                flags[name] = "missing"
            continue
        got = _clean(name, spec, vb, today)
        if got.value is not None:
            values[name] = got.value
        elif got.flag is not None:
            flags[name] = got.flag
    return values, flags


# Columns that decide whether a table row is an inventory item (read first, see `wanted_rows`).
DECIDING = ("class", "model", "serial")


def sparse_group(group: IdentityGroup) -> bool:
    """A table read in two passes: ENTITY-MIB lists every port and sensor, few of which are
    inventory items, so walking every column of every row would be most of the SNMP load."""
    return group.table and group.keep_rows == "identified" and group.role != "equipment" \
        and any(k in group.fields for k in ("model", "serial"))


def wanted_rows(group: IdentityGroup, tables: Tables, today: date) -> list[str]:
    """Rows of a sparse group worth reading in full, from its DECIDING columns only."""
    deciding = {k: v for k, v in group.fields.items() if k in DECIDING}
    probe = group.model_copy(update={"fields": deciding})
    indexes: dict[str, None] = {}
    for spec in deciding.values():
        indexes.update(dict.fromkeys(tables.get(spec.oid) or {}))
    out = []
    for index in indexes:
        values, _ = _read(probe, None, index, tables, today)
        if "model" in values or "serial" in values or values.get("class") in group.equipment_classes:
            out.append(index)
    return out


def _group_parts(profile: IdentityProfile, group: IdentityGroup, scalars: Mapping[str, Varbind],
                 tables: Tables, today: date) -> list[Part]:
    rows: list[tuple[str, dict[str, str | int | bool], dict[str, str]]] = []
    if not group.table:
        values, flags = _read(group, scalars, None, tables, today)
        if any(k in values for k in ("model", "serial", "manufacturer", "firmware_rev")):
            rows.append((group.part, values, flags))
    else:
        indexes: dict[str, None] = {}
        for spec in group.fields.values():
            indexes.update(dict.fromkeys(tables.get(spec.oid) or {}))
        for index in indexes:
            values, flags = _read(group, None, index, tables, today)
            rows.append((f"{group.part}.{index}", values, flags))
    out: list[Part] = []
    for part_id, values, flags in rows:
        klass = str(values.get("class") or group.default_class or "unknown")
        role = "equipment" if group.role == "equipment" or klass in group.equipment_classes else "component"
        if group.table and group.keep_rows == "identified" and role != "equipment" \
                and "model" not in values and "serial" not in values:
            continue
        if role == "component":
            # A port or sensor without its own model/serial is not expected to have them.
            flags = {k: v for k, v in flags.items() if v != "missing"}
        out.append(Part(part_id, role, klass, profile.name, values, flags, tuple(group.firmware_from)))
    return out


def device_parts(
    profiles: list[IdentityProfile],
    scalars: Mapping[str, Varbind],
    tables: Tables,
    sys_descr: str | None,
    sys_object_id: str | None,
    today: date,
) -> list[Part]:
    """Every part of the device; `profiles` highest priority first (IdentityCatalog.select)."""
    parts: list[Part] = []
    for profile in profiles:
        for group in profile.groups:
            for part in _group_parts(profile, group, scalars, tables, today):
                same = next((p for p in parts if p.part == part.part), None)
                if same is not None:
                    same.fill_from(part)  # two profiles reading one equipment (APC + UPS-MIB)
                else:
                    parts.append(part)
    equipment = [p for p in parts if p.role == "equipment"]
    vendor_parts = [p for p in equipment if p.profile != "entity-mib"]
    chassis = [p for p in equipment if p.profile == "entity-mib"]
    if len(vendor_parts) == 1 and len(chassis) == 1:
        # One box described twice (a UPS card that also has ENTITY-MIB): count it once.
        vendor_parts[0].fill_from(chassis[0])
        parts.remove(chassis[0])
        equipment = vendor_parts
    if not equipment:
        values: dict[str, str | int | bool] = {}
        descr = clean_text("descr", sys_descr or "")
        if descr.value is not None:
            values["descr"] = descr.value
        if sys_object_id:
            values["vendor_type"] = sys_object_id
        system = Part("system", "equipment", "unknown", "system", values,
                      {"model": "missing", "serial": "missing"}, identified=False)
        parts.insert(0, system)
        equipment = [system]
    for p in equipment:
        for name in ("model", "serial"):
            if name not in p.values:
                p.flags.setdefault(name, "missing")  # the device does not publish it
        vendor = p.values.get("manufacturer")
        if not isinstance(vendor, str):
            vendor = vendor_of(str(p.values.get("vendor_type") or "")) or vendor_of(sys_object_id)
        if vendor:
            p.values["vendor"] = vendor
    return parts
