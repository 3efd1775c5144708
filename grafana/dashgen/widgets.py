"""Building blocks every dashboard is made of: palette, datasource, panels, layout, variables.

One place for the JSON shapes Grafana expects, so the dashboards only say what they show.
"""

from __future__ import annotations

from typing import Any

DS_UID = "sentinelle-influxdb"
DS = {"type": "influxdb", "uid": DS_UID}
SCHEMA_VERSION = 39
FOLDER = "Sentinelle"

# Okabe-Ito palette
BLUE = "#0072B2"
SKY = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#999999"
OKABE_ITO = [BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, YELLOW, GREY]

# Optical budget of GPON class B+ at the ONT (dBm): sensitivity and overload.
RX_MIN_DBM = -27
RX_MAX_DBM = -8
BATTERY_MIN_ALERT = 15

# WHERE clause fragments for the template variables (multi-value, "All" = .*)
F_SITE = '"site" =~ /^$site$/'
F_ORG = '"member" =~ /^$member$/ AND "contract" =~ /^$contract$/ AND "operator" =~ /^$operator$/'
F_ALL = f'{F_ORG} AND {F_SITE} AND "device_kind" =~ /^$device_kind$/'
F_AGENT = '"agent" =~ /^$agent$/'

# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------


def target(query: str, ref: str = "A", fmt: str = "time_series", alias: str | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"refId": ref, "datasource": DS, "query": query, "rawQuery": True, "resultFormat": fmt}
    if alias:
        t["alias"] = alias
    return t


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def bool_mapping(true_text: str, true_color: str, false_text: str, false_color: str) -> list[dict[str, Any]]:
    return [{"type": "value", "options": {
        "true": {"text": true_text, "color": true_color, "index": 0},
        "false": {"text": false_text, "color": false_color, "index": 1},
    }}]


def override_name(name: str, **props: Any) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


