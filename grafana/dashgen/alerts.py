"""Alert rules for Grafana unified alerting, provisioned from a file."""

from __future__ import annotations

from typing import Any

from .widgets import BATTERY_MIN_ALERT, DS, DS_UID, FOLDER, RX_MAX_DBM, RX_MIN_DBM


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
