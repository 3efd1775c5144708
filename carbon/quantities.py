"""Numbers as a reader sees them: one formatting path for every human output.

The HTML report, the command summaries, the demo and the meter-hierarchy messages all format
through here, so a figure reads the same everywhere: French by default (decimal comma, narrow
no-break space between thousands, "12,3 %"), English on request; never scientific notation;
a CO2e mass in g, kg or t and an energy in Wh, kWh or MWh chosen by magnitude, with three
significant figures at least. Machine outputs (CSV, JSON, XLSX cells) keep raw numbers and do
not come here. Babel carries the CLDR rules (the same ones office software uses) rather than
a hand-written copy of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

Lang = Literal["fr", "en"]
LOCALES: dict[str, str] = {"fr": "fr_FR", "en": "en_GB"}
NBSP = "\u00a0"  # between a number and its unit: they never part at a line end


def decimals_for(value: float, significant: int = 3, most: int = 3) -> int:
    """Decimals that show `significant` figures of `value`, within [0, most]."""
    if value == 0 or not math.isfinite(value):
        return 0
    return max(0, min(most, significant - 1 - math.floor(math.log10(abs(value)))))


def number(value: float | int, lang: Lang = "fr", decimals: int | None = None) -> str:
    """`value` with thousands separators and exactly `decimals` decimals (by magnitude if None)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    if not math.isfinite(value):
        return "—"
    if decimals is None:
        decimals = 0 if isinstance(value, int) else decimals_for(float(value))
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    from babel.numbers import format_decimal  # on use: the agent reads carbon's field names, not babel

    text = format_decimal(round(value, decimals), format=pattern, locale=LOCALES[lang], decimal_quantization=True)
    return "0" if text.lstrip("-").strip("0,.\u202f") == "" else text  # no "-0,0"


def _scaled(value: float, units: tuple[tuple[float, float, str], ...], lang: Lang) -> str:
    """`units`: (from this magnitude, divide by, name), ascending; the smallest applies below all.
    Zero reads in the second unit ("0 kWh", not "0 Wh")."""
    if value == 0:
        return f"0{NBSP}{units[1][2]}"
    _, size, unit = units[0]
    for threshold, s, u in units:
        if abs(value) >= threshold:
            size, unit = s, u
    v = value / size
    return f"{number(v, lang, decimals_for(v))}{NBSP}{unit}"


def mass_t(tonnes: float, lang: Lang = "fr") -> str:
    """A CO2e mass given in tonnes, in g, kg or t CO2e (a demo's grams, a network's tonnes)."""
    return _scaled(tonnes, ((0.0, 1e-6, "g CO2e"), (1e-3, 1e-3, "kg CO2e"), (1.0, 1.0, "t CO2e")), lang)


def energy_kwh(kwh: float, lang: Lang = "fr") -> str:
    """An energy given in kWh, in Wh, kWh or MWh."""
    return _scaled(kwh, ((0.0, 1e-3, "Wh"), (1.0, 1.0, "kWh"), (10_000.0, 1000.0, "MWh")), lang)


def percent(pct: float, lang: Lang = "fr", decimals: int = 1) -> str:
    """A percentage already multiplied by 100."""
    return f"{number(pct, lang, decimals)}{NBSP}%"


def ratio(value: float, lang: Lang = "fr") -> str:
    """A dimensionless ratio such as a PUE: two decimals."""
    return number(value, lang, 2)


def mass_unit(largest_tonnes: float) -> tuple[float, str]:
    """(tonnes per unit, unit) to show a series whose largest value is `largest_tonnes` (a chart
    axis: one unit for all its ticks)."""
    v = abs(largest_tonnes)
    if v >= 1.0:
        return 1.0, "t CO2e"
    if v >= 1e-3:
        return 1e-3, "kg CO2e"
    return 1e-6, "g CO2e"


def energy_unit(largest_kwh: float) -> tuple[float, str]:
    """(kWh per unit, unit) for a series whose largest value is `largest_kwh`."""
    v = abs(largest_kwh)
    if v >= 10_000.0:
        return 1000.0, "MWh"
    if v >= 1.0 or v == 0:
        return 1.0, "kWh"
    return 1e-3, "Wh"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Axis ticks from 0 to at least `top` in steps of 1, 2, 2.5 or 5 × 10^n (readable values)."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw * (1 - 1e-9))
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(n + 1)]


def month_label(month: str, lang: Lang = "fr", with_year: bool = True) -> str:
    """'2024-03' -> 'mars 2024' / 'Mar 2024' ('mars' / 'Mar' without the year)."""
    from datetime import date

    from babel.dates import format_date

    year, mon = (int(x) for x in month.split("-"))
    return format_date(date(year, mon, 1), "MMM yyyy" if with_year else "MMM", locale=LOCALES[lang])


def _column(values: list[float], unit_of: Callable[[float], tuple[float, str]], lang: Lang) -> tuple[str, Callable[[float], str]]:
    largest = max((abs(v) for v in values), default=0.0)
    size, unit = unit_of(largest)
    d = decimals_for(largest / size, significant=4) if largest > 0 else 0
    return unit, lambda v: number(v / size, lang, d)


def energy_column(values_kwh: list[float], lang: Lang = "fr") -> tuple[str, Callable[[float], str]]:
    """One unit for a table column of energies (its header says it) and the cell formatter:
    the rows of a column compare and add up at a glance, four significant figures on the largest."""
    return _column(values_kwh, energy_unit, lang)


def mass_column(values_t: list[float], lang: Lang = "fr") -> tuple[str, Callable[[float], str]]:
    """Like `energy_column`, for CO2e masses given in tonnes."""
    return _column(values_t, mass_unit, lang)
