"""Which BEGES post each part of an electricity factor belongs to (regulatory method, version 5).

The Base Carbone decomposes the "mix moyen — consommation" factor into posts: combustion at the
plant, upstream (fuel extraction and transport, plant construction), and transport &
distribution losses; some ZNI elements add fugitive emissions (SF6, the Petit-Saut reservoir).
The method ("Méthode pour la réalisation des bilans d'émissions de gaz à effet de serre
conformément à l'article L. 229-25 du code de l'environnement", version 5, §4.2.2 "Nomenclature
des catégories et postes") puts in category 2, poste 2.1 "Émissions indirectes liées à la
consommation d'électricité" only the combustion of the fuels that produced the electricity, and
sends everything upstream of it (fuel chain, plant construction, network losses) to category 4,
poste 4.1 "Achats de biens", which in version 5 receives the energy emissions not counted in
categories 1 and 2. So the rule is: a combustion part goes to 2.1, every other part to 4.1.

One function decides, from the part's name as the export writes it, so a new ADEME post name
lands by the same rule instead of needing a new case.
"""

from __future__ import annotations

import unicodedata

POST_ELECTRICITY = "2.1"
POST_UPSTREAM = "4.1"
POST_UNDECOMPOSED = "2.1+4.1"  # an element the export gives without decomposition

POST_LABELS: dict[str, dict[str, str]] = {
    POST_ELECTRICITY: {
        "fr": "Catégorie 2, poste 2.1 — émissions indirectes liées à la consommation d'électricité",
        "en": "Category 2, post 2.1 — indirect emissions from electricity consumption",
    },
    POST_UPSTREAM: {
        "fr": "Catégorie 4, poste 4.1 — achats de biens (amont de l'énergie, pertes en ligne)",
        "en": "Category 4, post 4.1 — purchased goods (energy upstream, line losses)",
    },
    POST_UNDECOMPOSED: {
        "fr": "Non décomposé dans l'export ADEME (postes 2.1 et 4.1 ensemble)",
        "en": "Not decomposed in the ADEME export (posts 2.1 and 4.1 together)",
    },
}

METHOD_CITATION = {
    "fr": (
        "Répartition par poste selon la « Méthode pour la réalisation des bilans d'émissions de gaz "
        "à effet de serre conformément à l'article L. 229-25 du code de l'environnement », version 5, "
        "§4.2.2 (nomenclature des catégories et postes) : la part « combustion à la centrale » du "
        "facteur Base Carbone va au poste 2.1 ; l'amont (combustibles, construction des centrales), "
        "les pertes en ligne (transport et distribution) et les émissions fugitives vont au poste 4.1. "
        "Le total est inchangé : chaque part est kWh × facteur × (part / somme des parts)."
    ),
    "en": (
        "Split by post following the French regulatory BEGES method (version 5, §4.2.2, nomenclature "
        "of categories and posts): the Base Carbone 'combustion at the plant' part goes to post 2.1; "
        "upstream (fuels, plant construction), line losses (transport and distribution) and fugitive "
        "emissions go to post 4.1. The total is unchanged: each part is kWh × factor × (part / sum of parts)."
    ),
}


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def post_of(part_name: str) -> str:
    """The BEGES post of a decomposition part, e.g. 'Combustion à la centrale' -> '2.1'."""
    return POST_ELECTRICITY if _plain(part_name).startswith("combustion") else POST_UPSTREAM


def post_label(post: str, lang: str = "fr") -> str:
    labels = POST_LABELS.get(post)
    return labels.get(lang, labels["fr"]) if labels else post
