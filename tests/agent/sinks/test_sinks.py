"""Sinks against real servers (influxd 1.6.7, VictoriaMetrics for the v2 write API), the local
store, the file sink, and the error mapping.

InfluxDB 2/3 cannot run here, and no real server here returns 413, 429 with Retry-After, 503 or
401 on demand: those answers come from `StandIn`, a small aiohttp server on 127.0.0.1 that
replies what the InfluxDB documentation says a server replies. It is a stand-in for those
statuses only; everything that a real server can show is tested against one.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import encode_point
from sentinelle.agent.sinks.base import SinkRejected, SinkTooLarge, SinkUnavailable
from sentinelle.agent.sinks.build import build_sink
from sentinelle.agent.sinks.file import FileSink
from sentinelle.agent.sinks.influxdb1 import InfluxDB1Sink
from sentinelle.agent.sinks.influxdb2 import InfluxDB2Sink
from sentinelle.agent.sinks.local import LocalSink, LocalStore, LocalStoreError
from sentinelle.agent.sinks.status import SinkAuthRefused, SinkNotFound, retry_after_seconds, server_reason
from tests.support.ports import free_tcp_port
from tests.support.standin import standin_servers

T0 = 1_700_000_000_000_000_000
TOKEN = "s3cr3t-t0ken-4f9a1c"
PASSWORD = "pa55-w0rd-7e2b"


@pytest.fixture
async def stand_in() -> AsyncIterator[Any]:
    async with standin_servers() as start:
        yield start


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_tcp_port()}"


def new_db(influxdb1: Any) -> str:
    name = "t_" + uuid.uuid4().hex[:10]
    influxdb1.query(f'CREATE DATABASE "{name}"')
    return name


def lines(points: list[Point]) -> list[bytes]:
    return [encode_point(p).encode() for p in points]


# --- InfluxDB 1.x (real influxd) ----------------------------------------------------------


async def test_influxdb1_writes_gzip_batches_that_query_back(influxdb1: Any) -> None:
    db = new_db(influxdb1)
    sink = InfluxDB1Sink("i1", influxdb1.url, db, gzip_body=True)
    points = [Point("pdu", {"site": "nro-lannion", "device": "pdu-a"}, {"power_w": 100.0 + i, "energy_kwh_total": i},
                    T0 + i * 60 * 10**9) for i in range(200)]
    try:
        await sink.check()
        await sink.write(lines(points))
        await sink.write(lines(points[:10]))  # a resend is idempotent
    finally:
        await sink.close()
    result = influxdb1.query('SELECT COUNT(power_w), SUM(energy_kwh_total) FROM pdu', db=db)
    assert result["results"][0]["series"][0]["values"][0][1:] == [200, sum(range(200))]


async def test_influxdb1_rejects_bad_lines_with_the_servers_reason(influxdb1: Any) -> None:
    db = new_db(influxdb1)
    sink = InfluxDB1Sink("i1", influxdb1.url, db)
    try:
        await sink.write([b"ups,device=u1 on_battery=1i " + str(T0).encode()])
        with pytest.raises(SinkRejected, match="field type conflict"):
            await sink.write([b'ups,device=u1 on_battery="yes" ' + str(T0 + 1).encode()])
        with pytest.raises(SinkRejected, match="unable to parse"):
            await sink.write([b"this is not line protocol"])
    finally:
        await sink.close()


async def test_influxdb1_check_names_a_missing_database_and_an_unreachable_server(influxdb1: Any) -> None:
    sink = InfluxDB1Sink("i1", influxdb1.url, "no_such_db_here")
    try:
        with pytest.raises(SinkNotFound, match='CREATE DATABASE "no_such_db_here"'):
            await sink.check()
        with pytest.raises(SinkNotFound, match="database"):
            await sink.write([b"m f=1 1"])
    finally:
        await sink.close()
    dead = InfluxDB1Sink("i1", closed_port_url(), "x", timeout=2)
    try:
        with pytest.raises(SinkUnavailable, match="cannot reach"):
            await dead.write([b"m f=1 1"])
    finally:
        await dead.close()


# --- InfluxDB 2 write API (real VictoriaMetrics) ------------------------------------------


async def test_influxdb2_writes_through_influxdb_client_to_victoria_metrics(victoria_metrics: Any) -> None:
    measurement = "ups_" + uuid.uuid4().hex[:8]
    sink = InfluxDB2Sink("i2", victoria_metrics.url, "syndicat", "sentinelle", TOKEN, gzip_body=True)
    points = [Point(measurement, {"site": "nro-lannion", "device": "ups-1"},
                    {"battery_charge_pct": 90.0 - i, "on_battery": i % 2 == 0}, T0 + i * 60 * 10**9)
              for i in range(100)]
    try:
        await sink.check()
        await sink.write(lines(points))
    finally:
        await sink.close()
    series = {s["metric"]["__name__"]: s for s in victoria_metrics.export(f'{{__name__=~"{measurement}_.*"}}')}
    charge = series[f"{measurement}_battery_charge_pct"]
    assert charge["metric"]["site"] == "nro-lannion"
    assert charge["values"] == [90.0 - i for i in range(100)]
    assert charge["timestamps"] == [(T0 + i * 60 * 10**9) // 10**6 for i in range(100)]
    assert series[f"{measurement}_on_battery"]["values"][:2] == [1, 0]


async def test_influxdb2_unreachable_is_unavailable() -> None:
    sink = InfluxDB2Sink("i2", closed_port_url(), "o", "b", TOKEN, timeout=2)
    try:
        with pytest.raises(SinkUnavailable, match="cannot reach") as info:
            await sink.write([b"m f=1 1"])
        assert TOKEN not in str(info.value)
    finally:
        await sink.close()


# --- status mapping (stand-in) ------------------------------------------------------------


def make_sink(kind: str, url: str) -> InfluxDB1Sink | InfluxDB2Sink:
    if kind == "influxdb1":
        return InfluxDB1Sink("s", url, "db", username="noc", password=PASSWORD)
    return InfluxDB2Sink("s", url, "org", "bucket", TOKEN)


@pytest.mark.parametrize("kind", ["influxdb1", "influxdb2"])
async def test_http_statuses_map_to_the_forwarders_errors(stand_in: Any, kind: str) -> None:
    http_date = email.utils.formatdate(time.time() + 30, usegmt=True)
    answers = iter([
        web.Response(status=413, text='{"code":"request too large","message":"request too large"}'),
        web.Response(status=429, headers={"Retry-After": "7"}, text='{"message":"too many requests"}'),
        web.Response(status=503, headers={"Retry-After": http_date}, text="overloaded"),
        web.Response(status=500, text='{"error":"timeout"}'),
        web.Response(status=400, text='{"error":"unable to parse \'bad\': missing fields"}'),
        web.Response(status=422, text='{"code":"unprocessable entity","message":"points beyond retention"}'),
        web.Response(status=403, text='{"message":"insufficient permissions"}'),
        web.Response(status=204),
    ])
    server = await stand_in(lambda request, body: next(answers))
    sink = make_sink(kind, server.url)
    try:
        with pytest.raises(SinkTooLarge):
            await sink.write([b"m f=1 1"])
        with pytest.raises(SinkUnavailable) as info:
            await sink.write([b"m f=1 1"])
        assert info.value.retry_after == 7
        with pytest.raises(SinkUnavailable) as info:
            await sink.write([b"m f=1 1"])
        assert info.value.retry_after is not None and 25 <= info.value.retry_after <= 31
        with pytest.raises(SinkUnavailable, match="timeout") as info:
            await sink.write([b"m f=1 1"])
        assert info.value.retry_after is None
        with pytest.raises(SinkRejected, match="unable to parse 'bad'"):
            await sink.write([b"m f=1 1"])
        with pytest.raises(SinkRejected, match="beyond retention"):
            await sink.write([b"m f=1 1"])
        with pytest.raises(SinkAuthRefused, match="credentials refused"):
            await sink.write([b"m f=1 1"])
        await sink.write([b"m f=1 1"])
    finally:
        await sink.close()
    assert len(server.requests) == 8  # one request per write: the client library does not retry


async def test_influxdb1_sends_credentials_in_a_header_never_in_the_url(stand_in: Any) -> None:
    server = await stand_in(lambda request, body: web.Response(status=204))
    sink = InfluxDB1Sink("s", server.url, "db", retention_policy="autogen", username="noc", password=PASSWORD)
    try:
        await sink.write([b"m f=1 1"] * 500)
    finally:
        await sink.close()
    _, request, body = server.requests[0]
    assert dict(request.query) == {"db": "db", "precision": "ns", "rp": "autogen"}
    assert PASSWORD not in str(request.url)
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.headers["Content-Encoding"] == "gzip"
    assert body == b"\n".join([b"m f=1 1"] * 500)


@pytest.mark.parametrize("kind", ["influxdb1", "influxdb2"])
async def test_refused_credentials_never_leak_into_errors_or_logs(stand_in: Any, kind: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A hostile or chatty server echoes our secret in its error body; it must not reach logs."""
    secret = PASSWORD if kind == "influxdb1" else TOKEN
    server = await stand_in(lambda request, body: web.Response(
        status=401, text=f'{{"message":"unauthorized access with {secret}"}}'))
    sink = make_sink(kind, server.url)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(SinkAuthRefused) as info:
            await sink.write([b"m f=1 1"])
        with pytest.raises(SinkAuthRefused) as info2:
            await sink.check()
    finally:
        await sink.close()
    logging.getLogger("agent.test").warning("write failed: %s / %s", info.value, info2.value)
    assert "credentials refused" in str(info.value) and "***" in str(info.value)
    assert secret not in str(info.value) and secret not in str(info2.value)
    assert secret not in repr(info.value.args)
    assert secret not in caplog.text


