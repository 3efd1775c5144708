"""Imports into real InfluxDB 1.x and VictoriaMetrics, `recompute` after a factor table change,
and grid intensity history.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.agent.cli import main
from sentinelle.agent.config import parse_config
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.report import LocalStoreSource, build_report, report_period

REPO = Path(__file__).resolve().parents[3]
CURVE = REPO / "carbon/history/testdata/enedis_load_curve_2025-10-26_autumn.csv"
ODRE = REPO / "carbon/testdata/odre_eco2mix_2026-03-29_dst.csv"
INVENTORY = """
inventory:
  sites:
    - id: nro-e
      kind: nro
      devices:
        - {id: prm-1, kind: linky, meter: {role: primary, load: facility, kind: interval, unit: W}}
        - {id: pdu-1, kind: pdu, meter: {role: sub, parent: prm-1, kind: counter}}
"""


def test_import_into_influxdb1_and_victoria_metrics_directly(tmp_path: Path, influxdb1, victoria_metrics, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"agent: {{name: t, data_dir: {tmp_path / 'data'}}}\n{INVENTORY}"
        "sinks:\n"
        f"  - {{type: influxdb1, url: {influxdb1.url}, database: {influxdb1.db}}}\n"
        f"  - {{type: influxdb2, url: {victoria_metrics.url}, org: o, bucket: b, token: not-a-secret, gzip: false}}\n"
    )
    for _ in range(2):  # the second run must change nothing
        assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", str(CURVE)]) == 0
    assert "726 points written" in capsys.readouterr().out  # 242 energy + 242 beges + 242 grid
    rows = influxdb1.points('SELECT count("kwh"), sum("kwh") FROM "energy" WHERE "meter"=\'prm-1\'')
    assert rows[0]["count"] == 242 and rows[0]["sum"] == pytest.approx(54.64)
    tags = influxdb1.points('SELECT * FROM "energy" GROUP BY * LIMIT 1')[0]
    assert (tags["method"], tags["site"], tags["meter_load"]) == ("imported", "nro-e", "facility")
    beges = influxdb1.points('SELECT count("gco2e") FROM "carbon" WHERE "track"=\'beges\'')
    assert beges[0]["count"] == 242
    series = victoria_metrics.export('{__name__="energy_kwh"}')
    assert len(series) == 1 and series[0]["metric"]["method"] == "imported"
    # VictoriaMetrics' raw export keeps a rewritten sample twice unless -dedup.minScrapeInterval
    # is set (its queries de-duplicate); the second run wrote the same timestamps and values.
    by_time = dict(zip(series[0]["timestamps"], series[0]["values"], strict=True))
    assert len(by_time) == 242 and sum(by_time.values()) == pytest.approx(54.64)


def _newer_export_table(tmp: Path, value_2024: str) -> Path:
    """What a user does when ADEME publishes: `factors build` on the new export (here the V23.6
    excerpt with its 2024 element revised, saved as a "V23.7" download)."""
    excerpt = REPO / "carbon/testdata/ademe/Base_Carbone_V23.6_electricite.csv"
    lines = excerpt.read_bytes().decode("cp1252").split("\r\n")
    i = next(n for n, line in enumerate(lines) if line.startswith("Elément;43642;"))
    cells = lines[i].split(";")
    assert cells[50] == "0,0519"
    cells[50] = value_2024
    lines[i] = ";".join(cells)
    export = tmp / "Base_Carbone_V23.7.csv"
    export.write_bytes("\r\n".join(lines).encode("cp1252"))
    table = tmp / "ademe-V23.7.yaml"
    assert main(["factors", "build", str(export), "--out", str(table)]) == 0
    return table


def test_recompute_after_a_factor_table_change_moves_beges_by_the_ratio(tmp_path: Path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"agent: {{name: t, data_dir: {tmp_path / 'data'}}}\n{INVENTORY}carbon: {{missing_year: error}}\n")
    lines = ["time,kwh"] + [f"2024-06-01T{h:02d}:{m:02d}:00+02:00,{(h * 60 + m) * 0.05:.2f}" for h in range(24) for m in (0, 30)]
    f = tmp_path / "pdu.csv"
    f.write_text("\n".join(lines) + "\n")
    # the inventory says prm-1 is a load curve in W; flags override kind and unit
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", "--kind", "counter", "--unit", "kWh", str(f)]) == 0
    config = parse_config(cfg.read_text(), str(cfg))
    start, end, _ = report_period(2024)

    def beges_points() -> list:
        with LocalStore.open_readonly(config.local_store_path()) as store:
            return [p for p in store.query("carbon") if p.tags["track"] == "beges"]

    def report(table: FactorTable):  # noqa: ANN202
        with LocalStore.open_readonly(config.local_store_path()) as store:
            return build_report(LocalStoreSource(store), start, end, table, missing_year="error")

    old_points = beges_points()
    assert {p.tags["factor_version"] for p in old_points} == {"V23.6"}
    old = report(FactorTable.embedded())
    assert old.totals().beges_t == pytest.approx(47 * 1.5 * 0.0519 / 1000)
    newer = _newer_export_table(tmp_path, "0,06")

    assert main(["recompute", "-c", str(cfg), "--from", "2024-01-01", "--to", "2025-01-01", "--factors", str(newer)]) == 0
    out = capsys.readouterr().out
    assert "factor table ademe-base-empreinte-electricite version V23.7" in out
    assert "fr-continental 2024: 0.06 kgCO2e/kWh" in out
    # it says by how much: 47 half-hours of 1.5 kWh, 0.0519 -> 0.06 kgCO2e/kWh
    before, after = 47 * 1.5 * 0.0519 / 1000, 47 * 1.5 * 0.06 / 1000
    assert f"BEGES {before:.6f} -> {after:.6f} tCO2e (change {after - before:+.6f} tCO2e, +15.61 %)" in out
    new_points = beges_points()
    assert len(new_points) == len(old_points) == 47  # replaced, not added beside the old ones
    assert {p.tags["factor_version"] for p in new_points} == {"V23.7"}
    assert sum(p.fields["gco2e"] for p in new_points) == pytest.approx(
        sum(p.fields["gco2e"] for p in old_points) * 0.0600 / 0.0519, rel=1e-12)
    new = report(FactorTable.from_file(newer))
    assert new.totals().beges_t == pytest.approx(old.totals().beges_t * 0.0600 / 0.0519, rel=1e-12)
    assert new.totals().factor_version == "V23.7"  # the report names the version used
    assert new.totals().kwh_total == old.totals().kwh_total


def test_grid_intensity_history_is_imported_and_used_by_recompute(tmp_path: Path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"agent: {{name: t, data_dir: {tmp_path / 'data'}}}\n{INVENTORY}")
    assert main(["import", "--lang", "en", "-c", str(cfg), "--intensity", str(ODRE)]) == 0
    assert "(odre-eco2mix):" in capsys.readouterr().out
    config = parse_config(cfg.read_text(), str(cfg))
    with LocalStore.open_readonly(config.local_store_path()) as store:
        grid = list(store.query("grid_intensity"))
    assert grid and {p.tags["provider"] for p in grid} == {"odre-eco2mix"}
    assert main(["import", "--lang", "en", "-c", str(cfg), "--intensity", str(ODRE)]) == 0  # idempotent
    with LocalStore.open_readonly(config.local_store_path()) as store:
        assert store.count("grid_intensity") == len(grid)
    curve = REPO / "carbon/history/testdata/enedis_load_curve_2026-03-29_spring.csv"
    assert main(["import", "--lang", "en", "-c", str(cfg), "--meter", "prm-1", str(curve)]) == 0
    assert main(["recompute", "-c", str(cfg), "--from", "2026-03-29", "--to", "2026-03-31"]) == 0
    with LocalStore.open_readonly(config.local_store_path()) as store:
        carbon = [p for p in store.query("carbon") if p.tags["track"] == "grid"]
    assert len(carbon) == 46
    assert {p.tags["factor_source"] for p in carbon} == {"store:grid_intensity:odre-eco2mix"}
    values = {(p.time_ns, p.fields["gco2e_per_kwh"]) for p in grid}
    assert min(v for _, v in values) <= min(p.fields["factor_gco2e_per_kwh"] for p in carbon)


# --- direct delivery of imports (no spool: the file is the durable copy) -----------------------


def _lines(n: int, t0: int = 1_700_000_000_000_000_000) -> list[bytes]:
    from sentinelle.agent.lineprotocol import encode_columns

    return encode_columns([("energy", {"meter": "m1", "method": "imported"}, ("kwh", "duration_s"))],
                          [(0, t0 + i * 300 * 10**9, (0.25 + i, 300.0)) for i in range(n)])


async def test_remote_writer_waits_out_an_outage_and_writes_each_point_once(influxdb1) -> None:
    import asyncio
    import random

    from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
    from sentinelle.carbon.commands.delivery import RemoteWriter

    sink = InfluxDB1Sink("central", influxdb1.url, influxdb1.db, timeout=2)
    writer = RemoteWriter(sink, batch_size=50, retry_max_delay=0.3, retry_base_delay=0.05, timeout_s=30,
                          rng=random.Random(3))
    influxdb1.stop()
    try:
        task = asyncio.create_task(writer.write(_lines(120)))
        await asyncio.sleep(1.0)
        assert not task.done() and writer.written == 0  # retrying, not failed, nothing written
    finally:
        await influxdb1.astart()
    await asyncio.wait_for(task, 30)
    await sink.close()
    assert writer.written == 120
    rows = influxdb1.points('SELECT count("kwh"), sum("kwh") FROM "energy"')
    assert rows[0]["count"] == 120 and rows[0]["sum"] == pytest.approx(sum(0.25 + i for i in range(120)))


async def test_remote_writer_gives_up_with_a_clear_error_and_no_secret(influxdb1) -> None:
    import random

    from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
    from sentinelle.carbon.commands.delivery import DeliveryError, RemoteWriter
    from tests.agent.sinks.test_sinks import closed_port_url

    sink = InfluxDB1Sink("central", closed_port_url(), "db", username="u", password="pa55-w0rd-secret", timeout=1)
    writer = RemoteWriter(sink, batch_size=10, retry_max_delay=0.2, retry_base_delay=0.05, timeout_s=1.0,
                          rng=random.Random(1))
    with pytest.raises(DeliveryError) as info:
        await writer.write(_lines(25))
    await sink.close()
    message = str(info.value)
    assert "sink central did not accept" in message and "rerun" in message and "0 points were written" in message
    assert "pa55-w0rd-secret" not in message


async def test_remote_writer_halves_batches_on_413(tmp_path: Path) -> None:
    from aiohttp import web

    from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
    from sentinelle.carbon.commands.delivery import RemoteWriter
    from tests.support.standin import standin_servers

    # No installable server answers 413 on demand: the aiohttp stand-in answers as InfluxDB does.
    received: list[bytes] = []

    def respond(request: web.Request, body: bytes) -> web.Response:
        if body.count(b"\n") + 1 > 30:
            return web.Response(status=413, text='{"error":"Request Entity Too Large"}')
        received.extend(body.split(b"\n"))
        return web.Response(status=204)

    lines = _lines(200)
    async with standin_servers() as start:
        server = await start(respond)
        sink = InfluxDB1Sink("s", server.url, "db")
        writer = RemoteWriter(sink, batch_size=100, retry_max_delay=0.1)
        await writer.write(lines)
        await sink.close()
    assert received == lines and writer.written == 200


async def test_remote_writer_stops_on_a_field_type_conflict_naming_it(influxdb1) -> None:
    from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
    from sentinelle.carbon.commands.delivery import DeliveryError, RemoteWriter

    influxdb1.write('energy,meter=m1,method=imported kwh=1i 1700000000000000000')  # kwh as an integer, same shard
    sink = InfluxDB1Sink("central", influxdb1.url, influxdb1.db, timeout=2)
    with pytest.raises(DeliveryError, match="refused the points as malformed.*(conflict|type)"):
        await RemoteWriter(sink, batch_size=50, retry_max_delay=0.1).write(_lines(10))
    await sink.close()
