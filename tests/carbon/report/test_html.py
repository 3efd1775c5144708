"""The HTML report as a person meets it: rendered by a real browser (Debian `chromium`,
headless), printed to A4 PDF and read back with `pdftotext` (poppler-utils).

What a reader would check is asserted: the page never needs horizontal scrolling (measured in
the browser's own layout), the first printed page carries the figures for the BEGES with every
site (also one without data), numbers are in French format without scientific notation, the
charts have axes with ticks and units. A screenshot is written too; set
SENTINELLE_REPORT_SCREENSHOT=DIR to keep it and look at it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.pipeline import InventoryTags
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.energy import NS
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.meters import meters_from_inventory, sites_from_inventory
from sentinelle.carbon.processor import build_processors
from sentinelle.carbon.report import LocalStoreSource, build_report, report_period, write_report
from tests.carbon.report import test_annual as year_data

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip
SCIENTIFIC = re.compile(r"\d[eE][-+]?\d")
SILENT_SITE = """    - id: nro-silent-plouha
      kind: nro
      member: guingamp-paimpol-agglomeration
      devices:
        - {id: pdu-silent, kind: pdu, meter: primary}
carbon:"""


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian chromium is missing: run scripts/test-setup (APT_PACKAGES)"
    return path


def browse(tmp: Path, *args: str, width: int = 800, height: int = 1200) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"chromium-profile-{width}"
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def year_report(tmp_path_factory) -> Path:
    """A year of two sites (the annual test's data: a shared site, a counter and a power meter)
    plus an inventory site whose meter never answered; the French HTML report."""
    tmp = tmp_path_factory.mktemp("report-document")
    config = parse_config(year_data.CONFIG.replace("carbon:", SILENT_SITE, 1))
    tagger = InventoryTags(config.inventory)
    (proc,) = build_processors(config, tmp / "state")
    points: list[Point] = []
    for batch in year_data.readings():
        points += proc.process(tagger.process(batch))
    points += tagger.process(year_data.resilience_points())
    store = LocalStore(tmp / "local.db")
    store.write_points(points)
    start, end, label = report_period(2024)
    report = build_report(
        LocalStoreSource(store), start, end, FactorTable.embedded(), label=label,
        sites=sites_from_inventory(config.inventory), meters=meters_from_inventory(config.inventory),
        max_gap_s=config.carbon.max_gap,
    )  # fmt: skip
    store.close()
    (html,) = write_report(report, tmp / "out", formats=("html",), lang="fr")
    return html


MEASURE = """<pre id="layout-measure"></pre><script>
const wide = [];
for (const el of document.querySelectorAll('table, figure, svg, p, h1, h2, h3, div')) {
  const r = el.getBoundingClientRect();
  if (r.right > window.innerWidth + 0.5) wide.push(el.tagName + '.' + (el.getAttribute('data-table') || el.className));
}
document.getElementById('layout-measure').textContent = JSON.stringify({
  scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, wide: wide,
  tables: document.querySelectorAll('table').length, svgs: document.querySelectorAll('svg').length});
</script>"""


@pytest.mark.parametrize("width", [800, 1280])
def test_the_page_never_needs_horizontal_scrolling(year_report: Path, tmp_path: Path, width: int):
    """Before: grouping tables 21 columns wide inside a scrolling box (factor source in every row)."""
    probe = tmp_path / "probe.html"
    probe.write_text(year_report.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = browse(tmp_path, "--dump-dom", probe.as_uri(), width=width).stdout
    m = re.search(r'<pre id="layout-measure">(.*?)</pre>', dom, re.S)
    assert m, dom[-1000:]
    layout = json.loads(m.group(1).replace("&quot;", '"'))
    assert layout["tables"] >= 6 and layout["svgs"] >= 3
    assert layout["wide"] == [] and layout["scrollWidth"] <= layout["innerWidth"], layout


class _Text(HTMLParser):
    """The visible text of a page (what a reader sees, not attributes or the stylesheet)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "title")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return " ".join(p.parts)


