"""The reporting clock: French legal time.

Annual carbon figures, months and days in the report, the grid-intensity hours of a French
provider and the naive times of utility exports are all Europe/Paris (CET/CEST), whatever the
host's own time zone; one constant so that no module can drift to another zone or to UTC.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
