"""Argument types and checks the carbon commands share (`--year`, `--from`, comma lists)."""

from __future__ import annotations

import argparse
from datetime import datetime


def civil_year(text: str) -> int:
    """A four-digit civil year: `--year 26` is a typo for 2026, not the year 26."""
    try:
        year = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a year: {text!r} (e.g. 2026)") from None
    if not 1990 <= year <= 2100:
        raise argparse.ArgumentTypeError(f"{text!r}: give the year with four digits, between 1990 and 2100 (e.g. 2026)")
    return year


def local_datetime(text: str) -> datetime:
    """`--from`/`--to`: an ISO date or date-time (French local time when naive)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r} (e.g. 2026-01-01 or 2026-01-01T00:00)") from None


def comma_choices(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    """`--group-by site,member`: the items, each one of `allowed` (ValueError naming `--what`)."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad or not items:
        raise ValueError(f"--{what}: unknown {', '.join(bad) or '(empty)'}; choose among {', '.join(allowed)}")
    return items
