"""Benchmark: readings per second imported end to end by `sentinelle import --manifest`
(CSV files → staging → energy maths → energy + carbon points → sink), into the embedded local
store and into a real VictoriaMetrics (influxdb2 sink type, /api/v2/write), with 1 and 2 jobs,
and peak RSS of every process. Side by side, in the same run, each sink's ceiling: the same
rows written with no import work at all (SQLite upserts of pre-formatted rows into the local
store's schema; gzip'd POSTs of pre-encoded lines to VictoriaMetrics), so the import's numbers
can be read against what the sink itself can take on this machine.

Data: synthetic 5-minute readings of cumulative kWh counters, one CSV file per meter (a year
is 105,120 readings), written before the clock starts. Each import runs as its own
`sentinelle import` process (the clock covers its start-up too). Run:

    .venv/bin/python benchmarks/import_throughput.py [--meters 100] [--readings 105120] [--jobs 1,2] [--write-results]

Traffic goes to 127.0.0.1 only; the server is started and stopped by the script.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.sink_path import machine, write_section  # noqa: E402

START_S = 1_735_686_000  # 2025-01-01 00:00 Europe/Paris
CEILING_METERS = 4  # the ceilings are measured on this many meters' rows (rates do not depend on it)


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
    (work / "meters.csv").write_text("meter,file\n" + "".join(f"{p.stem},{p.name}\n" for p in files))
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


# --- one import, as its own process ------------------------------------------------------------


def _hwm_kib(pid: int) -> int:
    """Peak resident memory of a process since its exec (VmHWM). Not getrusage's ru_maxrss,
    which Linux carries over a fork + exec: a child started by a parent holding 500 MiB
    reports 500 MiB before doing anything."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for c in map(int, children):
        out += [c, *_descendants(c)]
    return out


