"""The demo's report: a local store file reported and summed up (`agent/demo.py`).

Here, in the command layer, because it opens the agent's local store; the report's maths
(`carbon.report`) stays store-agnostic.
"""

from __future__ import annotations

from pathlib import Path

from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.report import LocalStoreSource, Summary, build_report, write_report
from sentinelle.carbon.report.labels import Lang


def summarise(
    store_path: str | Path,
    out_dir: str | Path,
    start_ns: int,
    end_ns: int,
    *,
    factors: FactorTable | None = None,
    lang: Lang = "fr",
) -> Summary:
    """For the demo: report [start_ns, end_ns) from a local store file, write the HTML, return totals.

    Uses the latest earlier factor year when the period's year is not in the table (flagged in
    the HTML), so a demo run today always produces a report.
    """

    store = LocalStore.open_readonly(Path(store_path))
    try:
        report = build_report(
            LocalStoreSource(store), start_ns, end_ns, factors or FactorTable.embedded(), label="demo", missing_year="latest"
        )
    finally:
        store.close()
    (html,) = write_report(report, out_dir, formats=("html",), lang=lang)
    total = report.totals()
    return Summary(
        total.kwh_total, total.beges_t, total.beges_u_rel * 100, total.grid_t, total.completeness * 100, html,
        tuple(i.message(lang) for i in report.inconsistencies),
    )  # fmt: skip
