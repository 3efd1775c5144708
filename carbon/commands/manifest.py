"""`sentinelle import --manifest METERS.csv [--jobs N]`: many meters' exports in one run.

Why: the first annual report of a network usually needs a year of history for every PDU and
utility meter, a hundred files or more. The manifest is checked as a whole before anything is
written (a typo on row 57 must not leave 56 meters imported and the rest not, with the user
left to work out which), then meters are spread over worker processes: an import is
CPU-bound Python (parsing, energy maths, encoding) and one process uses one core.

Each meter is imported exactly as `--meter METER FILE` would be (`carbon.commands.imports.import_one`: same maths,
same output lines, same exit codes), and all rows of one meter go to one worker, in manifest
order, so two files of the same meter never race. Workers share the local store: SQLite lets
one of them write at a time (each batch is one short transaction), which costs little because
most of an import's time is spent computing, not writing.

Manifest: CSV (`,` or `;`), a header naming at least `meter` and `file`; optional columns
override the command-line flags for their row: `format`, `kind`, `unit`, `modulus`,
`time_column`, `value_column`, `reset_column`, `tz`, `step`, `direction`. Relative paths are relative to the
manifest. Empty rows and rows starting with `#` are ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import io
import multiprocessing
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelle.agent.messages import fixed, say
from sentinelle.carbon.commands.inputs import load_agent_config
from sentinelle.carbon.commands.meter_import import import_one
from sentinelle.carbon.history.importer import find_meter
from sentinelle.carbon.history.readers import FORMATS, KINDS
from sentinelle.carbon.history.timeparse import TimeFormatError, parse_duration_s, zone

if TYPE_CHECKING:
    from sentinelle.carbon.settings import CarbonConfig


REQUIRED = ("meter", "file")
OPTIONAL = ("format", "kind", "unit", "modulus", "time_column", "value_column", "reset_column", "tz", "step",
            "direction")
DIRECTIONS = ("consumption", "injection")
MAX_LISTED = 50


class ManifestError(ValueError):
    """The manifest cannot be used as it is: every problem, as FILE:LINE: column: reason."""


def read_manifest(path: Path, defaults: argparse.Namespace, config: CarbonConfig) -> list[tuple[int, argparse.Namespace]]:
    """(line, arguments of `import_one`) per row; raises `ManifestError` listing every bad row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {getattr(exc, 'strerror', None) or exc}") from None
    lines = text.splitlines()
    first = next((n for n, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), None)
    if first is None:
        raise ManifestError(f"{path}: the manifest lists no meter (expected a header line such as 'meter,file')")
    delimiter = ";" if lines[first].count(";") > lines[first].count(",") else ","
    header = [c.strip().lower().replace("-", "_").replace(" ", "_") for c in next(csv.reader([lines[first]], delimiter=delimiter))]
    problems: list[str] = []
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        why = ([f"unknown column(s) {', '.join(map(repr, unknown))}"] if unknown else []) + (
            [f"missing column(s) {', '.join(missing)}"] if missing else [])
        raise ManifestError(f"{path}:{first + 1}: {'; '.join(why)} (columns: {', '.join(REQUIRED + OPTIONAL)})")

    rows: list[tuple[int, argparse.Namespace]] = []
    for index, cells in enumerate(csv.reader(lines[first + 1:], delimiter=delimiter)):
        line = first + 2 + index
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        where = f"{path}:{line}"
        if len(cells) != len(header):
            problems.append(f"{where}: {len(cells)} cells, the header has {len(header)}")
            continue
        row = {k: v.strip() for k, v in zip(header, cells, strict=True)}
        args = argparse.Namespace(**vars(defaults))
        args.manifest = None
        for key, value in row.items():
            if value:
                setattr(args, key, value)
        bad = _check_row(row, args, path, config)
        problems.extend(f"{where}: {b}" for b in bad)
        if not bad:
            rows.append((line, args))
    if problems:
        shown = problems[:MAX_LISTED] + ([f"... and {len(problems) - MAX_LISTED} more"] if len(problems) > MAX_LISTED else [])
        raise ManifestError(f"{path}: {len(problems)} problem(s), nothing imported:\n" + "\n".join(shown))
    if not rows:
        raise ManifestError(f"{path}: the manifest lists no meter")
    return rows


