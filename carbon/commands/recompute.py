"""`sentinelle recompute`: rewrite the stored carbon points of a period (after a factor table change).

    sentinelle recompute -c CONFIG --from 2025-01-01 --to 2026-01-01 [--factors FILE]

Exit codes: 0 done, 1 a sink could not be read or written, 2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from sentinelle.carbon.commands.args import local_datetime
from sentinelle.carbon.commands.delivery import Delivery, DeliveryError, delete_carbon
from sentinelle.carbon.commands.inputs import factor_table, grid_provider, load_agent_config
from sentinelle.carbon.commands.sources import readable_source


def add_parser(subparsers: Any) -> None:
    r = subparsers.add_parser(
        "recompute",
        help="rewrite the stored carbon points of a period (after a factor table change)",
        description="Reads the stored energy points of the period and writes their carbon points again with the "
        "factor table in use (--factors for a newer ADEME table), replacing the old ones.",
    )
    r.add_argument("-c", "--config", required=True)
    r.add_argument("--from", dest="start", required=True, help="period start, ISO date or date-time (local time)")
    r.add_argument("--to", dest="end", required=True, help="period end (exclusive)")
    r.add_argument("--factors", help="factor table (YAML, same format as the embedded ADEME table)")
    r.add_argument("--missing-year", choices=("error", "latest"))
    r.set_defaults(func=run_recompute)


def run_recompute(args: argparse.Namespace) -> int:
    from sentinelle.carbon.factors import FactorError
    from sentinelle.carbon.report import report_period
    from sentinelle.carbon.report.source import ReportSourceError

    config = load_agent_config(args.config)
    try:
        start_ns, end_ns, label = report_period(None, local_datetime(args.start), local_datetime(args.end))
        if end_ns <= start_ns:
            raise ValueError("--to must be after --from")
        return asyncio.run(_recompute(config, args, start_ns, end_ns, label))
    except argparse.ArgumentTypeError as exc:
        print(f"sentinelle recompute: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FactorError) as exc:
        print(f"sentinelle recompute: {exc}", file=sys.stderr)
        return 2
    except (DeliveryError, ReportSourceError, OSError) as exc:
        print(f"sentinelle recompute: {exc}", file=sys.stderr)
        return 1


async def _recompute(config: Any, args: argparse.Namespace, start_ns: int, end_ns: int, label: str) -> int:
    from sentinelle.carbon.history.recompute import (
        change_line,
        recompute_carbon,
        stored_beges_g,
        stored_intensity,
    )

    factors = factor_table(args, config)
    source, close, name = readable_source(config)
    if source is None:
        print(f"sentinelle recompute: sink {name} holds no data yet", file=sys.stderr)
        return 1
    try:
        grid: Any = stored_intensity(source.points("grid_intensity", start_ns - 86400 * 10**9, end_ns + 86400 * 10**9))
        grid = grid or grid_provider(config, factors)
        tracks = ["beges", "grid"] if grid is not None else ["beges"]
        before_g = stored_beges_g(source, start_ns, end_ns)
        for warning in await delete_carbon(config, start_ns, end_ns, tracks):
            print(f"  warning: {warning}", file=sys.stderr)
        async with Delivery(config) as delivery:
            result = await recompute_carbon(source, delivery, factors, start_ns, end_ns,
                                            missing_year=args.missing_year or config.carbon.missing_year, grid=grid)
    finally:
        close()
    print(f"{label}: {result.energy_points} energy points, {result.kwh:.3f} kWh, "
          f"{result.beges_g / 1e6:.6f} tCO2e BEGES; {result.carbon_points} carbon points rewritten "
          f"(tracks: {', '.join(tracks)}; factor table {factors.name} version {factors.version})")
    print(f"  {change_line(before_g, result.beges_g)}")
    for line in result.factor_lines():
        print(f"  {line}")
    for err in sorted(result.errors):
        print(f"  no BEGES carbon point: {err}", file=sys.stderr)
    return 0
