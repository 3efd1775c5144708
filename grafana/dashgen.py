#!/usr/bin/env python3
"""Source of truth for Sentinelle's Grafana dashboards and alert rules.

    python grafana/dashgen.py          # rewrite grafana/dashboards/*.json and the alert rules
    python grafana/dashgen.py --check  # exit 1 if the committed files differ from this source

Everything a panel or rule queries is written here once, in InfluxQL that runs unchanged on
InfluxDB 1.x, on 2.x through a DBRP mapping and on 3.x (no subqueries, no INTO, no Flux).
tests/test_grafana_*.py run every query against a real influxd; grafana/README.md lists the
measurements and fields used, for reconciliation with the collectors.

Colours: Okabe-Ito (colour-blind safe); a state is never told by colour alone (text mappings).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"
ALERT_RULES_PATH = HERE / "provisioning" / "alerting" / "sentinelle-rules.yaml"

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


# --------------------------------------------------------------------------------------------
# Résilience / NOC
# --------------------------------------------------------------------------------------------

UP = bool_mapping("Joignable", BLUE, "Injoignable", VERMILLION)


def noc_dashboard() -> dict[str, Any]:
    L = Layout()
    L.row("Maintenant (15 dernières minutes)")
    L.add(panel(
        "stat", "Équipements : joignables ou non",
        "Dernier résultat du poll SNMP de chaque équipement (device_status.reachable) sur les 15 dernières minutes. "
        "Bleu « Joignable », vermillon « Injoignable ».",
        [target(f'SELECT last("reachable") AS "joignable" FROM "device_status" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY "site", "device"', alias="$tag_device ($tag_site)")],
        mappings=UP, options=stat_options(), time_from="15m", no_value="Aucun équipement"), 12, 8)
    L.add(panel(
        "stat", "Onduleurs : secteur ou batterie",
        "Dernier état des onduleurs (ups.on_battery). Orange « Sur batterie » : le site n'est plus alimenté par le réseau.",
        [target(f'SELECT last("on_battery") FROM "ups" WHERE {F_ALL} AND $timeFilter GROUP BY "site", "device"',
                alias="$tag_device ($tag_site)")],
        mappings=bool_mapping("Sur batterie", ORANGE, "Secteur", BLUE), options=stat_options(),
        time_from="15m", no_value="Aucun onduleur"), 6, 4)
    L.add(panel(
        "stat", "Interfaces down",
        "Interfaces dont l'état opérationnel (interface.oper_up) est down sur les 10 dernières minutes, avec le nombre "
        "de relevés down. Les ports désactivés administrativement apparaissent aussi.",
        [target(f'SELECT count("oper_up") AS "relevés down" FROM "interface" WHERE "oper_up" = false AND {F_ALL} '
                'AND $timeFilter GROUP BY "site", "device", "interface"',
                alias="$tag_device $tag_interface ($tag_site)")],
        unit="short", decimals=0, th=thresholds((None, VERMILLION)), options=stat_options(), time_from="10m",
        no_value="Aucune interface down"), 6, 4)
    L.add(panel(
        "bargauge", "Autonomie batterie restante",
        "Autonomie annoncée par chaque onduleur (ups.battery_minutes_remaining). Vermillon sous 10 min, orange sous 20 min.",
        [target(f'SELECT last("battery_minutes_remaining") FROM "ups" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY "site", "device"', alias="$tag_device ($tag_site)")],
        unit="m", min_=0, th=thresholds((None, VERMILLION), (10, ORANGE), (20, BLUE)),
        options=bargauge_options(), time_from="15m", decimals=0), 6, 4)
    L.add(panel(
        "bargauge", "Charge batterie",
        "Charge des batteries des onduleurs (ups.battery_charge_pct).",
        [target(f'SELECT last("battery_charge_pct") FROM "ups" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY "site", "device"', alias="$tag_device ($tag_site)")],
        unit="percent", min_=0, max_=100, th=thresholds((None, VERMILLION), (30, ORANGE), (60, BLUE)),
        options=bargauge_options(), time_from="15m", decimals=0), 6, 4)
    L.add(panel(
        "table", "Passerelles LoRa : état et dernier contact",
        "État de chaque passerelle LoRaWAN (lora_gateway.online) et temps écoulé depuis son dernier message "
        "(last_seen_age_s). Orange au-delà de 15 min, vermillon au-delà d'une heure.",
        [target(f'SELECT last("online") AS "en ligne", last("last_seen_age_s") / 60 AS "vue il y a" '
                f'FROM "lora_gateway" WHERE {F_ALL} AND $timeFilter GROUP BY "site", "device", "gateway_id"', fmt="table")],
        options=table_options([{"displayName": "vue il y a", "desc": True}]), time_from="15m",
        overrides=[
            override_name("Time", **{"custom.hidden": True}),
            override_name("en ligne", mappings=bool_mapping("En ligne", BLUE, "Hors ligne", VERMILLION),
                          **{"custom.cellOptions": {"type": "color-text"}}),
            override_name("vue il y a", unit="m", decimals=0,
                          thresholds=thresholds((None, BLUE), (15, ORANGE), (60, VERMILLION)),
                          **{"custom.cellOptions": {"type": "color-background"}}),
        ]), 12, 8)
    L.add(panel(
        "table", "ONT hors budget optique",
        "ONT dont la puissance reçue (ont.rx_power_dbm) sort du budget [$rx_min ; $rx_max] dBm sur les 15 dernières "
        "minutes (classe B+ : -27 / -8 dBm). Seuils réglables par les variables rx_min et rx_max.",
        [target(f'SELECT last("rx_power_dbm") AS "rx" FROM "ont" WHERE {F_ALL} AND $timeFilter '
                'AND ("rx_power_dbm" < $rx_min OR "rx_power_dbm" > $rx_max) '
                'GROUP BY "site", "device", "pon", "ont_id", "ont_name"', fmt="table")],
        options=table_options([{"displayName": "rx", "desc": False}]), time_from="15m",
        no_value="Tous les ONT dans le budget",
        overrides=[
            override_name("Time", **{"custom.hidden": True}),
            override_name("rx", unit="dBm", decimals=1,
                          thresholds=thresholds((None, VERMILLION), (RX_MIN_DBM, BLUE), (RX_MAX_DBM, VERMILLION)),
                          **{"custom.cellOptions": {"type": "color-background"}}),
        ]), 12, 8)

    L.row("Historique")
    L.add(panel(
        "state-timeline", "Joignabilité des équipements",
        "Joignabilité de chaque équipement au fil du temps (dernier poll de chaque intervalle).",
        [target(f'SELECT last("reachable") FROM "device_status" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device" fill(none)', alias="$tag_device ($tag_site)")],
        mappings=UP, options=timeline_options(), custom={"lineWidth": 0, "fillOpacity": 80}), 24, 8)
    L.add(panel(
        "timeseries", "Autonomie (min) et charge (%) des batteries",
        "Autonomie restante (axe gauche, minutes) et charge (axe droit, %) des onduleurs. Les coupures "
        "secteur apparaissent en annotations.",
        [target(f'SELECT mean("battery_minutes_remaining") FROM "ups" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device" fill(none)', alias="autonomie $tag_device"),
         target(f'SELECT mean("battery_charge_pct") FROM "ups" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device" fill(none)', ref="B", alias="charge $tag_device")],
        unit="m", min_=0, custom=ts_custom(thresholds_style="dashed"),
        th=thresholds((None, VERMILLION), (BATTERY_MIN_ALERT, BLUE)),
        overrides=[override_regex("^charge .*", unit="percent", max=100,
                                  **{"custom.axisPlacement": "right", "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                                     "custom.thresholdsStyle": {"mode": "off"}})],
        options=ts_options()), 12, 8)
    L.add(panel(
        "timeseries", "Coupures secteur vues par les onduleurs",
        "Nombre de coupures secteur par heure, d'après le compteur des onduleurs (ups.input_line_bads) : "
        "son augmentation dans l'heure (spread), comme l'alerte « Coupure secteur ».",
        [target(f'SELECT spread("input_line_bads") FROM "ups" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device" fill(none)', alias="$tag_device ($tag_site)")],
        unit="short", min_=0, decimals=0, custom=ts_custom("bars"), interval="1h",
        color={"mode": "fixed", "fixedColor": ORANGE}, options=ts_options()), 12, 8)
    L.add(panel(
        "table", "Épisodes : coupures, batterie, liens, passerelles",
        "Événements enregistrés par l'agent (mesure event) : équipement injoignable (unreachable), onduleur sur "
        "batterie (on_battery) ou batterie faible (battery_low), lien down (link_down), redémarrage (reboot), "
        "passerelle LoRa hors ligne (gateway_offline). Début (start) et fin (end) de chaque épisode ; "
        "la durée figure sur l'événement de fin.",
        [target(f'SELECT "kind" AS "type", "state" AS "état", "message", '
                f'"duration_s" / 60 AS "durée" FROM "event" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY "site", "device", "event"', fmt="table")],
        options=table_options([{"displayName": "Time", "desc": True}]),
        overrides=[override_name("durée", unit="m", decimals=0),
                   override_name("Time", unit="time:YYYY-MM-DD HH:mm")]), 12, 9)
    L.add(panel(
        "timeseries", "Niveaux optiques des ONT",
        "Puissance reçue par ONT (ont.rx_power_dbm). Lignes pointillées : budget optique classe B+ (-27 et -8 dBm).",
        [target(f'SELECT mean("rx_power_dbm") FROM "ont" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device", "pon", "ont_id" fill(none)',
                alias="$tag_device $tag_pon ONT $tag_ont_id")],
        unit="dBm", custom=ts_custom(thresholds_style="dashed"),
        th=thresholds((None, VERMILLION), (RX_MIN_DBM, BLUE), (RX_MAX_DBM, VERMILLION)),
        options=ts_options(LEGEND_TABLE)), 12, 9)
    L.add(panel(
        "state-timeline", "Interfaces : état opérationnel",
        "État opérationnel des interfaces (interface.oper_up).",
        [target(f'SELECT last("oper_up") FROM "interface" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device", "interface" fill(none)',
                alias="$tag_device $tag_interface")],
        mappings=bool_mapping("Up", BLUE, "Down", VERMILLION), options=timeline_options(),
        custom={"lineWidth": 0, "fillOpacity": 80}), 12, 9)
    L.add(panel(
        "timeseries", "Passerelles LoRa : temps depuis le dernier contact",
        "Minutes écoulées depuis le dernier message de chaque passerelle (lora_gateway.last_seen_age_s).",
        [target(f'SELECT max("last_seen_age_s") / 60 FROM "lora_gateway" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device" fill(none)', alias="$tag_device ($tag_site)")],
        unit="m", min_=0, custom=ts_custom(thresholds_style="dashed"),
        th=thresholds((None, BLUE), (15, ORANGE), (60, VERMILLION)), options=ts_options()), 12, 9)

    variables = org_variables("device_status") + [
        custom_variable("rx_min", "Rx ONT min (dBm)", ["-27", "-28", "-30", "-32"], str(RX_MIN_DBM),
                        "Sensibilité de l'ONT : -27 dBm en classe B+, -30 en C+, -32 en C++."),
        custom_variable("rx_max", "Rx ONT max (dBm)", ["-8", "-7", "-6"], str(RX_MAX_DBM),
                        "Surcharge de l'ONT : -8 dBm en classe B+ et C+."),
    ]
    annotations = [
        annotation("Équipements injoignables", VERMILLION, ["unreachable"]),
        annotation("Onduleurs sur batterie", ORANGE, ["on_battery", "battery_low"]),
        annotation("Liens down", PURPLE, ["link_down"]),
        annotation("Passerelles LoRa", SKY, ["gateway_offline"]),
    ]
    return dashboard("sentinelle-noc", "Sentinelle — Résilience / NOC",
                     "État des sites et des équipements du réseau : joignabilité, onduleurs et coupures secteur, "
                     "interfaces, passerelles LoRa, niveaux optiques GPON. Filtres par membre, contrat, opérateur, "
                     "site et type d'équipement.",
                     ["sentinelle", "noc", "résilience"], L, variables, annotations)


# --------------------------------------------------------------------------------------------
# Énergie et décarbonation
# --------------------------------------------------------------------------------------------

KWH = "kwatth"
G_CO2 = "suffix: gCO₂e"
KG_CO2 = "suffix: kgCO₂e"
G_PER_KWH = "suffix: gCO₂e/kWh"
PRIMARY = "\"meter_role\" = 'primary'"


# A PUE below 1 is not a good score but a meter hierarchy that cannot be true (an IT sub-meter
# reading more than its facility parent): red, and worded as such, never a pleasing 0.06.
PUE_THRESHOLDS = thresholds((None, VERMILLION), (1.0, BLUE), (1.6, ORANGE), (2.0, VERMILLION))
PUE_IMPOSSIBLE = [{"type": "range", "options": {"from": 0, "to": 0.999999, "result": {
    "text": "incohérent (< 1) : vérifier les compteurs", "color": VERMILLION, "index": 0}}}]


def pue_transformations() -> list[dict[str, Any]]:
    return [
        {"id": "joinByField", "options": {"byField": "Time", "mode": "outer"}},
        {"id": "calculateField", "options": {"mode": "binary", "alias": "PUE", "replaceFields": True,
                                             "binary": {"left": "site", "operator": "/", "right": "IT"}}},
    ]


def energy_dashboard() -> dict[str, Any]:
    L = Layout()
    L.row("Sur la période")
    L.add(panel(
        "stat", "Énergie consommée",
        "Somme des kWh des compteurs principaux (energy.kwh, meter_role=primary) : un compteur divisionnaire n'est pas "
        "compté deux fois.",
        [target(f'SELECT sum("kwh") FROM "energy" WHERE {PRIMARY} AND {F_ALL} AND $timeFilter', alias="kWh")],
        unit=KWH, decimals=0, options=stat_options("value", "value"),
        color={"mode": "fixed", "fixedColor": BLUE}), 5, 5)
    L.add(panel(
        "stat", "Émissions BEGES (facteur ADEME annuel)",
        "Émissions calculées avec le facteur annuel ADEME Base Empreinte « électricité, mix moyen, consommation » "
        "(carbon.gco2e, track=beges) : la valeur réglementaire pour le BEGES (scope 2, électricité seulement).",
        [target(f"SELECT sum(\"gco2e\") / 1000 FROM \"carbon\" WHERE \"track\" = 'beges' AND {PRIMARY} AND {F_ALL} "
                "AND $timeFilter", alias="BEGES")],
        unit=KG_CO2, decimals=1, options=stat_options("value", "value"),
        color={"mode": "fixed", "fixedColor": BLUE}), 5, 5)
    L.add(panel(
        "stat", "Émissions selon le réseau (éCO2mix)",
        "Émissions calculées avec l'intensité carbone du réseau à chaque intervalle (carbon.gco2e, track=grid) : "
        "pour le pilotage et le décalage des consommations.",
        [target(f"SELECT sum(\"gco2e\") / 1000 FROM \"carbon\" WHERE \"track\" = 'grid' AND {PRIMARY} AND {F_ALL} "
                "AND $timeFilter", alias="réseau")],
        unit=KG_CO2, decimals=1, options=stat_options("value", "value"),
        color={"mode": "fixed", "fixedColor": ORANGE}), 5, 5)
    L.add(panel(
        "stat", "Intensité carbone moyenne du réseau",
        "Moyenne de l'intensité carbone du réseau électrique appliquée aux kWh (carbon.factor_gco2e_per_kwh, "
        "track=grid).",
        [target(f"SELECT mean(\"factor_gco2e_per_kwh\") FROM \"carbon\" WHERE \"track\" = 'grid' AND {F_ALL} "
                "AND $timeFilter", alias="intensité")],
        unit=G_PER_KWH, decimals=0, options=stat_options("value", "value"),
        th=thresholds((None, BLUE), (60, ORANGE), (100, VERMILLION))), 4, 5)
    L.add(panel(
        "stat", "PUE des centres de données",
        "Power Usage Effectiveness = énergie du site (meter_load=facility) / énergie IT (meter_load=it), centres de données "
        "seulement (site_kind=datacentre). 1,0 serait parfait ; en dessous de 1, la charge IT dépasse le compteur du "
        "site : hiérarchie de compteurs incohérente, affichée en rouge « incohérent ».",
        [target(f"SELECT sum(\"kwh\") FROM \"energy\" WHERE \"meter_load\" = 'facility' AND \"site_kind\" = 'datacentre' "
                f"AND {F_ALL} AND $timeFilter", alias="site"),
         target(f"SELECT sum(\"kwh\") FROM \"energy\" WHERE \"meter_load\" = 'it' AND \"site_kind\" = 'datacentre' "
                f"AND {F_ALL} AND $timeFilter", ref="B", alias="IT")],
        unit="none", decimals=2, transformations=pue_transformations(), options=stat_options("value", "value"),
        th=PUE_THRESHOLDS, mappings=PUE_IMPOSSIBLE), 5, 5)

    L.row("Consommation")
    L.add(panel(
        "timeseries", "Énergie par site (kWh par heure)",
        "kWh consommés par heure et par site (compteurs principaux).",
        [target(f'SELECT sum("kwh") FROM "energy" WHERE {PRIMARY} AND {F_ALL} AND $timeFilter '
                'GROUP BY time(1h), "site" fill(none)', alias="$tag_site")],
        unit=KWH, min_=0, custom=ts_custom("bars", stack=True), options=ts_options()), 12, 8)
    L.add(panel(
        "timeseries", "Puissance appelée",
        "Puissance moyenne mesurée par les PDU et compteurs (pdu.power_w).",
        [target(f'SELECT mean("power_w") FROM "pdu" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device" fill(none)', alias="$tag_device ($tag_site)")],
        unit="watt", min_=0, custom=ts_custom(), options=ts_options()), 12, 8)
    L.add(panel(
        "bargauge", "kWh par membre",
        "Énergie consommée sur la période par membre du syndicat (compteurs principaux).",
        [target(f'SELECT sum("kwh") FROM "energy" WHERE {PRIMARY} AND {F_ALL} AND $timeFilter GROUP BY "member"',
                alias="$tag_member")],
        unit=KWH, min_=0, decimals=0, options=bargauge_options(), color={"mode": "fixed", "fixedColor": BLUE}), 8, 7)
    L.add(panel(
        "bargauge", "kWh par contrat",
        "Énergie consommée sur la période par contrat (DSP, marché).",
        [target(f'SELECT sum("kwh") FROM "energy" WHERE {PRIMARY} AND {F_ALL} AND $timeFilter GROUP BY "contract"',
                alias="$tag_contract")],
        unit=KWH, min_=0, decimals=0, options=bargauge_options(), color={"mode": "fixed", "fixedColor": SKY}), 8, 7)
    L.add(panel(
        "table", "Principaux consommateurs",
        "Les dix compteurs qui ont consommé le plus sur la période (tous rôles : principal et divisionnaire).",
        [target(f'SELECT sum("kwh") AS "kWh" FROM "energy" WHERE {F_ALL} AND $timeFilter '
                'GROUP BY "site", "device", "meter_role", "meter_load"', fmt="table")],
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}},
                         {"id": "sortBy", "options": {"sort": [{"field": "kWh", "desc": True}]}},
                         {"id": "limit", "options": {"limitField": 10}}],
        options=table_options(),
        overrides=[override_name("kWh", unit=KWH, decimals=1,
                                 **{"custom.cellOptions": {"type": "gauge", "mode": "basic"}},
                                 color={"mode": "fixed", "fixedColor": BLUE})]), 8, 7)

    L.row("Décarbonation")
    L.add(panel(
        "timeseries", "Émissions horaires : BEGES et réseau",
        "gCO₂e par heure selon les deux méthodes : facteur annuel ADEME (BEGES, trait plein bleu) et intensité du "
        "réseau à chaque intervalle (éCO2mix, tirets orange).",
        [target(f'SELECT sum("gco2e") FROM "carbon" WHERE {PRIMARY} AND {F_ALL} AND $timeFilter '
                'GROUP BY time(1h), "track" fill(none)', alias="$tag_track")],
        unit=G_CO2, min_=0, custom=ts_custom(), options=ts_options(),
        overrides=[override_name("beges", displayName="BEGES (ADEME)", color={"mode": "fixed", "fixedColor": BLUE}),
                   override_name("grid", displayName="Réseau (éCO2mix)", color={"mode": "fixed", "fixedColor": ORANGE},
                                 **{"custom.lineStyle": {"fill": "dash", "dash": [10, 10]}})]), 12, 8)
    L.add(panel(
        "timeseries", "Intensité carbone du réseau électrique",
        "Intensité carbone du réseau appliquée aux kWh (carbon.factor_gco2e_per_kwh, track=grid ; RTE éCO2mix "
        "ou Electricity Maps). Les creux sont les meilleurs moments pour les consommations décalables.",
        [target(f"SELECT mean(\"factor_gco2e_per_kwh\") FROM \"carbon\" WHERE \"track\" = 'grid' AND {F_ALL} "
                "AND $timeFilter GROUP BY time($__interval) fill(previous)", alias="intensité")],
        unit=G_PER_KWH, min_=0, interval="15m", custom=ts_custom(thresholds_style="dashed"),
        th=thresholds((None, BLUE), (60, ORANGE), (100, VERMILLION)),
        color={"mode": "fixed", "fixedColor": PURPLE}, options=ts_options()), 12, 8)
    L.add(panel(
        "timeseries", "PUE des centres de données (par heure)",
        "PUE heure par heure : énergie du site / énergie IT (site_kind=datacentre). Zone rouge sous 1 : "
        "impossible physiquement, la hiérarchie de compteurs est incohérente (câblage, échelle ou rôle à vérifier).",
        [target(f"SELECT sum(\"kwh\") FROM \"energy\" WHERE \"meter_load\" = 'facility' AND \"site_kind\" = 'datacentre' "
                f"AND {F_ALL} AND $timeFilter GROUP BY time(1h) fill(none)", alias="site"),
         target(f"SELECT sum(\"kwh\") FROM \"energy\" WHERE \"meter_load\" = 'it' AND \"site_kind\" = 'datacentre' "
                f"AND {F_ALL} AND $timeFilter GROUP BY time(1h) fill(none)", ref="B", alias="IT")],
        unit="none", decimals=2, transformations=pue_transformations(), custom=ts_custom(thresholds_style="line+area"),
        th=PUE_THRESHOLDS,
        color={"mode": "fixed", "fixedColor": GREEN}, options=ts_options()), 12, 8)
    L.add(panel(
        "piechart", "Complétude : kWh par méthode",
        "Part de l'énergie mesurée (compteur), intégrée (puissance intégrée dans le temps), importée (historique "
        "d'un compteur ou courbe de charge Enedis, `sentinelle import`) et estimée (trou de données comblé). Plus "
        "la part estimée est faible, plus le bilan est complet.",
        [target(f'SELECT sum("kwh") FROM "energy" WHERE {F_ALL} AND $timeFilter GROUP BY "method"',
                alias="$tag_method")],
        unit=KWH, options={"reduceOptions": {"calcs": ["sum"], "fields": "", "values": False},
                           "pieType": "donut", "displayLabels": ["name", "percent"],
                           "legend": {"showLegend": True, "displayMode": "table", "placement": "right",
                                      "values": ["value", "percent"], "calcs": []},
                           "tooltip": {"mode": "single", "sort": "none"}},
        overrides=[override_name("measured", displayName="mesurée", color={"mode": "fixed", "fixedColor": BLUE}),
                   override_name("integrated", displayName="intégrée", color={"mode": "fixed", "fixedColor": SKY}),
                   override_name("imported", displayName="importée", color={"mode": "fixed", "fixedColor": GREEN}),
                   override_name("estimated", displayName="estimée", color={"mode": "fixed", "fixedColor": ORANGE}),
                   override_name("missing", displayName="manquante", color={"mode": "fixed", "fixedColor": GREY})]),
        12, 8)
    L.add(panel(
        "table", "Complétude par site",
        "kWh par site et par méthode de calcul (mesurée, intégrée, importée, estimée) sur la période.",
        [target(f'SELECT sum("kwh") AS "kWh", count("kwh") AS "intervalles" FROM "energy" WHERE {F_ALL} '
                'AND $timeFilter GROUP BY "site", "method"', fmt="table")],
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        options=table_options([{"displayName": "site", "desc": False}]),
        overrides=[override_name("kWh", unit=KWH, decimals=1)]), 12, 8)

    return dashboard("sentinelle-energie", "Sentinelle — Énergie et décarbonation",
                     "Consommation électrique par site, membre et contrat, émissions de gaz à effet de serre selon "
                     "les deux méthodes (facteur annuel ADEME pour le BEGES, intensité du réseau pour le pilotage), "
                     "PUE des centres de données et complétude des données. Électricité seulement (scope 2).",
                     ["sentinelle", "énergie", "carbone"], L, org_variables("energy"), time_from="now-24h",
                     refresh="5m")


# --------------------------------------------------------------------------------------------
# Agent
# --------------------------------------------------------------------------------------------


def agent_dashboard() -> dict[str, Any]:
    L = Layout()
    L.row("Agents")
    L.add(panel(
        "table", "Agents : dernier signe de vie",
        "Heure du dernier point de supervision interne écrit par chaque agent (agent_internal.spool_bytes, "
        "écrit à chaque relevé interne) et taille du spool à ce moment.",
        [target(f'SELECT last("spool_bytes") AS "spool (octets)" FROM "agent_internal" '
                f'WHERE {F_AGENT} AND $timeFilter GROUP BY "agent"', fmt="table")],
        options=table_options(),
        overrides=[override_name("Time", unit="dateTimeFromNow", displayName="dernier signe de vie",
                                 thresholds=thresholds((None, BLUE)))]), 8, 6)
    L.add(panel(
        "stat", "Polls en échec",
        "Polls en erreur (error) ou arrêtés à leur échéance (deadline) sur la période, par équipement "
        "(agent_internal.polls_total, tag outcome).",
        [target(f'SELECT spread("polls_total") FROM "agent_internal" WHERE "outcome" != \'ok\' AND {F_AGENT} '
                'AND $timeFilter GROUP BY "agent", "device", "outcome"', alias="$tag_device $tag_outcome")],
        unit="short", decimals=0, th=thresholds((None, BLUE), (1, ORANGE)), options=stat_options()), 8, 6)
    L.add(panel(
        "stat", "Erreurs d'écriture vers les puits",
        "Écritures refusées ou échouées vers InfluxDB sur la période (agent_internal.sink_write_errors_total).",
        [target(f'SELECT spread("sink_write_errors_total") FROM "agent_internal" WHERE {F_AGENT} AND $timeFilter '
                'GROUP BY "agent", "sink", "kind"', alias="$tag_agent → $tag_sink ($tag_kind)")],
        unit="short", decimals=0, th=thresholds((None, BLUE), (1, ORANGE), (100, VERMILLION)),
        options=stat_options()), 8, 6)

    L.row("Polls")
    L.add(panel(
        "timeseries", "Durée moyenne d'un poll, par équipement",
        "Durée moyenne des polls vue par l'ordonnanceur de chaque agent (somme / nombre de poll_duration_seconds).",
        [target('SELECT non_negative_derivative(last("poll_duration_seconds_sum"), 1m) / '
                'non_negative_derivative(last("poll_duration_seconds_count"), 1m) FROM "agent_internal" '
                f'WHERE {F_AGENT} AND $timeFilter GROUP BY time($__interval), "agent", "device" fill(none)',
                alias="$tag_device ($tag_agent)")],
        unit="s", min_=0, custom=ts_custom(), options=ts_options(LEGEND_TABLE)), 12, 8)
    L.add(panel(
        "timeseries", "Durée de poll par équipement",
        "Durée du poll de chaque équipement (device_status.poll_duration_s).",
        [target(f'SELECT mean("poll_duration_s") FROM "device_status" WHERE {F_SITE} AND $timeFilter '
                'GROUP BY time($__interval), "site", "device" fill(none)', alias="$tag_device ($tag_site)")],
        unit="s", min_=0, custom=ts_custom(), options=ts_options(LEGEND_TABLE)), 12, 8)
    L.add(panel(
        "timeseries", "Erreurs de poll par équipement",
        "Erreurs SNMP (timeout, échéance, réponse invalide) par équipement, type d'erreur et intervalle "
        "(agent_internal.snmp_errors_total, tag kind).",
        [target('SELECT non_negative_difference(last("snmp_errors_total")) FROM "agent_internal" '
                f"WHERE {F_AGENT} AND \"device\" != '' AND $timeFilter "
                'GROUP BY time($__interval), "agent", "device", "kind" fill(none)',
                alias="$tag_device $tag_kind ($tag_agent)")],
        unit="short", min_=0, decimals=0, custom=ts_custom("bars", stack=True),
        color={"mode": "palette-classic"}, options=ts_options()), 24, 8)

    L.row("Spool et écritures")
    L.add(panel(
        "timeseries", "Spool : points en attente",
        "Points stockés sur disque en attente d'envoi (agent_internal.spool_pending). Croît quand un puits est "
        "injoignable, décroît quand il revient.",
        [target(f'SELECT max("spool_pending") FROM "agent_internal" WHERE {F_AGENT} AND $timeFilter '
                'GROUP BY time($__interval), "agent", "sink" fill(none)', alias="$tag_agent → $tag_sink")],
        unit="short", min_=0, custom=ts_custom(), options=ts_options()), 8, 8)
    L.add(panel(
        "timeseries", "Spool : taille sur disque",
        "Taille du fichier de spool (agent_internal.spool_bytes).",
        [target(f'SELECT max("spool_bytes") FROM "agent_internal" WHERE {F_AGENT} AND $timeFilter '
                'GROUP BY time($__interval), "agent" fill(none)', alias="$tag_agent")],
        unit="bytes", min_=0, custom=ts_custom(), options=ts_options()), 8, 8)
    L.add(panel(
        "timeseries", "Spool : âge du plus ancien point",
        "Âge du plus ancien point non envoyé (agent_internal.spool_oldest_age_seconds). Orange au-delà de 15 min.",
        [target(f'SELECT max("spool_oldest_age_seconds") / 60 FROM "agent_internal" WHERE {F_AGENT} AND $timeFilter '
                'GROUP BY time($__interval), "agent", "sink" fill(none)', alias="$tag_agent → $tag_sink")],
        unit="m", min_=0, custom=ts_custom(thresholds_style="dashed"),
        th=thresholds((None, BLUE), (15, ORANGE), (60, VERMILLION)), options=ts_options()), 8, 8)
    L.add(panel(
        "timeseries", "Points écrits par minute",
        "Points acceptés par chaque puits (agent_internal.sink_points_written_total).",
        [target('SELECT non_negative_derivative(last("sink_points_written_total"), 1m) FROM "agent_internal" '
                f'WHERE {F_AGENT} AND $timeFilter GROUP BY time($__interval), "agent", "sink" fill(none)',
                alias="$tag_agent → $tag_sink")],
        unit="short", min_=0, custom=ts_custom(), options=ts_options()), 12, 8)
    L.add(panel(
        "timeseries", "Points perdus et erreurs d'écriture",
        "Points abandonnés par le spool plein (spool_evicted_total, par mesure, les moins prioritaires d'abord) et "
        "écritures en échec (sink_write_errors_total, par puits et type d'erreur), par intervalle.",
        [target('SELECT non_negative_difference(last("spool_evicted_total")) FROM "agent_internal" '
                f'WHERE {F_AGENT} AND $timeFilter GROUP BY time($__interval), "agent", "measurement" fill(none)',
                alias="perdus $tag_agent $tag_measurement"),
         target('SELECT non_negative_difference(last("sink_write_errors_total")) FROM "agent_internal" '
                f'WHERE {F_AGENT} AND $timeFilter GROUP BY time($__interval), "agent", "sink", "kind" fill(none)',
                ref="B", alias="erreurs $tag_agent → $tag_sink ($tag_kind)")],
        unit="short", min_=0, decimals=0, custom=ts_custom("bars"), options=ts_options(),
        overrides=[override_regex("^perdus .*", color={"mode": "fixed", "fixedColor": VERMILLION}),
                   override_regex("^erreurs .*", color={"mode": "fixed", "fixedColor": ORANGE})]), 12, 8)

    variables = [
        {**query_variable("agent", "Agent", "agent_internal", "agent")},
        query_variable("site", "Site", "device_status", "site"),
    ]
    return dashboard("sentinelle-agent", "Sentinelle — Agents",
                     "Santé des agents Sentinelle : durée et erreurs des polls, spool (profondeur, taille, âge), "
                     "points écrits et perdus, par agent.",
                     ["sentinelle", "agent"], L, variables)


# --------------------------------------------------------------------------------------------
# Inventaire (issue 17): identity read from the devices (collectors/snmp/identity)
# --------------------------------------------------------------------------------------------

F_EQUIPMENT = "\"role\" = 'equipment'"


def inventory_dashboard() -> dict[str, Any]:
    """Inventory and age per site. Identity is written at agent start and then daily, so the
    default range is two days; `sentinelle inventory` gives the full history (first seen)."""
    L = Layout()
    L.row("Inventaire")
    L.add(panel(
        "stat", "Équipements inventoriés",
        "Équipements (châssis, PDU, onduleurs) dont l'identité a été lue sur la période (inventory, role=equipment).",
        [target(f'SELECT count("identified") FROM (SELECT last("identified") AS "identified" FROM "inventory" '
                f'WHERE {F_EQUIPMENT} AND {F_ALL} AND $timeFilter GROUP BY "device", "part")')],
        unit="short", decimals=0, options=stat_options("value", "value"), no_value="0"), 6, 5)
    L.add(panel(
        "stat", "Sans données d'identité",
        "Équipements interrogés dont ni le modèle ni le numéro de série ne sont publiés (inventory.identified = "
        "false) : l'inventaire est incomplet pour eux.",
        [target(f'SELECT count("identified") FROM (SELECT last("identified") AS "identified" FROM "inventory" '
                f'WHERE {F_EQUIPMENT} AND {F_ALL} AND $timeFilter GROUP BY "device", "part") '
                "WHERE \"identified\" = false")],
        unit="short", decimals=0, th=thresholds((None, BLUE), (1, ORANGE)), options=stat_options(), no_value="0"), 6, 5)
    L.add(panel(
        "bargauge", "Âge des équipements (depuis la date de fabrication)",
        "Âge à la dernière lecture, calculé depuis la date de fabrication publiée par l'équipement "
        "(inventory.age_from_mfg_years). Les équipements sans date de fabrication n'y figurent pas : "
        "`sentinelle inventory` donne leur âge depuis leur première apparition.",
        [target(f'SELECT last("age_from_mfg_years") FROM "inventory" WHERE {F_EQUIPMENT} AND {F_ALL} '
                'AND $timeFilter GROUP BY "site", "device", "part"', alias="$tag_site / $tag_device")],
        unit="suffix: ans", decimals=1, min_=0, th=thresholds((None, BLUE), (8, ORANGE), (12, VERMILLION)),
        options=bargauge_options()), 12, 10)
    L.add(panel(
        "table", "Inventaire par site",
        "Modèle, numéro de série, micrologiciel et date de fabrication lus sur chaque équipement "
        "(ENTITY-MIB, UPS-MIB, tables d'identité des constructeurs). Les valeurs absurdes (numéros vides, "
        "dates 1970-01-01, « unknown ») ne sont jamais affichées : elles sont listées dans « refusé ».",
        [target('SELECT last("vendor") AS "constructeur", last("model") AS "modèle", last("serial") AS "n° de série", '
                'last("firmware") AS "micrologiciel", last("mfg_date") AS "fabrication", last("flags") AS "refusé" '
                f'FROM "inventory" WHERE {F_EQUIPMENT} AND {F_ALL} AND $timeFilter '
                'GROUP BY "site", "device", "part", "part_class"', fmt="table")],
        options=table_options([{"displayName": "site", "desc": False}]),
        overrides=[override_name("Time", unit="dateTimeAsIso", displayName="dernière lecture")]), 24, 10)
    return dashboard("sentinelle-inventaire", "Sentinelle — Inventaire",
                     "Inventaire des équipements lu sur le réseau : modèles, numéros de série, micrologiciels, âge, "
                     "par site, membre et contrat.",
                     ["sentinelle", "inventaire"], L, org_variables("inventory"), time_from="now-2d", refresh="1h")


DASHBOARDS = {
    "resilience-noc.json": noc_dashboard,
    "energie-decarbonation.json": energy_dashboard,
    "agent.json": agent_dashboard,
    "inventaire.json": inventory_dashboard,
}


# --------------------------------------------------------------------------------------------
# Alert rules (Grafana unified alerting, file provisioning)
# --------------------------------------------------------------------------------------------


def _influx_node(ref: str, query: str, seconds: int) -> dict[str, Any]:
    return {"refId": ref, "relativeTimeRange": {"from": seconds, "to": 0}, "datasourceUid": DS_UID,
            "model": {"refId": ref, "datasource": DS, "query": query, "rawQuery": True,
                      "resultFormat": "time_series", "intervalMs": 60000, "maxDataPoints": 43200}}


def _expr(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    return {"refId": ref, "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": "__expr__",
            "model": {"refId": ref, "datasource": {"type": "__expr__", "uid": "__expr__"}, **model}}


def _reduce(ref: str, of: str, reducer: str = "last") -> dict[str, Any]:
    return _expr(ref, {"type": "reduce", "expression": of, "reducer": reducer, "settings": {"mode": "dropNN"}})


def _threshold(ref: str, of: str, op: str, *params: float) -> dict[str, Any]:
    return _expr(ref, {"type": "threshold", "expression": of,
                       "conditions": [{"evaluator": {"type": op, "params": list(params)}}]})


def rule(uid: str, title: str, query: str, seconds: int, op: str, params: list[float], *, summary: str,
         description: str, severity: str, for_: str, reducer: str = "last", no_data: str = "OK",
         dashboard_uid: str = "sentinelle-noc", extra: list[dict[str, Any]] | None = None,
         condition_of: str = "B") -> dict[str, Any]:
    data = [_influx_node("A", query, seconds)]
    if extra:
        data += extra
    else:
        data.append(_reduce("B", "A", reducer))
    data.append(_threshold("C", condition_of, op, *params))
    return {
        "uid": uid, "title": title, "condition": "C", "data": data, "noDataState": no_data,
        "execErrState": "Error", "for": for_, "isPaused": False,
        "annotations": {"summary": summary, "description": description,
                        "__dashboardUid__": dashboard_uid},
        "labels": {"severity": severity, "app": "sentinelle"},
    }


LOC = "{{ $labels.site }} ({{ $labels.member }})"


def alert_rules() -> dict[str, Any]:
    noc = [
        rule("sentinelle-device-unreachable", "Équipement injoignable",
             'SELECT count("reachable") FROM "device_status" WHERE "reachable" = false AND $timeFilter '
             'GROUP BY "site", "member", "device"', 300, "gt", [2],
             summary="{{ $labels.device }} injoignable sur le site " + LOC,
             description="Au moins 3 polls SNMP en échec sur 5 minutes : l'équipement ne répond plus "
                         "(panne, coupure électrique ou lien de collecte coupé).",
             severity="critical", for_="2m"),
        rule("sentinelle-site-unreachable", "Site injoignable",
             'SELECT count("reachable") FROM "device_status" WHERE "reachable" = false AND $timeFilter '
             'GROUP BY "site", "member"', 300, "gt", [0.99],
             summary="Site " + LOC + " : aucun équipement ne répond",
             description="Tous les polls du site ont échoué sur 5 minutes : site isolé ou hors tension.",
             severity="critical", for_="2m", condition_of="E",
             extra=[_influx_node("B", 'SELECT count("reachable") FROM "device_status" WHERE $timeFilter '
                                      'GROUP BY "site", "member"', 300),
                    _reduce("RA", "A", "sum"), _reduce("RB", "B", "sum"),
                    _expr("E", {"type": "math", "expression": "$RA / $RB"})]),
        rule("sentinelle-ups-on-battery", "Onduleur sur batterie",
             'SELECT count("on_battery") FROM "ups" WHERE "on_battery" = true AND $timeFilter '
             'GROUP BY "site", "member", "device"', 120, "gt", [0],
             summary="{{ $labels.device }} sur batterie sur le site " + LOC,
             description="L'onduleur ne reçoit plus le secteur : vérifier l'alimentation Enedis et l'autonomie.",
             severity="warning", for_="1m"),
        rule("sentinelle-ups-autonomy-low", "Autonomie batterie faible",
             'SELECT last("battery_minutes_remaining") FROM "ups" WHERE $timeFilter '
             'GROUP BY "site", "member", "device"', 300, "lt", [BATTERY_MIN_ALERT],
             summary="{{ $labels.device }} : moins de " + str(BATTERY_MIN_ALERT) + " min d'autonomie sur " + LOC,
             description="Autonomie annoncée par l'onduleur : {{ $values.B }} min. Prévoir un groupe électrogène "
                         "ou l'arrêt propre des équipements.",
             severity="critical", for_="0s"),
        rule("sentinelle-mains-failure", "Coupure secteur",
             'SELECT spread("input_line_bads") FROM "ups" WHERE $timeFilter GROUP BY "site", "member", "device"',
             1800, "gt", [0],
             summary="Coupure secteur vue par {{ $labels.device }} sur le site " + LOC,
             description="Le compteur de coupures de l'onduleur (input_line_bads) a augmenté dans les 30 dernières "
                         "minutes.",
             severity="warning", for_="0s"),
        rule("sentinelle-lora-gateway-offline", "Passerelle LoRa hors ligne",
             'SELECT last("last_seen_age_s") FROM "lora_gateway" WHERE $timeFilter '
             'GROUP BY "site", "member", "device"', 600, "gt", [900],
             summary="Passerelle LoRa {{ $labels.device }} silencieuse depuis plus de 15 min (" + LOC + ")",
             description="Aucun message de la passerelle depuis {{ $values.B }} s : alimentation, backhaul ou "
                         "serveur de réseau LoRaWAN.",
             severity="warning", for_="5m"),
        rule("sentinelle-ont-optical-budget", "Niveau optique ONT hors budget",
             'SELECT last("rx_power_dbm") FROM "ont" WHERE $timeFilter '
             'GROUP BY "site", "member", "device", "pon", "ont_id", "ont_name"', 900, "outside_range",
             [float(RX_MIN_DBM), float(RX_MAX_DBM)],
             summary="ONT {{ $labels.ont_name }} (PON {{ $labels.pon }}, {{ $labels.device }}) hors budget optique : "
                     "{{ $values.B }} dBm sur le site " + LOC,
             description="Puissance reçue hors de [-27 ; -8] dBm (classe B+) : connecteur sale, épissure, "
                         "courbure ou atténuateur manquant.",
             severity="warning", for_="15m"),
    ]
    agent = [
        rule("sentinelle-agent-spool-growing", "Spool de l'agent qui grossit",
             'SELECT last("spool_oldest_age_seconds") FROM "agent_internal" WHERE $timeFilter GROUP BY "agent", "sink"',
             600, "gt", [900],
             summary="Agent {{ $labels.agent }} : des points attendent le puits {{ $labels.sink }} depuis plus de 15 min",
             description="Le puits (InfluxDB) n'accepte plus les écritures de l'agent : le spool grossit. Vérifier "
                         "le réseau, le jeton et l'espace disque d'InfluxDB.",
             severity="warning", for_="5m", dashboard_uid="sentinelle-agent"),
        rule("sentinelle-agent-silent", "Agent silencieux",
             # The last 5-minute bucket can be partial: average it with the one before.
             'SELECT moving_average(count("spool_bytes"), 2) FROM "agent_internal" WHERE $timeFilter '
             'GROUP BY time(5m), "agent" fill(0)', 21600, "lt", [1],
             summary="Agent {{ $labels.agent }} silencieux depuis plus de 10 min",
             description="Presque aucune supervision interne reçue de l'agent sur les deux derniers créneaux de "
                         "5 minutes : agent arrêté, machine éteinte ou lien coupé. Sans aucune donnée d'aucun "
                         "agent, l'alerte se déclenche aussi (NoData).",
             severity="critical", for_="5m", no_data="Alerting", dashboard_uid="sentinelle-agent"),
    ]
    for r in noc:
        r["labels"]["team"] = "noc"
    for r in agent:
        r["labels"]["team"] = "exploitation-sentinelle"
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": 1, "name": "sentinelle-noc", "folder": FOLDER, "interval": "1m", "rules": noc},
            {"orgId": 1, "name": "sentinelle-agent", "folder": FOLDER, "interval": "1m", "rules": agent},
        ],
    }


# --------------------------------------------------------------------------------------------
# Helpers shared by tests and scripts/render_previews.py
# --------------------------------------------------------------------------------------------

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


def iter_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    """Every non-row panel, including those inside collapsed rows."""
    out = []
    for p in dash.get("panels", []):
        if p.get("type") == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


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


# --------------------------------------------------------------------------------------------
# Schema check sources (TypeScript, @grafana/schema)
# --------------------------------------------------------------------------------------------

PANEL_TYPES = {
    # panel type -> (options type import, field config type import or None)
    "stat": ("stat/panelcfg/x/StatPanelCfg_types.gen", False),
    "timeseries": ("timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", True),
    "table": ("table/panelcfg/x/TablePanelCfg_types.gen", True),
    "bargauge": ("bargauge/panelcfg/x/BarGaugePanelCfg_types.gen", False),
    "state-timeline": ("statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen", True),
    "piechart": ("piechart/panelcfg/x/PieChartPanelCfg_types.gen", True),
}


def _ts_name(kind: str) -> str:
    return "".join(w.capitalize() for w in re.split(r"[-_]", kind))


def typescript_source(name: str, dash: dict[str, Any]) -> str:
    """A TypeScript module that type-checks `dash` against @grafana/schema with `satisfies`.

    Each panel is checked as `Panel` with its plugin's own `Options` and `FieldConfig` types
    (Partial at the top level: Grafana fills missing options with defaults), its targets as
    InfluxDB queries; the dashboard as `Dashboard`. Object literals get TypeScript's excess
    property checks, so a misspelt key is an error, not a silently ignored option.
    """
    lines = [
        "// Generated by grafana/dashgen.py for the schema check; do not edit.",
        "import type { Dashboard, Panel, RowPanel, AnnotationQuery } from '@grafana/schema';",
        "import type { InfluxQuery, Json } from '../influx';",
    ]
    used = sorted({p["type"] for p in iter_panels(dash)})
    for kind in used:
        path, has_fc = PANEL_TYPES[kind]
        n = _ts_name(kind)
        names = f"Options as {n}Options" + (f", FieldConfig as {n}FieldConfig" if has_fc else "")
        lines.append(f"import type {{ {names} }} from '@grafana/schema/dist/esm/raw/composable/{path}';")
    lines.append("")
    refs = []
    for i, p in enumerate(dash["panels"]):
        var = f"panel{i}"
        refs.append(var)
        if p["type"] == "row":
            lines.append(f"const {var} = {json.dumps(p, ensure_ascii=False)} satisfies Json<RowPanel>;")
            continue
        n = _ts_name(p["type"])
        _, has_fc = PANEL_TYPES[p["type"]]
        fc = f"Partial<{n}FieldConfig>" if has_fc else "Record<string, unknown>"
        lines.append(
            f"const {var} = {json.dumps(p, ensure_ascii=False)} satisfies Json<Panel<unknown, {fc}> & "
            f"{{ options: Partial<{n}Options>; targets: InfluxQuery[] }}>;"
        )
    body = copy.deepcopy(dash)
    body["panels"] = "__PANELS__"
    anns = body["annotations"]["list"]
    body["annotations"]["list"] = "__ANNOTATIONS__"
    text = json.dumps(body, ensure_ascii=False)
    text = text.replace('"__PANELS__"', "[" + ", ".join(refs) + "]")
    for i, a in enumerate(anns):
        check = "Json<AnnotationQuery>" if a.get("builtIn") else "Json<AnnotationQuery<InfluxQuery>>"
        lines.append(f"const annotation{i} = {json.dumps(a, ensure_ascii=False)} satisfies {check};")
    text = text.replace('"__ANNOTATIONS__"', "[" + ", ".join(f"annotation{i}" for i in range(len(anns))) + "]")
    lines.append(f"export const dashboard = {text} satisfies Json<Dashboard>;")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def render() -> dict[Path, str]:
    files = {DASHBOARD_DIR / name: json.dumps(fn(), ensure_ascii=False, indent=2) + "\n"
             for name, fn in DASHBOARDS.items()}
    header = ("# Generated by grafana/dashgen.py (python grafana/dashgen.py): edit the generator, not this file.\n"
              "# Grafana unified alerting rules, provisioned from /etc/grafana/provisioning/alerting/.\n")
    files[ALERT_RULES_PATH] = header + yaml.safe_dump(alert_rules(), allow_unicode=True, sort_keys=False, width=120)
    return files


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [str(p) for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            print("out of date (run python grafana/dashgen.py):", *stale, sep="\n  ")
            return 1
        return 0
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        print("wrote", p.relative_to(HERE.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
