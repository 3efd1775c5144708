"""SNMP profiles: declarative YAML that says which numeric OIDs to read and what they mean.

Why YAML with numeric OIDs and no MIB files: vendors' MIBs vanish from the web, none can be
installed offline, and a technician can add a device by copying OIDs from a vendor PDF.
The format (see README.md) is close to snmp_exporter modules: groups of fields, each group a
measurement; a group is either scalars (GET) or a table (GETBULK of columns, the row index
becoming tags). Profiles are picked by `sysObjectID` prefix unless the inventory names them;
`always: true` profiles (system, if-mib) apply to every device.

`ProfileCatalog.load(dirs)` reads the shipped profiles, then each user directory in order; a
user profile with the name of a shipped one replaces it, or extends it with `extends: NAME`.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

log = logging.getLogger("sentinelle.collectors.snmp")

SHIPPED_DIR = Path(__file__).parent / "profiles"

OID_RE = re.compile(r"^\.?[0-2](\.\d+)+$")
NAME_RE = r"^[a-z][a-z0-9_]*$"

# Field-name suffix -> unit shown by `probe` (the unit is part of the name: DESIGN section 2).
UNIT_SUFFIXES = (
    ("_kwh_total", "kWh"), ("_kwh", "kWh"), ("_wh", "Wh"), ("_kw", "kW"),
    ("_w", "W"), ("_va", "VA"), ("_dbm", "dBm"), ("_db", "dB"), ("_pct", "%"), ("_c", "°C"),
    ("_a", "A"), ("_v", "V"), ("_hz", "Hz"), ("_s", "s"), ("_minutes_remaining", "min"),
    ("_minutes", "min"), ("_octets", "octets"), ("_bps", "bit/s"),
    ("_rpm", "rpm"),
)


@functools.lru_cache(maxsize=4096)  # per field, every poll: the answer depends on the name only
def unit_of(name: str) -> str:
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return ""


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the problem."""


class _ProfileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _oid(v: str) -> str:
    v = str(v).strip()
    if not OID_RE.match(v):
        raise ValueError(f"{v!r} is not a numeric OID (e.g. 1.3.6.1.2.1.1.3.0)")
    return v.lstrip(".")


Oid = Annotated[str, Field(min_length=3)]


class EventSpec(_ProfileModel):
    """A state worth an `event` point: `kind` starts when the field's decoded value is in
    `active`, ends (with its duration) when it leaves it."""

    kind: Annotated[str, Field(pattern=NAME_RE)]
    active: list[bool | int | float | str] = Field(default_factory=lambda: [True])
    # Only track when this other field of the same point is truthy (e.g. admin_up).
    only_if: str | None = None
    message_start: str | None = None
    message_end: str | None = None
    # Emit a `start` when the very first observation is already active (a UPS found on battery
    # at agent start matters; 20 unused switch ports found down do not).
    announce_initial: bool = True


class RawRange(_ProfileModel):
    """The range a MIB declares for an object's raw value (e.g. UPS-MIB
    upsEstimatedChargeRemaining INTEGER (0..100)): anything outside is not a reading."""

    min: int | None = None
    max: int | None = None


class Plausible(_ProfileModel):
    """Physical range of the scaled value. `relative_to`: a scalar OID (scaled by
    `relative_scale`) the value is compared with, `ratio` [lo, hi] times it (power within the
    rating, battery voltage around its nominal)."""

    min: float | None = None
    max: float | None = None
    relative_to: Oid | None = None
    relative_scale: float = 1.0
    ratio: tuple[float, float] | None = None

    _norm_oid = field_validator("relative_to")(lambda cls, v: None if v is None else _oid(v))

    @model_validator(mode="after")
    def _ratio_needs_reference(self) -> Plausible:
        if (self.relative_to is None) != (self.ratio is None):
            raise ValueError("'relative_to' and 'ratio' go together")
        return self


class FieldOverride(_ProfileModel):
    """What a user may correct on one field of a device or model (inventory `overrides:` or a
    quirk profile): the scale, offset, sentinels and ranges."""

    scale: float | None = None
    offset: float | None = None
    invalid: list[int] | None = None
    valid: RawRange | None = None
    plausible: Plausible | None = None


