"""The one shape of an `event` point (DESIGN section 2), whoever emits it.

Grafana draws events as annotations and the annual report counts episodes from them, so every
collector writes the same schema:

- tags: `event` = the kind (low cardinality: `unreachable`, `on_battery`, `gateway_offline`...),
  plus the identity of what it concerns (`device`, `site`, `gateway_id`...);
- fields: `kind` (the same word, as a field so InfluxQL can select it), `state` (`start`,
  `end` or `instant`), `message` (short English text), and on `end` `duration_s`, the
  length of the episode when the agent saw its start.

The kind is a tag so two kinds changing at the same instant stay distinct series (InfluxDB keeps
one value per series and timestamp).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sentinelle.agent.core import FieldValue, Point

EventState = Literal["start", "end", "instant"]


def event_point(
    kind: str,
    state: EventState,
    message: str,
    time_ns: int,
    tags: Mapping[str, str],
    duration_s: float | None = None,
) -> Point:
    fields: dict[str, FieldValue] = {"kind": kind, "state": state, "message": message}
    if duration_s is not None:
        fields["duration_s"] = round(float(duration_s), 3)
    return Point("event", {**tags, "event": kind}, fields, time_ns)
