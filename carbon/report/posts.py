"""The BEGES track split by regulatory post, as a report table, a method-sheet row and an HTML line.

Each site's BEGES tCO2e (kWh × factor of the month's year and the site's zone) is divided among
the posts of the factor's decomposition (`EmissionFactor.post_shares`, rule in
`carbon.beges_posts`); the parts add up to the site's total by construction. Kept apart from the
other tables so the report layout can change without touching the split.
"""

from __future__ import annotations

from html import escape

from sentinelle.carbon.beges_posts import METHOD_CITATION, post_label
from sentinelle.carbon.report.aggregate import AnnualReport, Figures
from sentinelle.carbon.report.labels import Lang
from sentinelle.carbon.report.table import Table, Value

COLUMNS = ("key", "zone", "post", "post_label", "parts", "beges_post_t", "share_pct", "beges_t", "factor_source",
           "factor_version")  # fmt: skip
HEADERS = {
    "fr": ("Site", "Zone", "Poste BEGES", "Intitulé du poste", "Parts du facteur ADEME", "Émissions du poste (tCO2e)",
           "Part du total (%)", "Émissions BEGES du site (tCO2e)", "Source du facteur", "Version du facteur"),
    "en": ("Site", "Zone", "BEGES post", "Post", "ADEME factor parts", "Post emissions (tCO2e)", "Share of total (%)",
           "Site BEGES emissions (tCO2e)", "Factor source", "Factor version"),
}  # fmt: skip
TABLE_NAME = {"fr": "postes BEGES", "en": "BEGES posts"}


def _zones(report: AnnualReport, site: str) -> str:
    return ", ".join(sorted({m.zone for m in report.meters if m.site == site and m.role == "primary"}))


def _parts(f: Figures, post: str) -> str:
    names = []
    for factor in f.factors:
        for p in factor.parts:
            if p.post == post and p.name not in names:
                names.append(p.name)
    return " + ".join(names) if names else "—"


def _rows(report: AnnualReport, f: Figures, zone: str) -> list[list[Value]]:
    rows: list[list[Value]] = []
    for post in sorted(f.posts_t):
        t = f.posts_t[post]
        rows.append([
            f.key, zone, post, post_label(post, "fr"), _parts(f, post), round(t, 9),
            round(t / f.beges_t * 100, 2) if f.beges_t > 0 else None, round(f.beges_t, 9),
            f.factor_source, f.factor_version,
        ])  # fmt: skip
    return rows


def posts_table(report: AnnualReport, lang: Lang) -> Table:
    """One row per site and BEGES post, then the total per post."""
    rows: list[list[Value]] = []
    for site in report.sites:
        rows += _rows(report, site, _zones(report, site.key))
    total = report.totals()
    total.key = "Total"
    rows += _rows(report, total, ", ".join(sorted({m.zone for m in report.meters if m.role == "primary"})))
    if lang == "en":
        for r in rows:
            r[3] = post_label(str(r[2]), "en")
    return Table(TABLE_NAME[lang], list(COLUMNS), list(HEADERS[lang]), rows)


YEAR_RULE = {
    "fr": ("Règle d'année : un mois de l'année N prend le facteur ADEME de l'année N de la zone du site ; "
           "s'il n'est pas publié, celui de la dernière année antérieure, signalé factor-year-M-for-N ; un "
           "élément ADEME sans année de référence (zones non interconnectées) vaut pour toutes les années, "
           "signalé factor-undated. Après une nouvelle table (sentinelle factors build), sentinelle recompute "
           "met à jour les points carbone enregistrés et indique l'écart."),
    "en": ("Year rule: a month of year N takes the ADEME factor of year N for the site's zone; when it is not "
           "published, the latest earlier year's, flagged factor-year-M-for-N; an ADEME element without a "
           "reference year (non-interconnected zones) applies to every year, flagged factor-undated. After a "
           "new table (sentinelle factors build), sentinelle recompute updates stored carbon points and says "
           "by how much."),
}  # fmt: skip


def method_rows(lang: Lang) -> list[list[Value]]:
    """The method sheet's year rule and citation of the regulatory method for the split."""
    return [["year_rule", YEAR_RULE[lang]], ["beges_posts", METHOD_CITATION[lang]]]


def posts_html(report: AnnualReport, lang: Lang) -> str:
    """A one-paragraph summary of the split for the HTML report, with the method's citation."""
    total = report.totals()
    if total.beges_t <= 0:
        return ""
    parts = "; ".join(
        f"{escape(post_label(post, lang))}: <span data-post='{escape(post)}'>{t:.6f}</span> tCO2e"
        for post, t in sorted(total.posts_t.items())
    )
    return f"<p class='statement' data-section='beges-posts'>{parts}. {escape(METHOD_CITATION[lang])}</p>"
