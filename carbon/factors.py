"""The BEGES track's emission factors: a versioned table of annual electricity factors per zone.

The embedded table (`carbon/data/ademe_electricity.yaml`) and a user's `--factors FILE` share
one format, so a délégataire can ship the Base Empreinte values it checked. A year missing from
the table is an error unless the caller asks for the latest earlier year, and then the factor
says so (`fallback=True`): never a silent substitution.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_ZONE = "fr-continental"
MissingYear = Literal["error", "latest"]


class FactorError(LookupError):
    """No usable factor (unknown zone, missing year with `missing_year=error`, bad table)."""


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=1990, le=2100)
    value: float = Field(ge=0, lt=5)
    uncertainty_pct: float | None = Field(default=None, ge=0, le=100)
    source: str
    source_id: str | None = None
    source_version: str | None = None
    verified: bool = False
    note: str = ""


class _Zone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    factors: list[_Row] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_years(self) -> _Zone:
        years = [r.year for r in self.factors]
        if len(years) != len(set(years)):
            raise ValueError("a year appears twice")
        return self


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str
    version: str
    unit: Literal["kgCO2e/kWh"]
    zones: dict[str, _Zone] = Field(min_length=1)


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

    @property
    def fallback(self) -> bool:
        return self.year != self.requested_year

    @property
    def g_per_kwh(self) -> float:
        return self.kg_per_kwh * 1000.0

    @property
    def source_tag(self) -> str:
        """Short provenance for a tag: table and element identifier."""
        ident = f":{self.source_id}" if self.source_id else ""
        return f"{self.table}:{self.zone}:{self.year}{ident}"

    @property
    def version_tag(self) -> str:
        parts = [self.table_version]
        if self.source_version:
            parts.append(self.source_version)
        return "/".join(parts)


class FactorTable:
    """Annual factors per zone. `factor(zone, year)` is the one lookup everything uses."""

    def __init__(self, table: _Table, origin: str):
        self._table = table
        self.origin = origin

    @classmethod
    def embedded(cls) -> FactorTable:
        text = resources.files("carbon").joinpath("data/ademe_electricity.yaml").read_text(encoding="utf-8")
        return cls.from_text(text, "embedded:carbon/data/ademe_electricity.yaml")

    @classmethod
    def from_file(cls, path: str | Path) -> FactorTable:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise FactorError(f"cannot read factor table {p}: {exc.strerror or exc}") from None
        return cls.from_text(text, str(p))

    @classmethod
    def from_text(cls, text: str, origin: str = "<text>") -> FactorTable:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FactorError(f"{origin}: not valid YAML: {exc}") from None
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
    def version(self) -> str:
        return self._table.version

    def zones(self) -> list[str]:
        return sorted(self._table.zones)

    def zone_label(self, zone: str) -> str:
        z = self._table.zones.get(zone)
        return z.label if z else zone

    def years(self, zone: str) -> list[int]:
        return sorted(r.year for r in self._zone(zone).factors)

    def _zone(self, zone: str) -> _Zone:
        try:
            return self._table.zones[zone]
        except KeyError:
            raise FactorError(
                f"no factors for zone {zone!r} in {self.origin} (zones: {', '.join(self.zones())})"
            ) from None

    def factor(self, zone: str, year: int, missing_year: MissingYear = "error") -> EmissionFactor:
        z = self._zone(zone)
        rows = {r.year: r for r in z.factors}
        row = rows.get(year)
        if row is None:
            earlier = [y for y in rows if y < year]
            if missing_year != "latest" or not earlier:
                raise FactorError(
                    f"no {zone} factor for {year} in {self.origin} (years: {', '.join(map(str, sorted(rows)))}); "
                    "add it with --factors FILE or allow the latest earlier year explicitly"
                )
            row = rows[max(earlier)]
        return EmissionFactor(
            zone=zone,
            year=row.year,
            requested_year=year,
            kg_per_kwh=row.value,
            uncertainty_pct=row.uncertainty_pct,
            source=row.source,
            source_id=row.source_id,
            source_version=row.source_version,
            table=self._table.table,
            table_version=self._table.version,
            verified=row.verified,
            note=row.note,
        )
