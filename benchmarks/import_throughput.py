"""Benchmark: readings per second imported end to end by `sentinelle import` (CSV file → staging →
energy maths → energy + carbon points → sink), into the embedded local store and into a real
VictoriaMetrics (influxdb2 sink type, through the import spool and forwarder), and peak RSS.

Data: synthetic 5-minute readings of cumulative kWh counters, one CSV file per meter (a year
is 105,120 readings). Each phase runs in its own process so its peak RSS is its own; the CSV
files are written before the clock starts. Run:

    .venv/bin/python benchmarks/import_throughput.py [--meters 4] [--readings 105120] [--write-results]

Traffic goes to 127.0.0.1 only; the server is started and stopped by the script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.sink_path import machine, write_section  # noqa: E402

START_S = 1_735_686_000  # 2025-01-01 00:00 Europe/Paris


def write_files(work: Path, meters: int, readings: int) -> list[Path]:
    files = []
    for m in range(meters):
        path = work / f"pdu-{m}.csv"
        with path.open("w") as f:
            f.write("time,kwh\n")
            kwh = 1000.0 * m
            for i in range(readings):
                kwh += 0.05 + (i % 7) * 0.001
                f.write(f"{START_S + i * 300},{kwh:.4f}\n")
        files.append(path)
    return files


def config_text(work: Path, meters: int, sink: str) -> str:
    devices = "\n".join(f"        - {{id: pdu-{m}, kind: pdu, meter: {{role: primary, kind: counter}}}}" for m in range(meters))
    return f"""agent: {{name: bench, data_dir: {work / 'data'}}}
