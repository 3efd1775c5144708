"""The BEGES track split by regulatory post, as a report table, a method-sheet row and an HTML line.

Each site's BEGES tCO2e (kWh × factor of the month's year and the site's zone) is divided among
the posts of the factor's decomposition (`EmissionFactor.post_shares`, rule in
`carbon.beges_posts`); the parts add up to the site's total by construction. Kept apart from the
other tables so the report layout can change without touching the split.
"""

from __future__ import annotations

from html import escape

from carbon.beges_posts import METHOD_CITATION, post_label
from carbon.report.aggregate import AnnualReport, Figures
from carbon.report.labels import Lang
from carbon.report.tables import Table, Value

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


def method_rows(lang: Lang) -> list[list[Value]]:
    """The method sheet's citation of the regulatory method for the split."""
    return [["beges_posts", METHOD_CITATION[lang]]]


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
