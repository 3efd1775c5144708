"""Identity profiles: declarative YAML saying where a device publishes its identity.

Same spirit as the metric profiles (numeric OIDs, no MIB files, chosen by sysObjectID prefix
or by the presence of a `detect` OID), with a fixed vocabulary of identity fields so every
vendor's model, serial and firmware land in the same columns of the inventory.

A group is either scalars (one identity, e.g. UPS-MIB upsIdent) or a table (one part per row,
e.g. ENTITY-MIB entPhysicalTable). `role: equipment` marks what is counted as one piece of
equipment (a PDU, a UPS); a table's rows are equipment when their class is in
`equipment_classes` (ENTITY-MIB chassis), components otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinelle.collectors.snmp.profiles import load_yaml_model

SHIPPED_DIR = Path(__file__).parent / "profiles"

OID_RE = re.compile(r"^\.?[0-2](\.\d+)+$")

# The identity vocabulary: every profile maps its OIDs onto these names.
IDENTITY_FIELDS = (
    "name", "descr", "class", "vendor_type", "model", "serial", "hardware_rev", "firmware_rev",
    "software_rev", "manufacturer", "mfg_date", "fru", "contained_in",
    "battery_replaced_date", "battery_replace_due_date",
)
IdentityName = Literal[
    "name", "descr", "class", "vendor_type", "model", "serial", "hardware_rev", "firmware_rev",
    "software_rev", "manufacturer", "mfg_date", "fru", "contained_in",
    "battery_replaced_date", "battery_replace_due_date",
]


class IdentityProfileError(ValueError):
    """An identity profile that cannot be used; the message names the file and the problem."""


class _IdentityModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _oid(v: str) -> str:
    v = str(v).strip()
    if not OID_RE.match(v):
        raise ValueError(f"{v!r} is not a numeric OID (e.g. 1.3.6.1.2.1.47.1.1.1.1.13)")
    return v.lstrip(".")


class IdentityField(_IdentityModel):
    """Where one identity value is, and how to read it.

    `type`: text (trimmed, placeholders flagged), date (text in one of `date_formats`),
    date_and_time (SNMPv2-TC DateAndTime octets), enum (integer -> label), bool
    (TruthValue: 1 true, 2 false), integer, oid (an OBJECT IDENTIFIER, e.g. vendor type).
    """

    oid: str
    type: Literal["text", "date", "date_and_time", "enum", "bool", "integer", "oid"] = "text"
    enum: dict[int, str] = Field(default_factory=dict)
    date_formats: list[str] = Field(default_factory=list)

    _norm = field_validator("oid")(lambda cls, v: _oid(v))


class IdentityGroup(_IdentityModel):
    table: bool = False
    # Prefix of the part id: `entity` -> parts `entity.1001`; for scalars the whole part id.
    part: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[0-9.]+)?$")]
    role: Literal["equipment", "component"] = "component"
    # Table rows whose `class` is one of these are equipment (ENTITY-MIB chassis).
    equipment_classes: list[str] = Field(default_factory=list)
    # Class given to this group's parts when no `class` field says it (e.g. ups, pdu).
    default_class: str | None = None
    # Table rows kept only when they carry identity (model or serial) or are equipment:
    # ENTITY-MIB lists every port and sensor, which are not inventory items.
    keep_rows: Literal["identified", "all"] = "identified"
    # Which revisions make the part's `firmware` (the software it runs), first present wins:
    # ENTITY-MIB chassis run their OS in entPhysicalSoftwareRev, PDUs their firmware.
    firmware_from: list[Literal["firmware_rev", "software_rev"]] = Field(
        default_factory=lambda: ["firmware_rev", "software_rev"])
    fields: dict[IdentityName, IdentityField]


class IdentityProfile(_IdentityModel):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    source: str
    always: bool = False
    sys_object_ids: list[str] = Field(default_factory=list)
    detect: list[str] = Field(default_factory=list)
    # Higher wins when two profiles describe the same equipment (a vendor table says more
    # than the generic UPS-MIB).
    priority: int = 0
    groups: list[IdentityGroup]

    _norm_ids = field_validator("sys_object_ids", "detect")(lambda cls, v: [_oid(x) for x in v])

    def matches(self, sys_object_id: str | None) -> bool:
        return bool(sys_object_id) and any(
            sys_object_id == p or str(sys_object_id).startswith(p + ".") for p in self.sys_object_ids)


def load_identity_profile(path: Path) -> IdentityProfile:
    return load_yaml_model(path, IdentityProfile, IdentityProfileError,
                           "an identity profile is a mapping with 'name', 'source' and 'groups'")


class IdentityCatalog:
    """The shipped identity profiles, replaced by name by users' ones (`<dir>/identity/`)."""

    def __init__(self, profiles: Iterable[IdentityProfile]):
        self.profiles = {p.name: p for p in profiles}

    @classmethod
    def load(cls, extra_dirs: Sequence[Path] = ()) -> IdentityCatalog:
        found: dict[str, IdentityProfile] = {}
        for directory in (SHIPPED_DIR, *extra_dirs):
            for path in sorted(Path(directory).glob("*.y*ml")):
                profile = load_identity_profile(path)
                found[profile.name] = profile
        return cls(found.values())

    def detect_oids(self) -> list[str]:
        return list(dict.fromkeys(o for p in self.profiles.values() for o in p.detect))

    def select(self, sys_object_id: str | None, present: Iterable[str] = ()) -> list[IdentityProfile]:
        """Profiles that apply: `always` ones, sysObjectID matches, answered `detect` OIDs;
        highest priority first."""
        present = set(present)
        chosen = [p for p in self.profiles.values()
                  if p.always or p.matches(sys_object_id) or set(p.detect) & present]
        return sorted(chosen, key=lambda p: -p.priority)
