"""The BEGES track's emission factors: a versioned table of annual electricity factors per zone.

The embedded table (`carbon/data/ademe_electricity.yaml`) and a user's `--factors FILE` share
one format, so a délégataire can ship the Base Empreinte values it checked, and
`sentinelle factors build` writes it from ADEME's own export (`carbon.base_carbone`).

Year rule: a figure for year N uses the zone's factor of year N; when the table has none, either
an error or (`missing_year="latest"`) the latest earlier year, flagged `year-M-for-N`: never a
silent substitution. An element the export gives without a reference year (the ZNI "mix moyen"
elements) applies to every year and is flagged `undated`.

Each row may carry the export's decomposition (`parts`: combustion, upstream, losses...) with the
BEGES post of each part (`carbon.beges_posts`), so a figure can be split by post, total unchanged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_ZONE = "fr-continental"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the table is ~700 lines
MissingYear = Literal["error", "latest"]


class FactorError(LookupError):
    """No usable factor (unknown zone, missing year with `missing_year=error`, bad table)."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    value: float = Field(ge=0, lt=5)
    post: str


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int | None = Field(ge=1990, le=2100)  # None: the element has no reference year
    value: float = Field(ge=0, lt=5)
    uncertainty_pct: float | None = Field(default=None, ge=0, le=100)
    source: str
    source_id: str | None = None
    source_version: str | None = None
    status: str | None = None
    unit: str | None = None
    verified: bool = False
    note: str = ""
    parts: list[_Part] = Field(default_factory=list)


class _Zone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    factors: list[_Row] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_years(self) -> _Zone:
        years = [r.year for r in self.factors]
        if len(years) != len(set(years)):
            raise ValueError("a year appears twice (or two rows have no year)")
        return self


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str
    version: str
    unit: Literal["kgCO2e/kWh"]
    # Provenance of a built table: the export file name and the base version read from it.
    built_from: str | None = None
    base_version: str | None = None
    zones: dict[str, _Zone] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class FactorPart:
    """One line of a factor's decomposition and the BEGES post it belongs to."""

    name: str
    kg_per_kwh: float
    post: str


@dataclass(frozen=True, slots=True)
class EmissionFactor:
    """One annual factor with its provenance, as used for one figure."""

    zone: str
    year: int  # the year of the factor actually used
    requested_year: int
    kg_per_kwh: float
    uncertainty_pct: float | None
    source: str
    source_id: str | None
    source_version: str | None
    table: str
    table_version: str
    verified: bool
    note: str
    status: str | None = None
    undated: bool = False
    parts: tuple[FactorPart, ...] = ()

    @property
    def fallback(self) -> bool:
        return self.year != self.requested_year

    def post_shares(self) -> dict[str, float]:
        """Fraction of the total per BEGES post, summing to 1 (the total stays kWh × factor).

        The export's parts are rounded separately and may not add up exactly to the total, so
        each post gets its share of the parts' sum, not its raw value.
        """
        from sentinelle.carbon.beges_posts import POST_UNDECOMPOSED

        total = sum(p.kg_per_kwh for p in self.parts)
        if not self.parts or total <= 0:
            return {POST_UNDECOMPOSED: 1.0}
        shares: dict[str, float] = {}
        for p in self.parts:
            shares[p.post] = shares.get(p.post, 0.0) + p.kg_per_kwh / total
        return shares

    @property
    def g_per_kwh(self) -> float:
        return self.kg_per_kwh * 1000.0

    @property
    def source_tag(self) -> str:
        """Short provenance for a tag: table and element identifier."""
        ident = f":{self.source_id}" if self.source_id else ""
        year = "undated" if self.undated else str(self.year)
        return f"{self.table}:{self.zone}:{year}{ident}"

    @property
    def version_tag(self) -> str:
        parts = [self.table_version]
        if self.source_version and self.source_version != self.table_version:
            parts.append(self.source_version)
        return "/".join(parts)