class FieldSpec(_ProfileModel):
    name: Annotated[str, Field(pattern=NAME_RE)]
    oid: Oid
    # Alternative OID read when `oid` is absent (e.g. ifHCInOctets -> ifInOctets).
    fallback: Oid | None = None
    type: Literal["gauge", "counter", "enum", "string", "bool"] = "gauge"
    scale: float = 1.0
    offset: float = 0.0  # value = raw x scale + offset (e.g. ZTE optics: raw x 0.002 - 30 dBm)
    # Table fields: the row's value is at `oid.<row>.<index_suffix>` (sensor-type tables such
    # as Raritan PDU2 measurements, indexed pdu.inlet.sensorType).
    index_suffix: str | None = None
    # A column giving, per row, the number of decimal digits of the value (Raritan).
    decimal_digits_oid: Oid | None = None
    # Raw values that mean "not supported / no reading" (e.g. -1): the field is left out.
    invalid: list[int] = Field(default_factory=list)
    # The MIB's declared range of the raw value; outside it is "not supported" too.
    valid: RawRange | None = None
    # Physical range of the scaled value; None: the default for its quantity (plausibility.py).
    plausible: Plausible | None = None
    enum: dict[int, str] = Field(default_factory=dict)
    # bool: raw values meaning true (e.g. ifOperStatus up(1)).
    true_values: list[int] = Field(default_factory=lambda: [1])
    # counter: a column or scalar whose change means the meter was reset by a user
    # (APC rPDU2 EnergyStartTime).
    reset_marker: Oid | None = None
    # counter: keeps its value across device reboots (energy meters in NVRAM).
    persistent: bool = False
    # counter: most plausible increase per second (scaled units); a meter counter writes it
    # as `<name>_max_rate` and carbon makes a larger jump a gap (docs/meter-readings.md).
    max_rate: float | None = None
    # Deprecated, ignored: counters no longer get a `<name>_delta` (carbon differences the raw
    # value). Accepted so older user profiles still load; `load_profile_file` warns once.
    delta: bool | None = None
    # counter: SMI width of `oid` / `fallback` (Counter32 wraps at 2^32). Needed because the
    # gufo-snmp backend returns plain ints without their type; pysnmp's type wins when known.
    bits: Literal[32, 64] | None = None
    fallback_bits: Literal[32, 64] | None = None
    event: EventSpec | None = None
    unit: str | None = None

    # Fixed row of the reset_marker column (e.g. "1": the PDU's own EnergyStartTime for all
    # outlets); default: the same row.
    reset_marker_index: str | None = None

    _norm_oid = field_validator("oid", "fallback", "reset_marker", "decimal_digits_oid")(
        lambda cls, v: None if v is None else _oid(v))

    @model_validator(mode="after")
    def _enum_needs_labels(self) -> FieldSpec:
        if self.type == "enum" and not self.enum:
            raise ValueError(f"field {self.name!r}: type enum needs 'enum' labels")
        return self

    def counter_syntax(self, answered_oid: str) -> str | None:
        """The declared SMI counter type of the OID that answered (its column or the fallback)."""
        fallback = self.fallback
        from_fallback = fallback is not None and (answered_oid == fallback or answered_oid.startswith(fallback + "."))
        bits = self.fallback_bits if from_fallback else self.bits
        return None if bits is None else f"Counter{bits}"

    @property
    def display_unit(self) -> str:
        return self.unit if self.unit is not None else unit_of(self.name)

    def is_sentinel(self, raw: int) -> bool:
        """A raw value the MIB or vendor documents as "no reading" (checked before scaling)."""
        if raw in self.invalid:
            return True
        v = self.valid
        return v is not None and ((v.min is not None and raw < v.min) or (v.max is not None and raw > v.max))

    def with_override(self, o: FieldOverride) -> FieldSpec:
        return self.model_copy(update={k: v for k, v in o.model_dump(exclude_none=True).items()
                                       if k not in ("valid", "plausible")}
                               | {k: getattr(o, k) for k in ("valid", "plausible") if getattr(o, k) is not None})


class TagSpec(_ProfileModel):
    """A tag taken from a column: of the same table (same row index) or of another table,
    joined by the components `index_parts` of this row's index (e.g. `[0]`: the first one)."""

    tag: Annotated[str, Field(pattern=NAME_RE)]
    oid: Oid
    fallback: Oid | None = None
    index_parts: list[int] | None = None
    enum: dict[int, str] = Field(default_factory=dict)

    _norm_oid = field_validator("oid", "fallback")(lambda cls, v: None if v is None else _oid(v))


