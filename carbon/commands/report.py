"""`sentinelle report`: the annual (or custom period) energy and carbon report.

The command's glue between the agent's configuration and sinks (`carbon.commands.sources`)
and carbon/'s report.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from sentinelle.carbon.commands.args import civil_year, comma_choices, local_datetime
from sentinelle.carbon.commands.sources import reads_influxdb, report_source

log = logging.getLogger("sentinelle.carbon.commands.report")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="energy and carbon report for a year or a period (CSV, XLSX, JSON, HTML)",
        description="Energy (kWh by method, completeness) and emissions on the BEGES and grid tracks, "
        "per site, member, contract or operator, from the local store or InfluxDB (InfluxQL).",
    )
    p.add_argument("-c", "--config", required=True, help="agent configuration file (inventory, sinks, carbon)")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--year", type=civil_year, help="civil year (French local time), e.g. 2026")
    when.add_argument("--from", dest="start", type=local_datetime, help="period start, ISO date or date-time (local time)")
    p.add_argument("--to", dest="end", type=local_datetime, help="period end (exclusive), with --from")
    p.add_argument("--group-by", default="site,member,contract,operator", help="comma list of site, member, contract, operator")
    p.add_argument("--format", default="csv,xlsx,json,html", help="comma list of csv, xlsx, json, html")
    p.add_argument("--excel-fr", action="store_true", help="CSV for French Excel: ';', decimal comma, UTF-8 BOM")
    p.add_argument("--lang", choices=("fr", "en"), default=None,
                   help="language of the report: fr or en (default: agent.lang of the file, else fr)")
    p.add_argument("--out", default=".", help="output directory")
    p.add_argument("--source", choices=("local", "influxdb"), help="default: the first InfluxDB 1.x/2.x sink, else local")
    p.add_argument("--factors", help="factor table (YAML, same format as the embedded ADEME table)")
    p.add_argument("--missing-year", choices=("error", "latest"), help="a year missing from the factor table")
    p.add_argument(
        "--allow-empty", action="store_true",
        help="write the report even when the period holds no energy data (default: warn, write nothing, exit 1)",
    )  # fmt: skip
    p.add_argument("--manufacturing-factors", help="manufacturing emission factors for the scope 3 section (YAML)")
    p.add_argument("--lifetimes", help="expected lifetimes per equipment class for the scope 3 section (YAML)")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from sentinelle.agent.config import load_config  # a ConfigError reaches `sentinelle` (FILE:LINE, exit 2)
    from sentinelle.carbon.factors import FactorError, FactorTable
    from sentinelle.carbon.inventory import report_section
    from sentinelle.carbon.inventory.factors import InventoryTableError
    from sentinelle.carbon.meters import MeterHierarchyError, meters_from_inventory, sites_from_inventory
    from sentinelle.carbon.report import FORMATS, ReportSourceError, build_report, report_period, write_report
    from sentinelle.carbon.report.aggregate import DEFAULT_UNCERTAINTY
    from sentinelle.carbon.report.console import empty_refusal, report_warnings, summary_line

    # Secrets are read only when the report reads InfluxDB: a local-store report must not need
    # a token file or a ${VAR} it does not use.
    config = load_config(args.config, read_secrets=False)
    if reads_influxdb(config, args.source):
        config = load_config(args.config)
    lang = args.lang or config.agent.lang
    try:
        groupings = comma_choices(args.group_by, ("site", "member", "contract", "operator"), "group-by")
        formats = comma_choices(args.format, FORMATS, "format")
        if args.year is None and args.end is None:
            raise ValueError("--from needs --to")
        start_ns, end_ns, label = report_period(args.year, args.start, args.end)
        if end_ns <= start_ns:
            raise ValueError("--to must be after --from")
    except ValueError as exc:
        # Exit 1 as before for a bad --group-by/--format value (tests and scripts rely on it);
        # argparse's own refusals (--year 26, a bad date) exit 2.
        print(f"sentinelle report: {exc}", file=sys.stderr)
        return 1
    try:
        c = config.carbon
        factors_path = args.factors or c.factors_file
        factors = FactorTable.from_file(factors_path) if factors_path else FactorTable.embedded()
        source, close = report_source(config, args.source)
        try:
            report = build_report(
                source,
                start_ns,
                end_ns,
                factors,
                label=label,
                sites=sites_from_inventory(config.inventory),
                meters=meters_from_inventory(config.inventory),
                missing_year=args.missing_year or c.missing_year,
                uncertainty_pct={**DEFAULT_UNCERTAINTY, **c.uncertainty_pct},
                max_gap_s=c.max_gap,
            )
            # Scope 3 manufacturing: its own files, never added to the electricity figures.
            manufacturing = report_section.build_section(config, source, start_ns, end_ns,
                                                         args.manufacturing_factors, args.lifetimes)
        finally:
            close()
        for line in report_warnings(report, lang):
            print(f"sentinelle report: {line}", file=sys.stderr)
        if report.is_empty and not args.allow_empty:
            print(f"sentinelle report: {empty_refusal(label, lang)}", file=sys.stderr)
            return 1
        paths = write_report(report, args.out, formats, groupings, lang, args.excel_fr, manufacturing)
        paths += report_section.write_section(manufacturing, args.out, formats, label, lang)
    except (ValueError, FactorError, MeterHierarchyError, ReportSourceError, OSError, InventoryTableError) as exc:
        print(f"sentinelle report: {exc}", file=sys.stderr)
        return 1
    print(summary_line(report, lang))
    print(report_section.summary(manufacturing, lang))
    for p in paths:
        print(p)
    return 0