class FactorTable:
    """Annual factors per zone. `factor(zone, year)` is the one lookup everything uses."""

    def __init__(self, table: _Table, origin: str):
        self._table = table
        self.origin = origin

    @classmethod
    def embedded(cls) -> FactorTable:
        """The shipped table; parsed once per process (it is read-only, and `check` needs it too)."""
        return _embedded_table()

    @classmethod
    def from_file(cls, path: str | Path) -> FactorTable:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise FactorError(f"cannot read factor table {p}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise FactorError(
                f"{p}: not a factor table (not UTF-8 text); an ADEME export is turned into one with "
                "`sentinelle factors build EXPORT --out TABLE`"
            ) from None
        return cls.from_text(text, str(p))

    @classmethod
    def from_text(cls, text: str, origin: str = "<text>") -> FactorTable:
        try:
            data = yaml.load(text, Loader=_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{origin}:{mark.line + 1}" if mark is not None else origin
            raise FactorError(
                f"{where}: not a factor table (not valid YAML: {getattr(exc, 'problem', None) or exc}); an ADEME "
                "export is turned into one with `sentinelle factors build EXPORT --out TABLE`"
            ) from None
        if not isinstance(data, dict):
            raise FactorError(
                f"{origin}: not a factor table (expected YAML keys table, version, unit, zones); an ADEME "
                "export is turned into one with `sentinelle factors build EXPORT --out TABLE`"
            )
        try:
            table = _Table.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise FactorError(f"{origin}: invalid factor table: {problems}") from None
        return cls(table, origin)

    @property
    def name(self) -> str:
        return self._table.table

    @property
    def built_from(self) -> str | None:
        return self._table.built_from

    @property
    def version(self) -> str:
        return self._table.version

    def zones(self) -> list[str]:
        return sorted(self._table.zones)

    def zone_label(self, zone: str) -> str:
        z = self._table.zones.get(zone)
        return z.label if z else zone

    def years(self, zone: str) -> list[int]:
        return sorted(r.year for r in self._zone(zone).factors if r.year is not None)

    def has_zone(self, zone: str) -> bool:
        return zone in self._table.zones

    def rows(self, zone: str) -> list[EmissionFactor]:
        """Every row of a zone as a factor (requested year = its own year), dated rows first."""
        z = self._zone(zone)
        ordered = sorted(z.factors, key=lambda r: (r.year is None, r.year or 0))
        return [self._factor(zone, r, r.year if r.year is not None else 0) for r in ordered]

    def _zone(self, zone: str) -> _Zone:
        try:
            return self._table.zones[zone]
        except KeyError:
            raise FactorError(
                f"no factors for zone {zone!r} in {self.origin} (zones: {', '.join(self.zones())})"
            ) from None

    def factor(self, zone: str, year: int, missing_year: MissingYear = "error") -> EmissionFactor:
        """The factor for `year` by the year rule of this module's docstring."""
        z = self._zone(zone)
        rows = {r.year: r for r in z.factors if r.year is not None}
        undated = next((r for r in z.factors if r.year is None), None)
        row = rows.get(year)
        if row is None:
            earlier = [y for y in rows if y < year]
            if missing_year == "latest" and earlier:
                row = rows[max(earlier)]
            elif undated is not None:
                return self._factor(zone, undated, year)
            else:
                raise FactorError(
                    f"no {zone} factor for {year} in {self.origin} (years: {', '.join(map(str, sorted(rows)))}); "
                    "add it with --factors FILE or allow the latest earlier year explicitly"
                )
        return self._factor(zone, row, year)

    def _factor(self, zone: str, row: _Row, requested_year: int) -> EmissionFactor:
        return EmissionFactor(
            zone=zone,
            year=row.year if row.year is not None else requested_year,
            requested_year=requested_year,
            kg_per_kwh=row.value,
            uncertainty_pct=row.uncertainty_pct,
            source=row.source,
            source_id=row.source_id,
            source_version=row.source_version,
            table=self._table.table,
            table_version=self._table.version,
            verified=row.verified,
            note=row.note,
            status=row.status,
            undated=row.year is None,
            parts=tuple(FactorPart(p.name, p.value, p.post) for p in row.parts),
        )


@functools.lru_cache(maxsize=1)
def _embedded_table() -> FactorTable:
    text = resources.files(__package__).joinpath("data/ademe_electricity.yaml").read_text(encoding="utf-8")
    return FactorTable.from_text(text, "embedded:carbon/data/ademe_electricity.yaml")
