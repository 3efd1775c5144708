"""The live pipeline step: meter readings in, `energy` then `carbon` points out.

Which readings: only devices whose inventory entry sets `meter:` (explicit, so a UPS feeding
metered PDUs is never counted twice by accident). For such a device the processor uses:
- a cumulative counter: field `energy_kwh_total` on any measurement except per-outlet and
  per-phase ones (`pdu_outlet`, `pdu_phase`), with what the collector knows about it
  (docs/meter-readings.md): a true `counter_reset` marks a restarted counter,
  `energy_kwh_total_wrap` the counter's modulus in kWh, `energy_kwh_total_max_rate` the most
  it can count per second (a larger jump is a gap, logged and counted in `implausible`);
- otherwise power samples: `power_w` or `output_power_w` (integrated by trapezoid).
Once a device has shown a counter its power samples are ignored (measured beats integrated).

The last reading per meter and a few recent intervals (for gap estimation) are kept in
`<state_dir>/carbon-energy.json`, written atomically, so a restart continues the counter
delta across the downtime instead of losing it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelle.agent.core import Point
from sentinelle.agent.logs import Problems
from sentinelle.agent.statefile import write_json
from sentinelle.carbon.emissions import IDENTITY_TAGS, carbon_points, energy_point
from sentinelle.carbon.energy import (
    CounterReading,
    EnergyInputError,
    EnergyInterval,
    GapPolicy,
    PowerSample,
    counter_increment,
    counter_intervals,
    estimate_gap,
    neighbour_power_w,
    power_intervals,
)
from sentinelle.carbon.factors import FactorError, FactorTable, MissingYear
from sentinelle.carbon.intensity import (
    CsvIntensity,
    ElectricityMapsIntensity,
    GridIntensity,
    IntensityError,
    OnlineIntensity,
    RteIntensity,
    StaticIntensity,
    grid_for_zone,
)
from sentinelle.carbon.localtime import local_year
from sentinelle.carbon.meters import (
    COUNTER_FIELD,
    LEGACY_WRAP_FIELD,
    MAX_RATE_FIELD,
    POWER_FIELDS,
    RESET_FIELD,
    SKIP_MEASUREMENTS,
    WRAP_FIELD,
    MeterSpec,
    counter_description,
    meters_from_inventory,
)

if TYPE_CHECKING:
    from sentinelle.carbon.settings import CarbonConfig


log = logging.getLogger("sentinelle.carbon.processor")

HISTORY = 4  # recent valid intervals kept per meter for gap estimation
STATE_VERSION = 1


class CarbonProcessor:
    """`process(points)` returns the points plus `energy` and `carbon` points derived from them."""

    def __init__(
        self,
        meters: Mapping[str, MeterSpec],
        state_dir: str | Path,
        factors: FactorTable,
        grid: GridIntensity | None,
        policy: GapPolicy | None = None,
        missing_year: MissingYear = "latest",
        grid_refresh_s: float = 900.0,
    ):
        self.meters = dict(meters)
        self.factors = factors
        self.grid = grid
        self.policy = policy or GapPolicy()
        self.missing_year = missing_year
        self.grid_refresh_s = grid_refresh_s
        self._zone_grids: dict[str, GridIntensity] = {}  # the grid provider of each site zone
        self.state_path = Path(state_dir) / "carbon-energy.json"
        self.rejected = 0
        self.implausible = 0  # counter jumps above the meter's max rate, made gaps
        self._state: dict[str, dict[str, Any]] = self._load()
        self._refresh_task: asyncio.Task[int] | None = None
        self._last_refresh = 0.0
        self._problems = Problems(log)  # one line per problem per 5 min, repeats counted

    # --- state ----------------------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("energy state %s unreadable (%s); starting without previous readings", self.state_path, exc)
            return {}
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return {}
        meters = data.get("meters", {})
        return meters if isinstance(meters, dict) else {}

    def _save(self) -> None:
        write_json(self.state_path, {"version": STATE_VERSION, "meters": self._state})

    # --- processing -----------------------------------------------------------------------------

    def process(self, points: list[Point]) -> list[Point]:
        derived: list[Point] = []
        changed = False
        for point in points:
            device = point.tags.get("device")
            if device is None or device not in self.meters or point.measurement in SKIP_MEASUREMENTS:
                continue
            try:
                interval = self._step(device, point)
                changed = True
            except EnergyInputError as exc:
                self.rejected += 1
                self._warn(device, f"meter {device}: reading ignored: {exc}")
                continue
            if interval is not None:
                derived.extend(self._emit(device, point, interval))
        if changed:
            try:
                self._save()
            except OSError as exc:
                self._warn("_state", f"cannot save energy state {self.state_path}: {exc}")
        self._maybe_refresh_grid()
        return points + derived

    def _step(self, device: str, point: Point) -> EnergyInterval | None:
        st = self._state.setdefault(device, {"hist": []})
        t = int(point.time_ns)
        if COUNTER_FIELD in point.fields:
            cur = CounterReading(
                t, _number(point.fields[COUNTER_FIELD], COUNTER_FIELD, t), bool(point.fields.get(RESET_FIELD, False)),
                counter_description(point.fields.get(WRAP_FIELD, point.fields.get(LEGACY_WRAP_FIELD))),
                counter_description(point.fields.get(MAX_RATE_FIELD)),
            )
            prev = st.get("counter")
            st["counter"] = [cur.time_ns, cur.kwh, cur.wrap_kwh, cur.max_rate_kwh_s]
            if prev is None or prev[0] >= t:
                return None
            before = CounterReading(prev[0], prev[1], False, prev[2], prev[3] if len(prev) > 3 else None)
            if counter_increment(before, cur, self.policy.max_power_w)[1] == "implausible":
                self.implausible += 1
                self._warn(f"implausible:{device}", (
                    f"meter {device}: {point.measurement}.{COUNTER_FIELD} went from {before.kwh} to {cur.kwh} kWh in "
                    f"{(t - before.time_ns) / 1e9:g} s, above its plausible rate: a gap, not energy"))
            ivs = counter_intervals([before, cur], self._no_fill)
            return self._fill(st, ivs[0]) if ivs else None
        if st.get("counter") is not None:
            return None
        field = next((f for f in POWER_FIELDS if f in point.fields), None)
        if field is None:
            return None
        watts = _number(point.fields[field], field, t)
        prev = st.get("power")
        st["power"] = [t, watts]
        if prev is None or prev[0] >= t:
            return None
        ivs = power_intervals([PowerSample(prev[0], prev[1]), PowerSample(t, watts)], self._no_fill)
        return self._fill(st, ivs[0]) if ivs else None

    @property
    def _no_fill(self) -> GapPolicy:
        return GapPolicy(self.policy.max_gap_s, "missing", self.policy.neighbours, self.policy.max_power_w)

    def _fill(self, st: dict[str, Any], iv: EnergyInterval) -> EnergyInterval:
        hist = [EnergyInterval(a, b, k, "measured") for a, b, k in st["hist"]]
        if iv.method == "missing" and self.policy.fill == "estimate":
            iv = estimate_gap(iv.start_ns, iv.end_ns, iv.kwh, neighbour_power_w(hist, len(hist), self.policy.neighbours))
        if iv.method in ("measured", "integrated"):
            st["hist"] = (st["hist"] + [[iv.start_ns, iv.end_ns, iv.kwh]])[-HISTORY:]
        return iv

    def _emit(self, device: str, point: Point, iv: EnergyInterval) -> list[Point]:
        spec = self.meters[device]
        tags = {k: point.tags[k] for k in IDENTITY_TAGS if point.tags.get(k)}
        tags.setdefault("site", spec.site)
        tags.update({"meter": device, "meter_role": spec.role, "meter_load": spec.load, "zone": spec.zone})
        energy = energy_point(iv, tags)
        try:
            factor = self.factors.factor(spec.zone, local_year(iv.end_ns), self.missing_year)
        except FactorError as exc:
            factor = None
            self._warn(f"factor:{spec.zone}", f"no BEGES carbon point for {device}: {exc}")
        provider = self._zone_grids.get(spec.zone)
        if provider is None and self.grid is not None:
            provider = self._zone_grids[spec.zone] = grid_for_zone(spec.zone, self.grid, self.factors, self.missing_year)
        grid = provider.intensity(iv.start_ns, iv.end_ns) if provider is not None else None
        return [energy, *carbon_points(energy, factor, grid)]

    def _warn(self, key: str, message: str) -> None:
        self._problems.report(("carbon", key), "%s", message)

    def _maybe_refresh_grid(self) -> None:
        """Online providers refresh in the background; `process` itself never waits on I/O."""
        if not isinstance(self.grid, OnlineIntensity):
            return
        if self._refresh_task is not None and not self._refresh_task.done():
            return
        now = time.monotonic()
        if now - self._last_refresh < self.grid_refresh_s and self._last_refresh:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._last_refresh = now
        self._refresh_task = loop.create_task(self.grid.refresh())


def _number(value: Any, what: str, time_ns: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EnergyInputError(f"{what} at {time_ns} is not a finite number: {value!r}")
    return float(value)


def grid_from_settings(settings: Any, archive_dir: Path, fallback_g_per_kwh: float | None) -> GridIntensity | None:
    """The configured grid intensity provider (duck-typed on `GridIntensitySettings`)."""
    p = settings.provider
    if p == "csv":
        return CsvIntensity(settings.path)
    if p == "rte":
        kwargs = {"url": settings.url} if settings.url else {}
        return RteIntensity(archive_dir, timeout_s=settings.timeout, **kwargs)
    if p == "electricitymaps":
        token = settings.token.get_secret_value() if settings.token is not None else ""
        kwargs = {"url": settings.url} if settings.url else {}
        return ElectricityMapsIntensity(archive_dir, token, settings.zone, timeout_s=settings.timeout, **kwargs)
    value = settings.value_gco2e_per_kwh
    if value is not None:
        return StaticIntensity(value)
    if fallback_g_per_kwh is not None:
        return StaticIntensity(fallback_g_per_kwh, source="beges-factor")
    return None


def load_factors(carbon_settings: Any) -> FactorTable:
    path = getattr(carbon_settings, "factors_file", None)
    return FactorTable.from_file(path) if path else FactorTable.embedded()


def build_processors(config: CarbonConfig, state_dir: str | Path) -> list[CarbonProcessor]:
    """The carbon step for the agent's pipeline (called by agent/runtime.py)."""
    meters = meters_from_inventory(config.inventory)
    if not meters:
        log.info("no device has 'meter:' set in the inventory: no energy or carbon points")
        return []
    c = config.carbon
    factors = load_factors(c)
    try:
        default = factors.factor("fr-continental", local_year(time.time_ns()), "latest").g_per_kwh
    except FactorError:
        default = None
    try:
        grid = grid_from_settings(c.grid_intensity, Path(state_dir), default)
    except IntensityError as exc:
        log.warning("grid intensity provider unusable, grid track disabled: %s", exc)
        grid = None
    policy = GapPolicy(max_gap_s=c.max_gap, fill=c.gap_fill)
    log.info("energy and carbon for %d meters", len(meters))
    return [CarbonProcessor(meters, state_dir, factors, grid, policy, c.missing_year, c.grid_intensity.refresh)]
