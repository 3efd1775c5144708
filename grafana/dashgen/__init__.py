"""Source of truth for Sentinelle's Grafana dashboards and alert rules.

    python -m grafana.dashgen          # rewrite grafana/dashboards/*.json and the alert rules
    python -m grafana.dashgen --check  # exit 1 if the committed files differ from this source

Everything a panel or rule queries is written here once, in InfluxQL that runs unchanged on
InfluxDB 1.x, on 2.x through a DBRP mapping and on 3.x (no subqueries, no INTO, no Flux).
tests/grafana/test_*.py run every query against a real influxd; grafana/README.md lists the
measurements and fields used, for reconciliation with the collectors.

Colours: Okabe-Ito (colour-blind safe); a state is never told by colour alone (text mappings).

widgets.py holds the building blocks, one module per dashboard (noc, energy, agent, inventory),
alerts.py the alert rules, typescript.py the schema check's sources, files.py what is written
where; the query interpolation the tests use is tests/support/grafana_queries.py.
"""

from .agent import agent_dashboard
from .alerts import alert_rules
from .energy import energy_dashboard
from .files import ALERT_RULES_PATH, DASHBOARD_DIR, DASHBOARDS, main, render
from .inventory import inventory_dashboard
from .noc import noc_dashboard
from .typescript import typescript_source
from .widgets import (
    BATTERY_MIN_ALERT,
    BLUE,
    DS,
    DS_UID,
    GREEN,
    GREY,
    OKABE_ITO,
    ORANGE,
    PURPLE,
    RX_MAX_DBM,
    RX_MIN_DBM,
    SKY,
    VERMILLION,
    YELLOW,
    iter_panels,
)

__all__ = [
    "ALERT_RULES_PATH", "BATTERY_MIN_ALERT", "BLUE", "DASHBOARDS", "DASHBOARD_DIR", "DS", "DS_UID", "GREEN",
    "GREY", "OKABE_ITO", "ORANGE", "PURPLE", "RX_MAX_DBM", "RX_MIN_DBM", "SKY", "VERMILLION", "YELLOW",
    "agent_dashboard", "alert_rules", "energy_dashboard", "inventory_dashboard", "iter_panels", "main",
    "noc_dashboard", "render", "typescript_source",
]