inventory:
  sites:
    - id: nro-bench
      kind: nro
      devices:
{devices}
carbon: {{missing_year: latest}}
{sink}
"""


async def import_all(cfg_path: Path, files: list[Path]) -> dict[str, float]:
    from agent.config import load_config
    from carbon.energy import GapPolicy
    from carbon.factors import FactorTable
    from carbon.history.cli import _grid
    from carbon.history.delivery import Delivery, live_coverage
    from carbon.history.importer import CarbonStep, import_file, meter_target

    config = load_config(cfg_path)
    factors = FactorTable.embedded()
    readings = points = 0
    started = time.perf_counter()
    async with Delivery(config) as delivery:
        for f in files:
            target = meter_target(config, f.stem)
            carbon = CarbonStep(factors, target.zone, "latest", _grid(config, factors))

            async def live(s: int, e: int, meter: str = target.meter) -> object:
                return await asyncio.to_thread(live_coverage, config, meter, s, e)

            result = await import_file(f, target, delivery, carbon, policy=GapPolicy(), live=live)  # type: ignore[arg-type]
            readings += result.readings
            points += result.points
    elapsed = time.perf_counter() - started
    return {"readings": readings, "points": points, "seconds": elapsed, "readings_per_s": readings / elapsed,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(args: list[str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise RuntimeError(f"phase failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=4)
    parser.add_argument("--readings", type=int, default=105_120, help="readings per meter (a year of 5 min: 105120)")
    parser.add_argument("--phase", choices=("local", "vm"))
    parser.add_argument("--work")
    parser.add_argument("--url", default="")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    if args.phase:
        work = Path(args.work)
        files = sorted(work.glob("pdu-*.csv"), key=lambda p: int(p.stem.split("-")[1]))
        sink = "" if args.phase == "local" else (
            f"sinks:\n  - {{type: influxdb2, url: {args.url}, org: o, bucket: b, token: bench, batch_size: 20000}}\n")
        run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{args.phase}-", dir=work))
        cfg = run_dir / "c.yaml"
        cfg.write_text(config_text(run_dir, len(files), sink))
        print(json.dumps(asyncio.run(import_all(cfg, files))))
        return

    from tests.servers import VictoriaMetrics

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        write_files(work, args.meters, args.readings)
        size_mib = sum(p.stat().st_size for p in work.glob("*.csv")) / 1024**2
        local = child(["--phase", "local", "--work", str(work)])
        vm = VictoriaMetrics()
        vm.start()
        try:
            remote = child(["--phase", "vm", "--work", str(work), "--url", vm.url])
            stored = sum(len(set(r["timestamps"])) for r in vm.export('{__name__="energy_kwh"}'))
        finally:
            vm.stop()
    total = args.meters * args.readings
    rows = "\n".join(
        f"| {name} | {r['readings']:,.0f} | {r['points']:,.0f} | {r['seconds']:.1f} | {r['readings_per_s']:,.0f} | "
        f"{r['peak_rss_mib']:.0f} |"
        for name, r in (("local store (direct SQLite writes)", local), ("VictoriaMetrics (import spool → forwarder → /api/v2/write)", remote))
    )
    full = 100 * 105_120
    report = f"""## Import throughput: `sentinelle import`, CSV → energy + carbon points → sink (`benchmarks/import_throughput.py`)

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {machine()} (2 cores shared with other engineers' work: absolute numbers vary).
`benchmarks/import_throughput.py --meters {args.meters} --readings {args.readings}`: {args.meters} kWh-counter CSV files of {args.readings:,} 5-minute readings each ({total:,} readings, {size_mib:.0f} MiB), imported one after the other in one process per sink; each reading gives 3 points (energy, carbon beges, carbon grid). The clock covers staging, maths, encoding and delivery; files are written before it starts.

| sink | readings | points written | seconds | readings/s | peak RSS (MiB) |
|---|---:|---:|---:|---:|---:|
{rows}

Energy intervals found in VictoriaMetrics after the run: {stored:,} (expected {total - args.meters:,}).

**Measured size: {total:,} readings, not the 10.5 million of the goal ({full:,} = 100 meters × a year).** Import is per meter and streams (file read once into a staging spill file, or an on-disk SQLite table as soon as a row is out of order or repeated; chunks of 4,096 readings through the maths; batches of 20,000 points to the sink), so time grows linearly with the number of readings and peak RSS does not grow with the file size or the number of files: extrapolated, 100 meters × a year would take about {full / local['readings_per_s'] / 60:.0f} min into the local store and {full / remote['readings_per_s'] / 60:.0f} min into VictoriaMetrics at these rates.

Same size and machine before the 2026-11-23 optimisation round (after the faster `agent/point.py` and local store, 13:14 UTC): 20,799 readings/s into the local store (20.2 s, 98 MiB), 8,757/s into VictoriaMetrics (48.0 s, 137 MiB). Changes: the local store takes the import's rows per series (`LocalStore.write_columns`: no `Point` objects, fields JSON from a template per series) and carbon rows are built per series (tags once per series, not per point); sorted files skip the SQLite staging table (spill file); CSV epoch seconds and plain numbers skip the general parsers; counter maths without the intermediate `Reading` objects and with the common case of `counter_delta` inlined; remote delivery of a batch overlaps the computation of the next.

**Goal (≥ 100,000 readings/s) not met, and not reachable this way.** Profile of the local-store path (cProfile, one year of one meter, about 2 s unprofiled): a fifth is SQLite's own upserts of the 3 rows per reading (0.6–0.8 s for 315,000 rows measured alone, so SQLite by itself caps this schema at about 150,000 readings/s with no Python at all), a seventh formatting the fields JSON (float `repr`), a quarter building the energy and carbon rows, the rest CSV parsing, staging and `carbon.energy` maths, all in one Python thread. Writing the store from a second thread was tried and was slower (the GIL goes back and forth for every row). Meters in parallel processes would not help the local store (one SQLite file, one writer at a time) and the CLI imports one meter per run. What would: write only `energy` points on import and let `recompute` produce `carbon` points in bulk (a third of the rows; a behaviour change for the lead to decide). VictoriaMetrics is bound by the import spool (encoding every point to line protocol and storing it, `agent/spool.py`) and the forwarder/HTTP round trips, not by the import: a 60,000-point sink `batch_size` gained about 5 % for 20 MiB more RSS. RSS is within the 200 MB goal.
"""
    print(report)
    if args.write_results:
        write_section(ROOT / "benchmarks" / "RESULTS.md", "## Import throughput", report + "\n")  # a blank line before the next section


if __name__ == "__main__":
    main()
