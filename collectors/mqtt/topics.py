"""MQTT topic filters: matching a received topic to the subscription (and decoder) it came for.

A message carries its real topic, not the filter it matched, and with several subscriptions
on one connection we must find which decoder applies. Filters are compiled once into levels;
`+` matches one level, a final `#` any number (including none, as MQTT says).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """A compiled filter. `names[i]` is the tag name for a `{name}` level (generic JSON), or None."""

    text: str
    levels: tuple[str, ...]
    names: tuple[str | None, ...]

    @classmethod
    def parse(cls, pattern: str) -> TopicFilter:
        levels: list[str] = []
        names: list[str | None] = []
        for level in pattern.split("/"):
            if level.startswith("{") and level.endswith("}"):
                levels.append("+")
                names.append(level[1:-1])
            else:
                levels.append(level)
                names.append(None)
        return cls("/".join(levels), tuple(levels), tuple(names))

    def match(self, topic: str) -> list[str] | None:
        """The topic's levels if it matches this filter, else None."""
        got = topic.split("/")
        want = self.levels
        n = len(want)
        if want and want[-1] == "#":
            if len(got) < n - 1:
                return None
            n -= 1
        elif len(got) != n:
            return None
        # `+` and `#` never match a topic starting with `$` at the first level (MQTT 4.7.2).
        if got and got[0].startswith("$") and want and want[0] in ("+", "#"):
            return None
        for w, g in zip(want[:n], got[:n], strict=True):
            if w != "+" and w != g:
                return None
        return got

    def captures(self, levels: list[str]) -> dict[str, str]:
        """Named levels of a matched topic (`{site}` -> {"site": ...})."""
        return {name: levels[i] for i, name in enumerate(self.names) if name is not None}


def shared(filter_text: str, group: str | None) -> str:
    """The filter to SUBSCRIBE with: `$share/GROUP/filter` for a shared subscription."""
    return f"$share/{group}/{filter_text}" if group else filter_text
