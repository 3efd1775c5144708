"""Enedis Data Connect / "Mes données" JSON (metering data v4/v5): load curves and daily energy."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sentinelle.carbon.history.readers.common import (
    ETAPE_PRIORITY,
    UNITS,
    ImportFormatError,
    Kind,
    Problem,
    ReadStats,
    Row,
    file_name,
    norm,
    to_canonical,
    unit_factor,
)
from sentinelle.carbon.history.timeparse import (
    NS,
    LocalClock,
    TimeFormatError,
    parse_duration_s,
    parse_number,
    parse_time,
)

_JSON = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_HOLES = ("", "null", "none", "nan")


def _entry_lines(text: str, count: int) -> list[int] | None:
    """The 1-based line of each `interval_reading` entry (where its `{` is), or None when the
    array cannot be found unambiguously in the text."""
    key = '"interval_reading"'
    at = text.find(key)
    if at < 0 or text.find(key, at + 1) >= 0:
        return None
    i = _WS.match(text, at + len(key)).end()  # type: ignore[union-attr]
    if text[i:i + 1] != ":":
        return None
    i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
    if text[i:i + 1] != "[":
        return None
    i += 1
    lines: list[int] = []
    line, last = text.count("\n", 0, i) + 1, i
    while True:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] in ("]", ""):
            break
        line += text.count("\n", last, i)
        last = i
        lines.append(line)
        try:
            _obj, i = _JSON.raw_decode(text, i)
        except ValueError:
            return None
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] == ",":
            i += 1
    return lines if len(lines) == count else None


def json_step_s(value: object) -> int:
    """A Data Connect `interval_length` in seconds. The v4/v5 API writes ISO 8601 durations
    (`PT10M`, `PT30M`, `PT60M`...); a bare number is minutes up to 60 (the MyElectricalData
    cache stores `"30"`) and seconds above (Data Connect v3's `"1800"`); `P30M` (no `T`) is read
    as minutes, as a load curve's step is never months."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"not a step: {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not a step: {value!r}")
        value = int(value)
    t = str(value).strip().upper()
    if t.isdigit():
        n = int(t)
        if n <= 0:
            raise ValueError(f"not a step: {value!r}")
        return n * 60 if n <= 60 else n
    if t.startswith("P") and not t.startswith("PT") and t.endswith("M") and t[1:-1].isdigit() and int(t[1:-1]) > 0:
        return int(t[1:-1]) * 60
    return parse_duration_s(t)


def _day_bounds_ns(text: str, tz: ZoneInfo) -> tuple[int, int]:
    """(start, end) of the local day a daily value is dated: 23, 24 or 25 hours in Europe/Paris."""
    t = text.strip()
    try:
        if len(t) == 10:
            day = date.fromisoformat(t)
        else:
            dt = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
            if dt.tzinfo is not None:
                dt = dt.astimezone(tz)
            if dt.time() != time(0):
                raise ValueError
            day = dt.date()
    except ValueError:
        raise ValueError(f"{t[:40]!r} is not a day (expected YYYY-MM-DD)") from None
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return int(start.timestamp()) * NS, int(end.timestamp()) * NS


def _meter_reading(doc: object, name: str) -> dict[str, Any]:
    """The `meter_reading` object of a Data Connect response (or the object itself when a
    gateway returns it unwrapped, as conso.boris.sh does)."""
    if not isinstance(doc, dict):
        raise ImportFormatError(f"{name} holds a JSON {type(doc).__name__}, not an Enedis Data Connect response "
                                "(an object with \"meter_reading\")")
    if "meter_reading" not in doc and "interval_reading" not in doc and "error" in doc:
        err = doc["error"] if isinstance(doc["error"], dict) else doc  # gateways nest Enedis's error object
        why = ": ".join(str(err[k]) for k in ("error", "error_description") if err.get(k))
        raise ImportFormatError(f"{name} is an error response, not metering data: {why or doc.get('message') or '?'}")
    if "usage_point" in doc and "meter_reading" not in doc:
        raise ImportFormatError(f"{name} is a Data Connect v3 response (usage_point, values by rank): "
                                "not supported, use the v4/v5 metering data API")
    reading = doc.get("meter_reading", doc if "interval_reading" in doc else None)
    if not isinstance(reading, dict):
        raise ImportFormatError(f"{name} has no \"meter_reading\" object: not an Enedis Data Connect response")
    if not isinstance(reading.get("interval_reading"), list):
        raise ImportFormatError(f"{name}: \"meter_reading\" has no \"interval_reading\" list")
    if not isinstance(reading.get("reading_type", {}), dict):
        raise ImportFormatError(f"{name}: \"reading_type\" is not an object")
    return reading


def read_enedis_json(
    f: TextIO,
    kind: Kind,
    clock: LocalClock,
    stats: ReadStats,
    *,
    step_s: int = 0,
) -> Iterator[Row | Problem]:
    """A Data Connect / "Mes données" metering data response (API v4/v5): `meter_reading` with
    `reading_type` {`unit`, `measurement_kind`, `aggregate`, `measuring_period`} and
    `interval_reading` [{`value`, `date`, `interval_length`, `measure_type`}], values as strings.

    - Load curve (`consumption_load_curve`, `production_load_curve`; unit W): each value is the
      mean power over the `interval_length` ending at `date`, a naive French wall time (the
      day's first value is dated 00:30 and covers 00:00-00:30); the repeated autumn hour is
      resolved by order (`LocalClock`).
    - Daily energy (`daily_consumption`, `daily_production`; unit Wh, `measuring_period` P1D):
      `date` is the day; the value covers that local day, midnight to midnight in the import's
      time zone (23 or 25 hours on a DST day).

    Both are interval energy. A response holds one direction (the endpoint says which), so
    `--direction` does not apply. The whole document is parsed (a year of half-hours is about
    17,500 entries); a bad entry is a `Problem` on the line where the entry starts, its index
    (`interval_reading[i]`) in the reason: API responses are one line, so that is line 1."""
    name = file_name(f)
    text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"not valid JSON: {exc.msg} ({name}, line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ImportFormatError(f"not valid JSON: nested too deeply ({name})") from None
    reading = _meter_reading(doc, name)
    entries: list[Any] = reading["interval_reading"]
    rtype: dict[str, Any] = reading.get("reading_type") or {}
    unit = norm(str(rtype.get("unit") or ""))
    period = str(rtype.get("measuring_period") or "").strip().upper()
    if norm(str(rtype.get("aggregate") or "")) == "maximum" or unit == "va":
        raise ImportFormatError(f"{name} holds daily maximum powers (consumption_max_power), not energy: nothing to import")
    first_date: str = next((e["date"] for e in entries if isinstance(e, dict) and isinstance(e.get("date"), str)), "")
    daily = period == "P1D" or (not period and unit in ("wh", "kwh") and len(first_date.strip()) == 10)
    what = "Data Connect daily energy" if daily else "a Data Connect load curve"
    if unit not in UNITS["interval"] or (daily and unit in ("w", "kw")):
        raise ImportFormatError(f"{name}: reading_type unit {rtype.get('unit')!r} is not the W of a load curve "
                                "or the Wh of daily energy")
    if kind != "interval":
        raise ImportFormatError(f"{name} holds {what}, energy per interval: import it with --kind interval "
                                f"(the meter is imported as {kind})")
    factor = unit_factor("interval", unit)
    quality = str(reading.get("quality") or "").strip()
    prio = ETAPE_PRIORITY.get(norm(quality), 0)
    default_step = rtype.get("interval_length")  # Data Connect v3 put it in reading_type
    lines = _entry_lines(text, len(entries))
    del text
    known_steps: dict[str, int] = {}  # interval_length text -> seconds (the same few strings throughout)
    for i, e in enumerate(entries):
        n = lines[i] if lines is not None else i + 1
        where = f"interval_reading[{i}]" if lines is not None else f"interval_reading[{i}] (entry {i + 1}; no line numbers)"
        if not isinstance(e, dict):
            yield Problem(n, f"{where}: not an object")
            continue
        when = e.get("date")
        if not isinstance(when, str) or not when.strip():
            yield Problem(n, f"{where}: no date")
            continue
        if daily:
            try:
                start, t = _day_bounds_ns(when, clock.tz)
            except ValueError as exc:
                yield Problem(n, f"{where}: date: {exc}")
                continue
            step = (t - start) // NS
        else:
            # Every date goes through the clock, holes included: it counts the repeated autumn hour.
            try:
                t = parse_time(when, clock)
            except (TimeFormatError, ValueError) as exc:
                yield Problem(n, f"{where}: date: {exc}")
                continue
            length = e.get("interval_length", default_step)
            step = known_steps.get(length, -1) if isinstance(length, str) else -1
            if step < 0:
                try:
                    step = step_s if length is None or length == "" else json_step_s(length)
                except ValueError as exc:
                    yield Problem(n, f"{where}: interval_length: {exc}")
                    continue
                if isinstance(length, str):
                    known_steps[length] = step
        raw = e.get("value")
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in _HOLES):
            stats.skip("no value (hole in the curve)")
            continue
        try:
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise ValueError(f"not a number: {raw!r}")
            v = parse_number(raw) if isinstance(raw, str) else parse_number(repr(raw))
        except ValueError as exc:
            yield Problem(n, f"{where}: value: {exc}")
            continue
        if v < 0:
            yield Problem(n, f"{where}: value {v} is negative")
            continue
        key = f"quality={quality or '-'}"
        if not daily:
            key += f" measure_type={str(e.get('measure_type') or '-').strip()}"
            stats.steps[step] = stats.steps.get(step, 0) + 1
        stats.quality[key] = stats.quality.get(key, 0) + 1
        if step <= 0:
            yield Row(n, t, v * -factor if factor < 0 else v * factor, step_s=0, prio=prio, sub="w" if factor < 0 else "")
            continue
        yield Row(n, t, to_canonical("interval", factor, v, step), step_s=step, prio=prio)
