"""Report wording in French (default) and English: column names, sheet names, statements."""

from __future__ import annotations

from typing import Literal

Lang = Literal["fr", "en"]

_LABELS: dict[str, tuple[str, str]] = {
    # groupings
    "site": ("Site", "Site"),
    "member": ("Membre", "Member"),
    "contract": ("Contrat", "Contract"),
    "operator": ("Délégataire", "Operator"),
    "total": ("Total", "Total"),
    # figures
    "key": ("Nom", "Name"),
    "sites": ("Sites (quote-part)", "Sites (share)"),
    "kwh_total": ("Énergie totale (kWh)", "Total energy (kWh)"),
    "kwh_measured": ("kWh mesurés (compteur)", "kWh measured (counter)"),
    "kwh_integrated": ("kWh intégrés (puissance)", "kWh integrated (power)"),
    "kwh_imported": ("kWh importés (historique)", "kWh imported (history)"),
    "kwh_estimated": ("kWh estimés (lacunes)", "kWh estimated (gaps)"),
    "kwh_missing": ("kWh lacunes non estimées (minimum connu)", "kWh unfilled gaps (known minimum)"),
    "completeness_pct": ("Complétude des données (%)", "Data completeness (%)"),
    "factor_kg": ("Facteur BEGES (kgCO2e/kWh)", "BEGES factor (kgCO2e/kWh)"),
    "factor_year": ("Année du facteur", "Factor year"),
    "factor_source": ("Source du facteur", "Factor source"),
    "factor_version": ("Version du facteur", "Factor version"),
    "beges_t": ("Émissions BEGES (tCO2e)", "BEGES emissions (tCO2e)"),
    "beges_u_pct": ("Incertitude BEGES (%)", "BEGES uncertainty (%)"),
    "beges_u_t": ("Incertitude BEGES (tCO2e)", "BEGES uncertainty (tCO2e)"),
    "grid_t": ("Émissions réseau temps réel (tCO2e, comparaison)", "Grid real-time emissions (tCO2e, comparison)"),
    "grid_g": ("Intensité réseau moyenne pondérée (gCO2e/kWh)", "Weighted grid intensity (gCO2e/kWh)"),
    "grid_source": ("Source intensité réseau", "Grid intensity source"),
    "pue": ("PUE", "PUE"),
    "flags": ("Alertes", "Flags"),
    "meter": ("Compteur", "Meter"),
    "device_kind": ("Type d'équipement", "Device kind"),
    "role": ("Rôle (principal/sous-compteur)", "Role (primary/sub)"),
    "load": ("Charge (IT/site/autre)", "Load (it/facility/other)"),
    "zone": ("Zone électrique", "Electricity zone"),
    "missing_h": ("Heures sans donnée mesurée", "Hours without measured data"),
    "devices": ("Équipements", "Devices"),
    "availability_pct": ("Disponibilité (%)", "Availability (%)"),
    "outages": ("Coupures (nombre)", "Outages (count)"),
    "outage_h": ("Durée totale des coupures (h)", "Total outage duration (h)"),
    "battery_episodes": ("Passages sur batterie (nombre)", "On-battery episodes (count)"),
    "battery_h": ("Durée sur batterie (h)", "Time on battery (h)"),
    "min_battery_min": ("Autonomie batterie minimale vue (min)", "Minimum battery autonomy seen (min)"),
    "month": ("Mois", "Month"),
    "kwh": ("kWh", "kWh"),
    # sheets and headings
    "sheet_meters": ("compteurs", "meters"),
    "sheet_resilience": ("résilience", "resilience"),
    "sheet_months": ("mensuel", "monthly"),
    "sheet_method": ("méthode", "method"),
    "title": ("Rapport énergie et carbone", "Energy and carbon report"),
    "period": ("Période", "Period"),
    "generated": ("Généré le", "Generated on"),
    "chart_kwh": ("kWh par mois et par site", "kWh per month and site"),
    "chart_t": ("tCO2e (BEGES) par mois et par site", "tCO2e (BEGES) per month and site"),
    "chart_completeness": ("Complétude des données par site (%)", "Data completeness per site (%)"),
    "chart_grid": ("Intensité réseau mensuelle (gCO2e/kWh)", "Monthly grid intensity (gCO2e/kWh)"),
    "item": ("Rubrique", "Item"),
    "value": ("Valeur", "Value"),
    "factors_used": ("Facteurs utilisés", "Factors used"),
}