def pdf_text(pdf: Path, *pages: int) -> str:
    args = ["pdftotext"]  # reading order: a cell's lines stay together
    if pages:
        args += ["-f", str(pages[0]), "-l", str(pages[-1])]
    return subprocess.run([*args, str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60).stdout


def test_printed_a4_first_page_carries_the_beges_figures(year_report: Path, tmp_path: Path):
    pdf = tmp_path / "report.pdf"
    browse(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", year_report.as_uri())
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+59[45]\.\d+ x 84[12]\.\d+ pts \(A4\)", info), info
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 3  # figures, charts, details, method, annexes
    first = " ".join(pdf_text(pdf, 1).split())
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert f"Page 1 / {pages}" in first and "Rapport énergie et carbone — 2024" in first  # numbered pages
    assert "Chiffres à reporter (BEGES et rapport annuel)" in first
    # 2 kW x 8784 h + 0.5 kW x 8784 h: 21 960 kWh, shown in MWh; tCO2e from the 2024 factor 0.0519
    assert "22,0 MWh" in first and "21 960,000 kWh" in first
    assert "1,14 t CO2e" in first
    for site in ("site-a", "site-b", "nro-silent-plouha"):
        assert site in first, site
    assert "aucune donnée sur la période" in first  # the silent site is there, flagged, at 0 %
    assert "V23.6" in first and "Établi par" in first and "Par membre" in first
    everything = " ".join(pdf_text(pdf).split())  # pdftotext wraps lines where the PDF does
    assert "Méthode et provenance des facteurs" in everything and "Base Carbone V23.6" in everything
    assert not SCIENTIFIC.search(everything), SCIENTIFIC.search(everything)
    assert "Second-hand" not in everything  # one language: the table's English note stays out


def test_numbers_french_and_charts_have_axes(year_report: Path):
    html = year_report.read_text(encoding="utf-8")
    text = visible_text(html)
    assert not SCIENTIFIC.search(text)
    assert "21\u202f960,000\u00a0kWh" in text  # thousands separator, decimal comma
    # the factor's full provenance is stated once, in the method section
    assert html.count("ADEME Base Carbone V23.6 — Electricité — 2024 - mix moyen") == 1
    charts = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(charts) >= 3
    for svg in charts:
        ticks = re.findall(r'font-size="11">(\d[\d\u202f]*(?:,\d+)?)</text>', svg)
        assert len(set(ticks)) >= 3, svg[:300]  # an axis with values
        assert re.search(r'font-size="11"[^>]*>(kWh|MWh|Wh|[gk]?g CO2e|t CO2e|%|PUE|g CO2e/kWh)</text>', svg), svg[:300]  # its unit
    assert ">1\u202f500<" in charts[0] or ">1\u202f000<" in charts[0]  # kWh ticks in French format


def test_a_demo_sized_report_reads_in_grams_not_scientific_notation(tmp_path: Path):
    """Before: "Émissions BEGES (tCO2e) : 2e-06" on the demo's ten minutes."""
    path = tmp_path / "local.db"
    config = parse_config(f"""
agent: {{name: demo}}
inventory:
  sites:
    - id: nro-lannion
      member: lannion-tregor-communaute
      devices:
        - {{id: pdu-1, kind: pdu, meter: primary}}
sinks:
  - {{type: local, path: {path}}}
""")
    (proc,) = build_processors(config, tmp_path / "state")
    tagger = InventoryTags(config.inventory)
    t0 = year_data.START + 10 * 86400 * NS
    points: list[Point] = []
    for i in range(11):  # ten minutes at 240 W: 0.04 kWh, about 2 g CO2e
        points += proc.process(tagger.process([Point("pdu", {"device": "pdu-1"}, {"power_w": 240.0}, t0 + i * 60 * NS)]))
    store = LocalStore(path)
    store.write_points(points)
    report = build_report(LocalStoreSource(store), t0, t0 + 600 * NS, FactorTable.embedded(), label="demo",
                          sites=sites_from_inventory(config.inventory))  # fmt: skip
    store.close()
    (html,) = write_report(report, tmp_path / "out", formats=("html",), lang="fr")
    text = visible_text(html.read_text(encoding="utf-8"))
    assert not SCIENTIFIC.search(text), SCIENTIFIC.search(text)
    assert "40,0\u00a0Wh" in text and "2,08\u00a0g CO2e" in text


def test_screenshot_for_a_person_to_look_at(year_report: Path, tmp_path: Path):
    keep = os.environ.get("SENTINELLE_REPORT_SCREENSHOT")
    shot = (Path(keep) if keep else tmp_path) / "report-fr.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browse(tmp_path, f"--screenshot={shot}", year_report.as_uri(), width=800, height=2400)
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (800, 2400)
        colours = im.convert("L").getcolors(maxcolors=256 * 256) or []
        assert len(colours) > 20  # text, tables and charts drawn, not a blank page


def test_the_english_document_is_english_throughout(year_report: Path):
    (english,) = _english(year_report, year_report.parent.parent / "out-en")
    text = visible_text(english.read_text(encoding="utf-8"))
    assert "Figures to report (BEGES and annual report)" in text and "21,960.000\u00a0kWh" in text
    for french in ("ATTENTION", "Périmètre", "aucune donnée", "Chiffres", "incohérent", "facteur non vérifié"):
        assert french not in text, french
    assert not SCIENTIFIC.search(text)


def _english(fr_html: Path, out: Path) -> list[Path]:
    """Re-render the module's report in English (the store is next to the French HTML)."""
    config = parse_config(year_data.CONFIG.replace("carbon:", SILENT_SITE, 1))
    store = LocalStore.open_readonly(fr_html.parent.parent / "local.db")
    start, end, label = report_period(2024)
    try:
        report = build_report(
            LocalStoreSource(store), start, end, FactorTable.embedded(), label=label,
            sites=sites_from_inventory(config.inventory), meters=meters_from_inventory(config.inventory),
            max_gap_s=config.carbon.max_gap,
        )  # fmt: skip
    finally:
        store.close()
    return write_report(report, out, formats=("html",), lang="en")


def test_thirty_sites_with_long_names_still_fit_and_read(tmp_path: Path):
    """A syndicate's real size: per-site monthly bars would be 30 colours; the charts show the
    total per month and one horizontal bar per site, and nothing overflows the page."""
    sites = [f"nro-communaute-de-communes-{i:02d}-centre-bretagne" for i in range(30)]
    store = LocalStore(tmp_path / "local.db")
    start, end, label = report_period(2024)
    points = []
    for i, site in enumerate(sites):
        tags = {"site": site, "meter": f"pdu-{i}", "method": "measured", "meter_role": "primary", "member": f"membre-{i % 4}"}
        for day in range(0, 366, 5):
            points.append(Point("energy", tags, {"kwh": 24.0 * (1 + i % 3) * 5, "duration_s": 5 * 86400.0}, start + (day + 5) * 86400 * NS))
    store.write_points(points)
    report = build_report(LocalStoreSource(store), start, end, FactorTable.embedded(), label=label)
    store.close()
    (html,) = write_report(report, tmp_path / "out", formats=("html",), lang="fr")
    text = html.read_text(encoding="utf-8")
    charts = re.findall(r"<svg.*?</svg>", text, re.S)
    assert "Tous les sites" in charts[0] and sites[0] not in charts[0]
    completeness = next(c for c in charts if "Complétude" in c)
    assert all(s in completeness for s in sites)
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = browse(tmp_path, "--dump-dom", probe.as_uri(), width=800).stdout
    layout = json.loads(re.search(r'<pre id="layout-measure">(.*?)</pre>', dom, re.S).group(1).replace("&quot;", '"'))
    assert layout["wide"] == [] and layout["scrollWidth"] <= layout["innerWidth"], layout
