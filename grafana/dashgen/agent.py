"""The *Agents* dashboard: polls, spool and writes of every agent."""

from __future__ import annotations

from typing import Any

from .widgets import (
    BLUE,
    F_AGENT,
    F_SITE,
    LEGEND_TABLE,
    ORANGE,
    VERMILLION,
    Layout,
    dashboard,
    override_name,
    override_regex,
    panel,
    query_variable,
    stat_options,
    table_options,
    target,
    thresholds,
    ts_custom,
    ts_options,
)


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