STATEMENTS: dict[str, tuple[str, str]] = {
    "scope": (
        "Périmètre : électricité consommée en exploitation uniquement (émissions indirectes liées à "
        "l'énergie). La fabrication, le transport et la fin de vie des équipements ne sont pas inclus.",
        "Scope: operational electricity consumption only (energy indirect emissions). Manufacturing, "
        "transport and end of life of equipment are not included.",
    ),
    "beges": (
        "Correspondance BEGES : méthode location-based, facteur ADEME Base Carbone « Électricité — mix "
        "moyen — consommation » de l'année et de la zone du site ; la part combustion va au poste 2.1 "
        "(catégorie 2, consommation d'électricité), l'amont et les pertes en ligne au poste 4.1 "
        "(catégorie 4), voir la répartition par poste.",
        "BEGES mapping: location-based, ADEME Base Carbone 'Electricity — average mix — consumption' "
        "factor of the year and of the site's zone; the combustion part goes to item 2.1 (category 2, "
        "electricity consumption), upstream and line losses to item 4.1 (category 4), see the split by post.",
    ),
    "grid": (
        "Piste « réseau » : intensité carbone horaire du réseau (RTE éCO2mix ou Electricity Maps), "
        "pondérée par la consommation ; donnée de pilotage, pour comparaison, non réglementaire.",
        "Grid track: time-varying grid intensity (RTE éCO2mix or Electricity Maps) weighted by "
        "consumption; operational signal for comparison, not the regulatory figure.",
    ),
    "methods": (
        "Méthodes : « mesuré » = écart d'index d'un compteur (y compris à travers une coupure quand le "
        "compteur a continué de compter) ; « intégré » = intégration trapèze des puissances ; « importé » = relevés passés importés (export du compteur, courbe de charge Enedis) ; « estimé » "
        "= lacune comblée par la puissance moyenne des intervalles voisins ; « lacune » = non comblée.",
        "Methods: 'measured' = counter index difference (also across an outage when the counter kept "
        "counting); 'integrated' = trapezoid integration of power; 'imported' = past readings imported (meter export, Enedis load curve); 'estimated' = gap filled with the "
        "mean power of neighbouring intervals; 'missing' = left unfilled.",
    ),
    "completeness": (
        "Complétude : part de la période couverte par des données mesurées ou intégrées ; pour un site, "
        "moyenne de ses compteurs principaux. Les sous-compteurs ne sont jamais ajoutés à leur parent.",
        "Completeness: share of the period covered by measured or integrated data; for a site, the mean "
        "of its primary meters. Sub-meters are never added to their parent.",
    ),
    "uncertainty": (
        "Incertitude : racine de la somme des carrés des incertitudes relatives sur les données "
        "d'activité (pondérées par méthode : {methods}) et sur le facteur ; regroupements : sommes "
        "linéaires des incertitudes absolues des sites (facteur commun).",
        "Uncertainty: root-sum-square of the relative uncertainties of activity data (weighted by "
        "method: {methods}) and of the factor; groupings add their sites' absolute uncertainties "
        "linearly (shared factor).",
    ),
    "allocation": (
        "Répartition : un site partagé est réparti entre membres ou délégataires selon les quotes-parts "
        "déclarées dans l'inventaire ; les totaux par membre s'additionnent au total des sites.",
        "Allocation: a shared site is split between members or operators by the shares declared in the "
        "inventory; per-member totals add up to the sites' total.",
    ),
    "unverified-factor": (
        "ATTENTION : au moins un facteur utilisé n'a pas été vérifié contre la Base Empreinte ; fournir "
        "une table vérifiée avec --factors avant dépôt du BEGES.",
        "WARNING: at least one factor used was not checked against Base Empreinte; supply a checked "
        "table with --factors before filing the BEGES.",
    ),
    "fallback-factor": (
        "ATTENTION : le facteur de l'année n'est pas publié ; le facteur de l'année la plus récente "
        "disponible a été utilisé (voir « Année du facteur »).",
        "WARNING: the factor of the year is not published; the latest available year's factor was used "
        "(see 'Factor year').",
    ),
}


def label(key: str, lang: Lang = "fr") -> str:
    fr, en = _LABELS.get(key, (key, key))
    return fr if lang == "fr" else en


def statement(key: str, lang: Lang = "fr", **fmt: str) -> str:
    fr, en = STATEMENTS[key]
    return (fr if lang == "fr" else en).format(**fmt)
