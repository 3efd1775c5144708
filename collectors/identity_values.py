"""Normalise what devices publish as identity, and flag what is not identity at all.

Real agents answer empty serials, blanks padded to the field width, "unknown" / "N/A" /
"To be filled by O.E.M." placeholders, all-zero DateAndTime or 1970-01-01 manufacturing
dates, and sometimes bytes read from a transceiver EEPROM that are not text at all. None of
that may reach the inventory as if it were data (issue 17, "Bad input"): each value is either
clean, or absent with a flag (`serial:placeholder`) that the inventory shows as such.

Shared by every collector that reads identity (SNMP's ENTITY-MIB and vendor scalars, MQTT's
gateway metadata), so it sits at the top of collectors/ and no collector imports another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

# Identifier fields: where a placeholder or a garbled string most often hides.
IDENTIFIERS = frozenset({"model", "serial", "firmware_rev", "software_rev", "hardware_rev", "manufacturer"})
# Identity fields whose absence is worth a flag (a part without them is hard to track).
EXPECTED = frozenset({"model", "serial"})

# Compared case-insensitively after trimming and collapsing inner blanks.
PLACEHOLDERS = frozenset({
    "unknown", "unkown", "n/a", "na", "n.a.", "none", "null", "nil", "not available",
    "not specified", "not set", "unspecified", "undefined", "default", "default string",
    "to be filled by o.e.m.", "to be filled by oem", "system serial number", "serial number",
    "serial", "sn", "0123456789", "123456789", "1234567890", "-", "--", "?", "??", "tbd",
    "not applicable", "invalid", "empty",
})
# Earliest plausible manufacturing date: network-managed equipment did not exist before.
EARLIEST = date(1985, 1, 1)

_REPEATED = re.compile(r"^(.)\1{2,}$")  # 000000, FFFFFFFF, ........, xxxx


@dataclass(frozen=True, slots=True)
class Clean:
    """A normalised value (None when there is none) and why it was refused, if it was."""

    value: str | int | bool | None
    flag: str | None = None


def clean_text(name: str, raw: str) -> Clean:
    """Trim blanks and NULs; refuse placeholders and strings that are not text."""
    text = raw.replace("\x00", "").strip()
    if not text:
        return Clean(None, "empty" if name in EXPECTED else None)
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c == "\ufffd" for c in text):
        return Clean(None, "garbled")
    folded = " ".join(text.split()).lower()
    if folded in PLACEHOLDERS:
        return Clean(None, "placeholder")
    if name in IDENTIFIERS:
        if _REPEATED.match(folded.replace(" ", "")) and len(folded) >= 3:
            return Clean(None, "placeholder")
        # Identifiers have no runs of blanks inside: such a value is padding read from a
        # fixed-width EEPROM field with bytes that do not belong to it.
        if "   " in text:
            return Clean(None, "garbled")
    return Clean(text)


def _check_date(d: date, today: date | None) -> Clean:
    """`today` None: a date that may lie ahead (a recommended battery replacement)."""
    if d < EARLIEST:
        return Clean(None, "placeholder")  # 1970-01-01, 1900-01-01, 0000...
    if today is not None and d > today:
        return Clean(None, "in_future")
    return Clean(d.isoformat())


def clean_date_text(raw: str, formats: list[str], today: date | None) -> Clean:
    text = " ".join(raw.replace("\x00", "").split())
    if not text:
        return Clean(None)
    if text.lower() in PLACEHOLDERS:
        return Clean(None, "placeholder")
    for fmt in formats or ["%Y-%m-%d"]:
        try:
            parsed = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return _check_date(parsed, today)
    return Clean(None, "unparsed_date")


def clean_date_and_time(raw: bytes, today: date | None) -> Clean:
    """SNMPv2-TC DateAndTime: 8 or 11 octets, year in the first two (big-endian)."""
    if len(raw) not in (8, 11):
        # Some agents send the date as text in a DateAndTime column.
        try:
            return clean_date_text(raw.decode("ascii"), ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S"], today)
        except UnicodeDecodeError:
            return Clean(None, "garbled")
    if not any(raw):
        return Clean(None, "placeholder")  # the documented "unknown" value: all zeros
    year = int.from_bytes(raw[:2], "big")
    try:
        return _check_date(date(year, raw[2], raw[3]), today)
    except ValueError:
        return Clean(None, "garbled")
