"""`python -m grafana.dashgen [--check]`: rewrite the dashboards and alert rules, or check them."""

import sys

from .files import main

sys.exit(main(sys.argv[1:]))
