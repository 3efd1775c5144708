"""Timestamps and numbers as meter exports write them.

Times: ISO 8601 with an offset (or `Z`), epoch seconds / milliseconds / microseconds /
nanoseconds (told apart by magnitude), or naive local wall times read in a time zone
(`--tz`, Europe/Paris by default: these are French meters). A naive time in the repeated hour
of the autumn change is ambiguous; `LocalClock` resolves it by order: the first time a file
shows a given wall time it is the summer-time instant, the second time the winter-time one.
That holds for sorted files and for Enedis files whose rows are shuffled by day blocks, as long
as the two passes through the hour keep their relative order. A wall time that does not exist
(the skipped hour of the spring change) is an error, not a guess.

Numbers: decimal point or decimal comma (French Excel), optional spaces as thousands separators.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sentinelle.agent.core import NS


class TimeFormatError(ValueError):
    """A cell that is not a usable timestamp (the message says why)."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (e.g. Europe/Paris, UTC)") from None


def parse_number(text: str) -> float:
    """A finite float from `12.5`, `12,5`, `1 234,5`; raises ValueError otherwise."""
    t = text.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "")
    if not t:
        raise ValueError("empty value")
    if "," in t:
        if "." in t or t.count(",") > 1:
            raise ValueError(f"ambiguous number {text.strip()!r}")
        t = t.replace(",", ".")
    value = float(t)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text.strip()!r}")
    return value


def _epoch_ns(text: str) -> int | None:
    t = text.strip()
    if not t or not (t[0].isdigit() or (t[0] == "-" and t[1:2].isdigit())):
        return None
    head = t.lstrip("-")
    if not head.replace(".", "", 1).isdigit():
        return None
    value = float(t)
    magnitude = abs(value)
    if magnitude < 1e11:  # seconds (up to year 5138)
        scale = NS
    elif magnitude < 1e14:
        scale = 1_000_000
    elif magnitude < 1e17:
        scale = 1_000
    else:
        return int(t) if "." not in t else int(value)
    if "." in t:
        whole, frac = t.split(".")
        return int(whole) * scale + round(float("0." + frac) * scale) * (-1 if t.startswith("-") else 1)
    return int(t) * scale


class LocalClock:
    """Converts wall times of one file to UTC; remembers which ambiguous times it has seen."""

    def __init__(self, tz: ZoneInfo):
        self.tz = tz
        self._seen_ambiguous: dict[datetime, int] = {}

    def to_ns(self, naive: datetime) -> int:
        first = naive.replace(tzinfo=self.tz, fold=0)
        second = naive.replace(tzinfo=self.tz, fold=1)
        u0, u1 = first.astimezone(UTC), second.astimezone(UTC)
        if u0 == u1:
            # A wall time that does not exist maps back to a different wall time.
            if u0.astimezone(self.tz).replace(tzinfo=None) != naive:
                raise TimeFormatError(f"{naive.isoformat(sep=' ')} does not exist in {self.tz.key} (clock change)")
            return _ns(u0)
        if u1 < u0:  # zoneinfo: for a skipped time fold=1 gives the earlier instant
            raise TimeFormatError(f"{naive.isoformat(sep=' ')} does not exist in {self.tz.key} (clock change)")
        seen = self._seen_ambiguous.get(naive, 0)
        self._seen_ambiguous[naive] = seen + 1
        if seen >= 2:
            raise TimeFormatError(f"{naive.isoformat(sep=' ')} appears more than twice (it exists twice in {self.tz.key})")
        return _ns(u0 if seen == 0 else u1)


def _ns(dt: datetime) -> int:
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def _fromiso(text: str) -> datetime:
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    if len(t) >= 11 and t[10] == " " and t[4] == "-":
        t = t[:10] + "T" + t[11:]
    try:
        return datetime.fromisoformat(t)
    except ValueError:
        pass
    # French dates: 25/10/2026 02:30[:00]
    for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise TimeFormatError(f"not a timestamp: {text.strip()[:40]!r} (ISO 8601, epoch seconds/ms, or dd/mm/yyyy hh:mm)")


def parse_time(text: str, clock: LocalClock) -> int:
    """Nanoseconds since the epoch from any supported cell."""
    epoch = _epoch_ns(text)
    if epoch is not None:
        return epoch
    dt = _fromiso(text)
    if dt.tzinfo is not None:
        return _ns(dt.astimezone(UTC))
    return clock.to_ns(dt)


def looks_like_time(text: str) -> bool:
    try:
        parse_time(text, LocalClock(ZoneInfo("UTC")))
    except (TimeFormatError, ValueError):
        return False
    return True


def parse_duration_s(text: str) -> int:
    """ISO 8601 durations as Enedis writes steps (`PT10M`, `PT30M`, `PT60M`, `PT1H`) or seconds."""
    t = text.strip().upper()
    if t.isdigit():
        return int(t)
    if not t.startswith("PT") or len(t) < 4:
        raise ValueError(f"not a step: {text.strip()!r} (expected PT10M, PT30M, PT60M...)")
    total, num = 0, ""
    for ch in t[2:]:
        if ch.isdigit():
            num += ch
            continue
        if not num or ch not in "HMS":
            raise ValueError(f"not a step: {text.strip()!r}")
        total += int(num) * {"H": 3600, "M": 60, "S": 1}[ch]
        num = ""
    if num or total <= 0:
        raise ValueError(f"not a step: {text.strip()!r}")
    return total