def test_retry_after_and_reason_parsing() -> None:
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("  3.5 ") == 3.5
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 + 60) == 0
    assert server_reason(b'{"error":"partial write: field type conflict"}\n') == "partial write: field type conflict"
    assert server_reason('{"code":"invalid","message":"bad timestamp"}') == "bad timestamp"
    assert len(server_reason(b"x" * 5000)) <= 301


# --- local store --------------------------------------------------------------------------


def test_local_store_is_idempotent_merges_fields_and_queries_by_time_and_tags(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "local.db")
    a = {"site": "nro-lannion", "device": "pdu-a"}
    b = {"site": "nro-guingamp", "device": "pdu-b"}
    store.write_points([Point("pdu", a, {"power_w": 100.0, "energy_kwh_total": 5}, T0 + i) for i in range(10)])
    store.write_points([Point("pdu", b, {"power_w": 200.0}, T0 + i) for i in range(10)])
    # A resend of the same series and times: still one row each.
    store.write_points([Point("pdu", a, {"power_w": 100.0, "energy_kwh_total": 5}, T0 + i) for i in range(10)])
    assert store.count("pdu") == 20 and store.count() == 20
    # Same series + time with other fields: merged, new value wins per field.
    store.write_points([Point("pdu", a, {"power_w": 150.0, "current_a": 0.7}, T0 + 3)])
    assert store.count("pdu") == 20
    (merged,) = store.query("pdu", T0 + 3, T0 + 4, tags={"device": "pdu-a"})
    assert merged.fields == {"power_w": 150.0, "energy_kwh_total": 5, "current_a": 0.7}
    assert isinstance(merged.fields["energy_kwh_total"], int) and isinstance(merged.fields["power_w"], float)
    assert merged.tags == a

    window = list(store.query("pdu", T0 + 2, T0 + 5))
    assert [p.time_ns for p in window] == [T0 + 2, T0 + 2, T0 + 3, T0 + 3, T0 + 4, T0 + 4]
    only_b = list(store.query("pdu", tags={"site": "nro-guingamp"}))
    assert len(only_b) == 10 and all(p.tags == b for p in only_b)
    assert list(store.query("pdu", tags={"site": "nowhere"})) == []
    assert list(store.query("absent")) == []
    assert store.measurements() == ["pdu"]
    assert store.tag_values("pdu", "site") == ["nro-guingamp", "nro-lannion"]
    store.close()

    with LocalStore.open_readonly(tmp_path / "local.db") as ro:
        assert ro.count("pdu") == 20
        with pytest.raises(LocalStoreError, match="read-only"):
            ro.write_points([Point("pdu", a, {"power_w": 1.0}, T0)])
    with pytest.raises(LocalStoreError, match="does not exist"):
        LocalStore.open_readonly(tmp_path / "missing.db")


