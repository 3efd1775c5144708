"""`sentinelle import` and `sentinelle recompute` (adapter between the config and carbon/history).

    sentinelle import -c CONFIG --meter METER FILE [--format auto|csv|enedis|lp] [--kind ...]
    sentinelle import -c CONFIG --manifest METERS.csv [--jobs N]
    sentinelle import -c CONFIG --intensity FILE
    sentinelle recompute -c CONFIG --from 2025-01-01 --to 2026-01-01 [--factors FILE]

Exit codes: 0 done, 1 the file was refused or a sink failed, 2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import logging
import sys
import zipfile
from pathlib import Path
from typing import Any

from sentinelle.agent.messages import fixed, say

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


def _config(path: str) -> Any:
    # A ConfigError propagates: `sentinelle` prints it as FILE:LINE: key: reason, exit 2.
    from sentinelle.agent.config import load_config

    return load_config(path)


def _file_stamp(path: Any) -> tuple[str, int, int] | None:
    """What says a file is unchanged (path, mtime, size); None when there is no file to read."""
    if not path:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return (str(path), -1, -1)  # the loader reports the error
    return str(path), st.st_mtime_ns, st.st_size


def _factors(args: argparse.Namespace, config: Any) -> Any:
    return _factor_table(_file_stamp(args.factors or config.carbon.factors_file))


@functools.lru_cache(maxsize=8)
def _factor_table(stamp: tuple[str, int, int] | None) -> Any:
    # Cached per process while the file is unchanged: a manifest of 100 meters parsed the
    # YAML table 100 times (a tenth of a second each).
    from sentinelle.carbon.factors import FactorTable

    return FactorTable.from_file(stamp[0]) if stamp else FactorTable.embedded()


def _grid(config: Any, factors: Any) -> Any:
    """The configured grid provider if it can answer for past times (csv, static), else None.
    Built once per process while its settings and file are unchanged (a year of éCO2mix
    quarter-hours is 35,000 rows, and a manifest asks once per meter)."""
    from sentinelle.carbon.factors import FactorError
    from sentinelle.carbon.processor import grid_from_settings

    settings = config.carbon.grid_intensity
    if settings.provider not in ("csv", "static"):
        return None
    # The table itself in the key (hashed by identity, and kept alive by the cache so that
    # identity is never reused): the fallback value depends on it.
    key = (settings.model_dump_json(), _file_stamp(settings.path), str(config.agent.data_dir), factors)
    if key not in _GRIDS:
        try:
            default = factors.factor("fr-continental", 2100, "latest").g_per_kwh
        except FactorError:
            default = None
        if len(_GRIDS) >= 8:
            _GRIDS.clear()
        _GRIDS[key] = grid_from_settings(settings, config.agent.data_dir, default)
    return _GRIDS[key]


_GRIDS: dict[tuple[Any, ...], Any] = {}


def _step(text: str | None) -> int:
    from sentinelle.carbon.history.timeparse import parse_duration_s

    return parse_duration_s(text) if text else 0


def run_import(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if args.manifest:
        from sentinelle.carbon.history.manifest import ManifestError, import_manifest

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


def import_one(config: Any, args: argparse.Namespace, summary: list[dict[str, float]] | None = None) -> int:
    """One `--meter METER FILE` (or `--intensity FILE`) import, its report on stdout/stderr;
    the exit code. `summary` gets the meter's totals when it was imported."""
    from sentinelle.carbon.factors import FactorError
    from sentinelle.carbon.history.delivery import DeliveryError
    from sentinelle.carbon.history.readers import ImportFormatError
    from sentinelle.carbon.intensity import IntensityError

    try:
        if args.intensity:
            return asyncio.run(_import_intensity(config, args.intensity, _lang(args, config)))
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
    from sentinelle.carbon.history.delivery import Delivery, live_coverage
    from sentinelle.carbon.history.importer import (
        CarbonStep,
        ImportOptions,
        ImportRejected,
        find_meter,
        import_file,
        meter_target,
    )
    from sentinelle.carbon.history.readers import enedis_kind

    factors = _factors(args, config)
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
    options = ImportOptions(fmt, args.time_column, args.value_column, args.tz, _step(args.step), args.direction,
                            args.skip_bad, args.reset_column)
    c = config.carbon
    carbon = CarbonStep(factors, target.zone, args.missing_year or c.missing_year, _grid(config, factors))
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
    lang = _lang(args, config)
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


def _lang(args: argparse.Namespace, config: Any) -> str:
    """`--lang`, else `agent.lang` of the file (French by default), as every command."""
    return getattr(args, "lang", None) or config.agent.lang


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
    from sentinelle.carbon.history.delivery import Delivery
    from sentinelle.carbon.history.recompute import intensity_points

    layout, points = intensity_points(path)
    async with Delivery(config) as delivery:
        for i in range(0, len(points), 20_000):
            await delivery.write(points[i:i + 20_000])
    print(say(lang, "import_intensity", path=path, layout=layout, count=len(points)))
    return 0


def run_recompute(args: argparse.Namespace) -> int:
    from sentinelle.carbon.cli import _date
    from sentinelle.carbon.factors import FactorError
    from sentinelle.carbon.history.delivery import DeliveryError
    from sentinelle.carbon.report import report_period
    from sentinelle.carbon.report.source import ReportSourceError

    config = _config(args.config)
    try:
        start_ns, end_ns, label = report_period(None, _date(args.start), _date(args.end))
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
    from sentinelle.carbon.history.delivery import Delivery, delete_carbon, readable_source
    from sentinelle.carbon.history.recompute import (
        change_line,
        recompute_carbon,
        stored_beges_g,
        stored_intensity,
    )

    factors = _factors(args, config)
    source, close, name = readable_source(config)
    if source is None:
        print(f"sentinelle recompute: sink {name} holds no data yet", file=sys.stderr)
        return 1
    try:
        grid: Any = stored_intensity(source.points("grid_intensity", start_ns - 86400 * 10**9, end_ns + 86400 * 10**9))
        grid = grid or _grid(config, factors)
        tracks = ["beges", "grid"] if grid is not None else ["beges"]
        before_g = stored_beges_g(source, start_ns, end_ns)
        for warning in await asyncio.to_thread(delete_carbon, config, start_ns, end_ns, tracks):
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
