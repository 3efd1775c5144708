"""Shared by every reader: what a reading is, units, header names, opening and recognising a file."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from sentinelle.agent.lineprotocol import LineProtocolError, parse_line

Kind = Literal["counter", "power", "interval"]
KINDS: tuple[Kind, ...] = ("counter", "power", "interval")
FORMATS = ("auto", "csv", "enedis", "lp")

# Unit -> factor to the canonical unit of each kind.
UNITS: dict[Kind, dict[str, float]] = {
    "counter": {"kwh": 1.0, "wh": 0.001, "mwh": 1000.0},
    "power": {"w": 1.0, "kw": 1000.0, "mw": 1e6},
    # interval energy; `w`/`kw` mean an average power over the step (Enedis load curves)
    "interval": {"kwh": 1.0, "wh": 0.001, "mwh": 1000.0, "w": -1.0, "kw": -1000.0},
}
DEFAULT_UNIT: dict[Kind, str] = {"counter": "kwh", "power": "w", "interval": "kwh"}


class ImportFormatError(ValueError):
    """The file as a whole cannot be read in the asked format (no header, unknown columns...)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One reading: `value` in the canonical unit of the kind; `sub` separates the cadrans of
    an index export; `step_s` is the interval of interval energy (0: infer from the previous
    row); `prio` ranks corrected over raw values of the same time; `reset` marks a counter
    restart the source flagged."""

    line: int
    time_ns: int
    value: float
    sub: str = ""
    step_s: int = 0
    reset: bool = False
    prio: int = 0


# A row as the staging table stores it: (time_ns, sub, value, step_s, reset, prio, line).
StagedRow = tuple[int, str, float, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    reason: str


@dataclass
class ReadStats:
    """What a reader skipped on purpose (not errors): other directions, other meters, ..."""

    skipped: dict[str, int] = field(default_factory=dict)
    quality: dict[str, int] = field(default_factory=dict)
    steps: dict[int, int] = field(default_factory=dict)
    # What the readings say of their counter (docs/meter-readings.md: `<x>_wrap` in kWh, `<x>_max_rate`
    # in kWh/s), so an export of the agent's own points imports as the live processor counted it.
    wrap_kwh: float | None = None
    max_rate_kwh_s: float | None = None

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def unit_factor(kind: Kind, unit: str | None) -> float:
    u = (unit or DEFAULT_UNIT[kind]).strip().lower()
    try:
        return UNITS[kind][u]
    except KeyError:
        raise ValueError(f"unit {unit!r} does not fit a {kind} meter (use one of: {', '.join(UNITS[kind])})") from None


def to_canonical(kind: Kind, factor: float, value: float, step_s: int) -> float:
    """Canonical value; a negative factor means average power over the step (interval kind)."""
    if factor >= 0:
        return value * factor
    return value * -factor * step_s / 3_600_000.0


def norm(name: str) -> str:
    """Header names compared without accents, case, BOM or extra spaces."""
    s = unicodedata.normalize("NFKD", name.replace("\ufeff", ""))
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return " ".join(s.strip().strip('"').lower().replace("_", " ").split())


def open_text(path: Path) -> TextIO:
    """UTF-8 (with or without BOM), falling back to cp1252 for files saved by Excel. A binary
    workbook (.xlsx, .xls) opens as latin-1, which decodes any byte: its readers take the bytes
    underneath (`f.buffer`), and a text scan of it finds no header instead of failing."""
    with path.open("rb") as probe:
        head = probe.read(65536)
    if sniff_bytes(head[:512]) in ("xlsx", "xls"):
        return path.open("r", encoding="latin-1", newline="")
    try:
        head.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        encoding = "utf-8-sig" if exc.start > len(head) - 4 else "cp1252"
    return path.open("r", encoding=encoding, newline="", errors="strict")


_BOM = b"\xef\xbb\xbf"
_ZIP = b"PK\x03\x04"  # .xlsx (Office Open XML is a zip archive)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls


def sniff_bytes(head: bytes) -> str:
    """`xlsx`, `xls`, `json` (a JSON object) or `text` from a file's first bytes."""
    if head.startswith(_ZIP):
        return "xlsx"
    if head.startswith(_OLE):
        return "xls"
    if (head[3:] if head.startswith(_BOM) else head).lstrip()[:1] == b"{":
        return "json"
    return "text"


def file_name(f: object) -> str:
    """The name a message gives the stream being read (its file's base name, if it has one)."""
    name = getattr(f, "name", None)
    return Path(name).name if isinstance(name, str) else "the file"


# Corrected data supersede completed, which supersede raw, for the same timestamp.
ETAPE_PRIORITY = {"corrige": 3, "complete": 2, "brut": 1}


def detect_format(path: Path) -> str:
    """`lp`, `enedis` or `csv` from the first bytes and lines of the file: an .xlsx workbook
    and a JSON object (Data Connect response) are `enedis`."""
    with path.open("rb") as probe:
        source = sniff_bytes(probe.read(512))
    if source in ("xlsx", "json"):
        return "enedis"
    if source == "xls":
        raise ImportFormatError(f"{path.name} is an old binary .xls workbook: save it as .xlsx or CSV")
    with open_text(path) as f:
        head = [f.readline() for _ in range(40)]
    lines = [ln.strip() for ln in head if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ImportFormatError("the file is empty")
    try:
        p = parse_line(lines[0])
        if p.fields and " " in lines[0]:
            return "lp"
    except LineProtocolError:
        pass
    for ln in lines:
        cols = {norm(c) for c in ln.replace("\t", ";").replace(",", ";").split(";")}
        if "horodate" in cols and "valeur" in cols:
            return "enedis"
    return "csv"
