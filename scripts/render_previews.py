#!/usr/bin/env python3
"""Static PNG previews of the two main Grafana dashboards, for the README.

Grafana cannot run everywhere, so this draws the key panels with matplotlib from *the
dashboards' own InfluxQL queries* run against a real influxd (Debian ``influxdb``) filled
with the demo data set (tests/support/grafana_data.py):

    .venv/bin/python scripts/render_previews.py            # -> docs/img/*.png

Colours: Okabe-Ito, as in the dashboards; states also carry text labels.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grafana import dashgen  # noqa: E402
from tests.support import grafana_queries  # noqa: E402
from tests.support.grafana_data import write_demo  # noqa: E402
from tests.support.influxdb1 import InfluxDB1  # noqa: E402

OUT = ROOT / "docs" / "img"
PALETTE = dashgen.OKABE_ITO
TZ = dt.timezone(dt.timedelta(hours=1), "CET")


def _t(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=TZ)


class Panels:
    """Run a dashboard's panel queries by title against the demo influxd."""

    def __init__(self, srv: InfluxDB1, dash: dict[str, Any]) -> None:
        self.srv = srv
        self.dash = dash
        self.title = dash["title"]

    def rows(self, title: str, ref: str = "A") -> list[dict[str, Any]]:
        for p, t, q in grafana_queries.panel_queries(self.dash):
            if p["title"] == title and t["refId"] == ref:
                return self.srv.points(q, db="sentinelle")
        raise KeyError(f"{self.title}: no panel {title!r} [{ref}]")

    def series(self, title: str, key: str, ref: str = "A") -> dict[str, tuple[list[dt.datetime], list[float]]]:
        out: dict[str, tuple[list[dt.datetime], list[float]]] = defaultdict(lambda: ([], []))
        for r in self.rows(title, ref):
            value = next(v for k, v in r.items() if k not in ("time", "_measurement") and not isinstance(v, str))
            if value is None:
                continue
            name = key.format(**r)
            out[name][0].append(_t(r["time"]))
            out[name][1].append(value)
        return dict(out)


def _style(ax: Any, title: str, ylabel: str) -> None:
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=TZ))


def _events(panels: Panels) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """On-battery episodes from event points (the NOC dashboard's annotations)."""
    q = grafana_queries.substitute('SELECT "kind", "state", "device" FROM "event" WHERE "kind" = \'on_battery\' '
                                   'AND $timeFilter', grafana_queries.variable_defaults(panels.dash))
    starts: dict[str, dt.datetime] = {}
    out = []
    for r in panels.srv.points(q, db="sentinelle"):
        if r["state"] == "start":
            starts[r["device"]] = _t(r["time"])
        elif r["device"] in starts:
            out.append((starts.pop(r["device"]), _t(r["time"]), r["device"]))
    out += [(s, None, d) for d, s in starts.items()]
    return out


