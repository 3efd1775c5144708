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
from typing import Literal

from babel.numbers import format_decimal

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
