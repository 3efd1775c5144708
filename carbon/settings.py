"""carbon/'s part of the configuration file: the `carbon:` section, each device's `meter:`
and each site's `zone:` and `allocation:` (declared here, composed by `agent.config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field, SecretStr, field_validator, model_validator

from sentinelle.agent.configtypes import Duration, SettingsField, SettingsPart, StrictModel


class MeterSettings(StrictModel):
    """What a device's energy readings mean for the site's energy balance (carbon/ uses it)."""

    role: Literal["primary", "sub"] = "primary"
    # `it`: IT load (PUE denominator); `facility`: the whole site (PUE numerator).
    load: Literal["it", "facility", "other"] = "other"
    parent: str | None = None
    # For `sentinelle import` of past readings (flags override): what the readings are
    # (cumulative `counter`, `power` samples, energy per `interval`), their unit (kWh, Wh, MWh;
    # W, kW) and a counter's modulus in that unit (where it wraps).
    kind: Literal["counter", "power", "interval"] | None = None
    unit: str | None = Field(default=None, pattern=r"^(?i:kwh|wh|mwh|w|kw|mw)$")
    modulus: float | None = Field(default=None, gt=0)


class GridIntensitySettings(StrictModel):
    """The `grid` track's time-varying intensity (carbon/intensity.py)."""

    provider: Literal["static", "csv", "rte", "electricitymaps"] = "static"
    path: Path | None = None
    # static: one value; also the value used before an online provider has fetched anything.
    value_gco2e_per_kwh: float | None = Field(default=None, ge=0, lt=5000)
    token: SecretStr | None = None
    zone: str = "FR"  # Electricity Maps zone
    url: str | None = None  # override the online API address (tests, proxies)
    timeout: Duration = 10.0
    refresh: Duration = 900.0

    @model_validator(mode="after")
    def _provider_needs(self) -> GridIntensitySettings:
        if self.provider == "csv" and self.path is None:
            raise ValueError("provider 'csv' needs 'path' (an éCO2mix or Electricity Maps export)")
        if self.provider == "electricitymaps" and self.token is None:
            raise ValueError("provider 'electricitymaps' needs 'token' or 'token_file'")
        return self


class CarbonSettings(StrictModel):
    beges_factor: str = "ademe-base-empreinte"
    # A factor table in the embedded table's format, replacing it (checked Base Empreinte values).
    factors_file: Path | None = None
    # A year missing from the table: `error`, or `latest` earlier year, flagged in every output.
    missing_year: Literal["error", "latest"] = "latest"
    grid_intensity: GridIntensitySettings = Field(default_factory=GridIntensitySettings)
    # Power samples further apart than this are a gap; `gap_fill` estimates it or leaves it missing.
    max_gap: Duration = 900.0
    gap_fill: Literal["estimate", "missing"] = "estimate"
    # Activity-data relative uncertainty per method (%), for the BEGES uncertainty.
    uncertainty_pct: dict[Literal["measured", "integrated", "imported", "estimated", "missing"], float] = Field(
        default_factory=lambda: {"measured": 2.0, "integrated": 5.0, "imported": 2.0, "estimated": 30.0, "missing": 100.0}
    )


class CarbonConfig(Protocol):
    """What carbon/ reads of the composed configuration (`agent.config.AgentConfig`): its
    own section, the inventory (sites, devices, meters) and the agent's data directory."""

    carbon: CarbonSettings
    inventory: Any
    agent: Any
    sinks: list[Any]


def _meter_shorthand(cls: Any, v: Any) -> Any:
    # `meter: it` / `meter: facility` / `meter: primary` are the short forms.
    if isinstance(v, str):
        if v in ("it", "facility", "other"):
            return {"load": v}
        if v in ("primary", "sub"):
            return {"role": v}
        raise ValueError(
            "expected it, facility, other, primary or sub, or a mapping such as {role: sub, load: it, parent: DEVICE}"
        )
    return v


def _shares_add_up(cls: Any, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    for key, shares in v.items():
        if not shares:
            raise ValueError(f"allocation.{key} is empty")
        if any(not 0 <= s <= 1 for s in shares.values()):
            raise ValueError(f"allocation.{key}: each share is between 0 and 1")
        if abs(sum(shares.values()) - 1.0) > 1e-6:
            raise ValueError(f"allocation.{key}: shares add up to {sum(shares.values()):g}, not 1")
    return v


SETTINGS_PART = SettingsPart(
    name="carbon",
    sections={"carbon": SettingsField(CarbonSettings, Field(default_factory=CarbonSettings), after="mqtt")},
    site_fields={
        # Electricity zone for the BEGES factor: continental France unless the site is in a ZNI.
        "zone": SettingsField(str, "fr-continental", after="operator"),
        # Shared sites: the site's kWh split by declared shares, per grouping, e.g.
        # `allocation: {member: {cc-a: 0.6, cc-b: 0.4}}`. Shares of one grouping add up to 1.
        "allocation": SettingsField(dict[Literal["member", "contract", "operator"], dict[str, float]],
                                    Field(default_factory=dict), after="devices"),
    },
    site_validators={"_shares_add_up": field_validator("allocation")(classmethod(_shares_add_up))},
    device_fields={"meter": SettingsField(MeterSettings | None, None, after="interval")},
    device_validators={"_meter_shorthand": field_validator("meter", mode="before")(classmethod(_meter_shorthand))},
    pattern_words={r"^(?i:kwh|wh|mwh|w|kw|mw)$": "accepted units are kWh, Wh, MWh (energy) or W, kW, MW (power)"},
)
