"""The *Inventaire* dashboard (issue 17): identity read from the devices (collectors/snmp/identity)."""

from __future__ import annotations

from typing import Any

from .widgets import (
    BLUE,
    F_ALL,
    ORANGE,
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
)

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
