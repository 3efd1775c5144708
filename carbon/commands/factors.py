"""`sentinelle factors build | show | diff`: the BEGES factor table from ADEME's export, shown and compared.

- `build EXPORT [--out FILE] [--include-archived] [--base-version V]` reads ADEME's Base Carbone
  export as downloaded (CSV or XLSX) and writes a table in the `--factors` format (stdout
  without --out), so users refresh factors when ADEME publishes, without waiting for a release.
- `show [--factors FILE | -c CONFIG] [--year Y] [--zone Z]` prints the table in use and where
  each row came from; with --year, the factor each zone would get for that year by the year rule.
- `diff OLD NEW` (tables or exports) lists what a new export changes; then `sentinelle recompute`.

Exit codes: 0 done, 1 a file with problems (the message names file, line and what is wrong),
2 usage (missing file, bad arguments).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
EXPORT_SUFFIXES = (".csv", ".xlsx", ".txt")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "factors",
        help="BEGES electricity factors: build the table from ADEME's export, show it, diff two versions",
        description="The BEGES track's factor table: built from ADEME's Base Carbone export, shown, compared.",
    )
    sub = p.add_subparsers(dest="factors_command", metavar="{build,show,diff}", required=True)

    b = sub.add_parser("build", help="factor table from ADEME's Base Carbone export (CSV ';' or XLSX)")
    b.add_argument("export", help="the export file as downloaded from ADEME (Base_Carbone_V23.6.csv, .xlsx)")
    b.add_argument("--out", help="write the table here (default: standard output)")
    b.add_argument("--include-archived", action="store_true", help="also keep elements with status 'Archivé'")
    b.add_argument("--base-version", help="base version when the file name does not carry it (e.g. V23.6)")
    b.set_defaults(func=run_build)

    s = sub.add_parser("show", help="the factors in use and where they came from")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--factors", help="a factor table file (default: the embedded table)")
    where.add_argument("-c", "--config", help="agent configuration: the table it uses (carbon.factors_file)")
    s.add_argument("--year", type=int, help="the factor each zone gets for this year (year rule applied)")
    s.add_argument("--zone", help="only this zone (e.g. fr-continental, guyane)")
    s.set_defaults(func=run_show)

    d = sub.add_parser("diff", help="what a new table or export changes compared with an older one")
    d.add_argument("old", help="older factor table (YAML) or ADEME export")
    d.add_argument("new", help="newer factor table (YAML) or ADEME export")
    d.set_defaults(func=run_diff)


def _err(message: str) -> None:
    print(f"sentinelle factors: {message}", file=sys.stderr)


def run_build(args: argparse.Namespace) -> int:
    from sentinelle.carbon.base_carbone import ExportError, build_table
    from sentinelle.carbon.factors import FactorError, FactorTable

    try:
        text = build_table(args.export, args.include_archived, args.base_version)
        table = FactorTable.from_text(text, f"build of {args.export}")  # the output must load back
    except FileNotFoundError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except (ExportError, FactorError) as exc:
        _err(str(exc))
        return EXIT_PROBLEMS
    except OSError as exc:
        _err(f"{args.export}: cannot read: {exc.strerror or exc}")
        return EXIT_USAGE
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            _err(f"{args.out}: cannot write: {exc.strerror or exc}")
            return EXIT_USAGE
    else:
        sys.stdout.write(text)
    summary = sys.stderr if not args.out else sys.stdout
    print(f"factor table {table.name} version {table.version} from {Path(args.export).name}:", file=summary)
    for zone in table.zones():
        years = table.years(zone)
        what = [f"{years[0]}–{years[-1]} ({len(years)} year{'s' if len(years) > 1 else ''})"] if years else []
        what += ["one element without reference year"] if any(f.undated for f in table.rows(zone)) else []
        print(f"  {zone}: {', '.join(what)}", file=summary)
    if args.out:
        print(f"written to {args.out}; use it with --factors {args.out} or carbon.factors_file", file=summary)
    return EXIT_OK


def _load_table(path: str) -> Any:
    """A factor table from a YAML table or an ADEME export (built in memory)."""
    from sentinelle.carbon.base_carbone import build_table
    from sentinelle.carbon.factors import FactorTable

    if Path(path).suffix.lower() in EXPORT_SUFFIXES:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return FactorTable.from_text(build_table(path), path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return FactorTable.from_file(path)


def _describe(f: Any, lang: str = "fr") -> str:
    unc = f"± {f.uncertainty_pct:g} %" if f.uncertainty_pct is not None else "± n/a"
    year = "undated" if f.undated else str(f.year)
    status = f", {f.status}" if f.status else ""
    verified = "verified" if f.verified else "NOT VERIFIED"
    return (f"{year}: {f.kg_per_kwh:g} kgCO2e/kWh {unc}; element {f.source_id or '-'}, "
            f"{f.source_version or f.table_version}{status}; {verified}")  # fmt: skip


def _parts(f: Any) -> list[str]:
    from sentinelle.carbon.beges_posts import post_label

    shares = f.post_shares()
    out = [f"      {p.name}: {p.kg_per_kwh:g} -> poste {p.post}" for p in f.parts]
    out += [f"      poste {post}: {share * 100:.1f} % ({post_label(post)})" for post, share in sorted(shares.items())]
    return out


def run_show(args: argparse.Namespace) -> int:
    from sentinelle.carbon.factors import FactorError, FactorTable

    missing_year = "latest"
    try:
        if args.config:
            from sentinelle.agent.config import load_config

            carbon = load_config(args.config).carbon
            missing_year = carbon.missing_year
            table = FactorTable.from_file(carbon.factors_file) if carbon.factors_file else FactorTable.embedded()
        else:
            table = FactorTable.from_file(args.factors) if args.factors else FactorTable.embedded()
        zones = [args.zone] if args.zone else table.zones()
        if args.zone and not table.has_zone(args.zone):
            raise FactorError(f"no zone {args.zone!r} in {table.origin} (zones: {', '.join(table.zones())})")
    except FactorError as exc:
        _err(str(exc))
        return EXIT_PROBLEMS
    built = f", built from {table.built_from}" if table.built_from else ""
    print(f"factor table {table.name} version {table.version} ({table.origin}{built})")
    problems = 0
    for zone in zones:
        print(f"  {zone} — {table.zone_label(zone)}")
        if args.year is None:
            for f in table.rows(zone):
                print(f"    {_describe(f)}")
                print(f"      source: {f.source}")
            continue
        try:
            f = table.factor(zone, args.year, missing_year)
        except FactorError as exc:
            print(f"    {args.year}: none ({exc})")
            problems += 1
            continue
        rule = ("the export's element has no reference year: used for every year, flagged 'undated'" if f.undated
                else f"no {args.year} factor: latest earlier year, flagged factor-year-{f.year}-for-{args.year}"
                if f.fallback else f"the {args.year} factor")  # fmt: skip
        print(f"    for {args.year}: {_describe(f)}")
        print(f"      rule: {rule}")
        print(f"      source: {f.source}")
        for line in _parts(f):
            print(line)
    return EXIT_PROBLEMS if problems and args.zone else EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    from sentinelle.carbon.base_carbone import ExportError
    from sentinelle.carbon.factors import FactorError

    try:
        old, new = _load_table(args.old), _load_table(args.new)
    except FileNotFoundError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except (ExportError, FactorError) as exc:
        _err(str(exc))
        return EXIT_PROBLEMS
    print(f"old: {old.name} version {old.version} ({args.old})")
    print(f"new: {new.name} version {new.version} ({args.new})")
    changes = 0
    for zone in sorted(set(old.zones()) | set(new.zones())):
        before = {("undated" if f.undated else f.year): f for f in old.rows(zone)} if old.has_zone(zone) else {}
        after = {("undated" if f.undated else f.year): f for f in new.rows(zone)} if new.has_zone(zone) else {}
        for year in sorted(set(before) | set(after), key=str):
            a, b = before.get(year), after.get(year)
            if a is None and b is not None:
                print(f"  + {zone} {_describe(b)}")
            elif b is None and a is not None:
                print(f"  - {zone} {_describe(a)}")
            elif a is not None and b is not None:
                diffs = []
                if a.kg_per_kwh != b.kg_per_kwh:
                    rel = (b.kg_per_kwh / a.kg_per_kwh - 1) * 100 if a.kg_per_kwh else float("inf")
                    diffs.append(f"{a.kg_per_kwh:g} -> {b.kg_per_kwh:g} kgCO2e/kWh ({rel:+.2f} %)")
                if a.source_id != b.source_id:
                    diffs.append(f"element {a.source_id} -> {b.source_id}")
                if a.uncertainty_pct != b.uncertainty_pct:
                    diffs.append(f"uncertainty {a.uncertainty_pct} -> {b.uncertainty_pct} %")
                if a.status != b.status:
                    diffs.append(f"status {a.status} -> {b.status}")
                if [(p.name, p.kg_per_kwh, p.post) for p in a.parts] != [(p.name, p.kg_per_kwh, p.post) for p in b.parts]:
                    diffs.append("decomposition changed")
                if diffs:
                    print(f"  ~ {zone} {year}: {'; '.join(diffs)}")
                else:
                    continue
            changes += 1
    if changes:
        print(f"{changes} change(s). To apply them to stored carbon points: "
              f"sentinelle recompute -c CONFIG --from ... --to ... --factors NEW_TABLE")  # fmt: skip
    else:
        print("no change in the factors")
    return EXIT_OK
