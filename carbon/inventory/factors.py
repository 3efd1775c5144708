"""The two user-replaceable tables of the inventory: expected lifetimes per equipment class, and
manufacturing emission factors per model or class. YAML like the electricity factor table;
a bad file is refused with its path, the key and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

HERE = Path(__file__).parent
LIFETIMES_FILE = HERE / "lifetimes.yaml"
MANUFACTURING_FILE = HERE / "manufacturing.yaml"


class InventoryTableError(ValueError):
    """A lifetimes or factors file that cannot be used (message: file, key, reason)."""


class _FactorModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lifetime(_FactorModel):
    years: Annotated[float, Field(gt=0, le=50)]
    source: str
    verified: bool = False


class LifetimeTable(_FactorModel):
    version: str
    lifetimes: dict[str, Lifetime]

    def years(self, equipment_class: str) -> float | None:
        row = self.lifetimes.get(equipment_class)
        return row.years if row else None


class ManufacturingFactor(_FactorModel):
    """kgCO2e of making one unit; `lifetime_years` for amortisation (else the class lifetime)."""

    model: str | None = None
    vendor: str | None = None
    klass: str | None = Field(default=None, alias="class")
    kgco2e: Annotated[float, Field(ge=0)]
    # `unit`: kgCO2e per piece of equipment; `kg`: per kg of equipment (ADEME's "Switch routeur
    # firewall"), used with the model's weight from the table's `weights`.
    per: Literal["unit", "kg"] = "unit"
    uncertainty_pct: Annotated[float, Field(ge=0, le=500)]
    lifetime_years: Annotated[float, Field(gt=0, le=50)] | None = None
    source: str
    source_url: str | None = None
    licence: str | None = None
    version: str | None = None
    verified: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _needs_a_key(self) -> ManufacturingFactor:
        if not self.model and not self.klass:
            raise ValueError("a factor row needs 'model' or 'class'")
        return self


def _fold(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


class ManufacturingTable(_FactorModel):
    version: str
    factors: list[ManufacturingFactor]
    # Model -> weight in kg (from the maker's data sheet), for factors given per kg.
    weights: dict[str, Annotated[float, Field(gt=0, le=2000)]] = Field(default_factory=dict)

    def weight(self, model: str | None) -> float | None:
        m = _fold(model)
        return next((w for k, w in self.weights.items() if _fold(k) == m), None) if m else None

    def find(self, model: str | None, vendor: str | None, equipment_class: str) -> ManufacturingFactor | None:
        """The row for this model (vendor checked when the row names one), else its class."""
        m, v = _fold(model), _fold(vendor)
        if m:
            for f in self.factors:
                if f.model and _fold(f.model) == m and (not f.vendor or _fold(f.vendor) in v or not v):
                    return f
        for f in self.factors:
            if not f.model and f.klass == equipment_class:
                return f
        return None


def _load(path: Path, model: type[_FactorModel]) -> _FactorModel:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryTableError(f"{path}: cannot read: {type(exc).__name__}") from None
    except yaml.YAMLError as exc:
        raise InventoryTableError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False))
        raise InventoryTableError(f"{path}: {problems}") from None


def load_lifetimes(path: Path | None = None) -> LifetimeTable:
    table = _load(path or LIFETIMES_FILE, LifetimeTable)
    assert isinstance(table, LifetimeTable)
    return table


def load_manufacturing(path: Path | None = None) -> ManufacturingTable:
    table = _load(path or MANUFACTURING_FILE, ManufacturingTable)
    assert isinstance(table, ManufacturingTable)
    return table
