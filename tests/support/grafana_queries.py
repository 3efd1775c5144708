"""Grafana's interpolation of the dashboards' queries, for the tests and scripts/render_previews.py.

Grafana fills `$timeFilter`, `$__interval` and the template variables itself; to run a panel's
query against a real influxd the tests do the same here. Not shipped: only tests use it.
"""

from __future__ import annotations

import re
from typing import Any

from grafana.dashgen import iter_panels

_DURATION = re.compile(r"^(\d+)([smhd])$")


def _seconds(d: str) -> int:
    m = _DURATION.match(d)
    if not m:
        raise ValueError(f"bad duration {d!r}")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _influx_duration(seconds: int) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % n == 0:
            return f"{seconds // n}{unit}"
    return f"{seconds}s"


def variable_defaults(dash: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Template variable values as Grafana would interpolate them for regex use: "All" -> allValue."""
    values: dict[str, str] = {}
    for v in dash.get("templating", {}).get("list", []):
        cur = v.get("current", {}).get("value")
        if isinstance(cur, list):
            cur = cur[0] if cur else "$__all"
        if cur == "$__all":
            cur = v.get("allValue", ".*")
        values[v["name"]] = str(cur)
    values.update(overrides or {})
    return values


def substitute(query: str, variables: dict[str, str], *, range_s: int = 86400, interval: str | None = None,
               width_px: int = 1000, min_interval_s: int = 60) -> str:
    """Interpolate a query like Grafana's InfluxQL datasource does for a relative range `now-range_s`.

    `min_interval_s` is the datasource's min interval (`timeInterval`, 60 s as provisioned, for
    agents polling every minute); a site polling faster (the demo: 2 s) sets it lower.
    """
    range_s = int(range_s)
    # Grafana: range / width, at least the panel's min interval, at least the datasource's.
    step_s = max(min_interval_s, range_s // width_px, _seconds(interval) if interval else 0)
    q = query.replace("$timeFilter", f"time >= now() - {_influx_duration(range_s)}")
    q = q.replace("$__interval_ms", str(step_s * 1000)).replace("$__interval", _influx_duration(step_s))
    q = q.replace("$interval", _influx_duration(step_s))
    for name in sorted(variables, key=len, reverse=True):
        q = q.replace("${" + name + "}", variables[name]).replace("$" + name, variables[name])
    leftover = re.findall(r"\$[A-Za-z_]\w*", q)
    if leftover:
        raise ValueError(f"unresolved variables {leftover} in {q!r}")
    return q


def panel_queries(dash: dict[str, Any], overrides: dict[str, str] | None = None, range_s: int = 86400,
                  min_interval_s: int = 60) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """(panel, target, interpolated InfluxQL) for every target of every panel of `dash`."""
    values = variable_defaults(dash, overrides)
    out = []
    for p in iter_panels(dash):
        r = _seconds(p["timeFrom"]) if p.get("timeFrom") else range_s
        for t in p.get("targets", []):
            out.append((p, t, substitute(t["query"], values, range_s=r, interval=p.get("interval"),
                                         min_interval_s=min_interval_s)))
    return out


def rule_queries(rules: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """(rule, data node, interpolated InfluxQL) for every InfluxDB node of every alert rule."""
    out = []
    for g in rules["groups"]:
        for r in g["rules"]:
            for node in r["data"]:
                if node["datasourceUid"] == "__expr__":
                    continue
                q = substitute(node["model"]["query"], {}, range_s=node["relativeTimeRange"]["from"],
                               interval="1m")
                out.append((r, node, q))
    return out
