"""Grid intensity providers for the `grid` track: one interface, a value with provenance.

`GridIntensity.intensity(start_ns, end_ns)` is the interval-weighted mean gCO2e/kWh over an
energy interval, with where it came from. Providers:

- `StaticIntensity`: one number from config.
- `CsvIntensity`: a time series file. Layouts detected from the header:
  * ODRÉ / opendata.reseaux-energies.fr éCO2mix exports: `Date - Heure` (ISO 8601 with UTC
    offset) or API field names `date_heure`, and `Taux de CO2 (g/kWh)` / `taux_co2`;
  * RTE éCO2mix download files (`eCO2mix_RTE_*.xls`, really tab-separated Latin-1 text):
    `Date` + `Heures` in French local time and `Taux de Co2`; local times are converted with
    Europe/Paris rules, the repeated hour of the autumn change resolved by order;
  * Electricity Maps exports: `Datetime (UTC)` and `Carbon Intensity gCO₂eq/kWh (LCA)` (or
    `(direct)`);
  * generic: `time` (ISO 8601, UTC if no offset) and `gco2e_per_kwh`.
- `RteIntensity` (ODRÉ éCO2mix real-time API) and `ElectricityMapsIntensity` (token): online;
  `await refresh()` fetches with a timeout and appends what it got to a local archive, which is
  read back at start. `intensity()` never does I/O: past the last value it returns the last
  known value flagged `stale`.

RTE's `taux_co2` is direct combustion emissions of French production; Electricity Maps' LCA
figure includes upstream. They are operational signals, not the BEGES factor.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import hashlib
import io
import json
import logging
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sentinelle.agent.core import NS
from sentinelle.carbon.localtime import PARIS, local_year

log = logging.getLogger("sentinelle.carbon.intensity")

MAX_SLOT_S = 3600  # a value never stands for more than an hour past its timestamp


class IntensityError(ValueError):
    """A file or answer that is not a usable intensity series."""


@dataclass(frozen=True, slots=True)
class Intensity:
    g_per_kwh: float
    source: str
    version: str
    flag: str = ""  # "", "stale" (last known value), "out-of-range" (nearest value)


class GridIntensity(Protocol):
    name: str

    def intensity(self, start_ns: int, end_ns: int) -> Intensity | None: ...


class StaticIntensity:
    """One value for all times (config `value_gco2e_per_kwh`)."""

    name = "static"

    def __init__(self, g_per_kwh: float, source: str = "config"):
        if not 0 <= g_per_kwh < 5000:
            raise IntensityError(f"static grid intensity {g_per_kwh} gCO2e/kWh is out of range")
        self._value = Intensity(float(g_per_kwh), f"static:{source}", "static")

    def intensity(self, start_ns: int, end_ns: int) -> Intensity:
        return self._value


class IntensitySeries:
    """A step series: each value holds from its timestamp to the next (at most an hour)."""

    def __init__(self, points: Iterable[tuple[int, float]], source: str, version: str):
        merged = dict(points)
        self.times = sorted(merged)
        self.values = [merged[t] for t in self.times]
        self.source = source
        self.version = version
        steps = [b - a for a, b in zip(self.times, self.times[1:], strict=False)]
        self._last_step = min(statistics.median(steps), MAX_SLOT_S * NS) if steps else 900 * NS

    def __len__(self) -> int:
        return len(self.times)

    def _slot_end(self, i: int) -> int:
        cap = self.times[i] + MAX_SLOT_S * NS
        nxt = self.times[i + 1] if i + 1 < len(self.times) else self.times[i] + self._last_step
        return min(nxt, cap)

    def intensity(self, start_ns: int, end_ns: int) -> Intensity | None:
        if not self.times:
            return None
        if end_ns <= start_ns:
            end_ns = start_ns + 1
        i = max(0, bisect.bisect_right(self.times, start_ns) - 1)
        weighted = covered = 0.0
        while i < len(self.times) and self.times[i] < end_ns:
            s, e = max(self.times[i], start_ns), min(self._slot_end(i), end_ns)
            if e > s:
                weighted += self.values[i] * (e - s)
                covered += e - s
            i += 1
        if covered > 0:
            return Intensity(weighted / covered, self.source, self.version)
        if start_ns >= self._slot_end(len(self.times) - 1):
            return Intensity(self.values[-1], self.source, self.version, "stale")
        j = bisect.bisect_left(self.times, start_ns)
        j = min(max(j, 0), len(self.times) - 1)
        return Intensity(self.values[j], self.source, self.version, "out-of-range")


# --- CSV layouts ------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().strip('"').lower().split())


_ISO_TIME = ("date - heure", "date_heure", "datetime (utc)", "datetime", "time", "timestamp")
_VALUE = (
    "taux de co2 (g/kwh)",
    "taux_co2",
    "taux de co2",
    "carbon intensity gco₂eq/kwh (lca)",
    "carbon intensity gco2eq/kwh (lca)",
    "carbon intensity gco₂eq/kwh (direct)",
    "carbon intensity gco2eq/kwh (direct)",
    "gco2e_per_kwh",
    "carbon_intensity",
)


def _parse_iso(text: str) -> int:
    t = text.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS + dt.microsecond * 1000


class _LocalClock:
    """French local wall times in file order → UTC; the autumn repeated hour by order."""

    def __init__(self) -> None:
        self._last: int | None = None

    def to_ns(self, date: str, hour: str) -> int:
        naive = datetime.fromisoformat(f"{date.strip()}T{hour.strip()}")
        utc0 = int(naive.replace(tzinfo=PARIS, fold=0).timestamp())
        utc1 = int(naive.replace(tzinfo=PARIS, fold=1).timestamp())
        utc = utc0
        if utc1 != utc0 and self._last is not None and utc0 <= self._last:
            utc = utc1  # the second pass through the repeated hour (CET after CEST)
        self._last = utc
        return utc * NS


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def parse_intensity_csv(text: str, origin: str = "<csv>") -> tuple[str, list[tuple[int, float]]]:
    """(layout name, [(time_ns, gCO2e/kWh)]) from the text of a supported file."""
    lines = text.splitlines()
    header_at = None
    delim = ","
    for n, line in enumerate(lines[:50]):
        for d in (";", "\t", ","):
            cols = [_norm(c) for c in line.split(d)]
            if any(c in _VALUE for c in cols) and (any(c in _ISO_TIME for c in cols) or "date" in cols):
                header_at, delim = n, d
                break
        if header_at is not None:
            break
    if header_at is None:
        raise IntensityError(
            f"{origin}: no known intensity layout (expected a time column such as 'Date - Heure', "
            "'date_heure', 'Date'+'Heures', 'Datetime (UTC)' or 'time', and a value column such as "
            "'Taux de CO2 (g/kWh)', 'taux_co2', 'Carbon Intensity gCO₂eq/kWh (LCA)' or 'gco2e_per_kwh')"
        )
    reader = csv.reader(io.StringIO("\n".join(lines[header_at:])), delimiter=delim)
    header = [_norm(c) for c in next(reader)]
    value_col = next(header.index(v) for v in _VALUE if v in header)
    iso_col = next((header.index(t) for t in _ISO_TIME if t in header), None)
    local = iso_col is None
    if local:
        if "heures" not in header and "heure" not in header:
            raise IntensityError(f"{origin}: a 'Date' column needs an 'Heures' column")
        date_col = header.index("date")
        hour_col = header.index("heures") if "heures" in header else header.index("heure")
        layout = "rte-eco2mix-local"
    elif header[iso_col] == "datetime (utc)":
        layout = "electricitymaps"
    elif header[iso_col] in ("date - heure", "date_heure"):
        layout = "odre-eco2mix"
    else:
        layout = "generic"
    clock = _LocalClock()
    out: list[tuple[int, float]] = []
    skipped = 0
    for row in reader:
        if len(row) <= value_col or not row[value_col].strip():
            skipped += 1
            continue
        try:
            value = float(row[value_col].strip().replace(",", "."))
            if local:
                t = clock.to_ns(row[date_col], row[hour_col])
            else:
                t = _parse_iso(row[iso_col])
        except (ValueError, IndexError):
            skipped += 1  # footer lines, empty slots, disclaimers
            continue
        if not 0 <= value < 5000:
            raise IntensityError(f"{origin}: line {reader.line_num + header_at}: intensity {value} is out of range")
        out.append((t, value))
    if not out:
        raise IntensityError(f"{origin}: layout {layout} recognised but no usable rows")
    if skipped:
        log.debug("%s: %d rows without a value skipped", origin, skipped)
    return layout, out


class CsvIntensity(IntensitySeries):
    """A file's series; provenance names the file, its layout and a hash of its content."""

    name = "csv"

    def __init__(self, path: str | Path):
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise IntensityError(f"cannot read grid intensity file {p}: {exc.strerror or exc}") from None
        layout, points = parse_intensity_csv(_decode(raw), str(p))
        self.layout = layout
        super().__init__(points, f"csv:{layout}:{p.name}", "sha256:" + hashlib.sha256(raw).hexdigest()[:12])


