"""Grid intensity providers: CSV layouts across DST changes, factors table, online providers
against a local aiohttp stand-in serving the documented answer formats (the real RTE and
Electricity Maps APIs are internet services: they cannot run here)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from sentinelle.carbon.energy import NS
from sentinelle.carbon.factors import FactorError, FactorTable
from sentinelle.carbon.intensity import (
    CsvIntensity,
    ElectricityMapsIntensity,
    IntensityError,
    RteIntensity,
    StaticIntensity,
    parse_intensity_csv,
)

DATA = Path(__file__).resolve().parents[2] / "carbon" / "testdata"


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * NS


def test_rte_local_time_file_across_autumn_change():
    src = CsvIntensity(DATA / "eco2mix_rte_2026-10-25_dst.xls")
    assert src.layout == "rte-eco2mix-local"
    # 16 rows: 01:00..03:45 local with 02:00-02:45 twice; all distinct UTC instants
    assert len(src) == 16
    # 02:00-03:00 CEST is 00:00-01:00 UTC (first pass, 100); 02:00-03:00 CET is 01:00-02:00 UTC (200)
    assert src.intensity(utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)).g_per_kwh == 100
    assert src.intensity(utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)).g_per_kwh == 200
    # interval-weighted across the change: 30 min at 100 then 30 min at 200
    mixed = src.intensity(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))
    assert mixed.g_per_kwh == pytest.approx(150)
    assert mixed.source.startswith("csv:rte-eco2mix-local:") and mixed.version.startswith("sha256:")


def test_odre_export_across_spring_change():
    src = CsvIntensity(DATA / "odre_eco2mix_2026-03-29_dst.csv")
    assert src.layout == "odre-eco2mix"
    # values are 30 + UTC hour: the offsets (+01:00 then +02:00) must give the right UTC hour
    assert src.intensity(utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)).g_per_kwh == 30
    assert src.intensity(utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)).g_per_kwh == 31
    assert src.intensity(utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)).g_per_kwh == 32


def test_electricitymaps_export_prefers_lca():
    src = CsvIntensity(DATA / "electricitymaps_FR_2026-01-01.csv")
    assert src.layout == "electricitymaps"
    assert src.intensity(utc(2026, 1, 1, 5), utc(2026, 1, 1, 6)).g_per_kwh == 45
    # after the last value: last known value, flagged
    late = src.intensity(utc(2026, 1, 3), utc(2026, 1, 3, 1))
    assert late.flag == "stale" and late.g_per_kwh == 63


def test_unknown_layout_and_bad_values_are_clear_errors(tmp_path: Path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(IntensityError, match="no known intensity layout"):
        CsvIntensity(p)
    with pytest.raises(IntensityError, match="out of range"):
        parse_intensity_csv("time,gco2e_per_kwh\n2026-01-01T00:00:00Z,-5\n")
    with pytest.raises(IntensityError, match="cannot read"):
        CsvIntensity(tmp_path / "absent.csv")


def test_static_intensity():
    assert StaticIntensity(42).intensity(0, 1).g_per_kwh == 42
    with pytest.raises(IntensityError):
        StaticIntensity(-1)


# --- factors -------------------------------------------------------------------------------------


def test_embedded_factor_table_has_provenance_and_explicit_fallback():
    t = FactorTable.embedded()
    f = t.factor("fr-continental", 2024)
    assert f.kg_per_kwh == pytest.approx(0.0519) and not f.fallback
    assert f.version_tag.startswith(t.version)
    with pytest.raises(FactorError, match="no fr-continental factor for 2031"):
        t.factor("fr-continental", 2031)
    fb = t.factor("fr-continental", 2031, missing_year="latest")
    assert fb.fallback and fb.year == 2024 and fb.requested_year == 2031
    # ZNI factors are distinct and selectable per site
    assert t.factor("corse", 2012).kg_per_kwh != t.factor("fr-continental", 2012).kg_per_kwh
    assert {"corse", "guadeloupe", "martinique", "guyane", "reunion", "mayotte"} <= set(t.zones())
    with pytest.raises(FactorError, match="no factors for zone"):
        t.factor("atlantis", 2024)


def test_factor_file_in_the_same_format(tmp_path: Path):
    p = tmp_path / "f.yaml"
    p.write_text(
        "table: my-checked-table\nversion: '7'\nunit: kgCO2e/kWh\nzones:\n  fr-continental:\n    label: x\n"
        "    factors:\n      - {year: 2026, value: 0.05, uncertainty_pct: 10, source: mine, verified: true}\n"
    )
    f = FactorTable.from_file(p).factor("fr-continental", 2026)
    assert (f.kg_per_kwh, f.table, f.table_version, f.verified) == (0.05, "my-checked-table", "7", True)
    p.write_text("table: t\nversion: '1'\nunit: gCO2/kWh\nzones: {}\n")
    with pytest.raises(FactorError, match="invalid factor table"):
        FactorTable.from_file(p)


# --- online providers against a local stand-in -------------------------------------------------


@pytest.fixture
async def standin():
    """A local HTTP server answering like ODRÉ's records API and Electricity Maps' v3 history."""
    state = {"slow": False, "seen_token": None}

    async def odre(request: web.Request) -> web.Response:
        if state["slow"]:
            await asyncio.sleep(1)
        assert request.query["select"] == "date_heure,taux_co2"
        return web.json_response(
            {"total_count": 2, "results": [
                {"date_heure": "2026-05-01T10:15:00+00:00", "taux_co2": 21},
                {"date_heure": "2026-05-01T10:00:00+00:00", "taux_co2": 19},
            ]}
        )  # fmt: skip

    async def em(request: web.Request) -> web.Response:
        state["seen_token"] = request.headers.get("auth-token")
        if request.headers.get("auth-token") != "s3cr3t-token":
            return web.json_response({"message": "unauthorized"}, status=401)
        return web.json_response(
            {"zone": request.query["zone"], "history": [
                {"carbonIntensity": 33, "datetime": "2026-05-01T10:00:00.000Z", "isEstimated": False},
                {"carbonIntensity": 35, "datetime": "2026-05-01T11:00:00.000Z", "isEstimated": True},
            ]}
        )  # fmt: skip

    app = web.Application()
    app.router.add_get("/odre", odre)
    app.router.add_get("/em", em)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", state
    await runner.cleanup()


async def test_rte_online_archives_and_falls_back(standin, tmp_path: Path):
    base, state = standin
    rte = RteIntensity(tmp_path, url=f"{base}/odre", timeout_s=0.5)
    assert rte.intensity(0, 1) is None  # nothing known yet
    assert await rte.refresh() == 2
    assert rte.intensity(utc(2026, 5, 1, 10), utc(2026, 5, 1, 10, 30)).g_per_kwh == pytest.approx(20)
    assert rte.archive.exists()
    # a restart reads the archive back
    again = RteIntensity(tmp_path, url=f"{base}/odre", timeout_s=0.5)
    assert again.intensity(utc(2026, 5, 1, 10), utc(2026, 5, 1, 10, 15)).g_per_kwh == 19
    # a slow server: timeout, error recorded, last known value flagged stale
    state["slow"] = True
    assert await again.refresh() == 0
    assert again.last_error and "TimeoutError" in again.last_error
    later = again.intensity(utc(2026, 5, 2), utc(2026, 5, 2, 1))
    assert later.flag == "stale" and later.g_per_kwh == 21


async def test_electricitymaps_sends_token_and_never_shows_it(standin, tmp_path: Path):
    base, state = standin
    em = ElectricityMapsIntensity(tmp_path, "s3cr3t-token", zone="FR", url=f"{base}/em", timeout_s=2)
    assert await em.refresh() == 2
    assert state["seen_token"] == "s3cr3t-token"
    assert em.intensity(utc(2026, 5, 1, 11), utc(2026, 5, 1, 11, 30)).g_per_kwh == 35
    assert "s3cr3t" not in repr(em)
    bad = ElectricityMapsIntensity(tmp_path / "b", "wrong-token", url=f"{base}/em", timeout_s=2)
    assert await bad.refresh() == 0
    assert bad.last_error and "401" in bad.last_error and "wrong-token" not in bad.last_error
    with pytest.raises(IntensityError, match="token"):
        ElectricityMapsIntensity(tmp_path, "")
