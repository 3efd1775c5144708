"""`sentinelle inventory`: the equipment inventory per site, member and contract, read back
from the configured sink (local store, or InfluxDB through InfluxQL) with the report's own
reader, plus lifetimes, obsolescence and, with `--year`, the manufacturing emissions.

The adapter between the agent's configuration and carbon/inventory: the only module here that
reads the configuration.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

FORMATS = ("table", "csv", "xlsx", "json")
DEFAULT_HISTORY_YEARS = 10


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "inventory",
        help="equipment inventory read from the network (models, serials, firmware, age, lifetime)",
        description="Equipment per site, member and contract, with model, serial, firmware, first and last seen, "
        "age and expected lifetime, read from the local store or InfluxDB. With --year, the manufacturing "
        "emissions (scope 3) amortised over that year.",
    )
    p.add_argument("-c", "--config", required=True, help="agent configuration file (inventory, sinks)")
    p.add_argument("--format", default="table", help="comma list of table, csv, xlsx, json (default: table)")
    p.add_argument("--lang", choices=("fr", "en"), default=None,
                   help="language of the tables: fr or en (default: agent.lang of the file, else fr)")
    p.add_argument("--out", default=".", help="output directory for csv, xlsx, json")
    p.add_argument("--source", choices=("local", "influxdb"), help="default: the first InfluxDB sink, else local")
    p.add_argument("--since", type=_date, help=f"oldest history read (default: {DEFAULT_HISTORY_YEARS} years ago)")
    p.add_argument("--lifetimes", help="expected lifetimes per equipment class (YAML, as the shipped table)")
    p.add_argument("--factors", help="manufacturing emission factors (YAML, as the shipped table)")
    p.add_argument("--year", type=int, help="also compute the manufacturing emissions amortised over this year")
    p.set_defaults(func=run_inventory)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r} (e.g. 2020-01-01)") from None


def run_inventory(args: argparse.Namespace) -> int:
    from sentinelle.agent.config import load_config  # a ConfigError reaches `sentinelle` (FILE:LINE, exit 2)
    from sentinelle.carbon.commands.args import comma_choices
    from sentinelle.carbon.commands.sources import report_source
    from sentinelle.carbon.inventory.factors import InventoryTableError, load_lifetimes, load_manufacturing
    from sentinelle.carbon.inventory.manufacturing import manufacturing_section
    from sentinelle.carbon.inventory.obsolescence import ageing
    from sentinelle.carbon.inventory.records import MEASUREMENT, DeviceSite, build_records, completeness
    from sentinelle.carbon.inventory.tables import (
        SCOPE_NOTE,
        inventory_tables,
        manufacturing_tables,
        render_text,
    )
    from sentinelle.carbon.report import ReportSourceError

    try:
        formats = comma_choices(args.format, FORMATS, "format")
        config = load_config(args.config)
        args.lang = args.lang or config.agent.lang  # as `report` does
        lifetimes = load_lifetimes(Path(args.lifetimes) if args.lifetimes else None)
        factors = load_manufacturing(Path(args.factors) if args.factors else None)
        today = datetime.now(UTC).date()
        since = args.since or today.replace(year=today.year - DEFAULT_HISTORY_YEARS)
        start_ns = int(datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp()) * 10**9
        devices: dict[str, DeviceSite] = {}
        snmp_devices: list[str] = []
        for site in config.inventory.sites:
            for dev in site.devices:
                devices[dev.id] = DeviceSite(site.id, site.member, site.contract, dev.kind)
                if dev.snmp is not None:
                    snmp_devices.append(dev.id)
        source, close = report_source(config, args.source)
        try:
            end_ns = time.time_ns() + 86400 * 10**9
            points = list(source.points(MEASUREMENT, start_ns, end_ns))
            events = list(source.points("event", start_ns, end_ns))
        finally:
            close()
    except (ValueError, InventoryTableError, ReportSourceError, OSError, sqlite3.Error) as exc:
        print(f"sentinelle inventory: {exc}", file=sys.stderr)
        return 1
    records = build_records(points, devices, today)
    items = ageing(records, lifetimes)
    comp = completeness(records, snmp_devices)
    tables = inventory_tables(records, items, comp, args.lang, events)
    section = None
    if args.year is not None:
        section = manufacturing_section(records, factors, lifetimes, date(args.year, 1, 1), date(args.year + 1, 1, 1))
        tables += manufacturing_tables(section, args.lang)
    try:
        written = _write(tables, formats, Path(args.out), args.lang, section, factors.version, lifetimes.version)
    except OSError as exc:
        print(f"sentinelle inventory: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 1
    if "table" in formats:
        by_name = {t.name: t for t in tables}
        print(render_text(by_name["equipment"], ["site", "device", "part", "class", "vendor", "model", "serial",
                                                 "firmware", "age_years", "age_from", "past_lifetime"], args.lang))
        print()
        print(render_text(by_name["completeness"], lang=args.lang))
        past = [a.record.device for a in items if a.past_lifetime]
        print()
        print(("past their expected lifetime: " if args.lang == "en" else "au-delà de leur durée de vie attendue : ")
              + (", ".join(past) if past else "0"))
        if section is not None:
            print()
            print(SCOPE_NOTE[1 if args.lang == "en" else 0])
            print(render_text(by_name["manufacturing-site"], lang=args.lang))
    for path in written:
        print(path)
    if not points:
        print("sentinelle inventory: no inventory data in the store yet (the agent reads identity at start, "
              "then daily)", file=sys.stderr)
        return 1
    return 0


def _write(tables: list[Any], formats: list[str], out: Path, lang: str, section: Any, factors_version: str,
           lifetimes_version: str) -> list[Path]:
    from sentinelle.carbon.report.outputs import write_csv, write_xlsx

    files = [f for f in formats if f != "table"]
    if not files:
        return []
    out.mkdir(parents=True, exist_ok=True)
    stem = "inventory" if section is None else f"inventory-{section.start.year}"
    written: list[Path] = []
    if "csv" in files:
        written += write_csv(tables, out, stem)
    if "xlsx" in files:
        written.append(write_xlsx(tables, out / f"{stem}.xlsx"))
    if "json" in files:
        doc = {
            "report": "sentinelle-inventory", "lang": lang, "generated_at": datetime.now(UTC).isoformat(),
            "lifetimes_version": lifetimes_version, "manufacturing_factors_version": factors_version,
            "tables": {t.name: {"headers": dict(zip(t.columns, t.headers, strict=True)), "rows": t.records()}
                       for t in tables},
        }
        path = out / f"{stem}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        written.append(path)
    return written