class IndexTag(_ProfileModel):
    """A tag made from components of the row index (e.g. PDU id and outlet number)."""

    tag: Annotated[str, Field(pattern=NAME_RE)]
    parts: list[int] | None = None  # None: the whole index


class Rollup(_ProfileModel):
    """Aggregate a table's rows into another measurement: e.g. UPS output lines' power summed
    into `ups.output_power_w`, ONTs online counted per PON port into `pon.onts_online`.
    `fields`: target name -> `op:source_field`, op in sum, max, min, avg, count, count_true."""

    measurement: Annotated[str, Field(pattern=NAME_RE)]
    by: list[str] = Field(default_factory=list)
    fields: dict[str, str]

    @field_validator("fields")
    @classmethod
    def _ops(cls, v: dict[str, str]) -> dict[str, str]:
        for target, expr in v.items():
            op, _, src = expr.partition(":")
            if op not in ("sum", "max", "min", "avg", "count", "count_true") or not src:
                raise ValueError(f"rollup {target!r}: expected 'op:field' with op in sum, max, min, avg, count, count_true")
        return v


class Group(_ProfileModel):
    """One measurement. Scalars: field OIDs are instances (`...0`). Table: field OIDs are
    columns; each row index gives one point."""

    measurement: Annotated[str, Field(pattern=NAME_RE)]
    table: bool = False
    index_tags: list[IndexTag] = Field(default_factory=list)
    tags: list[TagSpec] = Field(default_factory=list)
    fields: list[FieldSpec] = Field(default_factory=list)
    # Named decoder for MIBs whose meaning is spread over columns (entity-sensor).
    transform: Literal["entity-sensor"] | None = None
    # Extra constant tags for this group's points.
    static_tags: dict[str, str] = Field(default_factory=dict)
    rollups: list[Rollup] = Field(default_factory=list)
    # Rows whose readings are only used for rollups (not emitted themselves).
    emit_rows: bool = True
    # A scalar giving the number of real rows (UPS-MIB upsInputNumLines): rows whose first
    # index component is above it are padding some agents answer with zeros, not lines.
    row_count: Oid | None = None

    _norm_row_count = field_validator("row_count")(lambda cls, v: None if v is None else _oid(v))

    @model_validator(mode="after")
    def _check(self) -> Group:
        if not self.table and (self.index_tags or self.tags):
            raise ValueError(f"group {self.measurement!r}: index_tags/tags need 'table: true'")
        if not self.fields:
            raise ValueError(f"group {self.measurement!r}: no fields")
        if self.row_count and not self.table:
            raise ValueError(f"group {self.measurement!r}: row_count needs 'table: true'")
        return self


