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
    "chart_kwh_all": ("kWh par mois, tous les sites", "kWh per month, all sites"),
    "chart_t_all": ("tCO2e (BEGES) par mois, tous les sites", "tCO2e (BEGES) per month, all sites"),
    "chart_completeness": ("Complétude des données par site (%)", "Data completeness per site (%)"),
    "chart_grid": ("Intensité réseau mensuelle (gCO2e/kWh)", "Monthly grid intensity (gCO2e/kWh)"),
    "item": ("Rubrique", "Item"),
    "value": ("Valeur", "Value"),
    "factors_used": ("Facteurs utilisés", "Factors used"),
    "factor_id": ("identifiant", "id"),
    "unc_unknown": ("incertitude non publiée", "uncertainty not published"),
    "verified_yes": ("vérifié contre la source primaire", "checked against the primary source"),
    "verified_no": ("NON VÉRIFIÉ contre la Base Empreinte", "NOT CHECKED against Base Empreinte"),
    "item_scope": ("Périmètre", "Scope"),
    "item_beges": ("Correspondance BEGES", "BEGES mapping"),
    "item_grid": ("Piste réseau", "Grid track"),
    "item_methods": ("Méthodes", "Methods"),
    "item_completeness": ("Complétude", "Completeness"),
    "item_uncertainty": ("Incertitude", "Uncertainty"),
    "item_allocation": ("Répartition", "Allocation"),
    "item_warning": ("Alerte", "Warning"),
    "role_primary": ("principal", "primary"),
    "role_sub": ("sous-compteur", "sub-meter"),
    "load_it": ("IT", "IT"),
    "load_facility": ("site (total)", "facility"),
    "load_other": ("autre", "other"),
    "method_measured": ("mesuré", "measured"),
    "method_integrated": ("intégré", "integrated"),
    "method_imported": ("importé", "imported"),
    "method_estimated": ("estimé", "estimated"),
    "method_missing": ("lacune", "missing"),
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


STATEMENTS["meter-hierarchy"] = (
    "ATTENTION : des relevés contredisent la hiérarchie de compteurs déclarée (PUE inférieur à 1 ou "
    "sous-compteurs au-dessus de leur parent) ; vérifier câblage, échelle et rôles avant signature.",
    "WARNING: readings contradict the declared meter hierarchy (PUE below 1 or sub-meters above their "
    "parent); check wiring, scaling and roles before signing.",
)
STATEMENTS["pue"] = (
    "PUE = énergie du compteur du site / énergie des compteurs IT, sur la période. Sous 1, la charge IT "
    "dépasserait ce qui alimente le site : la hiérarchie de compteurs est incohérente et le chiffre n'est pas un PUE.",
    "PUE = facility meter energy / IT meters energy over the period. Below 1 the IT load would exceed what feeds "
    "the site: the meter hierarchy is inconsistent and the figure is not a PUE.",
)
STATEMENTS["no-data-sites"] = (
    "ATTENTION : sites de l'inventaire sans aucune donnée d'énergie sur la période (complétude 0\u00a0%, "
    "consommation non comptée) : {sites}.",
    "WARNING: inventory sites without any energy data over the period (completeness 0\u00a0%, consumption "
    "not counted): {sites}.",
)
STATEMENTS["empty"] = (
    "aucune donnée d'énergie sur la période {period} : rapport non écrit (tous les chiffres seraient "
    "des zéros). Vérifier --year/--from et la source de données, ou passer --allow-empty.",
    "no energy data over the period {period}: report not written (every figure would be a zero). "
    "Check --year/--from and the data source, or pass --allow-empty.",
)

# Row flags: a stable code (JSON keeps it) and its wording in each language.
FLAGS: dict[str, tuple[str, str]] = {
    "incomplete": ("données incomplètes", "incomplete data"),
    "no-data": ("aucune donnée sur la période", "no data over the period"),
    "no-primary-meter": ("aucun compteur principal", "no primary meter"),
    "factor-unverified": ("facteur non vérifié", "unverified factor"),
    "factor-uncertainty-unknown": ("incertitude du facteur inconnue", "factor uncertainty unknown"),
    "meter-hierarchy-inconsistent": ("hiérarchie de compteurs incohérente", "inconsistent meter hierarchy"),
    "grid:stale": ("intensité réseau : dernière valeur connue", "grid intensity: last known value"),
    "grid:out-of-range": ("intensité réseau : valeur la plus proche", "grid intensity: nearest value"),
    "grid:unverified": ("réseau : facteur non vérifié", "grid: unverified factor"),
}


def flag_text(code: str, lang: Lang = "fr") -> str:
    """A row flag in words; parametric codes (`factor-year-2023-for-2024`) are worded too."""
    if code in FLAGS:
        fr, en = FLAGS[code]
        return fr if lang == "fr" else en
    parts = code.split("-")
    if code.startswith(("factor-year-", "grid:year-")) and len(parts) >= 5 and parts[-2] == "for":
        used, wanted = parts[-3], parts[-1]
        return f"facteur {used} utilisé pour {wanted}" if lang == "fr" else f"{used} factor used for {wanted}"
    if code.startswith("grid:") and "," in code:
        return _sep(lang).join(flag_text("grid:" + c, lang) for c in code[5:].split(",") if c)
    return code


def flags_text(codes: str, lang: Lang = "fr") -> str:
    """A table's `flags` cell (codes joined by ', ') in words."""
    return _sep(lang).join(flag_text(c, lang) for c in codes.split(", ") if c)


def _sep(lang: Lang) -> str:
    return " ; " if lang == "fr" else "; "  # French typography puts a space before ';'



def label(key: str, lang: Lang = "fr") -> str:
    fr, en = _LABELS.get(key, (key, key))
    return fr if lang == "fr" else en


def statement(key: str, lang: Lang = "fr", **fmt: str) -> str:
    fr, en = STATEMENTS[key]
    return (fr if lang == "fr" else en).format(**fmt)
