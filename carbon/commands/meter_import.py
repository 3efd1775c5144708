"""One meter's export (or one intensity history) imported: what `sentinelle import --meter
METER FILE` and each row of a manifest run, its report on stdout/stderr and its exit code."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import zipfile
from pathlib import Path
from typing import Any

from sentinelle.agent.messages import fixed, say
from sentinelle.carbon.commands.delivery import Delivery, DeliveryError, live_coverage
from sentinelle.carbon.commands.inputs import factor_table, grid_provider, output_lang, step_s


def import_one(config: Any, args: argparse.Namespace, summary: list[dict[str, float]] | None = None) -> int:
    """One `--meter METER FILE` (or `--intensity FILE`) import, its report on stdout/stderr;
    the exit code. `summary` gets the meter's totals when it was imported."""
    from sentinelle.carbon.factors import FactorError
    from sentinelle.carbon.history.readers import ImportFormatError
    from sentinelle.carbon.intensity import IntensityError

    try:
        if args.intensity:
            return asyncio.run(_import_intensity(config, args.intensity, output_lang(args, config)))
        if not args.meter or not args.file:
            print("sentinelle import: give --meter METER FILE (or --manifest CSV, or --intensity FILE)", file=sys.stderr)
            return 2
        try:
            return asyncio.run(_import_meter(config, args, summary))
        except (csv.Error, UnicodeError, zipfile.BadZipFile, KeyError, IndexError, EOFError) as exc:
            # A reader met content it cannot parse: name the file, one line, no traceback.
            print(f"sentinelle import: {args.file}: cannot be read as a meter export "
                  f"({type(exc).__name__}: {exc})", file=sys.stderr)
            return 1
    except (ValueError, FactorError, IntensityError) as exc:
        if isinstance(exc, ImportFormatError):
            print(f"sentinelle import: {args.file}: {exc}", file=sys.stderr)
            return 1
        print(f"sentinelle import: {exc}", file=sys.stderr)
        return 2
    except (DeliveryError, OSError) as exc:
        print(f"sentinelle import: {exc}", file=sys.stderr)
        return 1


async def _import_meter(config: Any, args: argparse.Namespace, summary: list[dict[str, float]] | None = None) -> int:
    from sentinelle.carbon.energy import GapPolicy
    from sentinelle.carbon.history.importer import (
        CarbonStep,
        ImportOptions,
        ImportRejected,
        find_meter,
        import_file,
        meter_target,
    )
    from sentinelle.carbon.history.readers import enedis_kind

    factors = factor_table(args, config)
    fmt = args.format
    _site, dev = find_meter(config, args.meter)
    kind = args.kind or dev.meter.kind
    if kind is None and fmt in ("auto", "enedis"):
        kind = enedis_kind(Path(args.file)) if _is_enedis(Path(args.file), fmt) else None
    target = meter_target(config, args.meter, kind=kind, unit=args.unit, modulus=args.modulus)
    problem = export_file_problem(Path(args.file))
    if problem:
        print(f"sentinelle import: {args.file}: {problem}", file=sys.stderr)
        return 1
    options = ImportOptions(fmt, args.time_column, args.value_column, args.tz, step_s(args.step), args.direction,
                            args.skip_bad, args.reset_column)
    c = config.carbon
    carbon = CarbonStep(factors, target.zone, args.missing_year or c.missing_year, grid_provider(config, factors))
    policy = GapPolicy(max_gap_s=c.max_gap, fill=c.gap_fill)

    async def live(start_ns: int, end_ns: int) -> Any:
        return await asyncio.to_thread(live_coverage, config, target.meter, start_ns, end_ns)

    async with Delivery(config) as delivery:
        try:
            result = await import_file(args.file, target, delivery, carbon, options=options, policy=policy, live=live)
        except ImportRejected as exc:
            for line in exc.result.problem_lines():
                print(line, file=sys.stderr)
            print(f"sentinelle import: {exc}", file=sys.stderr)
            return 1
    if summary is not None:
        summary.append({"readings": result.readings, "kwh": result.total_kwh, "points": result.points,
                        "bad_lines": result.problem_count})
    for line in result.problem_lines():
        print(f"skipped {line}", file=sys.stderr)
    if result.readings == 0:
        print(f"sentinelle import: {args.file}: no readings found (right file? check --format, --time-column, "
              "--value-column)", file=sys.stderr)
        return 1
    lang = output_lang(args, config)
    methods = ", ".join(f"{m} {fixed(lang, v, 3)}" for m, v in sorted(result.kwh.items())) or say(lang, "import_none")
    print(say(lang, "import_done", path=result.path, format=result.format, kind=target.kind, readings=result.readings,
              intervals=result.intervals, kwh=fixed(lang, result.total_kwh, 3), methods=methods, points=result.points)
          + (say(lang, "import_bad_skipped", count=result.problem_count) if result.problem_count else ""))
    if result.live_s:
        print(say(lang, "import_live", hours=fixed(lang, result.live_s / 3600, 2)))
    for why, n in sorted(result.stats.skipped.items()):
        print(say(lang, "import_ignored", count=n, why=why))
    if result.stats.quality:
        print(say(lang, "import_quality", flags=", ".join(f"{k}: {n}" for k, n in sorted(result.stats.quality.items()))))
    if len(result.stats.steps) > 1:
        print(say(lang, "import_steps", steps=", ".join(f"{s // 60} min: {n}" for s, n in sorted(result.stats.steps.items()))))
    for f in sorted(result.factors):
        print(say(lang, "import_factor", factor=f))
    for err in sorted(carbon.errors):
        print(f"  no BEGES carbon point: {err}", file=sys.stderr)
    return 0


def export_file_problem(path: Path) -> str | None:
    """Why `path` cannot be a meter export, read from its first bytes (None if it may be one).

    A binary file read as CSV gives a parser error deep in a reader, and a file renamed to
    `.xlsx` a zip error: both are refused here with the file's name and what it should be.
    """
    try:
        with path.open("rb") as f:
            head = f.read(8192)
    except FileNotFoundError:
        return "file not found"
    except IsADirectoryError:
        return "is a directory, not a file"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or type(exc).__name__}"
    if not head:
        return "the file is empty"
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        if not head.startswith(b"PK\x03\x04"):
            return "not an Excel workbook (an .xlsx file is a zip archive and this one is not): export it again or save it as CSV"
        return None
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an Excel workbook?): give it the .xlsx extension, or unzip it"
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) // 20:
        return "a binary file, not a CSV, Enedis (CSV, JSON, XLSX) or line-protocol export"
    return None


def _is_enedis(path: Path, fmt: str) -> bool:
    from sentinelle.carbon.history.readers import detect_format

    return fmt == "enedis" or (fmt == "auto" and detect_format(path) == "enedis")


async def _import_intensity(config: Any, path: str, lang: str = "fr") -> int:
    from sentinelle.carbon.history.recompute import intensity_points

    layout, points = intensity_points(path)
    async with Delivery(config) as delivery:
        for i in range(0, len(points), 20_000):
            await delivery.write(points[i:i + 20_000])
    print(say(lang, "import_intensity", path=path, layout=layout, count=len(points)))
    return 0


