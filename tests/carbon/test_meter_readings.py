"""What counts as a device's meter reading: one rule (carbon.meters.SKIP_MEASUREMENTS) for the
live processor and the history import."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import encode_point
from sentinelle.carbon.energy import NS
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.history.readers import ReadStats, read_lp
from sentinelle.carbon.meters import MeterSpec
from sentinelle.carbon.processor import CarbonProcessor

T0 = 1_735_686_000  # 2025-01-01 00:00 Paris
TAGS = {"device": "pdu-1", "site": "nro-a"}


def _processor(tmp_path: Path) -> CarbonProcessor:
    return CarbonProcessor({"pdu-1": MeterSpec("pdu-1", "nro-a")}, tmp_path, FactorTable.embedded(), None)


def _energy_from(proc: CarbonProcessor, measurement: str) -> list[Point]:
    out: list[Point] = []
    for i in range(4):
        p = Point(measurement, TAGS, {"energy_kwh_total": 100.0 + i, "power_w": 500.0}, (T0 + 300 * i) * NS)
        out.extend(q for q in proc.process([p]) if q.measurement == "energy" and q is not p)  # derived only
    return out


@pytest.mark.parametrize("measurement", ["grid_intensity", "pdu_outlet", "energy", "inventory"])
def test_processor_never_reads_a_measurement_that_is_not_a_device_reading(tmp_path: Path, measurement: str) -> None:
    assert _energy_from(_processor(tmp_path), measurement) == []


def test_processor_reads_the_device_measurement(tmp_path: Path) -> None:
    assert _energy_from(_processor(tmp_path), "pdu")  # the guard above can fail


@pytest.mark.parametrize("measurement", ["grid_intensity", "pdu_outlet", "inventory"])
def test_import_skips_the_same_measurements(measurement: str) -> None:
    lines = "".join(encode_point(Point(m, TAGS, {"energy_kwh_total": 1.0}, T0 * NS)) + "\n"
                    for m in (measurement, "pdu"))
    stats = ReadStats()
    rows = list(read_lp(io.StringIO(lines), "counter", "pdu-1", stats))
    assert len(rows) == 1


def test_a_meter_sending_bad_readings_is_logged_once_and_its_repeats_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    proc = _processor(tmp_path)
    bad = [Point("pdu", TAGS, {"energy_kwh_total": -1.0}, (T0 + 300 * i) * NS) for i in range(5)]
    with caplog.at_level("WARNING", logger="sentinelle.carbon.processor"):
        for p in bad:
            proc.process([p])
    lines = [r for r in caplog.records if "reading ignored" in r.getMessage()]
    held = proc.rejected
    assert held >= 4 and len(lines) == 1 and "meter pdu-1" in lines[0].getMessage()
    # The shared limiter (agent.logs.Problems) reports how many were held back when it reopens.
    proc._problems.clock = lambda: 1e12
    with caplog.at_level("WARNING", logger="sentinelle.carbon.processor"):
        proc.process([Point("pdu", TAGS, {"energy_kwh_total": -1.0}, (T0 + 3000) * NS)])
    assert proc.rejected == held + 1 and getattr(caplog.records[-1], "repeats", None) == held - 1
