"""The *Résilience / NOC* dashboard: sites and devices up or down, UPS, interfaces, LoRa, GPON."""

from __future__ import annotations

from typing import Any

from .widgets import (
    BATTERY_MIN_ALERT,
    BLUE,
    F_ALL,
    LEGEND_TABLE,
    ORANGE,
    PURPLE,
    RX_MAX_DBM,
    RX_MIN_DBM,
    SKY,
    VERMILLION,
    Layout,
    annotation,
    bargauge_options,
    bool_mapping,
    custom_variable,
    dashboard,
    org_variables,
    override_name,
    override_regex,
    panel,
    stat_options,
    table_options,
    target,
    thresholds,
    timeline_options,
    ts_custom,
    ts_options,
)

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