def run_import(work: Path, meters: int, jobs: int, sink: str) -> dict[str, float]:
    """`sentinelle import --manifest` in a child process: wall time, and peak RSS of the
    import process and of its largest worker (VmHWM, sampled every 0.2 s)."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"run-j{jobs}-", dir=work))
    cfg = run_dir / "c.yaml"
    cfg.write_text(config_text(run_dir, meters, sink))
    out_path = run_dir / "out.txt"
    started = time.perf_counter()
    with out_path.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sentinelle.agent.cli", "import", "-c", str(cfg),
                                 "--manifest", str(work / "meters.csv"), "--jobs", str(jobs), "--lang", "en"],  # parsed below
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        main_kib = worker_kib = 0
        while proc.poll() is None:
            main_kib = max(main_kib, _hwm_kib(proc.pid))
            for child in _descendants(proc.pid):
                worker_kib = max(worker_kib, _hwm_kib(child))
            time.sleep(0.2)
    elapsed = time.perf_counter() - started
    text = out_path.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"import failed ({proc.returncode}):\n{text[-4000:]}")
    summary = next(line for line in text.splitlines() if "files imported" in line)
    readings = int(summary.split(": ", 2)[2].split(" readings")[0])
    return {"readings": readings, "seconds": elapsed, "readings_per_s": readings / elapsed,
            "rss_main_mib": main_kib / 1024, "rss_worker_mib": worker_kib / 1024}


# --- ceilings: the sink alone -----------------------------------------------------------------


def _ceiling_rows(meters: int, readings: int) -> tuple[list, list]:
    """The series and rows an import of `meters` counters gives (energy, BEGES, grid per reading)."""
    tags = {"site": "nro-bench", "site_kind": "nro", "device_kind": "pdu", "meter_role": "primary",
            "meter_load": "it", "zone": "fr-continental", "method": "imported"}
    series, rows = [], []
    for m in range(meters):
        base = {**tags, "device": f"pdu-{m}", "meter": f"pdu-{m}"}
        e = len(series)
        series += [("energy", base, ("kwh", "duration_s")),
                   ("carbon", {**base, "track": "beges", "factor_source": "ademe", "factor_version": "v", "factor_flag": ""},
                    ("gco2e", "factor_gco2e_per_kwh", "kwh")),
                   ("carbon", {**base, "track": "grid", "factor_source": "static", "factor_version": "static",
                               "factor_flag": ""}, ("gco2e", "factor_gco2e_per_kwh", "kwh"))]
        for i in range(1, readings):
            t = (START_S + i * 300) * 10**9
            kwh = 0.05 + (i % 7) * 0.001
            rows += [(e, t, (kwh, 300.0)), (e + 1, t, (kwh * 52.0, 52.0, kwh)), (e + 2, t, (kwh * 52.0, 52.0, kwh))]
    return series, rows


def local_ceiling(work: Path, readings: int) -> dict[str, float]:
    """SQLite alone: the local store's schema and upsert, rows already formatted, batches of
    20,000 points in one transaction each, as the import writes them."""
    from sentinelle.agent.sinks.local import LocalStore, _tags_key

    series, rows = _ceiling_rows(CEILING_METERS, readings)
    path = work / "ceiling.db"
    with LocalStore(path) as store:  # the schema, and the ids of the measurements and series
        mids = [store._measurement_id(m) for m, _tags, _names in series]
        sids = [store._series_id(mid, _tags_key(tags)) for mid, (_m, tags, _names) in zip(mids, series, strict=True)]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    formatted = [(sids[i], t, mids[i], json.dumps(dict(zip(series[i][2], v, strict=True)), separators=(",", ":")))
                 for i, t, v in rows]
    started = time.perf_counter()
    for k in range(0, len(formatted), 20_000):
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO points(series_id, time_ns, measurement_id, fields) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(series_id, time_ns) DO UPDATE SET fields = json_patch(points.fields, excluded.fields)",
                       formatted[k:k + 20_000])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    n = CEILING_METERS * (readings - 1)
    return {"readings": n, "seconds": elapsed, "readings_per_s": n / elapsed}


def vm_ceiling(url: str, readings: int) -> dict[str, float]:
    """VictoriaMetrics alone: the same lines pre-encoded and pre-gzipped, 20,000 per POST,
    two requests in flight (as the import keeps one in flight per job)."""
    from concurrent.futures import ThreadPoolExecutor

    from sentinelle.agent.lineprotocol import encode_columns

    series, rows = _ceiling_rows(CEILING_METERS, readings)
    lines = encode_columns(series, rows)
    bodies = [gzip.compress(b"\n".join(lines[k:k + 20_000]), 5) for k in range(0, len(lines), 20_000)]

    def post(body: bytes) -> None:
        req = urllib.request.Request(f"{url}/api/v2/write?org=o&bucket=b", data=body, method="POST",
                                     headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 204

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    n = CEILING_METERS * (readings - 1)
    return {"readings": n, "seconds": elapsed, "readings_per_s": n / elapsed}


def vm_count(url: str, meters: int, readings: int) -> int:
    """Energy samples VictoriaMetrics holds (one per interval and meter, after de-duplication)."""
    end_ms = (START_S + readings * 300) * 1000
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=60).read()
    q = urllib.parse.urlencode({"query": "sum(count_over_time(energy_kwh[400d]))", "time": end_ms / 1000})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=300) as resp:
        data = json.loads(resp.read())
    result = data["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--readings", type=int, default=105_120, help="readings per meter (a year of 5 min: 105120)")
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to measure")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    from tests.support.victoriametrics import VictoriaMetrics

    jobs_list = [int(j) for j in args.jobs.split(",")]
    results: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        write_files(work, args.meters, args.readings)
        size_mib = sum(p.stat().st_size for p in work.glob("pdu-*.csv")) / 1024**2
        results.append(("local store: ceiling (SQLite upserts of pre-formatted rows, no import work)",
                        local_ceiling(work, args.readings)))
        for jobs in jobs_list:
            results.append((f"local store: `sentinelle import --manifest --jobs {jobs}`", run_import(work, args.meters, jobs, "")))
            print(results[-1], file=sys.stderr)
        counts = []
        for jobs in jobs_list:
            vm = VictoriaMetrics(workdir=work / f"vm-{jobs}")
            vm.start()
            try:
                if jobs == jobs_list[0]:
                    results.append(("VictoriaMetrics: ceiling (gzip'd POSTs of pre-encoded lines, no import work)",
                                    vm_ceiling(vm.url, args.readings)))
                    vm.stop()
                    vm = VictoriaMetrics(workdir=work / f"vm-{jobs}-import")
                    vm.start()
                sink = (f"sinks:\n  - {{type: influxdb2, url: {vm.url}, org: o, bucket: b, token: bench, "
                        f"batch_size: 20000}}\n")
                results.append((f"VictoriaMetrics: `sentinelle import --manifest --jobs {jobs}`",
                                run_import(work, args.meters, jobs, sink)))
                print(results[-1], file=sys.stderr)
                counts.append((jobs, vm_count(vm.url, args.meters, args.readings)))
            finally:
                vm.stop()
    total = args.meters * args.readings
    expected = args.meters * (args.readings - 1)

    def rss(r: dict[str, float]) -> str:
        if "rss_main_mib" not in r:
            return "–"
        worker = f" / {r['rss_worker_mib']:.0f}" if r.get("rss_worker_mib", 0) > 1 else ""
        return f"{r['rss_main_mib']:.0f}{worker}"

    table = "\n".join(f"| {name} | {r['readings']:,.0f} | {r['seconds']:.1f} | {r['readings_per_s']:,.0f} | {rss(r)} |"
                      for name, r in results)
    report = f"""## Import throughput: `sentinelle import`, CSV → energy + carbon points → sink (`benchmarks/import_throughput.py`)

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {machine()} (2 cores shared with other engineers' work: absolute numbers vary by ±15 % from run to run).
`benchmarks/import_throughput.py --meters {args.meters} --readings {args.readings} --jobs {args.jobs}`: {args.meters} kWh-counter CSV files of {args.readings:,} 5-minute readings each ({total:,} readings, {size_mib:.0f} MiB), imported by one `sentinelle import --manifest` process per row (wall clock of the whole command, start-up included); each reading gives 3 points (energy, BEGES carbon, grid carbon). The ceilings write the same points for {CEILING_METERS} meters with no import work at all, in the same run.

| what | readings | seconds | readings/s | peak RSS MiB (import process / largest worker) |
|---|---:|---:|---:|---:|
{table}

Energy samples found in VictoriaMetrics after each import: {', '.join(f'--jobs {j}: {c:,}' for j, c in counts)} (expected {expected:,}).
"""
    print(report)
    if args.write_results:
        write_section(ROOT / "benchmarks" / "RESULTS.md", "## Import throughput", report + "\n")


if __name__ == "__main__":
    main()