async def test_local_sink_parses_lines_and_rejects_malformed_ones(tmp_path: Path) -> None:
    sink = LocalSink("local", tmp_path / "data" / "local.db")
    points = [Point("sensor", {"device": "s 1", "site": "a,b"}, {"temperature_c": 21.5, "note": 'say "hi"'}, T0 + i)
              for i in range(5)]
    try:
        await sink.check()
        await sink.write(lines(points))
        await sink.write(lines(points))
        with pytest.raises(SinkRejected, match="line 2"):
            await sink.write([lines(points)[0], b"not line protocol"])
    finally:
        await sink.close()
    with LocalStore.open_readonly(tmp_path / "data" / "local.db") as store:
        assert list(store.query("sensor")) == points


async def test_file_sink_appends_lines(tmp_path: Path) -> None:
    sink = FileSink("f", tmp_path / "out" / "points.lp")
    await sink.check()
    await sink.write([b"m f=1 1", b"m f=2 2"])
    await sink.write([b"m f=3 3"])
    await sink.close()
    assert (tmp_path / "out" / "points.lp").read_bytes() == b"m f=1 1\nm f=2 2\nm f=3 3\n"


async def test_build_sink_from_config(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    config = parse_config(f"""
agent: {{data_dir: {tmp_path}}}
inventory: {{sites: [{{id: s, devices: [{{id: d}}]}}]}}
sinks:
  - {{type: influxdb2, url: "http://127.0.0.1:1", org: o, bucket: b, token_file: {token_file}}}
  - {{type: influxdb1, name: legacy, url: "http://127.0.0.1:1", database: sentinelle, username: u, password: {PASSWORD}}}
  - {{type: local}}
  - {{type: file, path: {tmp_path / 'debug.lp'}}}
""")
    sinks = [build_sink(s, i, config) for i, s in enumerate(config.effective_sinks())]
    try:
        assert [s.name for s in sinks] == ["influxdb2-0", "legacy", "local-2", "file-3"]
        assert isinstance(sinks[0], InfluxDB2Sink) and sinks[0].bucket == "b"
        assert isinstance(sinks[1], InfluxDB1Sink) and sinks[1].database == "sentinelle"
        assert isinstance(sinks[2], LocalSink) and sinks[2].path == tmp_path / "local.db"
        assert isinstance(sinks[3], FileSink)
        assert TOKEN not in repr(vars(sinks[0])).replace(f"'_token': '{TOKEN}'", "")
    finally:
        for s in sinks:
            await s.close()
    default = parse_config(f"agent: {{data_dir: {tmp_path}}}\ninventory: {{sites: [{{id: s, devices: [{{id: d}}]}}]}}\n")
    (only,) = [build_sink(s, i, default) for i, s in enumerate(default.effective_sinks())]
    assert isinstance(only, LocalSink) and only.name == "local-0"
    await only.close()


async def test_check_without_create_writes_nothing(tmp_path: Path) -> None:
    """`sentinelle check` builds sinks with create=False: no file appears, problems still show."""
    config = parse_config(f"""
agent: {{data_dir: {tmp_path / 'data'}}}
inventory: {{sites: [{{id: s, devices: [{{id: d}}]}}]}}
sinks:
  - {{type: local}}
  - {{type: file, path: {tmp_path / 'out' / 'debug.lp'}}}
""")
    sinks = [build_sink(s, i, config, create=False) for i, s in enumerate(config.effective_sinks())]
    for sink in sinks:
        await sink.check()
        await sink.close()
    assert os.listdir(tmp_path) == []
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    bad = FileSink("f", blocker / "x.lp", create=False)
    with pytest.raises(SinkUnavailable, match="not a directory"):
        await bad.check()


def test_local_store_delete_by_time_and_tag_values(tmp_path: Path) -> None:
    """`recompute` replaces carbon points of some tracks in a period: only those go."""
    store = LocalStore(tmp_path / "local.db")
    try:
        store.write_points([
            Point("carbon", {"site": "s", "track": track}, {"gco2e": float(t)}, t)
            for track in ("beges", "grid", "other") for t in (10, 20, 30)
        ] + [Point("energy", {"site": "s", "track": "beges"}, {"kwh": 1.0}, 20)])
        assert store.delete("carbon", 15, 30, {"track": ["beges", "grid"]}) == 2
        left = {(p.tags["track"], p.time_ns) for p in store.query("carbon")}
        assert left == {("beges", 10), ("beges", 30), ("grid", 10), ("grid", 30),
                        ("other", 10), ("other", 20), ("other", 30)}
        assert store.count("energy") == 1  # another measurement is untouched
        assert store.delete("carbon", 0, 100, {"track": ["absent"]}) == 0
        assert store.delete("missing", 0, 100) == 0
        assert store.delete("carbon", 0, 100) == 7
    finally:
        store.close()


def test_local_store_merges_series_in_time_order_whatever_the_read_path(tmp_path: Path, monkeypatch) -> None:
    """Series are read through the primary key and merged (or sorted by SQLite past
    MERGE_MAX_SERIES): the same points, in time order, ties by series, either way."""
    import random

    import sentinelle.agent.sinks.local as local

    rng = random.Random(5)
    store = LocalStore(tmp_path / "local.db")
    points = [Point("energy", {"meter": f"m{k}", "site": "a" if k % 2 else "b"}, {"kwh": float(i * 10 + k)},
                    1_700_000_000 * 10**9 + rng.randrange(0, 50) * 10**9)
              for k in range(7) for i in range(40)]
    store.write_points(points)
    store.write_points([Point("carbon", {"meter": "m1"}, {"gco2e": 1.0}, 1_700_000_000 * 10**9)])
    merged = [(p.time_ns, p.tags["meter"], p.fields["kwh"]) for p in store.query("energy")]
    monkeypatch.setattr(local, "MERGE_MAX_SERIES", 2)
    sorted_by_sqlite = [(p.time_ns, p.tags["meter"], p.fields["kwh"]) for p in store.query("energy")]
    assert merged == sorted_by_sqlite
    assert [t for t, _m, _v in merged] == sorted(t for t, _m, _v in merged)
    # one point per meter and second (later writes of the same second merge into it)
    expected = {(p.time_ns, p.tags["meter"]): p.fields["kwh"] for p in points}
    assert len(merged) == len(expected) and all(expected[(t, m)] == v for t, m, v in merged)
    window = [p for p in store.query("energy", 1_700_000_010 * 10**9, 1_700_000_020 * 10**9, {"site": "a"})]
    assert window and all(p.tags["site"] == "a" and 10 <= p.time_ns // 10**9 - 1_700_000_000 < 20 for p in window)
    assert store.count("energy") == len(expected) and store.count("carbon") == 1
    store.close()


def test_local_store_opened_for_writing_drops_the_old_time_index(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "local.db"
    LocalStore(path).close()
    db = sqlite3.connect(path)
    db.execute("CREATE INDEX points_time ON points(measurement_id, time_ns)")  # as stores made before
    db.commit()
    db.close()
    with LocalStore.open_readonly(path) as ro:  # readers leave it alone
        assert list(ro.query("energy")) == []
    LocalStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master WHERE type='index' AND name='points_time'").fetchall() == []
    db.close()
