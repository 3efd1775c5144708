"""What `sentinelle report` prints: the summary line and the warnings, in the report's language.

Kept apart from the command's plumbing so the words and number formats are the report's own
(carbon.quantities), and the demo or another front end can print the same lines.
"""

from __future__ import annotations

from sentinelle.carbon.quantities import Lang, energy_kwh, mass_t, percent
from sentinelle.carbon.report.aggregate import AnnualReport
from sentinelle.carbon.report.labels import statement


def summary_line(report: AnnualReport, lang: Lang = "fr") -> str:
    """One line: energy, BEGES emissions with uncertainty, grid emissions, completeness."""
    t = report.totals()
    u = percent(t.beges_u_rel * 100, lang)
    if lang == "fr":
        return (f"{report.label} : {energy_kwh(t.kwh_total, lang)}, BEGES {mass_t(t.beges_t, lang)} (± {u}), "
                f"réseau {mass_t(t.grid_t, lang)}, complétude {percent(t.completeness * 100, lang)}")  # fmt: skip
    return (f"{report.label}: {energy_kwh(t.kwh_total, lang)}, BEGES {mass_t(t.beges_t, lang)} (± {u}), "
            f"grid {mass_t(t.grid_t, lang)}, completeness {percent(t.completeness * 100, lang)}")  # fmt: skip


def report_warnings(report: AnnualReport, lang: Lang = "fr") -> list[str]:
    """Problems a signer must see before the figures: impossible readings, silent sites."""
    lines = [inc.message(lang) for inc in report.inconsistencies]
    missing = report.sites_without_data
    if missing and not report.is_empty:
        lines.append(statement("no-data-sites", lang, sites=", ".join(missing)))
    return lines


def empty_refusal(period: str, lang: Lang = "fr") -> str:
    return statement("empty", lang, period=period)