# --- online providers --------------------------------------------------------------------------


class OnlineIntensity:
    """Fetch → archive (JSON lines) → series. Subclasses say where and how to read an answer."""

    name = "online"
    source = "online"

    def __init__(self, archive_dir: str | Path, timeout_s: float = 10.0):
        self.archive = Path(archive_dir) / f"grid-intensity-{self.name}.jsonl"
        self.timeout_s = timeout_s
        self.last_error: str | None = None
        self._points: dict[int, float] = {}
        self._load_archive()
        self._series = self._rebuild()

    def _load_archive(self) -> None:
        if not self.archive.exists():
            return
        for line in self.archive.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                self._points[int(rec["t"])] = float(rec["g"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a crash

    def _rebuild(self) -> IntensitySeries:
        return IntensitySeries(self._points.items(), self.source, "archive")

    def intensity(self, start_ns: int, end_ns: int) -> Intensity | None:
        return self._series.intensity(start_ns, end_ns)

    async def _get(self) -> Any:
        raise NotImplementedError

    def _parse(self, answer: Any) -> list[tuple[int, float]]:
        raise NotImplementedError

    async def refresh(self) -> int:
        """Fetch recent values; return how many new ones were archived. Never raises for
        network or format problems: it records `last_error` and keeps the last known values."""
        import aiohttp  # on use: only the fetching providers need it, not a CSV or static one

        try:
            answer = await asyncio.wait_for(self._get(), self.timeout_s)
            points = self._parse(answer)
        except (TimeoutError, aiohttp.ClientError, IntensityError, ValueError, KeyError, TypeError) as exc:
            self.last_error = f"{self.name}: {exc.__class__.__name__}: {exc}"[:300]
            log.warning("grid intensity refresh failed, keeping last known values: %s", self.last_error)
            return 0
        new = [(t, g) for t, g in points if self._points.get(t) != g]
        if new:
            self.archive.parent.mkdir(parents=True, exist_ok=True)
            with self.archive.open("a", encoding="utf-8") as f:
                for t, g in new:
                    f.write(json.dumps({"t": t, "g": g}) + "\n")
            self._points.update(new)
            self._series = self._rebuild()
        self.last_error = None
        return len(new)


class RteIntensity(OnlineIntensity):
    """ODRÉ éCO2mix real-time dataset (`eco2mix-national-tr`), fields `date_heure`, `taux_co2`."""

    name = "rte"
    source = "rte:eco2mix-national-tr"
    DEFAULT_URL = "https://odre.opendatasoft.com/api/explore/v2.1/catalog/datasets/eco2mix-national-tr/records"

    def __init__(self, archive_dir: str | Path, url: str = DEFAULT_URL, timeout_s: float = 10.0, limit: int = 100):
        self.url = url
        self.limit = limit
        super().__init__(archive_dir, timeout_s)

    async def _get(self) -> Any:
        params = {
            "select": "date_heure,taux_co2",
            "where": "taux_co2 is not null",
            "order_by": "date_heure desc",
            "limit": str(self.limit),
        }
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(self.url, params=params) as resp:
                if resp.status != 200:
                    raise IntensityError(f"HTTP {resp.status} from {self.url}")
                return await resp.json(content_type=None)

    def _parse(self, answer: Any) -> list[tuple[int, float]]:
        rows = answer["results"]
        return [(_parse_iso(r["date_heure"]), float(r["taux_co2"])) for r in rows if r.get("taux_co2") is not None]


class ElectricityMapsIntensity(OnlineIntensity):
    """Electricity Maps API v3 `carbon-intensity/history` (last 24 h) for one zone."""

    name = "electricitymaps"
    source = "electricitymaps:v3"
    DEFAULT_URL = "https://api.electricitymap.org/v3/carbon-intensity/history"

    def __init__(
        self, archive_dir: str | Path, token: str, zone: str = "FR", url: str = DEFAULT_URL, timeout_s: float = 10.0
    ):
        if not token:
            raise IntensityError("electricitymaps needs a token (carbon.grid_intensity.token or token_file)")
        self._token = token
        self.zone = zone
        self.url = url
        self.source = f"electricitymaps:v3:{zone}"
        super().__init__(archive_dir, timeout_s)

    def __repr__(self) -> str:  # never show the token
        return f"ElectricityMapsIntensity(zone={self.zone!r}, url={self.url!r})"

    async def _get(self) -> Any:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(self.url, params={"zone": self.zone}, headers={"auth-token": self._token}) as resp:
                if resp.status != 200:
                    raise IntensityError(f"HTTP {resp.status} from {self.url}")
                return await resp.json(content_type=None)

    def _parse(self, answer: Any) -> list[tuple[int, float]]:
        rows = answer["history"] if "history" in answer else [answer]
        return [
            (_parse_iso(r["datetime"]), float(r["carbonIntensity"])) for r in rows if r.get("carbonIntensity") is not None
        ]


# The zone the time-varying providers describe: RTE éCO2mix and Electricity Maps "FR" cover the
# continental grid only; Corse and the overseas zones (ZNI) have their own, separate grids.
TIME_VARYING_ZONE = "fr-continental"


class ZoneAnnualIntensity:
    """The grid track of a zone without a time-varying source: the zone's annual BEGES factor.

    Flagged `zone-annual-factor` on every point, so an operator sees it is not an hourly value.
    """

    name = "zone-annual"

    def __init__(self, factors: Any, zone: str, missing_year: str = "latest"):
        self.factors = factors
        self.zone = zone
        self.missing_year = missing_year
        self._cache: dict[int, Intensity | None] = {}

    def intensity(self, start_ns: int, end_ns: int) -> Intensity | None:
        from sentinelle.carbon.factors import FactorError

        year = local_year(end_ns)
        if year not in self._cache:
            try:
                f = self.factors.factor(self.zone, year, self.missing_year)
            except FactorError:
                self._cache[year] = None
            else:
                self._cache[year] = Intensity(f.g_per_kwh, f"zone-annual:{f.source_tag}", f.version_tag,
                                              "zone-annual-factor")
        return self._cache[year]


def grid_for_zone(zone: str, grid: GridIntensity | None, factors: Any, missing_year: str = "latest") -> GridIntensity | None:
    """The grid provider for a site's zone: the configured one where it applies, else the annual factor."""
    if grid is None or zone == TIME_VARYING_ZONE:
        return grid
    return ZoneAnnualIntensity(factors, zone, missing_year)