def _check_row(row: dict[str, str], args: argparse.Namespace, manifest: Path, config: CarbonConfig) -> list[str]:
    """What is wrong with one row (empty: nothing); sets the row's resolved file and modulus on `args`."""
    bad = []
    if not row["meter"]:
        bad.append("meter: empty")
    else:
        try:
            find_meter(config, row["meter"])
        except ValueError as exc:
            bad.append(f"meter: {exc}")
    if not row["file"]:
        bad.append("file: empty")
    else:
        file = Path(row["file"]).expanduser()
        file = file if file.is_absolute() else manifest.parent / file
        args.file = str(file)
        if not file.is_file():
            bad.append(f"file: {file} does not exist or is not a file")
    for key, allowed in (("format", FORMATS), ("kind", KINDS), ("direction", DIRECTIONS)):
        if row.get(key) and row[key] not in allowed:
            bad.append(f"{key}: {row[key]!r} is not one of {', '.join(allowed)}")
    if row.get("modulus"):
        try:
            args.modulus = float(row["modulus"].replace(",", "."))
            if not args.modulus > 0:
                raise ValueError
        except ValueError:
            bad.append(f"modulus: {row['modulus']!r} is not a positive number")
    if row.get("step"):
        try:
            parse_duration_s(row["step"])
        except (ValueError, TimeFormatError):
            bad.append(f"step: {row['step']!r} is not a duration (PT30M, 1800)")
    if row.get("tz"):
        try:
            zone(row["tz"])
        except ValueError as exc:
            bad.append(f"tz: {exc}")
    return bad


@functools.lru_cache(maxsize=2)
def _worker_config(config_path: str) -> Any:
    """The configuration, parsed once per worker process (a 100-device inventory takes a
    sixth of a second to parse, once per meter otherwise)."""
    return load_agent_config(config_path)


def import_one_captured(config_path: str, group: list[argparse.Namespace],
                        config: CarbonConfig | None = None) -> list[tuple[int, str, str, dict[str, float]]]:
    """In a worker: import one meter's rows in order; (exit code, stdout, stderr, totals) per row."""
    config = config if config is not None else _worker_config(config_path)
    out = []
    for args in group:
        stdout, stderr = io.StringIO(), io.StringIO()
        summary: list[dict[str, float]] = []
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = import_one(config, args, summary)
        out.append((code, stdout.getvalue(), stderr.getvalue(), summary[0] if summary else {}))
    return out


def import_manifest(config: CarbonConfig, args: argparse.Namespace) -> int:
    """Import every meter of the manifest; 0 if all were imported, else 1 (each failure printed)."""
    manifest = Path(args.manifest)
    rows = read_manifest(manifest, args, config)
    groups: dict[str, list[argparse.Namespace]] = {}
    for _line, row_args in rows:
        groups.setdefault(row_args.meter, []).append(row_args)
    jobs = max(1, min(args.jobs, len(groups)))
    started = time.perf_counter()
    failed = readings = points = 0
    kwh = 0.0
    for results in _run(args.config, config, list(groups.values()), jobs):
        for code, stdout, stderr, summary in results:
            sys.stdout.write(stdout)
            sys.stderr.write(stderr)
            failed += code != 0
            readings += int(summary.get("readings", 0))
            points += int(summary.get("points", 0))
            kwh += summary.get("kwh", 0.0)
    elapsed = time.perf_counter() - started
    lang = getattr(args, "lang", None) or config.agent.lang
    print(say(lang, "import_manifest", manifest=manifest, done=len(rows) - failed, rows=len(rows), meters=len(groups),
              jobs=jobs, readings=readings, kwh=fixed(lang, kwh, 3), points=points, seconds=fixed(lang, elapsed, 1))
          + (say(lang, "import_manifest_failed", count=failed) if failed else ""))
    return 1 if failed else 0


def _run(config_path: str, config: CarbonConfig, groups: list[list[argparse.Namespace]],
         jobs: int) -> Iterator[list[tuple[int, str, str, dict[str, float]]]]:
    """Results per meter, meters in the order of their first row (one finished early waits)."""
    if jobs == 1:
        for group in groups:
            yield import_one_captured(config_path, group, config)
        return
    # spawn: workers start clean (no inherited event loop, threads or open SQLite handles).
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures: list[Future[Any]] = [pool.submit(import_one_captured, config_path, g) for g in groups]
        try:
            for future in futures:
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