class Profile(_ProfileModel):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    source: str = ""
    always: bool = False
    sys_object_ids: list[str] = Field(default_factory=list)
    # Scalar OIDs whose presence selects the profile when no sysObjectID prefix matches
    # (UPS-MIB and HOST-RESOURCES exist on devices of any vendor).
    detect: list[str] = Field(default_factory=list)
    # Table roots whose presence (one GETNEXT each) selects the profile when the sysObjectID
    # does not: generic MIBs (ENTITY-SENSOR) on any device, vendor MIBs on any model of a
    # vendor `families` subtree.
    discover: list[str] = Field(default_factory=list)
    # Enterprise subtrees (sysObjectID prefixes) a `discover` match must be under (empty: any).
    families: list[str] = Field(default_factory=list)
    # Regular expression on sysDescr that must also match (quirk profiles for one firmware).
    sys_descr: str | None = None
    # Quirks: corrections applied to the fields of the device's other profiles, by
    # `measurement.field` (e.g. `ups_input.voltage_v: {scale: 0.1}`).
    overrides: dict[str, FieldOverride] = Field(default_factory=dict)
    extends: str | None = None
    groups: list[Group] = Field(default_factory=list)

    _norm_ids = field_validator("sys_object_ids", "detect", "discover", "families")(
        lambda cls, v: [_oid(x) for x in v])

    @field_validator("sys_descr")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"sys_descr: not a valid regular expression: {exc}") from None
        return v

    @field_validator("overrides")
    @classmethod
    def _override_keys(cls, v: dict[str, FieldOverride]) -> dict[str, FieldOverride]:
        for key in v:
            if not OVERRIDE_KEY_RE.match(key):
                raise ValueError(f"overrides: {key!r} is not 'measurement.field'")
        return v

    @model_validator(mode="after")
    def _has_content(self) -> Profile:
        if not self.groups and not self.overrides and self.extends is None:
            raise ValueError("a profile needs 'groups' (or 'overrides' for a quirk profile)")
        return self

    @property
    def is_quirk(self) -> bool:
        return not self.groups and bool(self.overrides)

    def in_family(self, sys_object_id: str | None) -> bool:
        if not self.families:
            return True
        return bool(sys_object_id) and any(
            sys_object_id == f or str(sys_object_id).startswith(f + ".") for f in self.families)

    def descr_matches(self, sys_descr: str | None) -> bool:
        return self.sys_descr is None or bool(re.search(self.sys_descr, sys_descr or ""))

    def matches(self, sys_object_id: str) -> int:
        """Length of the longest matching sysObjectID prefix (0: no match)."""
        best = 0
        for prefix in self.sys_object_ids:
            if sys_object_id == prefix or sys_object_id.startswith(prefix + "."):
                best = max(best, len(prefix))
        return best

    def merged_with(self, base: Profile) -> Profile:
        """`self` extending `base`: base groups first, then ours (same measurement+table: our
        fields added to, or replacing by name, the base group's)."""
        groups = list(base.groups)
        for g in self.groups:
            for i, bg in enumerate(groups):
                if bg.measurement == g.measurement and bg.table == g.table:
                    names = {f.name for f in g.fields}
                    tags = {t.tag for t in g.tags}
                    groups[i] = bg.model_copy(update={
                        "fields": [f for f in bg.fields if f.name not in names] + list(g.fields),
                        "tags": [t for t in bg.tags if t.tag not in tags] + list(g.tags),
                    })
                    break
            else:
                groups.append(g)
        return Profile(
            name=self.name, source=self.source or base.source, always=self.always or base.always,
            sys_object_ids=self.sys_object_ids or base.sys_object_ids, detect=self.detect or base.detect,
            discover=self.discover or base.discover, families=self.families or base.families,
            sys_descr=self.sys_descr if self.sys_descr is not None else base.sys_descr,
            overrides={**base.overrides, **self.overrides}, extends=None, groups=groups,
        )