def render_noc(p: Panels, path: Path) -> None:
    fig = plt.figure(figsize=(13, 9.5), constrained_layout=True)
    gs = fig.add_gridspec(3, 2, height_ratios=[1.1, 1, 1])
    fig.suptitle(f"{p.title} — aperçu (données de démonstration)", fontsize=14, fontweight="bold", x=0.01, ha="left")

    ax = fig.add_subplot(gs[0, :])
    rows = p.series("Joignabilité des équipements", "{device} ({site})")
    names = sorted(rows)
    for i, name in enumerate(names):
        times, values = rows[name]
        for t, v in zip(times, values, strict=True):
            if v is False:
                ax.broken_barh([(mdates.date2num(t), 10 / 1440)], (i - 0.4, 0.8), color=dashgen.VERMILLION)
        ax.broken_barh([(mdates.date2num(times[0]), mdates.date2num(times[-1]) - mdates.date2num(times[0]))],
                       (i - 0.4, 0.8), color=dashgen.BLUE, alpha=0.25, zorder=0)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    _style(ax, "Joignabilité des équipements (bleu : joignable, vermillon : injoignable)", "")
    ax.xaxis_date(tz=TZ)

    ax = fig.add_subplot(gs[1, 0])
    last_t = None
    for i, (name, (t, v)) in enumerate(sorted(p.series("Autonomie (min) et charge (%) des batteries",
                                                        "{device}").items())):
        ax.plot(t, v, color=PALETTE[i], lw=2, label=f"autonomie {name}")
        last_t = max(last_t or t[-1], t[-1])
    for start, end, _dev in _events(p):
        ax.axvspan(start, end or last_t, color=dashgen.ORANGE, alpha=0.2, lw=0)
    ax.axhline(dashgen.BATTERY_MIN_ALERT, color=dashgen.VERMILLION, ls="--", lw=1, label="seuil d'alerte 15 min")
    ax.set_ylim(bottom=0)
    _style(ax, "Autonomie des batteries (zones orange : sur batterie)", "minutes")
    ax.legend(fontsize=8, loc="lower left")

    ax = fig.add_subplot(gs[1, 1])
    for i, (name, (t, v)) in enumerate(sorted(p.series("Niveaux optiques des ONT", "{pon} ONT {ont_id}").items())):
        ax.plot(t, v, color=PALETTE[i % len(PALETTE)], lw=1.5, label=name,
                ls="-" if i < len(PALETTE) else ":")
    for y in (dashgen.RX_MIN_DBM, dashgen.RX_MAX_DBM):
        ax.axhline(y, color=dashgen.VERMILLION, ls="--", lw=1)
    ax.text(ax.get_xlim()[0], dashgen.RX_MIN_DBM - 1.2, " budget B+ : -27 / -8 dBm", color=dashgen.VERMILLION, fontsize=8)
    ax.set_ylim(-31, -6)
    _style(ax, "Niveaux optiques des ONT", "dBm")
    ax.legend(fontsize=7, ncol=2, loc="upper right")

    ax = fig.add_subplot(gs[2, 0])
    for i, (name, (t, v)) in enumerate(sorted(p.series("Passerelles LoRa : temps depuis le dernier contact",
                                                        "{device}").items())):
        ax.plot(t, v, color=PALETTE[i], lw=2, label=name)
    ax.axhline(15, color=dashgen.ORANGE, ls="--", lw=1, label="15 min")
    _style(ax, "Passerelles LoRa : minutes depuis le dernier contact", "minutes")
    ax.legend(fontsize=8)

    ax = fig.add_subplot(gs[2, 1])
    ax.axis("off")
    ax.set_title("Maintenant", loc="left", fontsize=11, fontweight="bold")
    lines = []
    for r in p.rows("Onduleurs : secteur ou batterie"):
        lines.append((f"{r['device']} ({r['site']})", "SUR BATTERIE" if r["last"] else "secteur",
                      dashgen.ORANGE if r["last"] else dashgen.BLUE))
    for r in p.rows("Équipements : joignables ou non"):
        if not r["joignable"]:
            lines.append((f"{r['device']} ({r['site']})", "INJOIGNABLE", dashgen.VERMILLION))
    for r in p.rows("Interfaces down"):
        lines.append((f"{r['device']} {r['interface']}", "interface down", dashgen.VERMILLION))
    for r in p.rows("ONT hors budget optique"):
        lines.append((f"ONT {r['pon']}:{r['ont_id']}", f"{r['rx']:.1f} dBm hors budget", dashgen.VERMILLION))
    for i, (name, state, color) in enumerate(lines[:9]):
        y = 0.9 - i * 0.105
        ax.add_patch(plt.Rectangle((0.0, y - 0.04), 0.98, 0.09, color=color, alpha=0.9, transform=ax.transAxes))
        ax.text(0.02, y, name, color="white", fontsize=10, va="center", transform=ax.transAxes, fontweight="bold")
        ax.text(0.96, y, state, color="white", fontsize=10, va="center", ha="right", transform=ax.transAxes)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_energy(p: Panels, path: Path) -> None:
    fig = plt.figure(figsize=(13, 8.5), constrained_layout=True)
    gs = fig.add_gridspec(2, 3, width_ratios=[1, 1, 0.8])
    fig.suptitle(f"{p.title} — aperçu (données de démonstration)", fontsize=14, fontweight="bold", x=0.01, ha="left")

    total = p.rows("Énergie consommée")[0]["sum"]
    beges = p.rows("Émissions BEGES (facteur ADEME annuel)")[0]["sum"]
    grid = p.rows("Émissions selon le réseau (éCO2mix)")[0]["sum"]
    pue = p.rows("PUE des centres de données", "A")[0]["sum"] / p.rows("PUE des centres de données", "B")[0]["sum"]
    ax = fig.add_subplot(gs[0, 2])
    ax.axis("off")
    ax.set_title("Sur la période (24 h)", loc="left", fontsize=11, fontweight="bold")
    for i, (label, value, color) in enumerate([
        ("Énergie consommée", f"{total:,.0f} kWh".replace(",", " "), dashgen.BLUE),
        ("Émissions BEGES (ADEME)", f"{beges:.1f} kgCO₂e".replace(".", ","), dashgen.BLUE),
        ("Émissions réseau (éCO2mix)", f"{grid:.1f} kgCO₂e".replace(".", ","), dashgen.ORANGE),
        ("PUE centre de données", f"{pue:.2f}".replace(".", ","), dashgen.GREEN),
    ]):
        y = 0.85 - i * 0.23
        ax.text(0.02, y, label, fontsize=10, transform=ax.transAxes, color="#333333")
        ax.text(0.02, y - 0.1, value, fontsize=20, fontweight="bold", transform=ax.transAxes, color=color)

    ax = fig.add_subplot(gs[0, :2])
    series = p.series("Énergie par site (kWh par heure)", "{site}")
    bottom: dict[dt.datetime, float] = defaultdict(float)
    for i, (name, (t, v)) in enumerate(sorted(series.items())):
        ax.bar(t, v, width=1 / 24 * 0.9, bottom=[bottom[x] for x in t], color=PALETTE[i], label=name)
        for x, y in zip(t, v, strict=True):
            bottom[x] += y
    _style(ax, "Énergie par site (kWh par heure)", "kWh")
    ax.legend(fontsize=8, loc="upper left")

    ax = fig.add_subplot(gs[1, 0])
    em = p.series("Émissions horaires : BEGES et réseau", "{track}")
    labels = {"beges": ("BEGES (ADEME)", dashgen.BLUE, "-"), "grid": ("Réseau (éCO2mix)", dashgen.ORANGE, "--")}
    for track, (t, v) in sorted(em.items()):
        name, color, ls = labels[track]
        ax.plot(t, [x / 1000 for x in v], color=color, ls=ls, lw=2, label=name)
    ax.set_ylim(bottom=0)
    _style(ax, "Émissions horaires, deux méthodes", "kgCO₂e / h")
    ax.legend(fontsize=8)

    ax = fig.add_subplot(gs[1, 1])
    a = p.series("PUE des centres de données (par heure)", "x", "A")["x"]
    b = p.series("PUE des centres de données (par heure)", "x", "B")["x"]
    it = dict(zip(b[0], b[1], strict=True))
    t = [x for x in a[0] if x in it]
    ax.plot(t, [f / it[x] for x, f in zip(a[0], a[1], strict=True) if x in it], color=dashgen.GREEN, lw=2)
    ax.axhline(1.6, color=dashgen.ORANGE, ls="--", lw=1, label="1,6")
    ax.set_ylim(1.0, 2.0)
    _style(ax, "PUE du centre de données (par heure)", "PUE")

    ax = fig.add_subplot(gs[1, 2])
    rows = p.rows("Complétude : kWh par méthode")
    names = {"measured": ("mesurée", dashgen.BLUE), "integrated": ("intégrée", dashgen.SKY),
             "estimated": ("estimée", dashgen.ORANGE)}
    rows.sort(key=lambda r: list(names).index(r["method"]))
    ax.pie([r["sum"] for r in rows], labels=[names[r["method"]][0] for r in rows],
           colors=[names[r["method"]][1] for r in rows], autopct="%1.1f %%", pctdistance=0.78,
           wedgeprops={"width": 0.4, "edgecolor": "white"}, textprops={"fontsize": 9})
    ax.set_title("Complétude : kWh par méthode", loc="left", fontsize=11, fontweight="bold")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    srv = InfluxDB1()
    srv.start()
    try:
        write_demo(srv, "sentinelle")
        render_noc(Panels(srv, dashgen.noc_dashboard()), OUT / "dashboard-noc.png")
        render_energy(Panels(srv, dashgen.energy_dashboard()), OUT / "dashboard-energie.png")
    finally:
        srv.cleanup()
    for f in sorted(OUT.glob("dashboard-*.png")):
        print("wrote", f.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
