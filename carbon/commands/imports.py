"""`sentinelle import` (glue between the agent's configuration and sinks and carbon/history).

    sentinelle import -c CONFIG --meter METER FILE [--format auto|csv|enedis|lp] [--kind ...]
    sentinelle import -c CONFIG --manifest METERS.csv [--jobs N]
    sentinelle import -c CONFIG --intensity FILE

Exit codes: 0 done, 1 the file was refused or a sink failed, 2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from sentinelle.carbon.commands.inputs import load_agent_config
from sentinelle.carbon.commands.manifest import ManifestError, import_manifest
from sentinelle.carbon.commands.meter_import import import_one

log = logging.getLogger("sentinelle.carbon.history")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import",
        help="import past readings of one meter (CSV, Enedis, line protocol) or a grid intensity history",
        description="Past readings of one inventory meter through the same energy and carbon steps as live "
        "data, into the configured sinks. Idempotent: importing a file again changes nothing. A file with a "
        "bad line is refused whole unless --skip-bad.",
    )
    p.add_argument("-c", "--config", required=True, help="agent configuration file (inventory, sinks, carbon)")
    p.add_argument("--meter", help="device id of a metered inventory device")
    p.add_argument("file", nargs="?", help="the export to import")
    p.add_argument("--manifest", metavar="CSV",
                   help="import many meters: a CSV with columns meter,file (and optionally format, kind, unit, "
                   "modulus, time_column, value_column, reset_column, tz, step, direction overriding the flags per row)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="with --manifest: meters imported in parallel processes (default 1; up to the number "
                   "of cores for a bulk import)")
    p.add_argument("--format", default="auto", choices=("auto", "csv", "enedis", "lp"))
    p.add_argument("--kind", choices=("counter", "power", "interval"),
                   help="cumulative counter, power samples, or energy per interval (default: inventory; "
                   "Enedis files: interval for load curves, counter for index exports)")
    p.add_argument("--unit", help="kWh, Wh, MWh (counter, interval) or W, kW (power; interval as mean power)")
    p.add_argument("--modulus", type=float, help="counter modulus in the meter's unit (where it wraps)")
    p.add_argument("--time-column", help="CSV time column: header name or 1-based number")
    p.add_argument("--value-column", help="CSV value column: header name or 1-based number")
    p.add_argument("--reset-column", help="CSV column flagging counter restarts (1/true/yes/x): header name or 1-based "
                   "number (default: a column named reset, counter_reset or remise à zéro)")
    p.add_argument("--tz", default="Europe/Paris", help="time zone of naive local times (default Europe/Paris)")
    p.add_argument("--step", help="interval length when the file does not give it (PT30M, 1800)")
    p.add_argument("--direction", default="consumption", choices=("consumption", "injection"),
                   help="Enedis files mixing both: which one to import")
    p.add_argument("--skip-bad", action="store_true", help="import the good lines of a file with bad lines")
    p.add_argument("--factors", help="factor table (YAML, same format as the embedded ADEME table)")
    p.add_argument("--missing-year", choices=("error", "latest"))
    p.add_argument("--intensity", metavar="FILE", help="import an éCO2mix / ODRÉ / Electricity Maps intensity export")
    p.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    config = load_agent_config(args.config)
    if args.manifest:
        if args.meter or args.file or args.intensity:
            print("sentinelle import: give --manifest CSV alone, without --meter, FILE or --intensity", file=sys.stderr)
            return 2
        if args.jobs < 1:
            print("sentinelle import: --jobs must be at least 1", file=sys.stderr)
            return 2
        try:
            return import_manifest(config, args)
        except ManifestError as exc:
            print(f"sentinelle import: {exc}", file=sys.stderr)
            return 2
    return import_one(config, args)