def override_regex(rx: str, **props: Any) -> dict[str, Any]:
    return {"matcher": {"id": "byRegexp", "options": rx},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


LEGEND = {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []}
LEGEND_TABLE = {"showLegend": True, "displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]}
TOOLTIP = {"mode": "multi", "sort": "desc"}
REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def ts_custom(draw: str = "line", stack: bool = False, thresholds_style: str = "off", fill: int = 10) -> dict[str, Any]:
    return {
        "drawStyle": draw, "lineWidth": 2, "fillOpacity": 80 if draw == "bars" else fill,
        "showPoints": "never", "spanNulls": False, "lineInterpolation": "linear",
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisPlacement": "auto", "thresholdsStyle": {"mode": thresholds_style},
        "barAlignment": 0, "gradientMode": "none",
    }


class Layout:
    """Places panels left to right on Grafana's 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1
        self.panels: list[dict[str, Any]] = []

    def row(self, title: str) -> None:
        self.newline()
        self.panels.append({"type": "row", "id": self.next_id, "title": title, "collapsed": False, "panels": [],
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}})
        self.next_id += 1
        self.y += 1

    def newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> dict[str, Any]:
        if self.x + w > 24:
            self.newline()
        panel = {"id": self.next_id, **panel, "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h}}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)
        return panel


def panel(kind: str, title: str, description: str, targets: list[dict[str, Any]], *, unit: str | None = None,
          th: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
          custom: dict[str, Any] | None = None, overrides: list[dict[str, Any]] | None = None,
          mappings: list[dict[str, Any]] | None = None, color: dict[str, Any] | None = None,
          transformations: list[dict[str, Any]] | None = None, time_from: str | None = None,
          interval: str | None = None, min_: float | None = None, max_: float | None = None,
          decimals: int | None = None, no_value: str | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    defaults["thresholds"] = th or thresholds((None, BLUE))
    defaults["color"] = color or {"mode": "thresholds" if kind in ("stat", "bargauge", "gauge") else "palette-classic"}
    if mappings:
        defaults["mappings"] = mappings
    if custom is not None:
        defaults["custom"] = custom
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if decimals is not None:
        defaults["decimals"] = decimals
    if no_value:
        defaults["noValue"] = no_value
    p: dict[str, Any] = {
        "type": kind, "title": title, "description": description, "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {}, "targets": targets,
    }
    if transformations:
        p["transformations"] = transformations
    if time_from:
        p["timeFrom"] = time_from
    if interval:
        p["interval"] = interval
    return p


def stat_options(color_mode: str = "background", text_mode: str = "value_and_name") -> dict[str, Any]:
    return {"reduceOptions": REDUCE_LAST, "orientation": "auto", "colorMode": color_mode, "graphMode": "none",
            "justifyMode": "auto", "textMode": text_mode, "wideLayout": True, "showPercentChange": False,
            "percentChangeColorMode": "standard", "text": {}}


def bargauge_options() -> dict[str, Any]:
    return {"reduceOptions": REDUCE_LAST, "orientation": "horizontal", "displayMode": "basic",
            "valueMode": "color", "namePlacement": "left", "showUnfilled": True, "sizing": "auto",
            "minVizWidth": 8, "minVizHeight": 16, "maxVizHeight": 300, "legend": LEGEND_OFF, "text": {}}


LEGEND_OFF = {"showLegend": False, "displayMode": "list", "placement": "bottom", "calcs": []}


def ts_options(legend: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"legend": legend or LEGEND, "tooltip": TOOLTIP}


def table_options(sort: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    o: dict[str, Any] = {"showHeader": True, "cellHeight": "sm", "frameIndex": 0,
                         "footer": {"show": False, "reducer": ["sum"], "fields": "", "countRows": False}}
    if sort:
        o["sortBy"] = sort
    return o


def timeline_options() -> dict[str, Any]:
    return {"showValue": "never", "rowHeight": 0.8, "mergeValues": True, "alignValue": "left",
            "legend": LEGEND, "tooltip": TOOLTIP}


def query_variable(name: str, label: str, measurement: str, key: str, where: str | None = None) -> dict[str, Any]:
    q = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"'
    if where:
        q += f" WHERE {where}"
    return {
        "name": name, "label": label, "type": "query", "datasource": DS, "query": q,
        "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*", "sort": 1, "hide": 0,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "regex": "",
    }


def custom_variable(name: str, label: str, values: list[str], default: str, description: str) -> dict[str, Any]:
    return {
        "name": name, "label": label, "type": "custom", "query": ",".join(values), "description": description,
        "multi": False, "includeAll": False, "hide": 0,
        "current": {"selected": True, "text": default, "value": default},
        "options": [{"selected": v == default, "text": v, "value": v} for v in values],
    }


def org_variables(measurement: str) -> list[dict[str, Any]]:
    return [
        query_variable("member", "Membre", measurement, "member"),
        query_variable("contract", "Contrat", measurement, "contract", '"member" =~ /^$member$/'),
        query_variable("operator", "Opérateur", measurement, "operator",
                       '"member" =~ /^$member$/ AND "contract" =~ /^$contract$/'),
        query_variable("site", "Site", measurement, "site", F_ORG),
        query_variable("device_kind", "Type d'équipement", measurement, "device_kind", f"{F_ORG} AND {F_SITE}"),
    ]


def annotation(name: str, color: str, kinds: list[str], tag: str = "event", text: str = "message") -> dict[str, Any]:
    """Event points as annotations. Every event (agent/events.py) carries its kind in the tag
    `event` and the fields `kind`, `state` (start, end, instant), `message`, `duration_s`."""
    cond = " OR ".join(f"\"{tag}\"::tag = '{k}'" for k in kinds)
    q = (f'SELECT "{text}", "site", "device" FROM "event" WHERE ({cond}) '
         f"AND {F_ALL} AND $timeFilter")
    return {"name": name, "datasource": DS, "enable": True, "hide": False, "iconColor": color,
            "target": {"refId": "Anno", "query": q, "rawQuery": True, "resultFormat": "table",
                       "textColumn": text, "tagsColumn": "site,device"}}


def dashboard(uid: str, title: str, description: str, tags: list[str], layout: Layout,
              variables: list[dict[str, Any]], annotations: list[dict[str, Any]] | None = None,
              time_from: str = "now-24h", refresh: str = "1m") -> dict[str, Any]:
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
               "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
    return {
        "uid": uid, "title": title, "description": description, "tags": tags, "editable": False,
        "graphTooltip": 1, "schemaVersion": SCHEMA_VERSION, "version": 1, "timezone": "browser",
        "time": {"from": time_from, "to": "now"}, "refresh": refresh, "fiscalYearStartMonth": 0,
        "liveNow": False, "weekStart": "monday",
        "timepicker": {"refresh_intervals": ["30s", "1m", "5m", "15m", "1h"]},
        "links": [{"title": "Tableaux Sentinelle", "type": "dashboards", "tags": ["sentinelle"], "asDropdown": True,
                   "icon": "external link", "includeVars": True, "keepTime": True, "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "annotations": {"list": [builtin, *(annotations or [])]},
        "templating": {"list": variables},
        "panels": layout.panels,
    }


def iter_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    """Every non-row panel, including those inside collapsed rows."""
    out = []
    for p in dash.get("panels", []):
        if p.get("type") == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out