_M = TypeVar("_M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[_M], error: type[ValueError], shape: str) -> _M:
    """One declarative YAML file (a profile, an identity profile) as `model`; every problem is
    raised as `error` naming the file (`shape` says what the top level must be). The file's
    stem is its default name."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {type(exc).__name__}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: {shape}")
    data.setdefault("name", path.stem)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise error(f"{path}: {problems}") from None


DELTA_KEY_RE = re.compile(r"(?<![\w-])delta\s*:")
_warned_delta: set[Path] = set()  # `check` and `run` both load the catalog: one warning a process


def load_profile_file(path: Path) -> Profile:
    profile = load_yaml_model(path, Profile, ProfileError, "a profile is a mapping with 'name' and 'groups'")
    _warn_deprecated_delta(path, profile)
    return profile


def _warn_deprecated_delta(path: Path, profile: Profile) -> None:
    """One warning per profile file that still sets the ignored `delta:` key (FILE:LINE)."""
    names = [f"{g.measurement}.{f.name}" for g in profile.groups for f in g.fields if f.delta is not None]
    if not names or path.resolve() in _warned_delta:
        return
    _warned_delta.add(path.resolve())
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    line = next((n for n, text in enumerate(lines, 1) if DELTA_KEY_RE.search(text.split("#", 1)[0])), None)
    where = f"{path}:{line}" if line is not None else str(path)
    log.warning("%s: delta: is deprecated and ignored (fields %s): counters carry no _delta any more, "
                "carbon derives energy from the raw counter (docs/meter-readings.md)", where, ", ".join(names))


class ProfileCatalog:
    """All known profiles by name: shipped ones overridden or extended by users' ones."""

    def __init__(self, profiles: Iterable[Profile]):
        self.profiles: dict[str, Profile] = {p.name: p for p in profiles}

    @classmethod
    def load(cls, extra_dirs: Sequence[Path] = ()) -> ProfileCatalog:
        found: dict[str, Profile] = {}
        for directory in (SHIPPED_DIR, *extra_dirs):
            directory = Path(directory)
            if not directory.is_dir():
                raise ProfileError(f"{directory}: profiles directory does not exist")
            for path in sorted(directory.glob("*.y*ml")):
                profile = load_profile_file(path)
                if profile.extends:
                    base = found.get(profile.extends)
                    if base is None:
                        raise ProfileError(f"{path}: extends unknown profile {profile.extends!r}")
                    profile = profile.merged_with(base)
                found[profile.name] = profile
        return cls(found.values())

    def names(self) -> list[str]:
        return sorted(self.profiles)

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ProfileError(f"unknown profile {name!r} (known: {', '.join(self.names())})") from None

    def detect_oids(self) -> list[str]:
        return list(dict.fromkeys(oid for p in self.profiles.values() for oid in p.detect))

    def discover_roots(self, sys_object_id: str | None, exclude: Iterable[Profile] = ()) -> list[str]:
        """Table roots to probe with one GETNEXT each: those of profiles not already chosen
        whose family (if any) contains the device's sysObjectID."""
        skip = {p.name for p in exclude}
        return list(dict.fromkeys(
            root for p in self.profiles.values()
            if p.name not in skip and p.in_family(sys_object_id) for root in p.discover))

    def select(self, sys_object_id: str | None, names: Sequence[str] = (), present: Iterable[str] = (),
               sys_descr: str | None = None) -> list[Profile]:
        """The `always` profiles, plus the named ones, or else every profile whose sysObjectID
        prefix matches, whose `detect` OID or `discover` table root the device answered
        (`present`, within its `families`), and the quirk profiles whose sysObjectID and sysDescr
        both match. Quirk profiles come last: `apply_quirks` folds them into the others."""
        present = set(present)
        chosen = [p for p in self.profiles.values() if p.always]
        extra: list[Profile] = []
        if names:
            extra = [self.get(n) for n in names]
        else:
            for p in self.profiles.values():
                if p.always or p.is_quirk:
                    continue
                by_id = bool(sys_object_id) and p.matches(str(sys_object_id)) > 0
                by_detect = bool(set(p.detect) & present)
                by_table = bool(set(p.discover) & present) and p.in_family(sys_object_id)
                if (by_id or by_detect or by_table) and p.descr_matches(sys_descr):
                    extra.append(p)
        quirks = [p for p in self.profiles.values() if p.is_quirk and sys_object_id
                  and (p.matches(str(sys_object_id)) or not p.sys_object_ids) and p.descr_matches(sys_descr)
                  and (p.sys_object_ids or p.sys_descr is not None)]
        out: list[Profile] = []
        for p in [*chosen, *extra, *quirks]:
            if p not in out:
                out.append(p)
        return out


OVERRIDE_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def parse_overrides(data: Mapping[str, object]) -> dict[str, FieldOverride]:
    """Validate inventory `overrides:` ({measurement.field: {scale, offset, invalid, valid,
    plausible}}); raises ValueError naming the key and the problem."""
    out: dict[str, FieldOverride] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not OVERRIDE_KEY_RE.match(key):
            raise ValueError(f"{key!r} is not 'measurement.field' (e.g. ups_input.voltage_v)")
        try:
            out[key] = value if isinstance(value, FieldOverride) else FieldOverride.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or key}: {e['msg']}"
                                 for e in exc.errors(include_url=False))
            raise ValueError(f"{key}: {problems}") from None
    return out


def apply_overrides(profiles: Sequence[Profile], overrides: Mapping[str, FieldOverride]) -> tuple[list[Profile], list[str]]:
    """The profiles with `overrides` (`measurement.field` -> correction) applied to their
    fields, and the keys that matched no field (a typo the user must hear about)."""
    used: set[str] = set()
    out: list[Profile] = []
    for profile in profiles:
        groups = []
        for g in profile.groups:
            fields = []
            for f in g.fields:
                o = overrides.get(f"{g.measurement}.{f.name}")
                if o is not None:
                    used.add(f"{g.measurement}.{f.name}")
                    f = f.with_override(o)
                fields.append(f)
            groups.append(g.model_copy(update={"fields": fields}))
        out.append(profile.model_copy(update={"groups": groups}))
    return out, [k for k in overrides if k not in used]


def apply_quirks(profiles: Sequence[Profile], device_overrides: Mapping[str, FieldOverride] | None = None,
                 ) -> tuple[list[Profile], list[str]]:
    """Fold the selected quirk profiles, then the device's own overrides (which win), into
    the selected profiles. Returns the usable profiles and unmatched override keys."""
    merged: dict[str, FieldOverride] = {}
    for q in profiles:
        if q.is_quirk:
            merged.update(q.overrides)
    merged.update(device_overrides or {})
    return apply_overrides([p for p in profiles if not p.is_quirk], merged)
