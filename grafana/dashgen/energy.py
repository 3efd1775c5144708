"""The *Énergie et décarbonation* dashboard: kWh per site, member and contract, CO2e, PUE."""

from __future__ import annotations

from typing import Any

from .widgets import (
    BLUE,
    F_ALL,
    GREEN,
    GREY,
    ORANGE,
    PURPLE,
    SKY,
    VERMILLION,
    Layout,
    bargauge_options,
    dashboard,
    org_variables,
    override_name,
    panel,
    stat_options,
    table_options,
    target,
    thresholds,
    ts_custom,
    ts_options,
)

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
