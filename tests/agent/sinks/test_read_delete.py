"""The sinks' `read` and `delete` (what the report, `import` and `recompute` need of a sink).

The local store and InfluxDB 1.x are real (influxd on 127.0.0.1, see tests/servers.py);
VictoriaMetrics is real too, to show that a server without a delete API gives
`SinkUnsupported`. InfluxDB 2.x is checked against the stand-in (tests/standin.py): it is a
mock, because no InfluxDB 2 server can run on this machine; it records the requests the sink
sends (InfluxQL `/query` through the DBRP mapping, `/api/v2/delete` with one predicate per tag
value) and answers what InfluxDB 2 documents. The file sink cannot be read or deleted from:
`SinkUnsupported`, which `recompute` turns into a one-line warning.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from sentinelle.agent.sinks.base import SinkUnsupported
from sentinelle.agent.sinks.file import FileSink
from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
from sentinelle.agent.sinks.influxdb2 import InfluxDB2Sink
from sentinelle.agent.sinks.local import LocalSink
from sentinelle.carbon.commands.sources import SinkSource
from sentinelle.carbon.report import ReportSourceError
from tests.support.standin import standin_servers

NS = 10**9
LINES = [
    b"carbon,meter=m1,track=beges g=1 1000000000",
    b"carbon,meter=m1,track=grid g=2 1000000000",
    b"carbon,meter=m1,track=other g=3 1000000000",
    b"carbon,meter=m2,track=beges g=4 2000000000",
    b"carbon,meter=m1,track=beges g=5 9000000000",  # outside the deleted range
    b"energy,meter=m1 kwh=0.5 1000000000",
]


def _seen(points) -> set[tuple[str, str, int]]:
    return {(p.tags["meter"], p.tags.get("track", ""), p.time_ns) for p in points}


async def _read_delete_round(sink) -> None:
    await sink.write(LINES)
    got = await sink.read("carbon", 0, 10 * NS)
    assert len(got) == 5 and {p.measurement for p in got} == {"carbon"}
    m1 = await sink.read("carbon", 0, 5 * NS, {"meter": ["m1"], "track": ["beges", "grid"]})
    assert _seen(m1) == {("m1", "beges", NS), ("m1", "grid", NS)}
    assert {p.fields["g"] for p in m1} == {1, 2}
    await sink.delete("carbon", 0, 5 * NS, {"track": ["beges", "grid"]})
    left = await sink.read("carbon", 0, 10 * NS)
    assert _seen(left) == {("m1", "other", NS), ("m1", "beges", 9 * NS)}
    assert len(await sink.read("energy", 0, 10 * NS)) == 1  # another measurement is untouched


async def test_local_sink_reads_and_deletes_its_store(tmp_path: Path):
    sink = LocalSink("local", tmp_path / "local.db")
    try:
        await _read_delete_round(sink)
    finally:
        await sink.close()


async def test_local_sink_reading_a_store_not_yet_written_creates_nothing(tmp_path: Path):
    sink = LocalSink("local", tmp_path / "none.db")
    try:
        assert await sink.read("carbon", 0, 10 * NS) == []
        await sink.delete("carbon", 0, 10 * NS, {"track": ["beges"]})
    finally:
        await sink.close()
    assert not (tmp_path / "none.db").exists()


async def test_influxdb1_sink_reads_and_deletes_through_influxql(influxdb1):
    sink = InfluxDB1Sink("influx", influxdb1.url, influxdb1.db)
    try:
        await _read_delete_round(sink)
    finally:
        await sink.close()


async def test_influxdb1_read_of_a_missing_database_is_a_sink_error_read_as_a_report_error(influxdb1):
    source = SinkSource(InfluxDB1Sink("influx", influxdb1.url, "nope"))
    try:
        with pytest.raises(ReportSourceError, match="nope"):
            list(source.points("carbon", 0, 10 * NS))
    finally:
        source.close()


def _influx2_answers(request: web.Request, body: bytes) -> web.Response:
    if request.path == "/query":
        return web.json_response({"results": [{"statement_id": 0, "series": [
            {"name": "carbon", "tags": {"meter": "m1", "track": "beges"}, "columns": ["time", "g"],
             "values": [[NS, 1.0], [2 * NS, None]]}]}]})
    if request.path == "/api/v2/delete":
        return web.Response(status=204)
    return web.Response(status=404)


async def test_influxdb2_sink_reads_through_the_dbrp_mapping_and_deletes_per_predicate():
    async with standin_servers() as start:
        server = await start(_influx2_answers)
        sink = InfluxDB2Sink("i2", server.url, "syndicat", "sentinelle", "secret-token")
        try:
            got = await sink.read("carbon", 0, 10 * NS, {"track": ["beges"]})
            await sink.delete("carbon", NS, 5 * NS, {"track": ["beges", "grid"]})
        finally:
            await sink.close()
    assert [(p.tags, p.fields, p.time_ns) for p in got] == [({"meter": "m1", "track": "beges"}, {"g": 1.0}, NS)]
    query, *deletes = server.requests
    form = dict(pair.split("=", 1) for pair in query[2].decode().split("&"))
    assert query[1].headers["Authorization"] == "Token secret-token"
    assert form["db"] == "sentinelle" and form["epoch"] == "ns"
    assert [r.path for _, r, _ in deletes] == ["/api/v2/delete", "/api/v2/delete"]
    assert all(r.query["org"] == "syndicat" and r.query["bucket"] == "sentinelle" for _, r, _ in deletes)
    bodies = [json.loads(b) for _, _, b in deletes]
    assert [b["predicate"] for b in bodies] == ['_measurement="carbon" AND "track"="beges"',
                                                '_measurement="carbon" AND "track"="grid"']
    assert bodies[0]["start"] == "1970-01-01T00:00:01.000000000Z"
    assert bodies[0]["stop"] == "1970-01-01T00:00:04.999999999Z"  # the API's stop is inclusive


async def test_a_server_without_the_v2_delete_api_is_unsupported(victoria_metrics):
    sink = InfluxDB2Sink("vm", victoria_metrics.url, "o", "b", "t")
    try:
        with pytest.raises(SinkUnsupported, match="no /api/v2/delete"):
            await sink.delete("carbon", 0, 10 * NS, {"track": ["beges"]})
    finally:
        await sink.close()


async def test_file_sink_cannot_be_read_or_deleted_from(tmp_path: Path):
    sink = FileSink("file", tmp_path / "out.lp")
    with pytest.raises(SinkUnsupported, match="cannot be read back"):
        await sink.read("carbon", 0, 10 * NS)
    with pytest.raises(SinkUnsupported, match="cannot delete"):
        await sink.delete("carbon", 0, 10 * NS)


def test_recompute_with_a_file_sink_warns_in_one_line_without_a_traceback(tmp_path: Path):
    store = tmp_path / "data" / "local.db"
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        f"agent: {{name: t, data_dir: {tmp_path / 'data'}}}\n"
        "inventory:\n  sites:\n    - {id: s, zone: fr-continental, devices: [{id: d1, snmp: {host: 127.0.0.1}}]}\n"
        f"sinks:\n  - {{type: local, path: {store}}}\n  - {{type: file, path: {tmp_path / 'out.lp'}}}\n"
    )
    async def seed() -> None:
        sink = LocalSink("local", store)
        try:
            await sink.write([b"carbon,track=beges,meter=d1 g=1 1767225600000000000"])
        finally:
            await sink.close()

    asyncio.run(seed())
    run = subprocess.run([sys.executable, "-m", "sentinelle.agent.cli", "recompute", "-c", str(cfg),
                          "--from", "2026-01-01", "--to", "2026-02-01"], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 0, run.stderr
    assert "old carbon points are not deleted" in run.stderr
