"""The reporting clock: French legal time.

Annual carbon figures, months and days in the report, the grid-intensity hours of a French
provider and the naive times of utility exports are all Europe/Paris (CET/CEST), whatever the
host's own time zone; one constant so that no module can drift to another zone or to UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sentinelle.agent.core import NS

PARIS = ZoneInfo("Europe/Paris")


def local_year(time_ns: int) -> int:
    """The French calendar year an interval ending at `time_ns` belongs to."""
    return datetime.fromtimestamp((time_ns - 1) // NS, tz=UTC).astimezone(PARIS).year
